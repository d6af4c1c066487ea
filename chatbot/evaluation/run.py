"""Running a question set through anything that answers like ``Bot.ask`` (the bot itself, or a
baseline with the same ``ask`` and ``index``), and scoring every answer."""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Sequence
from typing import Any

from chatbot.errors import BadInputError
from chatbot.evaluation.items import EvalItem
from chatbot.evaluation.scoring import ItemResult, PromotionCheck, score_item
from chatbot.index import LoadedIndex
from chatbot.structure import is_promotion
from chatbot.types import Turn


def promotion_check(index: LoadedIndex) -> PromotionCheck:
    """Whether the sentence of an article at an offset advertises the clinic: the mark the
    index's structure gave it at ingest (``structure.Facts.promotion``), or, for an offset
    between sentences, the sentence after it."""
    starts: dict[str, list[int]] = {}
    marks: dict[str, list[bool]] = {}
    structure = getattr(index, "structure", None)
    for pos, rec in enumerate(index.sentences):
        starts.setdefault(rec.article_id, []).append(rec.start)
        if structure is not None and pos < len(structure):
            marks.setdefault(rec.article_id, []).append(structure[pos].promotion)
        else:
            marks.setdefault(rec.article_id, []).append(is_promotion(rec.text))

    def check(article: str, offset: int) -> bool:
        at = starts.get(article)
        if not at:
            return False
        i = max(0, bisect.bisect_right(at, offset) - 1)
        if at[i] < offset and i + 1 < len(at):
            # An offset inside a sentence is that sentence's; the baseline's chunks can start
            # mid-sentence, so a chunk opening inside one is judged by its next whole sentence.
            i += 1
        return marks[article][i]

    return check


def run_eval(
    bot: Any,
    items: Sequence[EvalItem],
    progress: Callable[[int, int], None] | None = None,
    promotional: PromotionCheck | None = None,
) -> list[ItemResult]:
    """Ask every item through ``bot.ask`` (with its history) and score the answers."""
    articles = bot.index.articles
    if promotional is None:
        promotional = promotion_check(bot.index)
    results = []
    for n, item in enumerate(items, 1):
        history = [Turn(role, content) for role, content in item.history]
        t = time.perf_counter()
        try:
            answer = bot.ask(item.question, history, channel="eval").to_dict()
        except BadInputError as exc:
            answer = {
                "status": "error",
                "answer": "",
                "citations": [],
                "disclaimer": "",
                "error": str(exc),
            }
        latency = (time.perf_counter() - t) * 1000
        results.append(score_item(item, answer, latency, articles, promotional))
        if progress:
            progress(n, len(items))
    return results
