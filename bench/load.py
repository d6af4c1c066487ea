"""Load test on loopback: N simulated patients asking at once for a fixed time.

Starts `python -m chatbot serve` on 127.0.0.1 (temp data dir, per-client rate limit lifted: every
simulated patient comes from 127.0.0.1), then for each N in --clients runs N patient threads,
each asking the fixed questions in its own order over its own keep-alive connection, for
--seconds. Reports throughput, p50/p95/p99 latency, errors and the server's RSS (sampled from
/proc every 0.25 s). By default the server's query cache is off, so every ask runs the model
(the worst case); --cache measures the served default. Updates bench/RESULTS.md.

The client threads run on the same 2 cores as the server and take a little of its CPU.

Run: `.venv/bin/python bench/load.py [--clients 1 10 50] [--seconds 20] [--cache]`.
"""

from __future__ import annotations

import argparse
import http.client
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
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


def patient(
    server: Server,
    seed: int,
    stop_at: float,
    latencies: list[float],
    errors: list[str],
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
        try:
            status, body = post_ask(server.host, server.port, q, conn=conn)
            ok = status == 200 and "status" in body
            err = "" if ok else f"HTTP {status}"
        except (OSError, http.client.HTTPException) as exc:
            err = type(exc).__name__
            conn.close()
            conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
        ms = (time.perf_counter() - t) * 1000
        with lock:
            if err:
                errors.append(err)
            else:
                latencies.append(ms)
    conn.close()


def run_level(server: Server, clients: int, seconds: float) -> dict[str, float | str]:
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    rss: list[float] = []
    start = time.perf_counter()
    stop_at = start + seconds
    threads = [
        threading.Thread(target=patient, args=(server, n, stop_at, latencies, errors, lock))
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
    return {
        "clients": clients,
        "requests": len(latencies) + len(errors),
        "throughput": len(latencies) / elapsed,
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p95": pct(latencies, 95),
        "p99": pct(latencies, 99),
        "max": max(latencies, default=float("nan")),
        "errors": len(errors),
        "error_kinds": ",".join(sorted(set(errors))),
        "rss_max": max(rss, default=float("nan")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--seconds", type=float, default=20.0, help="asking time per level")
    parser.add_argument("--cache", action="store_true", help="keep the served query cache on")
    args = parser.parse_args()

    env = {} if args.cache else {"CHATBOT_QUERY_CACHE_SIZE": "0"}
    results = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        Server(bench_index_dir(), Path(tmp) / "data", **env) as server,
    ):
        server.wait_first_answer()
        for q in QUESTIONS:  # warm every code path once
            post_ask(server.host, server.port, q)
        rss_idle, _ = rss_mb(server.proc.pid)
        for clients in args.clients:
            res = run_level(server, clients, args.seconds)
            results.append(res)
            print(
                f"{clients:>3} clients: {res['throughput']:.1f} req/s, p50 {res['p50']:.1f} ms, "
                f"p95 {res['p95']:.1f} ms, p99 {res['p99']:.1f} ms, errors {res['errors']}, "
                f"RSS max {res['rss_max']:.0f} MiB",
                flush=True,
            )
        rss_end, rss_peak = rss_mb(server.proc.pid)

    rows = [
        [
            r["clients"],
            r["requests"],
            f"{r['throughput']:.1f}",
            f"{r['p50']:.1f}",
            f"{r['p95']:.1f}",
            f"{r['p99']:.1f}",
            f"{r['max']:.1f}",
            f"{r['errors']}" + (f" ({r['error_kinds']})" if r["errors"] else ""),
            f"{r['rss_max']:.0f}",
        ]
        for r in results
    ]
    cache = "on (served default)" if args.cache else "off (every ask runs the model)"
    report = "\n".join(
        [
            f"machine: {machine()}",
            f"{args.seconds:.0f} s per level on 127.0.0.1, one keep-alive connection per patient, "
            f"query cache {cache}; server RSS idle {rss_idle:.0f} MiB, peak (VmHWM) {rss_peak:.0f} "
            f"MiB, at the end {rss_end:.0f} MiB",
            "",
            table(
                [
                    "clients",
                    "requests",
                    "answers/s",
                    "p50 ms",
                    "p95 ms",
                    "p99 ms",
                    "max ms",
                    "errors",
                    "RSS max MiB",
                ],
                rows,
            ),
            "",
            "Targets: p95 under 50 ms with one client and under 500 ms with 50, zero errors, "
            "RSS under 1.5 GB.",
        ]
    )
    print(report)
    update_results("Load" + (" (query cache on)" if args.cache else ""), report)


if __name__ == "__main__":
    main()
