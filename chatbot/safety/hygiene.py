"""Input hygiene: every message is checked here before anything reads it.

Empty, huge and binary messages get a clear error; control, zero-width, bidi and tag characters
and lone surrogates are removed; markup is kept as text (the bot never repeats the question, and
the web layer shows everything inert).
"""

from __future__ import annotations

import re
import unicodedata

from chatbot.errors import BadInputError
from chatbot.text.normalise import strip_invisible

# Turned into a space: control characters (newlines and tabs are whitespace anyway).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")
# A message up to this many times the limit is still read for an emergency (see
# ``emergency.overlong_emergency``); anything longer is refused unread.
OVERLONG_FACTOR = 4


def clean_question(raw: object, max_chars: int) -> str:
    """Return the question as safe plain text, or raise BadInputError saying what is wrong.

    Invisible, bidi and control characters are dropped, whitespace is collapsed. Markup is kept
    as text: the bot never repeats the question in its answer, and the web layer escapes it.

    Args:
        raw: The message as received (str or bytes; anything else is refused).
        max_chars: The longest accepted message, in characters.

    Raises:
        BadInputError: the message is empty, too long, or not text.
    """
    if isinstance(raw, bytes | bytearray):
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadInputError("the question is not text (it looks like binary data)") from exc
    if not isinstance(raw, str):
        raise BadInputError("the question must be text")
    if len(raw) > max_chars * OVERLONG_FACTOR:
        raise BadInputError(
            f"the question is too long ({len(raw)} characters; at most {max_chars}); "
            "please ask it in a few sentences"
        )
    if "\x00" in raw or _looks_binary(raw):
        raise BadInputError("the question is not text (it looks like binary data)")
    text = unicodedata.normalize("NFC", raw)
    text = strip_invisible(_CONTROL.sub(" ", text))
    text = re.sub(r"\s+", " ", text).strip()
    if not text:
        raise BadInputError("the question is empty; please type a question about restless legs")
    if len(text) > max_chars:
        raise BadInputError(
            f"the question is too long ({len(text)} characters; at most {max_chars}); "
            "please ask it in a few sentences"
        )
    return text


def _looks_binary(text: str) -> bool:
    if not text:
        return False
    odd = sum(
        1
        for ch in text
        if ch == "\ufffd"
        or (not ch.isprintable() and not ch.isspace())
        and unicodedata.category(ch) != "Cf"
    )
    return odd > len(text) * 0.1


def plain_text(raw: str) -> str:
    """A message refused as too long, as text to read for an emergency all the same: control
    and invisible characters out, whitespace collapsed."""
    return re.sub(r"\s+", " ", strip_invisible(_CONTROL.sub(" ", raw))).strip()
