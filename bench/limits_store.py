"""What the rate limit's check costs a question, by limits store (CHATBOT_LIMITS_URL):
``memory://``, a Redis on this machine (a private one from tests/services.py), and that Redis
stopped (each check then counts in the process's memory; Redis tried again every 5 s). The
check runs on the server's event loop, once per counted request, so this is what every
question pays before it is answered. Updates bench/RESULTS.md.

Run: `.venv/bin/python bench/limits_store.py [--checks 5000]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from common import machine, pct, table, update_results  # noqa: E402


def timed(check, n: int) -> list[float]:
    """``check(key)`` ``n`` times over 200 client addresses; per-call ms."""
    times = []
    for i in range(n):
        key = f"198.51.100.{i % 200}"
        t = time.perf_counter()
        check(key)
        times.append((time.perf_counter() - t) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=5000, help="checks per row")
    args = parser.parse_args()

    from services import RedisServer

    from chatbot.web.limits import LimitsStore, RateLimiter

    rows = []

    def row(label: str, limiter: RateLimiter) -> None:
        timed(limiter.check, 200)  # warm up: connections, scripts loaded
        times = timed(limiter.check, args.checks)
        health = limiter.store.health()
        rows.append(
            [
                label,
                len(times),
                f"{statistics.median(times):.3f}",
                f"{statistics.mean(times):.3f}",
                f"{pct(times, 99):.3f}",
                f"{max(times):.2f}",
                health["limits"],
            ]
        )
        print(" | ".join(str(c) for c in rows[-1]), flush=True)

    row("memory://", RateLimiter(100_000, LimitsStore("memory://")))
    with RedisServer() as server:
        redis_limiter = RateLimiter(100_000, LimitsStore(server.url))
        row("redis:// on this machine", redis_limiter)
        server._kill()
        row("redis:// stopped (counted in memory)", redis_limiter)

    report = "\n".join(
        [
            f"machine: {machine()}",
            "",
            table(
                ["limits store", "checks", "p50 ms", "mean ms", "p99 ms", "max ms", "/healthz"],
                rows,
            ),
            "",
            "One thread, one check per counted request (`RateLimiter.check`: a moving-window "
            "hit, for Redis one Lua script round trip over loopback). With Redis stopped the "
            "connection is refused at once; one check in 5 s tries it again (the max). A Redis "
            "host that does not answer at all would hold that one check for the 0.25 s timeout.",
        ]
    )
    print(report)
    update_results("Limits store cost per question", report)


if __name__ == "__main__":
    main()
