"""CPU time the served app spends on one answer, by thread: what 50 patients at once queue for.

Under load one worker is bound by the GIL (the Python of every request) and by the model's
thread; the wall times of a load test on a shared machine are noisy, the server's own CPU time
per answer much less so. This starts the served app (``python -m chatbot serve``, one worker),
asks the fixed questions over one keep-alive connection, one at a time, and reads the server's
CPU time from /proc before and after, in total and for the main thread (the event loop: HTTP,
routing, middleware) and the others (the thread pool: ``Bot.ask`` and the JSON; the query
embedder and ONNX Runtime's threads: the model), divided by the answers.

``--cache on`` (the default here) keeps every question's vectors after a first pass, so the
measured passes run no model: the Python of an answer alone. ``--cache off`` embeds every
question (``CHATBOT_QUERY_CACHE_SIZE=0``), as the load test's 'cache off' rows do.

``--baseline`` measures the naive baseline's server (``bench/baseline_server.py``) the same way.
The client's own CPU time an answer (``http.client`` and the JSON, what each simulated patient
of ``bench/load.py`` costs the same machine) is printed too: with the server's, it bounds the
answers a second that the machine's cores can give at all.

Run: `.venv/bin/python bench/served_cpu.py [--rounds 20] [--cache on|off] [--baseline]`.
"""

from __future__ import annotations

import argparse
import http.client
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import QUESTIONS, Server, bench_index_dir, machine, post_ask  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def thread_cpu(pid: int) -> Counter[str]:
    """CPU seconds so far of the main thread (the event loop: HTTP, routing, middleware) and of
    all the others (the thread pool's ``Bot.ask`` and JSON, the query embedder and the model's
    threads; Python 3.11 gives them no OS names to tell them apart by)."""
    out: Counter[str] = Counter()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # a thread that ended meanwhile
            continue
        # After the name: utime and stime are fields 14 and 15 (1-based, man 5 proc).
        kind = "main thread (event loop)" if task.name == str(pid) else "other threads"
        out[kind] += (int(fields[11]) + int(fields[12])) / TICK
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--cache", choices=["on", "off"], default="on")
    parser.add_argument("--baseline", action="store_true", help="the naive baseline's server")
    args = parser.parse_args()
    env = {"CHATBOT_QUERY_CACHE_SIZE": "100000" if args.cache == "on" else "0"}
    command = [sys.executable, str(Path(__file__).resolve().parent / "baseline_server.py")]
    with (
        tempfile.TemporaryDirectory() as tmp,
        Server(
            bench_index_dir(), Path(tmp) / "data", command if args.baseline else None, **env
        ) as server,
    ):
        server.wait_first_answer()
        conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
        for _ in range(2):  # warm: every vector cached (cache on), every code path run once
            for q in QUESTIONS:
                post_ask(server.host, server.port, q, conn)
        before, t = thread_cpu(server.proc.pid), time.perf_counter()
        client = time.process_time()
        n = 0
        for _ in range(args.rounds):
            for q in QUESTIONS:
                status, _ = post_ask(server.host, server.port, q, conn)
                if status != 200:
                    raise SystemExit(f"answer {status} to {q!r}")
                n += 1
        wall = time.perf_counter() - t
        client = time.process_time() - client
        after = thread_cpu(server.proc.pid)
    spent = after - before
    total = sum(spent.values())
    print(f"machine: {machine()}")
    what = "naive baseline" if args.baseline else f"query cache {args.cache}"
    print(
        f"{n} answers, one client, {what}: server CPU {total * 1000 / n:.2f} ms "
        f"an answer (wall {wall * 1000 / n:.2f} ms an answer at the client; the client's own "
        f"CPU {client * 1000 / n:.2f} ms an answer)"
    )
    for name, seconds in spent.most_common():
        if seconds > 0:
            print(f"  {seconds * 1000 / n:7.2f} ms  {name}")


if __name__ == "__main__":
    main()
