"""Load test on loopback, side by side in one run: the project (one and two workers, query cache
off and on) and the naive baseline (bench/baseline_server.py), at 1, 10 and 50 clients. The project runs its default
embedding backend (ONNX) and, once, torch.

For each configuration a server is started on 127.0.0.1 (temp data dir, per-client rate limit
lifted: every simulated patient comes from 127.0.0.1), warmed (with two workers: until both
answer), then for each N in --clients N patient threads ask the fixed questions, each in its own
order over its own keep-alive connection, for --seconds. Reports throughput, p50/p95/p99
latency, errors, the server's RSS (all its processes, sampled every 0.25 s), and for one worker
how many texts the query embedder put in each model call (from /healthz). First, with no server
running, the model-alone floor: one question embedded on one thread (and per question in a
batch of 32). Updates the "Load, side by side" section of bench/RESULTS.md.

'cache off' (CHATBOT_QUERY_CACHE_SIZE=0) embeds every question: the worst case. 'cache on' is
the served default; the fixed list repeats, so nearly every ask is a hit. The baseline has no
cache. The client threads run on the same 2 cores as the servers and take some of their CPU
(the same for every configuration).

Run: `.venv/bin/python bench/load.py [--clients 1 10 50] [--seconds 15] [--configs ...]`.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    OUT,
    QUESTIONS,
    Server,
    bench_index_dir,
    machine,
    pct,
    post_ask,
    rss_mb,
    table,
    update_results,
)

SECTION = "Load, side by side"
BASELINE = [sys.executable, str(Path(__file__).resolve().parent / "baseline_server.py")]


@dataclass
class Config:
    key: str
    label: str
    env: dict[str, str] = field(default_factory=dict)
    command: list[str] | None = None
    workers: int = 1


CONFIGS = [
    Config("p1-off", "project, 1 worker, cache off", {"CHATBOT_QUERY_CACHE_SIZE": "0"}),
    Config("p1-on", "project, 1 worker, cache on"),
    Config(
        "p2-off",
        "project, 2 workers, cache off",
        {"CHATBOT_QUERY_CACHE_SIZE": "0", "CHATBOT_WORKERS": "2"},
        workers=2,
    ),
    Config("p2-on", "project, 2 workers, cache on", {"CHATBOT_WORKERS": "2"}, workers=2),
    Config(
        "p1-off-torch",
        "project, 1 worker, cache off, torch backend",
        {"CHATBOT_QUERY_CACHE_SIZE": "0", "CHATBOT_EMBEDDING_BACKEND": "torch"},
    ),
    Config("baseline", "naive baseline (top-3 chunks), 1 process", command=BASELINE),
]


MODELS = OUT / "models"  # the ONNX export, made once and copied into each server's data dir


def model_floor(rounds: int = 100, backend: str = "torch") -> dict[str, float]:
    """The model alone, no server running: one question on one thread (p50/p95 ms), and the
    cost per question when 32 are embedded in one call."""
    import torch

    from chatbot.embedding import SentenceTransformerEmbedder
    from chatbot.fast_embedding import OnnxEmbedder, onnx_file

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model: Any
        if backend == "torch":
            model = SentenceTransformerEmbedder()
        else:
            model = OnnxEmbedder(onnx_file(MODELS, int8=backend == "onnx-int8"), threads=1)
        for q in QUESTIONS:
            model.encode([q])
        times = []
        for i in range(rounds):
            t = time.perf_counter()
            model.encode([QUESTIONS[i % len(QUESTIONS)]])
            times.append((time.perf_counter() - t) * 1000)
        batch = (QUESTIONS * 3)[:32]
        per = []
        for _ in range(5):
            t = time.perf_counter()
            model.encode(batch)
            per.append((time.perf_counter() - t) * 1000 / len(batch))
    finally:
        torch.set_num_threads(before)
    return {
        "p50": statistics.median(times),
        "p95": pct(times, 95),
        "batch32": statistics.median(per),
    }


def health(server: Server, conn: http.client.HTTPConnection | None = None) -> dict[str, Any]:
    c = conn or http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        c.request("GET", "/healthz")
        return json.loads(c.getresponse().read())
    finally:
        if conn is None:
            c.close()


def wait_for_workers(server: Server, workers: int, timeout: float = 300) -> None:
    """Until ``workers`` distinct processes have answered /healthz (each loads its own model)."""
    seen: set[int] = set()

    def probe() -> None:
        with contextlib.suppress(OSError):
            seen.add(int(health(server).get("worker", 0)))  # set.add: atomic under the GIL

    deadline = time.monotonic() + timeout
    while len(seen) < workers and time.monotonic() < deadline:
        threads = [threading.Thread(target=probe) for _ in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        time.sleep(0.5)
    if len(seen) < workers:
        raise RuntimeError(f"only {len(seen)} of {workers} workers answered")


def patient(
    server: Server,
    seed: int,
    stop_at: float,
    out: dict[str, list],
    lock: threading.Lock,
) -> None:
    rng = random.Random(seed)
    order = QUESTIONS[:]
    rng.shuffle(order)
    conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
    i = 0
    while time.perf_counter() < stop_at:
        q = order[i % len(order)]
        i += 1
        t = time.perf_counter()
        server_ms = None
        try:
            status, body = post_ask(server.host, server.port, q, conn=conn)
            ok = status == 200 and ("status" in body or "sources" in body)
            err = "" if ok else f"HTTP {status}"
            server_ms = body.get("timings", {}).get("total_ms") if ok else None
        except (OSError, http.client.HTTPException) as exc:
            err = type(exc).__name__
            conn.close()
            conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
        ms = (time.perf_counter() - t) * 1000
        with lock:
            if err:
                out["errors"].append(err)
            else:
                out["latencies"].append(ms)
                if server_ms is not None:
                    out["server"].append(server_ms)
    conn.close()


def batch_diff(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[int, int]:
    """Texts per model call → calls, during one level (from two /healthz readings)."""
    if not before or not after:
        return {}
    b = {int(k): v for k, v in before.get("batch_sizes", {}).items()}
    a = {int(k): v for k, v in after.get("batch_sizes", {}).items()}
    return {k: a[k] - b.get(k, 0) for k in sorted(a) if a[k] - b.get(k, 0) > 0}


def sizes_summary(sizes: dict[int, int]) -> str:
    """'p50 / p95 / max (mean)' texts per model call."""
    if not sizes:
        return ""
    flat = [k for k, n in sizes.items() for _ in range(n)]
    return f"{pct(flat, 50):.0f} / {pct(flat, 95):.0f} / {max(flat)} ({statistics.mean(flat):.1f})"


def run_level(server: Server, clients: int, seconds: float, one_worker: bool) -> dict[str, Any]:
    out: dict[str, list] = {"latencies": [], "errors": [], "server": []}
    lock = threading.Lock()
    rss: list[float] = []
    emb_before = health(server).get("query_embedding") if one_worker else None
    start = time.perf_counter()
    stop_at = start + seconds
    threads = [
        threading.Thread(target=patient, args=(server, n, stop_at, out, lock))
        for n in range(clients)
    ]
    for th in threads:
        th.start()
    while any(th.is_alive() for th in threads):
        rss.append(rss_mb(server.proc.pid)[0])
        time.sleep(0.25)
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - start
    emb_after = health(server).get("query_embedding") if one_worker else None
    lat = out["latencies"]
    return {
        "clients": clients,
        "requests": len(lat) + len(out["errors"]),
        "throughput": len(lat) / elapsed,
        "p50": statistics.median(lat) if lat else float("nan"),
        "p95": pct(lat, 95),
        "p99": pct(lat, 99),
        "server_p50": statistics.median(out["server"]) if out["server"] else None,
        "errors": len(out["errors"]),
        "error_kinds": ",".join(sorted(set(out["errors"]))),
        "rss_max": max(rss, default=float("nan")),
        "batches": batch_diff(emb_before, emb_after),
    }


def run_config(cfg: Config, clients: list[int], seconds: float) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        if MODELS.exists():  # the ONNX export, so a server need not make its own
            shutil.copytree(MODELS, Path(tmp) / "data" / "models")
        with Server(
            bench_index_dir(), Path(tmp) / "data", command=cfg.command, **cfg.env
        ) as server:
            return run_levels(cfg, server, clients, seconds)


def run_levels(
    cfg: Config, server: Server, clients: list[int], seconds: float
) -> list[dict[str, Any]]:
    server.wait_first_answer()
    if cfg.workers > 1:
        wait_for_workers(server, cfg.workers)
    for _ in range(cfg.workers):  # warm every code path of every worker once
        for q in QUESTIONS:
            post_ask(server.host, server.port, q)
    results = []
    for n in clients:
        res = run_level(server, n, seconds, one_worker=cfg.workers == 1)
        res["config"] = cfg.label
        results.append(res)
        print(
            f"{cfg.label:>42}, {n:>3} clients: {res['throughput']:.1f} answers/s, "
            f"p50 {res['p50']:.1f} ms, p95 {res['p95']:.1f} ms, errors {res['errors']}, "
            f"RSS {res['rss_max']:.0f} MiB, texts/call {sizes_summary(res['batches'])}",
            flush=True,
        )
    return results


def report(results: list[dict[str, Any]], floors: dict[str, dict], seconds: float) -> str:
    floor = floors["torch"]
    rows = [
        [
            r["config"],
            r["clients"],
            r["requests"],
            f"{r['throughput']:.1f}",
            f"{r['p50']:.1f}",
            f"{r['p95']:.1f}",
            f"{r['p99']:.1f}",
            "" if r["server_p50"] is None else f"{r['server_p50']:.1f}",
            f"{r['errors']}" + (f" ({r['error_kinds']})" if r["errors"] else ""),
            f"{r['rss_max']:.0f}",
            sizes_summary(r["batches"]),
        ]
        for r in results
    ]
    lines = [
        f"machine: {machine()}",
        f"{seconds:.0f} s per level on 127.0.0.1, one keep-alive connection per patient, all "
        "configurations in this one run, one after another.",
        "",
        "Model-alone floor (no server running; one question, one thread; the floor of the "
        "targets is torch's p50):",
        "",
        table(
            ["backend", "one question p50 ms", "p95 ms", "a question in a batch of 32, ms"],
            [
                [b, f"{f['p50']:.1f}", f"{f['p95']:.1f}", f"{f['batch32']:.2f}"]
                for b, f in floors.items()
            ],
        ),
        "",
        table(
            [
                "configuration",
                "clients",
                "requests",
                "answers/s",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "server p50 ms",
                "errors",
                "RSS max MiB",
                "texts per model call p50 / p95 / max (mean)",
            ],
            rows,
        ),
        "",
        "'server p50' is the answer's own `timings.total_ms` (Bot.ask, without HTTP); 'texts per "
        "model call' is from the query embedder's counters (/healthz), one worker only: a "
        "question is embedded with its side readings (2-4 texts).",
    ]
    by = {(r["config"], r["clients"]): r for r in results}
    project = CONFIGS[0].label
    base = next(c.label for c in CONFIGS if c.key == "baseline")
    top = max((r["clients"] for r in results), default=0)
    if (project, top) in by and (base, top) in by:
        p, b = by[(project, top)], by[(base, top)]
        lines += [
            "",
            f"Issue 18's targets (project, 1 worker, cache off): at {top} clients "
            f"{p['throughput'] / b['throughput']:.2f}x the baseline's answers/s (target >= 2x), "
            f"p95 {p['p95']:.0f} ms (target <= 500 ms).",
        ]
    if (project, 1) in by:
        lines.append(
            f"One client: p95 {by[(project, 1)]['p95']:.1f} ms = "
            f"{by[(project, 1)]['p95'] / floor['p50']:.2f}x the floor's p50 (target <= 2x)."
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--seconds", type=float, default=15.0, help="asking time per level")
    parser.add_argument(
        "--configs",
        nargs="+",
        default=[c.key for c in CONFIGS],
        choices=[c.key for c in CONFIGS],
        help="which configurations (default: all)",
    )
    parser.add_argument(
        "--section",
        help="write the report to this section of bench/RESULTS.md (a run of all "
        f"configurations writes {SECTION!r} without it)",
    )
    args = parser.parse_args()

    floors = {backend: model_floor(backend=backend) for backend in ("torch", "onnx", "onnx-int8")}
    for backend, f in floors.items():
        print(
            f"floor ({backend}): one question on one thread p50 {f['p50']:.1f} ms, p95 "
            f"{f['p95']:.1f} ms; batch of 32: {f['batch32']:.1f} ms a question",
            flush=True,
        )
    results: list[dict[str, Any]] = []
    for cfg in CONFIGS:
        if cfg.key in args.configs:
            results += run_config(cfg, args.clients, args.seconds)
    text = report(results, floors, args.seconds)
    print(text)
    if args.section:
        update_results(args.section, text)
    elif set(args.configs) == {c.key for c in CONFIGS}:
        update_results(SECTION, text)


if __name__ == "__main__":
    main()
