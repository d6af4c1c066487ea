"""What the web app adds to an answer's CPU, outside ``Bot.ask``: routing, middleware, the rate
limit, pydantic, the thread-pool hop and the JSON.

One process builds the served app (``web.app.build``, cache on so no model runs after a first
pass) and asks each fixed question twice in turn: ``Bot.ask`` directly, then ``POST /api/ask``
through the ASGI app (no socket: uvicorn's parsing and the socket writes are not counted;
``bench/served_cpu.py`` counts them). Each is timed by the process's CPU time (the request runs
on a thread of the server's pool), interleaved so another job on the machine weighs on both
alike; the difference is the web part. With ``--profile`` a cProfile of the ASGI path (the
thread-pool hop made inline so one thread runs it all) lists the web part's functions.

Run: `.venv/bin/python bench/http_cost.py [--rounds 20] [--profile] [--results]`;
``--results`` writes the figures to bench/RESULTS.md (section "Web cost per answer").
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from answer_cost import Asgi  # noqa: E402
from common import QUESTIONS, isolated_app_env, machine, update_results  # noqa: E402

SECTION = "Web cost per answer"
WEB = re.compile(
    r"(starlette|fastapi|uvicorn|pydantic|pydantic_core|anyio|limits|email)/|/json/"
    r"|chatbot/web/|chatbot/types\.py"
)


def inline_profile(app: Any, rounds: int, top: int) -> list[str]:
    """cProfile of POST /api/ask through ``app`` on this thread; the web part's functions."""
    import fastapi.routing

    async def inline(func: Any, *args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    fastapi.routing.run_in_threadpool = inline  # type: ignore[assignment]
    loop = asyncio.new_event_loop()

    def ask(question: str) -> None:
        call, sent = Asgi.request(app, question)
        loop.run_until_complete(call)
        assert sent[0]["status"] == 200, sent

    for q in QUESTIONS:
        ask(q)
    profiler = cProfile.Profile(time.thread_time)
    profiler.enable()
    for _ in range(rounds):
        for q in QUESTIONS:
            ask(q)
    profiler.disable()
    n = rounds * len(QUESTIONS)
    rows = []
    for (file, line, name), (_, calls, own, cumulative, _) in pstats.Stats(profiler).stats.items():  # type: ignore[attr-defined]
        where = f"{file.split('site-packages/')[-1]}:{line}({name})"
        # Bot.ask's own work (and the libraries it calls) is answer_cost.py's; here only the
        # web around it: the frameworks, the rate limit, JSON, the app's middleware.
        if WEB.search(file) and "routers/api.py" not in where:
            rows.append((cumulative, own, calls, where))
    out = [f"cProfile, POST /api/ask on one thread, {n} answers: functions of the web part, "]
    out[0] += "by cumulative ms an answer (Bot.ask's own functions left out)"
    out.append("")
    out.append("| cumulative ms | own ms | calls | function |")
    out.append("|---|---|---|---|")
    # The middleware chain holds the whole answer; below half of it is the web's own work.
    deep = [r for r in sorted(rows, reverse=True) if r[0] < rows_total(rows) * 0.5]
    for cumulative, own, calls, where in deep[:top]:
        out.append(
            f"| {cumulative * 1000 / n:.3f} | {own * 1000 / n:.3f} | {calls / n:.1f} | {where} |"
        )
    return out


def rows_total(rows: list[tuple[float, float, int, str]]) -> float:
    return max(r[0] for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--results", action="store_true", help="write to bench/RESULTS.md")
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    isolated_app_env(tmp.name)
    from chatbot.config import load_settings
    from chatbot.web.app import build

    app = build(load_settings())
    bot = app.state.ctx.bot
    client = Asgi(app)
    for q in QUESTIONS * 2:  # every vector cached: no model in the measured passes
        client.ask(q)
        bot.ask(q)
    direct: list[float] = []
    served: list[float] = []
    for _ in range(args.rounds):
        for q in QUESTIONS:
            c = time.process_time()
            bot.ask(q)
            direct.append((time.process_time() - c) * 1000)
            c = time.process_time()
            client.ask(q)
            served.append((time.process_time() - c) * 1000)
    d, s = statistics.median(direct), statistics.median(served)
    # Each question asked both ways one after the other: the median of those differences is
    # steadier than the difference of the means on a busy machine.
    paired = statistics.median(b - a for a, b in zip(direct, served, strict=True))
    lines = [
        f"machine: {machine()}",
        f"{len(direct)} answers each way ({len(QUESTIONS)} questions x {args.rounds}), cache on "
        "(no model), one process, interleaved; process CPU ms an answer (medians):",
        "",
        "| Bot.ask directly | POST /api/ask through the ASGI app | the web part (paired) |",
        "|---|---|---|",
        f"| {d:.2f} | {s:.2f} | {paired:.2f} |",
    ]
    if args.profile:
        lines += ["", *inline_profile(app, max(2, args.rounds // 4), args.top)]
    text = "\n".join(lines)
    print(text)
    if args.results:
        update_results(SECTION, text)
    tmp.cleanup()


if __name__ == "__main__":
    main()
