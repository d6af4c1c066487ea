"""``eval``: score the bot on a question set, through the app's own ``Bot.ask``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from chatbot.cli.common import EXIT_OK, settings_of
from chatbot.errors import BadInputError, ChatbotError
from chatbot.evaluation import (
    DEFAULT_QUESTIONS,
    format_report,
    load_questions,
    report,
    run_eval,
    write_chart,
)


def cmd_eval(args: Any) -> int:
    from chatbot.pipeline import build_bot

    settings = settings_of(args)
    items = load_questions(Path(args.questions))  # before the model loads: fail fast
    if args.split:
        items = [i for i in items if i.split == args.split]
        if not items:
            raise BadInputError(
                f"question file {args.questions} has no items of split {args.split!r}"
            )
    # Staff exclusions and reviewed answers flow in as in production; nothing is logged.
    bot = build_bot(settings, read_only_log=True)
    if args.sweep:
        return _sweep(args, settings, bot, items)
    results = run_eval(bot, items)
    data = report(results, settings.answer.min_relevance, str(args.questions))
    if not args.no_chart:
        chart = (
            Path(args.chart)
            if args.chart
            else Path(settings.paths.data_dir) / "eval" / "eval-chart.png"
        )
        try:
            data["chart"] = str(write_chart(data, chart))
        except (OSError, ValueError) as exc:
            raise ChatbotError(f"could not write the chart to {chart} ({exc})") from exc
    if args.json:
        print(json.dumps(data, ensure_ascii=False))
    else:
        print(format_report(data))
        if "chart" in data:
            print(f"\nchart: {data['chart']}")
    sys.stdout.flush()
    return EXIT_OK


def _sweep(args: Any, settings: Any, bot: Any, items: list[Any]) -> int:
    """``--sweep NAME=V1,V2,...``: the headline figures for each value of one weight of
    ``config.RetrievalWeights`` or ``config.AnswerWeights``, on the dev split only (a weight
    chosen on the held-back items would stop them predicting real use)."""
    from chatbot.config import AnswerWeights, RetrievalWeights
    from chatbot.evaluation import format_headline
    from chatbot.pipeline import Bot

    if args.split != "dev" or any(i.split != "dev" for i in items):
        raise BadInputError("--sweep runs on the dev split only: add --split dev")
    name, sep, raw = str(args.sweep).partition("=")
    group = (
        "retrieval"
        if name in RetrievalWeights.model_fields
        else "answer"
        if name in AnswerWeights.model_fields
        else ""
    )
    if not sep or not group:
        raise BadInputError(f"--sweep wants NAME=V1,V2 with NAME a weight (got {args.sweep!r})")
    for value in [v.strip() for v in raw.split(",") if v.strip()]:
        part = getattr(settings, group)
        weights = part.weights.model_copy(update={name: type(getattr(part.weights, name))(value)})
        changed = settings.replace(
            **{group: {**part.model_dump(), "weights": weights.model_dump()}}
        )
        swept = Bot(changed, bot.index, bot.embedder, log=bot.log)
        data = report(run_eval(swept, items), changed.answer.min_relevance, str(args.questions))
        print(f"{name}={value}")
        print("\n".join("  " + line for line in format_headline(data)))
    sys.stdout.flush()
    return EXIT_OK


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "eval", help="score the bot on a question set (JSON Lines; default: the project's own)"
    )
    p.add_argument(
        "--questions", default=str(DEFAULT_QUESTIONS), help="question set (default: %(default)s)"
    )
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.add_argument(
        "--chart", help="PNG chart of the figures (default: <data dir>/eval/eval-chart.png)"
    )
    p.add_argument("--no-chart", action="store_true", help="do not write the chart")
    p.add_argument("--split", help="only the items of this split (e.g. dev or test)")
    p.add_argument(
        "--sweep",
        help="NAME=V1,V2,...: headline figures for each value of one weight (dev split only)",
    )
    p.add_argument("--index", help="index folder (default: index/)")
    p.add_argument("--corpus", help="corpus folder (default: corpus/)")
    p.set_defaults(func=cmd_eval)
