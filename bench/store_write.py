"""What the review store costs an answer: the synchronous SQLite write (redaction included) and
the two reads every uncached answer makes (a staff-reviewed answer for the same question, the
excluded passages), alone and with 10 and 50 threads writing at once as the server's thread
pool does. Compared with the answer's own time, it says whether the write should leave the
request path (issue 18: a writer thread with a queue) or can stay synchronous.

The answers are the real bot's for the fixed questions (real model and index, computed once);
the store is a fresh one: a SQLite file in a temp folder, WAL as served, or (``--backend
postgresql``) a PostgreSQL database: the one ``--database-url`` names, else a private server
started from Debian's package as the tests do (tests/services.py, loopback, fsync off: a test
cluster, so its figures are the driver's and the pool's cost, not a durable server's). Updates
bench/RESULTS.md.

Run: `.venv/bin/python bench/store_write.py [--writes 2000] [--backend sqlite|postgresql]`.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import QUESTIONS, bench_index_dir, machine, pct, table, update_results  # noqa: E402


def timed_calls(fn, calls: int, threads: int) -> tuple[list[float], float]:
    """Run ``fn(i)`` ``calls`` times over ``threads`` threads; (per-call ms, calls per second)."""
    times: list[float] = []
    lock = threading.Lock()
    per_thread = max(1, calls // threads)

    def run(offset: int) -> None:
        mine = []
        for i in range(per_thread):
            t = time.perf_counter()
            fn(offset * per_thread + i)
            mine.append((time.perf_counter() - t) * 1000)
        with lock:
            times.extend(mine)

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    start = time.perf_counter()
    for th in workers:
        th.start()
    for th in workers:
        th.join()
    return times, len(times) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=2000, help="calls per row")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--database-url", default="", help="PostgreSQL to use (else a private one)")
    args = parser.parse_args()
    if args.backend == "postgresql" and not args.database_url:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        from services import PostgresServer

        with PostgresServer() as server:
            run(args, server.url, "a private PostgreSQL (tests/services.py: loopback, fsync off)")
    elif args.backend == "postgresql":
        from chatbot.config import redact_url

        run(args, args.database_url, f"PostgreSQL at {redact_url(args.database_url)}")
    else:
        run(args, "", "a fresh SQLite file (WAL, synchronous=NORMAL, as served)")


def run(args: argparse.Namespace, database_url: str, where: str) -> None:
    from chatbot.config import Settings
    from chatbot.pipeline import build_bot
    from chatbot.review.backend import POOL_MAX
    from chatbot.review.store import Store
    from chatbot.types import Turn

    index_dir = bench_index_dir()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(index_dir=index_dir, data_dir=Path(tmp) / "unused")
        bot = build_bot(settings, rebuild=True, log=False)
        for q in QUESTIONS:  # warm up: first calls load lazily
            bot.ask(q)
        answers = [(q, bot.ask(q)) for q in QUESTIONS]
        asked = statistics.median(a.timings["total_ms"] for _, a in answers)
        history = [Turn("user", "my legs feel fizzy at night"), Turn("assistant", "...")]
        store = Store(database_url or Path(tmp) / "data" / "chatbot.sqlite3")
        articles, disclaimer = bot.index.articles, bot.disclaimer

        def write(i: int) -> None:
            question, answer = answers[i % len(answers)]
            fresh = dataclasses.replace(answer, id=uuid.uuid4().hex)  # a new row each time
            store.log_answer(question, fresh, history, "api", conversation=f"c{i % 97}")

        def read(i: int) -> None:
            store.reviewed_answer(answers[i % len(answers)][0], articles, disclaimer)
            store.excluded_spans(articles)

        rows = []
        for label, fn in (("log_answer (INSERT, redaction)", write), ("reads per answer", read)):
            for threads in (1, 10, 50):
                times, rate = timed_calls(fn, args.writes, threads)
                rows.append(
                    [
                        label,
                        threads,
                        len(times),
                        f"{statistics.median(times):.3f}",
                        f"{statistics.mean(times):.3f}",
                        f"{pct(times, 95):.3f}",
                        f"{pct(times, 99):.3f}",
                        f"{rate:.0f}",
                        f"{100 * statistics.mean(times) / asked:.1f}%",
                    ]
                )
                print(" | ".join(str(c) for c in rows[-1]), flush=True)
        rows_in_db = store._conn().execute("SELECT COUNT(*) FROM answers").fetchone()[0]

    report = "\n".join(
        [
            f"machine: {machine()}",
            f"{where}; {rows_in_db} answers written; "
            f"the bot's own answer time for these questions (Bot.ask, no log, one thread): p50 "
            f"{asked:.1f} ms",
            "",
            table(
                [
                    "store call",
                    "threads at once",
                    "calls",
                    "p50 ms",
                    "mean ms",
                    "p95 ms",
                    "p99 ms",
                    "calls/s (all threads)",
                    "mean / answer p50",
                ],
                rows,
            ),
            "",
            "With N threads each call's time includes waiting for the GIL and the database "
            "behind the other N-1 (SQLite's write lock and WAL checkpoints; PostgreSQL's pool "
            f"of {POOL_MAX} connections and a loopback round trip a statement); 'calls/s' is "
            "what the store sustains; one thread's mean is the work an answer pays for it.",
        ]
    )
    print(report)
    store.close()
    title = "Review store cost per answer"
    update_results(title if not database_url else f"{title} (PostgreSQL)", report)


if __name__ == "__main__":
    main()
