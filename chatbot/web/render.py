"""Answer → safe HTML for the chat. Everything from users or articles is shown inert.

The chat renders messages as Markdown with HTML allowed, so text we did not write ourselves is
escaped twice over: HTML special characters become entities, and so do the characters Markdown
and the math renderer give a meaning to (``[ ] ( ) * _ ` ! # | ~ $ \\``). A patient's
``<script>`` or ``![x](http://elsewhere/)`` is then shown as the characters typed and nothing is
run or fetched.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import quote

from chatbot import messages
from chatbot.text.spans import around
from chatbot.types import Answer, Citation
from chatbot.web.safety_view import calls_html, tier_of

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


def _inline(text: str, marker_href: str | None, flagged: Collection[int] = ()) -> str:
    """One line of the bot's own Markdown: **bold** and [n] citation markers, the rest inert;
    after the marker of a quote in ``flagged`` (it carries a caution), a short flag."""
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
            if int(n) in flagged:
                out.append(f' <span class="flagged">\u26a0 {inert(messages.CAUTION_MARK)}</span>')
        pos = m.end()
    out.append(inert(text[pos:]))
    return "".join(out)


def text_html(markdown: str, marker_href: str | None = None, flagged: Collection[int] = ()) -> str:
    """The bot's answer text (paragraphs and ``- `` lists, ``  - `` nested once) as HTML;
    ``flagged``: the ids of the citations that carry a caution."""
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
            items[-1][1].append(_inline(stripped[2:], marker_href, flagged))  # a nested item
        elif stripped.startswith("- "):
            if para:
                flush()
            items.append((_inline(stripped[2:], marker_href, flagged), []))
        else:
            if items:
                flush()
            para.append(_inline(stripped, marker_href, flagged))
    flush()
    return "".join(blocks)


def paragraph_around(body: str, start: int, end: int) -> tuple[str, str, str]:
    """The text before the quote, the quote, and the text after it, within its line of the
    body (the corpus keeps one paragraph, or heading, a line; a quote never spans two), each
    side cut at a word near ``CONTEXT_CHARS``."""
    before, quote, after = around(body, start, end, width=CONTEXT_CHARS)
    return before.lstrip(), quote, after.rstrip()


def article_href(article_id: str, spans: list[tuple[int, int]] | None = None) -> str:
    """The app's page of one article, with ``spans`` highlighted and the first in view
    (``/articles/<id>?q=START-END&q=...#quote-1``)."""
    query = "&".join(f"q={s}-{e}" for s, e in spans or [])
    return f"/articles/{quote(article_id, safe='')}" + (f"?{query}#quote-1" if query else "")


def _quote_html(citation: Citation, body: str | None, anchor: str) -> str:
    if body is not None and body[citation.start : citation.end] == citation.quote:
        before, text, after = paragraph_around(body, citation.start, citation.end)
    else:  # the article changed since the answer was made: show the quote alone
        before, text, after = "", citation.quote, ""
    context = f"{inert(before)} <mark>{inert(text)}</mark> {inert(after)}".strip()
    quoted = f'<blockquote class="src-context">{context}</blockquote>'
    if citation.caution:  # staff's caution under the quote, apart from the article's words
        quoted = (
            f'<div class="src-body">{quoted}<p class="src-caution" role="note">'
            f"\u26a0 {inert(citation.caution)}</p></div>"
        )
    return (
        f'<li class="source-quote" id="{anchor}-{citation.id}">'
        f'<span class="src-num">&#91;{citation.id}&#93;</span> {quoted}</li>'
    )


def sources_html(citations: list[Citation], articles: Mapping[str, Any] | None, anchor: str) -> str:
    """The sources, one entry per article (in the order first cited): its title, its date if it
    has one, each quote with its number inside its paragraph, and a link to read the article
    on this site with those quotes highlighted."""
    groups: dict[str, list[Citation]] = {}
    for c in citations:
        groups.setdefault(c.article, []).append(c)
    entries = []
    for article_id, cited in groups.items():
        article = (articles or {}).get(article_id)
        body = getattr(article, "body", None)
        first = cited[0]
        date = (
            f' <span class="src-date">· <time datetime="{inert(first.date)}">'
            f"{inert(first.date)}</time></span>"
            if first.date
            else ""
        )
        quotes = "".join(_quote_html(c, body, anchor) for c in cited)
        spans = [(c.start, c.end) for c in cited]
        link = (
            f'<p class="src-link"><a href="{article_href(article_id, spans).replace("&", "&amp;")}"'
            ' target="_blank"'
            f' rel="noopener">Read the article</a></p>'
            if article is not None
            else ""
        )
        entries.append(
            f'<li class="source"><p class="src-head"><cite class="src-title">'
            f"{inert(first.title)}</cite>{date}</p>"
            f'<ul class="source-quotes">{quotes}</ul>{link}</li>'
        )
    return (
        '<section class="sources" aria-label="Sources"><p class="sources-title">'
        f'Sources from the clinic\'s articles</p><ul class="source-list">{"".join(entries)}</ul>'
        "</section>"
    )


def answer_html(
    answer: Answer,
    articles: Mapping[str, Any] | None = None,
    text: str | None = None,
    with_sources: bool = True,
    contacts: list[dict[str, str]] | None = None,
) -> str:
    """The chat bubble: the answer with [n] markers and, under it, its sources by article.

    An emergency is a card of its own: the reply and the numbers to call as ``tel:`` links,
    nothing else. A safety-net answer's first (bold) line is set apart, its numbers linked.
    The disclaimer is not repeated here: the chat shows it once (see chat.py).

    Args:
        answer: The answer to show.
        articles: ``bot.index.articles`` (id → Article), for each quote's paragraph.
        text: Show this part of the answer text instead of all of it (progressive display).
        with_sources: False while the answer is still appearing.
        contacts: The numbers to call (``safety_view.contacts_for``); for an emergency or a
            safety-net answer.
    """
    safe_id = re.sub(r"[^0-9a-zA-Z]", "", answer.id)[:64]
    anchor = f"src-{safe_id}"
    shown = answer.answer if text is None else text
    state = "done" if with_sources else "partial"
    tier = tier_of(answer)
    # The id attribute survives the chat's HTML sanitiser (data-* attributes do not): it ties
    # the message on the page to its answer id in the review store.
    if tier == "emergency":
        return (
            f'<div class="answer answer-emergency emergency-card answer-{state}"'
            f' id="answer-{safe_id}"><p class="card-title">Emergency</p>'
            f'<div class="answer-text">{text_html(shown)}</div>'
            f"{calls_html(contacts or [], inert)}</div>"
        )
    parts = [f'<div class="answer answer-{answer.status} answer-{state}" id="answer-{safe_id}">']
    if getattr(answer, "reviewed", False):
        parts.append(f'<p class="answer-reviewed">\u2714 {inert(messages.REVIEWED_MARK)}</p>')
    if tier == "safety_net":
        head, _, rest = shown.partition("\n")
        calls = calls_html(contacts, inert) if contacts else ""
        parts.append(f'<div class="safety-net">{text_html(head)}{calls}</div>')
        shown = rest
    flagged = {c.id for c in answer.citations if c.caution}
    parts.append(f'<div class="answer-text">{text_html(shown, anchor, flagged)}</div>')
    if with_sources and answer.citations:
        parts.append(sources_html(answer.citations, articles, anchor))
    parts.append("</div>")
    return "".join(parts)


def answer_stages(answer: Answer) -> list[str]:
    """Growing prefixes of the answer text, one line at a time, for progressive display."""
    lines = answer.answer.split("\n")
    stages = ["\n".join(lines[: i + 1]) for i in range(len(lines)) if lines[i].strip()]
    return stages or [answer.answer]


def disclaimer_banner(text: str) -> str:
    """The disclaimer in full: shown above the conversation until the first message."""
    return (
        '<div class="disclaimer" role="note" aria-label="Medical disclaimer">'
        f"<strong>Please read:</strong> {inert(text)}</div>"
    )


def disclaimer_footer(text: str) -> str:
    """One line under the conversation once it has started; the full text one click away."""
    return (
        '<details class="disclaimer-footer"><summary>Not medical advice. '
        '<span class="more">More</span></summary>'
        f'<p role="note" aria-label="Medical disclaimer">{inert(text)}</p></details>'
    )
