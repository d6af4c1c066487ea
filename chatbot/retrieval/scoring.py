"""How a candidate sentence is scored, and how the gate reads a question: the formulas, with
their weights from ``config.RetrievalWeights`` (README, "Answer quality")."""

from __future__ import annotations

import numpy as np

from chatbot.config import RetrievalWeights


def sentence_scores(
    w: RetrievalWeights,
    cosine: np.ndarray,
    genericness: np.ndarray,
    context: np.ndarray,
    lexical: np.ndarray,
    promotional: np.ndarray,
) -> np.ndarray:
    """``sentence`` x (cosine - ``hub`` x genericness) + ``context`` x the passage's cosine +
    ``lexical`` x the lexical match, less ``promotion_penalty`` for a sentence that advertises
    the clinic (it shares a question's words without answering it)."""
    return (
        w.sentence * (cosine - w.hub * genericness)
        + w.context * context
        + w.lexical * lexical
        - w.promotion_penalty * promotional
    )


def relevance(
    w: RetrievalWeights,
    best_cosine: float,
    best_lexical: float,
    coverage: float,
    semantic: float,
) -> float:
    """How well the articles cover the question: the gate's number (0..1).

    ``gate_cosine`` x the best sentence cosine + the rest x the best lexical match, lowered
    for the words of the question the articles never use, by their share
    (``coverage_weight``) and by the meaning lost without them (``semantic_weight``).
    """
    base = w.gate_cosine * best_cosine + (1.0 - w.gate_cosine) * best_lexical
    factor = (1.0 - w.coverage_weight * (1.0 - coverage)) * (
        1.0 - w.semantic_weight * (1.0 - semantic)
    )
    return round(max(0.0, base * factor), 4)
