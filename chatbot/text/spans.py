"""One way to locate a quote in a body, to compare spans, and to show a quote in its context."""

from __future__ import annotations

import re
from collections.abc import Iterable

from chatbot.types import ArticleSpan

Span = tuple[int, int]


def locate(body: str, quote: str, loose: bool = False) -> list[Span]:
    """Every span of ``body`` that holds ``quote``.

    Strict (the default): the exact text, else the same words with other whitespace between
    them (a re-flowed article: line breaks or double spaces changed); the spans always point at
    the current body. ``loose``: also ignoring case and the style of apostrophes (a hand-copied
    quote, as in a question set's gold quotes).
    """
    quote = quote.strip()
    if not quote:
        return []
    if not loose:
        spans: list[Span] = []
        at = body.find(quote)
        while at >= 0:
            spans.append((at, at + len(quote)))
            at = body.find(quote, at + 1)
        if spans:
            return spans
    words = quote.replace("’", "'").split() if loose else quote.split()
    pattern = r"\s+".join(re.escape(w) for w in words)
    if loose:
        pattern = pattern.replace("'", "['’]")
    flags = re.IGNORECASE if loose else 0
    return [(m.start(), m.end()) for m in re.finditer(pattern, body, flags)]


def relocate(body: str, quote: str, start: int, end: int, exact: bool = True) -> Span | None:
    """Where a quote recorded at ``start:end`` is in the current ``body``: there if it still
    is, else its nearest occurrence; None when it is gone. ``exact`` accepts only the quote's
    own characters (a citation must stay verbatim); otherwise whitespace may differ."""
    if 0 <= start < end <= len(body) and body[start:end] == quote:
        return start, end
    found = locate(body, quote)
    if exact:
        found = [(s, e) for s, e in found if body[s:e] == quote]
    return min(found, key=lambda span: abs(span[0] - start)) if found else None


def overlaps(a: Span, b: Span) -> bool:
    """True when the two spans share at least one character."""
    return a[0] < b[1] and b[0] < a[1]


def overlaps_any(article: str, start: int, end: int, spans: Iterable[ArticleSpan]) -> bool:
    """True when ``article[start:end]`` overlaps any of ``spans`` (of any article)."""
    return any(a == article and s < end and start < e for a, s, e in spans)


def around(
    body: str,
    start: int,
    end: int,
    width: int = 320,
    at_least: int = 0,
    separator: str = "\n",
) -> tuple[str, str, str]:
    """The text before the quote, the quote, and the text after it, within its paragraph.

    A paragraph ends at ``separator`` (a line in the corpus, or ``"\\n\\n"`` for a block of
    lines). When fewer than ``at_least`` characters show on a side (a list item, a one-line
    paragraph), neighbouring paragraphs are added on that side. Each side is cut at a word
    boundary near ``width`` characters, marked with an ellipsis.
    """
    step = len(separator)
    p_start = body.rfind(separator, 0, start)
    p_start = 0 if p_start < 0 else p_start + step
    while start - p_start < at_least and p_start > 0:
        prev = body.rfind(separator, 0, max(0, p_start - step))
        p_start = 0 if prev < 0 else prev + step
    p_end = body.find(separator, end)
    p_end = len(body) if p_end < 0 else p_end
    while p_end - end < at_least and p_end < len(body):
        nxt = body.find(separator, p_end + step)
        p_end = len(body) if nxt < 0 else nxt
    before, after = body[p_start:start], body[end:p_end]
    if len(before) > width:
        cut = before.find(" ", len(before) - width)
        before = "… " + before[cut + 1 if cut >= 0 else len(before) - width :]
    if len(after) > width:
        cut = after.rfind(" ", 0, width)
        after = after[: cut if cut > 0 else width] + " …"
    return before, body[start:end], after
