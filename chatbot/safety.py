"""Checks that run before retrieval: input hygiene, emergencies, requests for personal advice."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from chatbot.errors import BadInputError

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def clean_question(raw: object, max_chars: int) -> str:
    """Return the question as safe plain text, or raise BadInputError saying what is wrong.

    Control and bidi characters are dropped, whitespace is collapsed. Markup is kept as text:
    it is never rendered, and the web layer escapes it.
    """
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadInputError("the question is not text (it looks like binary data)") from exc
    if not isinstance(raw, str):
        raise BadInputError("the question must be text")
    if len(raw) > max_chars * 4:
        raise BadInputError(
            f"the question is too long ({len(raw)} characters; at most {max_chars}); "
            "please ask it in a few sentences"
        )
    if raw.count("\x00") or (raw and sum(not ch.isprintable() and not ch.isspace() for ch in raw) > len(raw) * 0.1):
        raise BadInputError("the question is not text (it looks like binary data)")
    text = unicodedata.normalize("NFC", raw)
    text = _CONTROL.sub(" ", text)
    text = re.sub(r"\s+", " ", text).strip()
    if not text:
        raise BadInputError("the question is empty; please type a question about restless legs")
    if len(text) > max_chars:
        raise BadInputError(
            f"the question is too long ({len(text)} characters; at most {max_chars}); "
            "please ask it in a few sentences"
        )
    return text


@dataclass(frozen=True)
class EmergencyMatch:
    """Why a message was taken for an emergency."""

    category: str
    matched: str


# category -> patterns (lower-case text). Kept deliberately specific: ordinary RLS talk
# ("this itch is killing my sleep") must not trigger them.
_EMERGENCY: dict[str, list[str]] = {
    "chest pain": [
        r"\bchest (pain|pains|hurts?|tightness|pressure)\b",
        r"\b(pain|pressure|tightness|crushing)\b[^.]{0,30}\bchest\b",
        r"\bheart attack\b",
    ],
    "breathing": [
        r"\b(can'?t|cannot|can ?not|unable to|struggling to|hard to|trouble|difficulty) (breathe|breathing|breath)\b",
        r"\bshort(ness)? of breath\b",
        r"\bnot breathing\b",
        r"\bchoking\b",
    ],
    "stroke": [
        r"\bface (is )?(drooping|droops|numb)\b",
        r"\bslurred speech\b|\bslurring\b",
        r"\b(one|1) side of (my|his|her|the) (body|face)\b",
        r"\bsudden(ly)? (weak|numb|can'?t move)\b[^.]{0,40}\b(arm|leg|side)\b",
        r"\bstroke\b",
    ],
    "suicide or self-harm": [
        r"\b(kill|killing|hurt|hurting|harm|harming) (myself|me)\b",
        r"\bsuicid",
        r"\bend (my|it all|my life)\b",
        r"\b(want|wanna|going) to die\b",
        r"\bdon'?t want to (live|be alive|wake up)\b",
        r"\bself[- ]harm",
    ],
    "blood clot": [
        r"\b(calf|leg)\b[^.]{0,40}\b(swollen|swelling|hot|red)\b[^.]{0,40}\b(pain|painful|hurts?|sore)\b",
        r"\b(swollen|swelling|hot|red)\b[^.]{0,40}\b(calf|leg)\b[^.]{0,40}\b(pain|painful|hurts?|sore)\b",
        r"\bblood clot\b[^.]{0,30}\b(now|think|might|maybe)\b",
        r"\bdvt\b",
    ],
    "overdose or poisoning": [
        r"\boverdos",
        r"\btook (too many|too much|a lot of|all (my|the|of))\b",
        r"\bswallowed\b[^.]{0,40}\b(pills?|tablets?|medicine|bottle)\b",
        r"\bpoison",
    ],
    "severe allergic reaction": [
        r"\banaphyla",
        r"\b(throat|tongue|lips?|face)\b[^.]{0,20}\b(swelling|swollen|closing)\b",
    ],
    "collapse or unresponsive": [
        r"\bcollapsed?\b",
        r"\b(unconscious|unresponsive|not responding|isn'?t responding|won'?t wake|passed out|fainted)\b",
        r"\bseizure\b|\bfitting\b|\bconvulsing\b",
    ],
}
_EMERGENCY_RE = {cat: [re.compile(p) for p in pats] for cat, pats in _EMERGENCY.items()}


def detect_emergency(text: str) -> EmergencyMatch | None:
    """Return the first emergency category the message describes, or None."""
    low = text.lower().replace("’", "'")
    for category, patterns in _EMERGENCY_RE.items():
        for pattern in patterns:
            m = pattern.search(low)
            if m:
                return EmergencyMatch(category, m.group(0))
    return None


_PERSONAL = [
    r"\bhow (much|many)\b[^?]{0,40}\b(should|can|do|must) i (take|use|give)\b",
    r"\b(what|which) dose\b[^?]{0,30}\b(i|me|my)\b",
    r"\bshould i (start|stop|quit|take|increase|decrease|double|change|switch)\b",
    r"\bcan i (stop|quit|increase|decrease|double|switch)\b",
    r"\b(do|did) i have (rls|restless)",
    r"\bis (it|this) (rls|restless legs?)\b[^?]{0,40}\b(i|me|my)\b",
    r"\bdiagnose (me|my)\b",
]
_PERSONAL_RE = [re.compile(p) for p in _PERSONAL]


def is_personal_advice(text: str) -> bool:
    """True for a request for a personal dose, a medication change, or a diagnosis."""
    low = text.lower().replace("’", "'")
    return any(p.search(low) for p in _PERSONAL_RE)
