"""End-to-end latency of one patient at a time, in-process and over HTTP, split by stage.

Prints p50/p95/max per stage (embed, search, compose, total) for a fixed list of questions, the
floor beside it (embedding one query with the model alone) and the ratio to that floor, then the
same over HTTP (`POST /api/ask` to a served app on 127.0.0.1) with the query cache off (every
question embedded) and on (patients repeating questions). Updates bench/RESULTS.md.

Run: `.venv/bin/python bench/latency.py [--rounds N]`.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import QUESTIONS, Server, machine, pct, post_ask, table, update_results  # noqa: E402

ROUNDS = 10
STAGES = ("embed_ms", "search_ms", "compose_ms", "total_ms")


def summary(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), pct(values, 95), max(values)


def http_run(index_dir: Path, data_dir: Path, rounds: int, cache: bool) -> dict[str, list[float]]:
    """Sequential questions over one keep-alive connection; client wall time and server stages."""
    env = {} if cache else {"CHATBOT_QUERY_CACHE_SIZE": "0"}
    out: dict[str, list[float]] = {"client_ms": []}
    with Server(index_dir, data_dir, **env) as server:
        server.wait_first_answer("warm up")
        conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
        for _ in range(rounds):
            for q in QUESTIONS:
                t = time.perf_counter()
                status, body = post_ask(server.host, server.port, q, conn=conn)
                out["client_ms"].append((time.perf_counter() - t) * 1000)
                if status != 200:
                    raise RuntimeError(f"/api/ask answered {status}: {body}")
                for key, value in body.get("timings", {}).items():
                    out.setdefault(key, []).append(value)
        conn.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="passes over the questions")
    parser.add_argument("--no-http", action="store_true", help="in-process figures only")
    args = parser.parse_args()

    from chatbot.config import Settings
    from chatbot.corpus import load_corpus
    from chatbot.embedding import SentenceTransformerEmbedder, limit_model_threads
    from chatbot.index import build_index, load_index
    from chatbot.pipeline import Bot

    # The same torch threads as the served app (all cores but one), so the floor is comparable.
    threads = limit_model_threads()
    t = time.perf_counter()
    embedder = SentenceTransformerEmbedder()
    load_s = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(index_dir=Path(tmp) / "index", data_dir=Path(tmp) / "data")
        articles = load_corpus(settings.paths.corpus_dir)
        t = time.perf_counter()
        size = (settings.chunking.chunk_tokens, settings.chunking.overlap_tokens)
        build_index(articles, embedder, settings.paths.index_dir, *size)
        build_s = time.perf_counter() - t
        index = load_index(settings.paths.index_dir, articles, embedder, *size)
        bot = Bot(settings, index, embedder)
        bot.ask("warm up")
        stages: dict[str, list[float]] = {}
        floor: list[float] = []
        for _ in range(args.rounds):
            for q in QUESTIONS:
                answer = bot.ask(q)
                for key, value in answer.timings.items():
                    stages.setdefault(key, []).append(value)
                # The floor: the same question through the model alone, nothing else.
                t = time.perf_counter()
                embedder.encode([q])
                floor.append((time.perf_counter() - t) * 1000)
        runs: dict[str, dict[str, list[float]]] = {}
        if not args.no_http:
            del bot, index, embedder  # the served app loads its own model
            for cache in (False, True):
                name = "HTTP, cache on" if cache else "HTTP, cache off"
                runs[name] = http_run(
                    settings.paths.index_dir, Path(tmp) / name.replace(" ", ""), args.rounds, cache
                )

    floor_p50 = statistics.median(floor)
    n = len(QUESTIONS) * args.rounds
    lines = [
        f"machine: {machine()}",
        f"{len(QUESTIONS)} questions x {args.rounds} rounds = {n} asks per row; one client",
        f"model load {load_s:.2f} s; index build ({len(articles)} articles) {build_s:.2f} s; "
        f"torch threads {threads} (as served)",
        "",
    ]
    rows = []
    for key in STAGES:
        if key in stages:
            p50, p95, mx = summary(stages[key])
            rows.append(
                [
                    f"in-process {key[:-3]}",
                    f"{p50:.2f}",
                    f"{p95:.2f}",
                    f"{mx:.2f}",
                    f"{p50 / floor_p50:.2f}x" if key == "total_ms" else "",
                ]
            )
    p50, p95, mx = summary(floor)
    rows.append(
        ["floor: model.encode([q]) alone", f"{p50:.2f}", f"{p95:.2f}", f"{mx:.2f}", "1.00x"]
    )
    for name, run in runs.items():
        for key in ("client_ms", *STAGES):
            if run.get(key):
                p50, p95, mx = summary(run[key])
                label = "end to end (client)" if key == "client_ms" else f"server {key[:-3]}"
                rows.append(
                    [
                        f"{name}: {label}",
                        f"{p50:.2f}",
                        f"{p95:.2f}",
                        f"{mx:.2f}",
                        f"{p50 / floor_p50:.2f}x" if key == "client_ms" else "",
                    ]
                )
    lines.append(table(["what", "p50 ms", "p95 ms", "max ms", "p50 / floor"], rows))
    lines.append("")
    lines.append(
        "Target: p95 of `/api/ask` under 50 ms with one client. 'cache off' embeds every "
        "question (worst case); 'cache on' is the served default, where a repeated question "
        "skips the model (the fixed list repeats, so from round 2 on every ask is a hit)."
    )
    report = "\n".join(lines)
    print(report)
    update_results("Latency (one client)", report)


if __name__ == "__main__":
    main()
