"""The Python an answer costs, without the model: CPU time per ``Bot.ask`` and where it goes.

Under load the served app is bound by the GIL, not by the model (``bench/profile_served.py``):
what the request threads queue for is the Python around the model. This measures that Python
alone and steadily: a served bot (``serving=True``, the review store in a temporary folder)
whose query embedder has every vector cached from a first pass, so the measured passes run no
model at all; each answer's thread CPU time (``time.thread_time``, which another job on the
machine does not inflate the way it does wall time) and a cProfile of the same passes, by stage
and by function. ``--http`` also puts each question through the web app in process (the ASGI
app called directly, no socket; the process's CPU time, since the answer runs on a worker
thread), so the routing, middleware, JSON and pydantic part is counted too (not uvicorn's
parsing of the request: ``bench/profile_served.py`` sees that).

Run: `.venv/bin/python bench/answer_cost.py [--rounds 20] [--http] [--top 30] [--parts]`; writes its
figures to stdout and the cProfile dump to bench/out/answer_cost.prof.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OUT, QUESTIONS, ROOT, isolated_app_env, pct  # noqa: E402

# The stages an answer's CPU time is split into, by the functions that run them (wrapped with
# a thread-CPU timer for the unprofiled passes; nested ones are inside their caller's figure).
STAGES = [
    ("chatbot.pipeline", "clean_question", "hygiene"),
    ("chatbot.pipeline", "as_oneself", "question read (as_oneself, retrieval_query)"),
    ("chatbot.pipeline", "retrieval_query", "question read (as_oneself, retrieval_query)"),
    ("chatbot.safety.triage", "Triage.assess", "triage (rules, learned layers, vectors read)"),
    ("chatbot.pipeline", "Bot._reviewed_answer", "reviewed answer (store read)"),
    ("chatbot.retrieval.retriever", "Retriever.search", "search (FAISS, BM25, fusion)"),
    ("chatbot.review.guard", "GuardedLog.excluded_spans", "exclusions (store read)"),
    (
        "chatbot.retrieval.retriever",
        "Retriever.candidate_sentences",
        "candidate sentences (scoring, gate)",
    ),
    ("chatbot.retrieval.retriever", "Retriever.intent", "intent"),
    ("chatbot.pipeline", "select_sentences", "select_sentences"),
    ("chatbot.pipeline", "compose", "compose"),
    ("chatbot.pipeline", "is_personal_advice", "personal advice check"),
    ("chatbot.review.guard", "GuardedLog.log_answer", "log_answer (store write)"),
]
# Parts of the stages above (``--parts``): inside their stage's figure, listed under it.
PARTS = [
    ("chatbot.answer.select", "_Pool.__post_init__", "  select: the pool's tables"),
    ("chatbot.answer.select", "_weights", "  select: weights"),
    ("chatbot.answer.select", "_unit", "  select: units"),
    ("chatbot.answer.select", "_greedy", "  select: greedy rounds"),
    ("chatbot.answer.select", "line_neighbours", "  select: line neighbours (in greedy)"),
    ("chatbot.retrieval.retriever", "sentence_scores", "  candidates: sentence_scores"),
    ("chatbot.retrieval.retriever", "Retriever._reading", "  candidates: the gate's reading"),
    ("chatbot.retrieval.retriever", "ScoredSentence.made", "  candidates: ScoredSentence objects"),
    ("chatbot.safety.triage", "char_features", "  triage: char_features"),
    ("chatbot.safety.triage", "read_rules", "  triage: read_rules"),
]


def time_stages(asking: list[int], parts: bool = False) -> dict[tuple[str, int], float]:
    """Wrap each stage's function with a thread-CPU timer; returns (label, question) -> ms
    spent in the current round (``asking[0]``: the question being asked)."""
    import functools
    import importlib

    spent: dict[tuple[str, int], float] = {}
    for module_name, attr, label in STAGES + (PARTS if parts else []):
        module = importlib.import_module(module_name)
        owner: Any = module
        *path, name = attr.split(".")
        for part in path:
            owner = getattr(owner, part)
        inner = getattr(owner, name)

        def timed(*a: Any, _inner: Any = inner, _label: str = label, **k: Any) -> Any:
            t = time.thread_time()
            try:
                return _inner(*a, **k)
            finally:
                key = (_label, asking[0])
                spent[key] = spent.get(key, 0.0) + (time.thread_time() - t) * 1000

        setattr(owner, name, functools.wraps(inner)(timed))
    return spent


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
        import threading

        self.app = app
        # One loop that runs for good, inside run_until_complete as uvicorn's does: anyio keeps
        # its worker threads for the life of that root task. Under a bare run_forever it finds
        # no root task, takes each request's task for it and stops the worker when that ends:
        # a new thread (and a new SQLite connection) for every request, ~1.5 ms of CPU that
        # the served app never pays.
        self.loop = asyncio.new_event_loop()

        async def forever() -> None:
            await asyncio.Event().wait()

        threading.Thread(
            target=self.loop.run_until_complete, args=(forever(),), daemon=True
        ).start()

    @staticmethod
    def scope(body: bytes) -> dict[str, Any]:
        """The ASGI scope of ``POST /api/ask`` with ``body``, as uvicorn would give it."""
        return {
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

    @classmethod
    def request(cls, app: Any, question: str) -> tuple[Any, list[dict[str, Any]]]:
        """The coroutine that asks ``question`` through ``app``, and the list it fills with the
        messages the app sends back (run it on whatever loop)."""
        body = json.dumps({"question": question}).encode()
        sent: list[dict[str, Any]] = []
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop(0)
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        return app(cls.scope(body), receive, send), sent

    def ask(self, question: str) -> dict[str, Any]:
        call, sent = self.request(self.app, question)
        asyncio.run_coroutine_threadsafe(call, self.loop).result()
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
    parser.add_argument("--parts", action="store_true", help="parts of the stages too")
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory()
    isolated_app_env(tmp.name)
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

    # Through the app the answer runs on a worker thread of the server's pool: the process's
    # CPU time counts both (the model's thread is idle: every vector is cached).
    clock = time.process_time if args.http else time.thread_time
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
    # cProfile itself roughly doubles Python's cost: a second, unprofiled pass gives the figure
    # (and the stages' own CPU time, each stage's function wrapped with a timer).
    # Each figure is per question the least over the rounds (the round least disturbed by the
    # other jobs on the machine), then the mean over the questions.
    plain: list[float] = []
    per_question: dict[int, list[float]] = {}
    for _ in range(args.rounds):
        for k, q in enumerate(qs):
            c = clock()
            ask(q)
            plain.append((clock() - c) * 1000)
            per_question.setdefault(k, []).append(plain[-1])
    asking = [0]
    spent = time_stages(asking, args.parts)
    least: dict[tuple[str, int], float] = {}
    for _ in range(args.rounds):
        for k, q in enumerate(qs):
            asking[0] = k
            spent.clear()
            ask(q)
            for key, ms in spent.items():
                least[key] = min(least.get(key, ms), ms)

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
    best = statistics.fmean(min(v) for v in per_question.values())
    print(f"CPU ms per answer, each question's least over the rounds, mean: {best:.2f}")
    print(
        f"under cProfile: CPU p50 {statistics.median(cpu):.2f}  mean {statistics.fmean(cpu):.2f}"
        f"; wall mean {statistics.fmean(wall):.2f}"
    )
    print("\nCPU ms per answer by stage (each question's least over the rounds, mean):")
    for label in dict.fromkeys(label for label, _ in least):
        ms = sum(v for (lab, _), v in least.items() if lab == label) / len(qs)
        print(f"  {ms:7.3f}  {label}")
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
