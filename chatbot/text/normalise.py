"""One way to fold text for comparing it: compatibility forms, case, quote marks, spaces.

What is shown or quoted is never folded; only the forms two texts are compared in are.
"""

from __future__ import annotations

import re
import unicodedata

# Typographic apostrophes and quotes read as the plain ones.
_QUOTES = str.maketrans({"’": "'", "‘": "'", "`": "'", "´": "'", "“": '"', "”": '"'})
_SPACE = re.compile(r"\s+")
_NON_WORD = re.compile(r"[^\w\s]+")
# Deleted outright: invisible characters that can hide inside a word ("sui\u200bcide") or turn
# text around (bidi overrides), tag characters, private-use characters and lone surrogates.
INVISIBLE_CATEGORIES = frozenset({"Cf", "Cs", "Co"})


def strip_invisible(text: str) -> str:
    """``text`` without format (zero-width, bidi, tag), private-use and surrogate characters."""
    if text.isascii():  # no ASCII character is of those categories
        return text
    return "".join(ch for ch in text if unicodedata.category(ch) not in INVISIBLE_CATEGORIES)


def fold(text: str) -> str:
    """The form texts are compared in: NFKC, case-folded, plain quote marks, single spaces."""
    low = unicodedata.normalize("NFKC", text).casefold().translate(_QUOTES)
    return _SPACE.sub(" ", low).strip()


def question_key(text: str) -> str:
    """The form two questions are the same in: ``fold`` without punctuation."""
    return _SPACE.sub(" ", _NON_WORD.sub(" ", fold(text))).strip()
