"""Grouping patients' questions by meaning: "most asked" and the content gaps.

Questions are first grouped by their normalised text (case, spaces, punctuation), then the
groups are joined by meaning: with the embedding model, a group joins the first cluster whose
centroid is within ``CLUSTER_COSINE`` (chosen on the paraphrase pairs of
``tests/approved_pairs.jsonl``, see README "Approved answers"); without a model (the command
line), by shared words (rapidfuzz's token-set ratio). A follow-up ("what about tea?") is not a
question of its own: "most asked" leaves it out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chatbot.retrieval.query import retrieval_query
from chatbot.text.normalise import fold
from chatbot.types import Turn

Embed = Callable[[list[str]], np.ndarray]

CLUSTER_COSINE = 0.62  # two questions this close (all-MiniLM-L6-v2) ask the same thing
WORDS_RATIO = 80.0  # without a model: rapidfuzz token-set ratio (0-100) for the same question
MAX_GROUPS = 500  # distinct questions embedded at most for one view
EMBED_STEP = 16


@dataclass(frozen=True)
class Asked:
    """One logged question."""

    id: str
    question: str
    norm: str


@dataclass
class Group:
    """Questions that ask the same thing: the commonest wording first."""

    question: str
    count: int = 0
    ids: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)  # the distinct wordings, commonest first

    @property
    def variants(self) -> int:
        return len(self.examples)


def is_follow_up(question: str, history: Sequence[Any]) -> bool:
    """A question that only makes sense with the turn before it (read as the bot reads it)."""
    turns = [
        t if isinstance(t, Turn) else Turn(str(t.get("role", "")), str(t.get("content", "")))
        for t in history
    ]
    return retrieval_query(question, turns) != question


def group_questions(
    asked: Sequence[Asked], embed: Embed | None = None, threshold: float | None = None
) -> list[Group]:
    """Group ``asked`` by meaning; biggest group first."""
    exact: dict[str, Group] = {}
    for a in asked:
        g = exact.setdefault(a.norm, Group(a.question))
        g.count += 1
        g.ids.append(a.id)
    singles = sorted(exact.values(), key=lambda g: (-g.count, g.question))
    for g in singles:
        g.examples = [g.question]
    head, tail = singles[:MAX_GROUPS], singles[MAX_GROUPS:]
    if embed is not None and head:
        merged = _by_meaning(head, embed, CLUSTER_COSINE if threshold is None else threshold)
    else:
        merged = _by_words(head, WORDS_RATIO if threshold is None else threshold)
    return sorted(merged + tail, key=lambda g: (-g.count, g.question))


def _join(into: Group, g: Group) -> None:
    into.count += g.count
    into.ids += g.ids
    into.examples += g.examples


def _by_meaning(groups: list[Group], embed: Embed, threshold: float) -> list[Group]:
    texts = [g.question for g in groups]
    # In small calls: served, they go through the model's own worker thread (and its cache).
    vectors = np.concatenate(
        [
            np.asarray(embed(texts[i : i + EMBED_STEP]), dtype=np.float32)
            for i in range(0, len(texts), EMBED_STEP)
        ]
    )
    clusters: list[Group] = []
    sums: list[np.ndarray] = []
    for g, v in zip(groups, vectors, strict=True):
        best, best_cos = -1, threshold
        for i, s in enumerate(sums):
            cos = float(s @ v) / (float(np.linalg.norm(s)) or 1.0)
            if cos >= best_cos:
                best, best_cos = i, cos
        if best < 0:
            clusters.append(Group(g.question, g.count, list(g.ids), list(g.examples)))
            sums.append(v * g.count)
        else:
            _join(clusters[best], g)
            sums[best] = sums[best] + v * g.count
    return clusters


def _by_words(groups: list[Group], ratio: float) -> list[Group]:
    from rapidfuzz import fuzz

    clusters: list[Group] = []
    keys: list[str] = []
    for g in groups:
        key = fold(g.question)
        for i, k in enumerate(keys):
            if fuzz.token_set_ratio(key, k) >= ratio and fuzz.ratio(key, k) >= ratio - 20:
                _join(clusters[i], g)
                break
        else:
            clusters.append(Group(g.question, g.count, list(g.ids), list(g.examples)))
            keys.append(key)
    return clusters
