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


def rounded(values: np.ndarray, digits: int) -> list[float]:
    """``[round(v, digits) for v in values.tolist()]``, the same floats to the last bit, in
    numpy: ``rint(v * 10**digits) / 10**digits`` is Python's correctly rounded figure whenever
    ``v * 10**digits`` is not within 1e-6 of a half (its own rounding error is far smaller, so
    the nearest whole number is the exact product's; the division is then correctly rounded
    like Python's reading of the decimal). Those near a half, and anything not finite or huge,
    go through ``round`` itself. A question's ~250 candidates: ~85 -> ~12 us."""
    x = np.asarray(values, dtype=np.float64)
    scale = 10.0**digits
    scaled = x * scale
    with np.errstate(invalid="ignore"):
        out: list[float] = (np.rint(scaled) / scale).tolist()
        doubtful = ~(np.abs(scaled - np.floor(scaled) - 0.5) > 1e-6) | ~(np.abs(scaled) < 1e9)
    if doubtful.any():
        for i in np.flatnonzero(doubtful).tolist():
            out[i] = round(float(x[i]), digits)
    return out
