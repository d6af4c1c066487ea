"""Medicines: the caution line under an answer, and the check for requests of personal advice
(a dose, starting / stopping / changing a medicine, what one's own symptoms mean). Both read one
vocabulary of medicines (``rules.toml``).

The check the answers use (``asks_personal_advice``) is learned: a logistic regression over the
message's vector and the hand-written patterns' verdict (``personal_advice_match``), fitted by
``bench/train_advice.py`` on banks that can grow; its coefficients and operating point live in
``data/advice.json``. Without the model's vector (another embedding model, the learned layers
not run) the patterns decide alone.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from chatbot.safety.normalise import normalise
from chatbot.safety.rules import rulebook

_PRONOUN_STOP = re.compile(
    r"\b(?:stop|quit|come off|get off|go off|double|halve|taper|wean|skip|increase|decrease)"
    r" (?:taking )?(?:it|them|this|these|that|those)\b"
)


@lru_cache(maxsize=8192)  # the articles' sentences, read for every answer that quotes them
def mentions_medicine(text: str) -> bool:
    """True when the text names a medicine, a dose or a supplement (in any spelling it knows)."""
    return bool(rulebook().medicine.search(normalise(text)))


def needs_medication_caution(quotes: list[str]) -> bool:
    """Should an answer citing these quotes add the "talk to your doctor first" line?"""
    return any(mentions_medicine(q) for q in quotes)


_LAST = threading.local()  # this thread's last message and its match


def personal_advice_match(text: str) -> str | None:
    """The words that make this a request for personal advice, or None.

    Personal advice is a dose, starting, stopping or changing a medicine, or what one's own (or a
    relative's) symptoms mean. General questions ("what doses of iron are used for RLS?", "can
    RLS be treated with medication?") are not.

    An answer asks twice of its message (the staff-answer lookup, the learned check's input):
    the second time is the first one's result, kept for the thread's last message only.
    """
    last = getattr(_LAST, "match", None)
    if last is not None and last[0] == text:
        return last[1]
    found = _personal_advice_match(text)
    _LAST.match = (text, found)
    return found


def _personal_advice_match(text: str) -> str | None:
    book = rulebook()
    low = normalise(text)
    has_medicine = bool(book.medicine.search(low) or _PRONOUN_STOP.search(low))
    has_me = bool(re.search(book.fragments["ME"], low))
    for rule in book.personal_advice:
        if (rule.needs_medicine and not has_medicine) or (rule.needs_self and not has_me):
            continue
        m = rule.pattern.search(low)
        if m:
            return m.group(0)
    return None


def is_personal_advice(text: str) -> bool:
    """True for a request for a personal dose, a medication change, or a diagnosis."""
    return personal_advice_match(text) is not None


log = logging.getLogger(__name__)
ADVICE_FILE = Path(__file__).resolve().parent / "data" / "advice.json"


def advice_features(text: str, vector: np.ndarray) -> np.ndarray:
    """What the learned check reads: the message's vector and the patterns' verdict (0 / 1)."""
    return np.append(np.asarray(vector, dtype=np.float64), float(is_personal_advice(text)))


@dataclass(frozen=True)
class AdviceModel:
    """The fitted check (``data/advice.json``): the model whose vectors it reads, its weights
    over ``advice_features`` and its operating point."""

    embedder: str
    coef: np.ndarray
    intercept: float
    threshold: float

    def probability(self, text: str, vector: np.ndarray) -> float | None:
        x = advice_features(text, vector)
        if x.shape != self.coef.shape:
            return None
        return float(1.0 / (1.0 + np.exp(-(x @ self.coef + self.intercept))))


@lru_cache(maxsize=1)
def _advice_model() -> AdviceModel | None:
    try:
        data = json.loads(ADVICE_FILE.read_text(encoding="utf-8"))
        return AdviceModel(
            str(data["embedder"]),
            np.asarray(data["coef"], dtype=np.float64),
            float(data["intercept"]),
            float(data["threshold"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning(
            "personal advice: %s unreadable (%s); the patterns decide alone", ADVICE_FILE, exc
        )
        return None


def advice_probability(text: str, vector: np.ndarray | None, embedder: str) -> float | None:
    """The learned check's probability that ``text`` asks for personal advice, or None when it
    cannot read this message (no vector, or a vector of a model it was not fitted on)."""
    model = _advice_model()
    if model is None or vector is None or model.embedder != embedder:
        return None
    return model.probability(text, vector)


def asks_personal_advice(text: str, vector: np.ndarray | None, embedder: str) -> bool:
    """The answers' check: the learned one at its operating point, else the patterns."""
    p = advice_probability(text, vector, embedder)
    if p is None:
        return is_personal_advice(text)
    model = _advice_model()
    return model is not None and p >= model.threshold
