"""The Python an answer costs, without the model: CPU time per ``Bot.ask`` and where it goes.

Under load the served app is bound by the GIL, not by the model (``bench/profile_served.py``):
what the request threads queue for is the Python around the model. This measures that Python
alone and steadily: a served bot (``serving=True``, the review store in a temporary folder)
whose query embedder has every vector cached from a first pass, so the measured passes run no
model at all; each answer's thread CPU time (``time.thread_time``, which another job on the
machine does not inflate the way it does wall time) and a cProfile of the same passes, by stage
and by function. ``--http`` also puts each question through the web app in process (the ASGI
app called directly, no socket), so the HTTP, JSON and pydantic part is counted too.

Run: `.venv/bin/python bench/answer_cost.py [--rounds 20] [--http] [--top 30]`; writes its
figures to stdout and the cProfile dump to bench/out/answer_cost.prof.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OUT, QUESTIONS, ROOT, pct  # noqa: E402

# Stages by the functions that own them (cumulative time of the outermost call of each).
STAGES = {
    "hygiene + triage (rules, learned layers)": "triage.py:.*\\(assess\\)",
    "question read (as_oneself, retrieval_query)": "",
    "search (FAISS, BM25, fusion)": "retriever.py:.*\\(search\\)",
    "candidate sentences (scoring, gate)": "retriever.py:.*\\(candidate_sentences\\)",
    "intent": "retriever.py:.*\\(intent\\)",
    "select_sentences": "select.py:.*\\(select_sentences\\)",
    "compose": "compose.py:.*\\(compose\\)",
    "review store (reads + log_answer)": "",
}


def questions(extra: bool) -> list[str]:
    qs = list(QUESTIONS)
    if extra:
        for line in (ROOT / "tests" / "questions.jsonl").read_text().splitlines():
            if line.strip():
                obj = json.loads(line)
                if not obj.get("history"):
                    qs.append(obj["question"])
    return qs


class Asgi:
    """POST /api/ask through the ASGI app in this thread, no socket and no server."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()

    def ask(self, question: str) -> dict[str, Any]:
        body = json.dumps({"question": question}).encode()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/api/ask",
            "raw_path": b"/api/ask",
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", b"127.0.0.1:7860"),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 7860),
            "state": {},
        }
        sent: list[dict[str, Any]] = []
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop(0)
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        self.loop.run_until_complete(self.app(scope, receive, send))
        status = next(m["status"] for m in sent if m["type"] == "http.response.start")
        data = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        if status != 200:
            raise RuntimeError(f"{status}: {data[:300]!r}")
        return json.loads(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--http", action="store_true", help="through the ASGI app as well")
    parser.add_argument("--all", action="store_true", help="also tests/questions.jsonl")
    parser.add_argument("--top", type=int, default=30, help="functions listed by own time")
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory()
    os.environ.update(
        CHATBOT_DATA_DIR=tmp.name,
        CHATBOT_QUERY_CACHE_SIZE="1000000",
        CHATBOT_RATE_LIMIT_PER_MINUTE="100000000",
        HF_HUB_OFFLINE="1",
    )
    from chatbot.config import load_settings

    settings = load_settings()
    qs = questions(args.all)
    if args.http:
        from chatbot.web.app import build

        app = build(settings)
        bot = app.state.ctx.bot
        client = Asgi(app)

        def ask(q: str) -> Any:
            return client.ask(q)
    else:
        from chatbot.pipeline import build_bot

        bot = build_bot(settings, serving=True)

        def ask(q: str) -> Any:
            return bot.ask(q)

    for q in qs:  # every vector into the cache: the measured passes run no model
        ask(q)
    for q in qs:
        ask(q)
    embedder = getattr(bot, "embedder", None) if bot is not None else None
    misses = embedder.stats()["misses"] if hasattr(embedder, "stats") else None

    cpu: list[float] = []
    wall: list[float] = []
    profiler = cProfile.Profile(time.thread_time)
    for _ in range(args.rounds):
        for q in qs:
            c, w = time.thread_time(), time.perf_counter()
            profiler.enable()
            ask(q)
            profiler.disable()
            cpu.append((time.thread_time() - c) * 1000)
            wall.append((time.perf_counter() - w) * 1000)
    if embedder is not None and hasattr(embedder, "stats"):
        extra = embedder.stats()["misses"] - (misses or 0)
        if extra:
            print(f"warning: {extra} model calls in the measured passes")
    # cProfile itself roughly doubles Python's cost: a second, unprofiled pass gives the figure.
    plain: list[float] = []
    for _ in range(args.rounds):
        for q in qs:
            c = time.thread_time()
            ask(q)
            plain.append((time.thread_time() - c) * 1000)

    OUT.mkdir(parents=True, exist_ok=True)
    dump = OUT / "answer_cost.prof"
    profiler.dump_stats(str(dump))
    n = len(cpu)
    print(
        f"{n} answers ({len(qs)} questions x {args.rounds}), "
        f"{'through the ASGI app' if args.http else 'Bot.ask'}, no model calls"
    )
    print(
        f"CPU ms per answer, unprofiled: p50 {statistics.median(plain):.2f}  "
        f"mean {statistics.fmean(plain):.2f}  p95 {pct(plain, 95):.2f}"
    )
    print(
        f"under cProfile: CPU p50 {statistics.median(cpu):.2f}  mean {statistics.fmean(cpu):.2f}"
        f"; wall mean {statistics.fmean(wall):.2f}"
    )
    stats = pstats.Stats(str(dump))
    rows = []  # (cumulative s, own s, calls, where)
    for (file, line, name), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = file.split("site-packages/")[-1].replace(str(ROOT) + "/", "")
        rows.append((cumulative, own, calls, f"{where}:{line}({name})"))
    whole = max(r[0] for r in rows)

    def show(row: tuple[float, float, int, str], seconds: float) -> None:
        share = 100 * seconds / whole
        print(f"  {share:5.1f}%  {seconds * 1000 / n:7.3f} ms  {row[2] / n:8.1f} calls  {row[3]}")

    print(f"\ncumulative, share of the profiled total ({whole * 1000 / n:.2f} ms/answer):")
    for row in sorted(rows, reverse=True)[: args.top]:
        show(row, row[0])
    print(f"\nown time (tottime), top {args.top}:")
    for row in sorted(rows, key=lambda r: -r[1])[: args.top]:
        show(row, row[1])
    tmp.cleanup()


if __name__ == "__main__":
    main()
