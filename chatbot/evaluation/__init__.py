"""Score the bot on a question set: the same ``Bot.ask`` path as the app, metrics per behaviour.

A question set is JSON Lines (``items``: the project's format and the answer waves' with
nuggets and breadth); ``scoring`` scores one answer; ``report`` gives the metrics per behaviour,
split and breadth, the headline figures beside a baseline's, the abstention trade-off and
every failure; ``chart`` draws them (``python -m chatbot eval``, in ``cli/eval.py``).
"""

from chatbot.evaluation.chart import write_chart
from chatbot.evaluation.items import BEHAVIOURS, DEFAULT_QUESTIONS, EvalItem, Nugget, load_questions
from chatbot.evaluation.report import (
    TARGETS,
    format_headline,
    format_report,
    headline,
    percentile,
    report,
    summarise,
    tradeoff,
)
from chatbot.evaluation.run import promotion_check, run_eval
from chatbot.evaluation.scoring import (
    ItemResult,
    answer_words,
    evidence_hits,
    is_medical,
    nugget_held,
    resolve_gold_files,
    score_item,
)

__all__ = [
    "BEHAVIOURS",
    "DEFAULT_QUESTIONS",
    "TARGETS",
    "EvalItem",
    "ItemResult",
    "Nugget",
    "answer_words",
    "evidence_hits",
    "format_headline",
    "format_report",
    "headline",
    "is_medical",
    "load_questions",
    "nugget_held",
    "percentile",
    "promotion_check",
    "report",
    "resolve_gold_files",
    "run_eval",
    "score_item",
    "summarise",
    "tradeoff",
    "write_chart",
]
