"""Medicines: the caution line under an answer, and the check for requests of personal advice
(a dose, starting / stopping / changing a medicine, what one's own symptoms mean). Both read one
vocabulary of medicines (``rules.toml``)."""

from __future__ import annotations

import re

from chatbot.safety.normalise import normalise
from chatbot.safety.rules import rulebook

_PRONOUN_STOP = re.compile(
    r"\b(?:stop|quit|come off|get off|go off|double|halve|taper|wean|skip|increase|decrease)"
    r" (?:taking )?(?:it|them|this|these|that|those)\b"
)


def mentions_medicine(text: str) -> bool:
    """True when the text names a medicine, a dose or a supplement (in any spelling it knows)."""
    return bool(rulebook().medicine.search(normalise(text)))


def needs_medication_caution(quotes: list[str]) -> bool:
    """Should an answer citing these quotes add the "talk to your doctor first" line?"""
    return any(mentions_medicine(q) for q in quotes)


def personal_advice_match(text: str) -> str | None:
    """The words that make this a request for personal advice, or None.

    Personal advice is a dose, starting, stopping or changing a medicine, or what one's own (or a
    relative's) symptoms mean. General questions ("what doses of iron are used for RLS?", "can
    RLS be treated with medication?") are not.
    """
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
