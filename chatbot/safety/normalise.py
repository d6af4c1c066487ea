"""The form a message is matched in by the safety rules: ``text.normalise.fold`` plus the
everyday spellings people type (no apostrophes, text-speak) read as the full form."""

from __future__ import annotations

import re
from functools import lru_cache

from chatbot.text.normalise import fold, strip_invisible

# Everyday spellings without apostrophes, text-speak and contractions, read as the full form.
_SPELLINGS = [
    (r"\bcan ?not\b|\bcnat\b|\bcnt\b|\bcant\b", "can't"),
    (r"\bdont\b", "don't"),
    (r"\bwont\b", "won't"),
    (r"\bisnt\b", "isn't"),
    (r"\bdoesnt\b", "doesn't"),
    (r"\bdidnt\b", "didn't"),
    (r"\bcouldnt\b", "couldn't"),
    (r"\bhavent\b", "haven't"),
    (r"\bwasnt\b", "wasn't"),
    (r"\baint\b", "ain't"),
    (r"\bim\b", "i'm"),
    (r"\bi am\b", "i'm"),
    (r"\bive\b", "i've"),
    (r"\bhes\b", "he's"),
    (r"\bshes\b", "she's"),
    (r"\btheyre\b", "they're"),
    (r"\bgonna\b", "going to"),
    (r"\bgunna\b", "going to"),
    (r"\bwanna\b", "want to"),
    (r"\bwana\b", "want to"),
    (r"\bgotta\b", "got to"),
    (r"\bu\b", "you"),
    (r"\bur\b", "your"),
    (r"\br\b", "are"),
    (r"\bpls\b|\bplz\b", "please"),
    (r"\bmum\b|\bmom\b|\bmam\b|\bma\b|\bmommy\b|\bmummy\b", "mother"),
    (r"\bdad\b|\bpa\b|\bdaddy\b", "father"),
]
_SPELLINGS_RE = [(re.compile(p), r) for p, r in _SPELLINGS]
_STRETCHED = re.compile(r"(\w)\1{2,}")
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+|(?<=[.!?])(?=[a-z])")


# Each message is read by several checks (the rules, the follow-up rule, personal advice, the
# caution line), and the articles' sentences under every answer: each form is made once.
@lru_cache(maxsize=2048)
def normalise(text: str, stretched: str = r"\1\1") -> str:
    """Lower-case, compatibility-folded text with common spellings unified (for matching only).

    ``stretched`` replaces a letter typed three times or more: "tooo" -> "too" by default;
    ``r"\\1"`` gives "paaaain" -> "pain".
    """
    low = _STRETCHED.sub(stretched, fold(strip_invisible(text)))
    for pattern, repl in _SPELLINGS_RE:
        low = pattern.sub(repl, low)
    return low.strip()


def sentences(low: str) -> list[str]:
    """The sentences of a normalised message."""
    return [s for s in _SENTENCE_END.split(low) if s.strip()]
