"""Answer → safe HTML for the chat. Everything from users or articles is shown inert.

The chat renders messages as Markdown with HTML allowed, so text we did not write ourselves is
escaped twice over: HTML special characters become entities, and so do the characters Markdown
and the math renderer give a meaning to (``[ ] ( ) * _ ` ! # | ~ $ \\``). A patient's
``<script>`` or ``![x](http://elsewhere/)`` is then shown as the characters typed and nothing is
run or fetched.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from chatbot import messages
from chatbot.text.spans import around
from chatbot.types import Answer, Citation

# Characters with a meaning in HTML, Markdown or KaTeX, each replaced by a numeric entity.
_ENTITIES = {c: f"&#{ord(c)};" for c in "&<>\"'\\`*_{}[]()#+-.!|~$:="}
_INLINE = re.compile(r"\*\*(.+?)\*\*|\[(\d+)\]")  # the bot's own bold and [n] markers
CONTEXT_CHARS = 320  # at most this much paragraph text is shown on each side of a quote


def inert(text: str) -> str:
    """``text`` as HTML that Markdown, math and the browser all show literally."""
    return "".join(_ENTITIES.get(ch, ch) for ch in text)


def user_message_html(text: str) -> str:
    """A patient's message, as typed, in a form that cannot run or load anything."""
    return f'<p class="user-text">{inert(text)}</p>'


def _inline(text: str, marker_href: str | None) -> str:
    """One line of the bot's own Markdown: **bold** and [n] citation markers, the rest inert."""
    out: list[str] = []
    pos = 0
    for m in _INLINE.finditer(text):
        out.append(inert(text[pos : m.start()]))
        if m.group(1) is not None:
            out.append(f"<strong>{inert(m.group(1))}</strong>")
        else:
            n = m.group(2)
            if marker_href is not None:
                out.append(f'<a class="cite" href="#{marker_href}-{n}">&#91;{n}&#93;</a>')
            else:
                out.append(f'<span class="cite">&#91;{n}&#93;</span>')
        pos = m.end()
    out.append(inert(text[pos:]))
    return "".join(out)


def text_html(markdown: str, marker_href: str | None = None) -> str:
    """The bot's answer text (paragraphs and ``- `` lists, ``  - `` nested once) as HTML."""
    blocks: list[str] = []
    items: list[tuple[str, list[str]]] = []  # each item with the items nested under it
    para: list[str] = []

    def item_html(text: str, sub: list[str]) -> str:
        nested = "<ul>" + "".join(f"<li>{i}</li>" for i in sub) + "</ul>" if sub else ""
        return f"<li>{text}{nested}</li>"

    def flush() -> None:
        if items:
            blocks.append("<ul>" + "".join(item_html(t, sub) for t, sub in items) + "</ul>")
            items.clear()
        if para:
            blocks.append("<p>" + " ".join(para) + "</p>")
            para.clear()

    for line in markdown.split("\n"):
        stripped = line.strip()
        if not stripped:
            flush()
        elif stripped.startswith("- ") and line[:1] in (" ", "\t") and items:
            items[-1][1].append(_inline(stripped[2:], marker_href))  # a nested item
        elif stripped.startswith("- "):
            if para:
                flush()
            items.append((_inline(stripped[2:], marker_href), []))
        else:
            if items:
                flush()
            para.append(_inline(stripped, marker_href))
    flush()
    return "".join(blocks)


def paragraph_around(body: str, start: int, end: int) -> tuple[str, str, str]:
    """The text before the quote, the quote, and the text after it, within its line of the
    body (the corpus keeps one paragraph, or heading, a line; a quote never spans two), each
    side cut at a word near ``CONTEXT_CHARS``."""
    before, quote, after = around(body, start, end, width=CONTEXT_CHARS)
    return before.lstrip(), quote, after.rstrip()


def source_html(citation: Citation, body: str | None, anchor: str) -> str:
    """One numbered source: title, date, and the quote highlighted inside its paragraph."""
    date = (
        f' <span class="src-date">· <time datetime="{inert(citation.date)}">'
        f"{inert(citation.date)}</time></span>"
        if citation.date
        else ' <span class="src-date">· no date given</span>'
    )
    if body is not None and body[citation.start : citation.end] == citation.quote:
        before, quote, after = paragraph_around(body, citation.start, citation.end)
    else:  # the article changed since the answer was made: show the quote alone
        before, quote, after = "", citation.quote, ""
    context = f"{inert(before)} <mark>{inert(quote)}</mark> {inert(after)}".strip()
    return (
        f'<li class="source" id="{anchor}-{citation.id}" value="{citation.id}">'
        f'<p class="src-head"><span class="src-num">&#91;{citation.id}&#93;</span> '
        f'<cite class="src-title">{inert(citation.title)}</cite>{date}</p>'
        f'<blockquote class="src-context">{context}</blockquote></li>'
    )


def answer_html(
    answer: Answer,
    articles: Mapping[str, Any] | None = None,
    text: str | None = None,
    with_sources: bool = True,
) -> str:
    """The chat bubble: the answer with [n] markers and, under it, its numbered sources.

    Args:
        answer: The answer to show.
        articles: ``bot.index.articles`` (id → Article), for each quote's paragraph.
        text: Show this part of the answer text instead of all of it (progressive display).
        with_sources: False while the answer is still appearing.
    """
    safe_id = re.sub(r"[^0-9a-zA-Z]", "", answer.id)[:64]
    anchor = f"src-{safe_id}"
    # The id attribute survives the chat's HTML sanitiser (data-* attributes do not): it ties
    # the message on the page to its answer id in the review store.
    parts = [
        f'<div class="answer answer-{answer.status} answer-{"done" if with_sources else "partial"}"'
        f' id="answer-{safe_id}">',
        f'<div class="answer-text">{text_html(answer.answer if text is None else text, anchor)}'
        "</div>",
    ]
    if getattr(answer, "reviewed", False):
        parts.insert(1, f'<p class="answer-reviewed">\u2714 {inert(messages.REVIEWED_MARK)}</p>')
    if with_sources and answer.citations:
        items = []
        for c in answer.citations:
            article = (articles or {}).get(c.article)
            items.append(source_html(c, getattr(article, "body", None), anchor))
        parts.append(
            f'<section class="sources" aria-label="Sources"><p class="sources-title">'
            f'Sources from the clinic\'s articles</p><ol class="source-list">{"".join(items)}'
            "</ol></section>"
        )
    if with_sources and answer.disclaimer:
        # The disclaimer travels with every answer, not only in the banner above the chat.
        parts.append(f'<p class="answer-disclaimer">{inert(answer.disclaimer)}</p>')
    parts.append("</div>")
    return "".join(parts)


def answer_stages(answer: Answer) -> list[str]:
    """Growing prefixes of the answer text, one line at a time, for progressive display."""
    lines = answer.answer.split("\n")
    stages = ["\n".join(lines[: i + 1]) for i in range(len(lines)) if lines[i].strip()]
    return stages or [answer.answer]
