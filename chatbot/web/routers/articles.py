"""The clinic's articles as pages a patient can read: ``/articles`` and ``/articles/<id>``.

Every cited source in the chat and the widget links here with the quoted spans in the query,
``/articles/<id>?q=START-END&q=...#quote-1``: each span is highlighted (``<mark id="quote-n">``,
in the order given) and the fragment scrolls to the first. The offsets are those of the answer
object (``quote == body[start:end]``), so a patient sees the very words quoted, in context.
Spans that do not fit the article are ignored; the page is shown all the same.

The pages run no script and load nothing else (``Content-Security-Policy`` forbids it); the
article text is escaped, never taken as markup.
"""

from __future__ import annotations

import re
from html import escape
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from chatbot.text.sentences import split_sentences
from chatbot.web.deps import Ctx

MAX_SPANS = 20  # quotes highlighted on one page (an answer has far fewer)
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; form-action 'none'; "
    "base-uri 'none'"
)
_SPAN = re.compile(r"^(\d{1,9})-(\d{1,9})$")
_BULLET = re.compile(r"^\s*[-•*–]\s+")
STYLE = """
*{box-sizing:border-box}
body{margin:0;font:17px/1.6 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;
color:#1f2937;background:#fff}
header{background:#1e3a8a;color:#fff;padding:.6rem 1rem;display:flex;gap:1rem;flex-wrap:wrap;
align-items:center}
header a{color:#fff}header .clinic{font-weight:600;margin-right:auto}
main{max-width:44rem;margin:0 auto;padding:1rem 1rem 3rem}
h1{font-size:1.6rem;line-height:1.25;margin:.6rem 0 .2rem}
h2{font-size:1.2rem;margin:1.4rem 0 .3rem}
.meta{color:#475569;margin:0 0 1rem}
.note{background:#fffbeb;border:1px solid #b45309;border-left:6px solid #b45309;
border-radius:6px;padding:.5rem .8rem;margin:1rem 0}
mark,.swatch{background:#fde68a;color:#111827;padding:0 .1em;scroll-margin-top:4rem}
mark:target{outline:3px solid #b45309;outline-offset:1px}
a{color:#1d4ed8}a:focus-visible{outline:3px solid #1d4ed8;outline-offset:2px}
p,li{overflow-wrap:anywhere}
footer{border-top:1px solid #cbd5e1;margin-top:2rem;padding-top:.6rem;color:#475569;
font-size:.9rem}
"""

router = APIRouter(include_in_schema=False)
Spans = Annotated[list[str] | None, Query()]  # ?q=START-END, repeated


def parse_spans(values: list[str], length: int) -> list[tuple[int, int]]:
    """The ``q`` values that are ``START-END`` inside a body of ``length`` characters, in the
    order given, at most ``MAX_SPANS``; anything else is dropped."""
    out: list[tuple[int, int]] = []
    for value in values[: MAX_SPANS * 2]:
        m = _SPAN.match(value.strip())
        if m and 0 <= int(m.group(1)) < int(m.group(2)) <= length:
            span = (int(m.group(1)), int(m.group(2)))
            if span not in out:
                out.append(span)
    return out[:MAX_SPANS]


def _marked(body: str, start: int, end: int, spans: list[tuple[int, int]], done: set[int]) -> str:
    """``body[start:end]`` escaped, with the parts inside ``spans`` in ``<mark>``. A span's id
    (``quote-<n>``, n its place in the query) goes on its first piece only."""
    cuts = {start, end}
    for s, e in spans:
        cuts.update(x for x in (s, e) if start < x < end)
    points = sorted(cuts)
    out = []
    for a, b in zip(points, points[1:], strict=False):
        inside = [i for i, (s, e) in enumerate(spans) if s <= a and b <= e]
        text = escape(body[a:b])
        if not inside:
            out.append(text)
            continue
        first = inside[0]
        anchor = f' id="quote-{first + 1}"' if first not in done else ""
        done.add(first)
        out.append(f"<mark{anchor}>{text}</mark>")
    return "".join(out)


def body_html(body: str, spans: list[tuple[int, int]]) -> str:
    """The article body as headings, paragraphs and lists (one line of the body each)."""
    headings = {s.start for s in split_sentences(body) if s.heading}
    blocks: list[str] = []
    items: list[str] = []
    done: set[int] = set()
    pos = 0
    for line in body.split("\n"):
        line_start, pos = pos, pos + len(line) + 1
        text = line.strip()
        if not text:
            continue
        lead = line_start + len(line) - len(line.lstrip())
        bullet = _BULLET.match(line)
        if bullet and lead not in headings:
            inner = _marked(body, line_start + bullet.end(), pos - 1, spans, done)
            items.append(f"<li>{inner}</li>")
            continue
        if items:
            blocks.append("<ul>" + "".join(items) + "</ul>")
            items = []
        inner = _marked(body, lead, line_start + len(line.rstrip()), spans, done)
        blocks.append(f"<h2>{inner}</h2>" if lead in headings else f"<p>{inner}</p>")
    if items:
        blocks.append("<ul>" + "".join(items) + "</ul>")
    return "".join(blocks)


def _page(ctx: Any, title: str, main: str, status: int = 200) -> HTMLResponse:
    clinic = escape(ctx.settings.clinic.clinic_name)
    doc = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{escape(title)} – {clinic}</title><style>{STYLE}</style></head><body>"
        f'<header><span class="clinic">{clinic}</span><a href="/articles">All articles</a>'
        '<a href="/">Ask a question</a></header>'
        f"<main>{main}<footer>{escape(ctx.bot.disclaimer)}</footer></main></body></html>"
    )
    return HTMLResponse(
        doc,
        status_code=status,
        headers={
            "Content-Security-Policy": CSP,
            "Cache-Control": "no-cache",
            "Referrer-Policy": "no-referrer",
        },
    )


@router.get("/articles", response_class=HTMLResponse)
def article_list(ctx: Ctx) -> HTMLResponse:
    """Every article the bot quotes from, with its date."""
    items = "".join(
        f'<li><a href="/articles/{escape(a.id)}">{escape(a.title)}</a>'
        + (f' <span class="meta">· {escape(a.date)}</span>' if a.date else "")
        + "</li>"
        for a in sorted(ctx.bot.index.articles.values(), key=lambda a: a.title)
    )
    main = f"<h1>The clinic's articles</h1><p>The chat answers only from these.</p><ul>{items}</ul>"
    return _page(ctx, "The clinic's articles", main)


@router.get("/articles/{article_id}", response_class=HTMLResponse)
def article_page(ctx: Ctx, article_id: str, q: Spans = None) -> HTMLResponse:
    """One article, with the quoted spans of ``q`` highlighted."""
    article = ctx.bot.index.articles.get(article_id)
    if article is None:
        main = (
            "<h1>Article not found</h1><p>There is no article with this address. "
            'See <a href="/articles">all the clinic\'s articles</a>.</p>'
        )
        return _page(ctx, "Article not found", main, status=404)
    spans = parse_spans(q or [], len(article.body))
    meta = " · ".join(escape(x) for x in (article.publisher, article.date) if x)
    note = ""
    if spans:
        what = "passage the chat quoted is" if len(spans) == 1 else "passages the chat quoted are"
        note = f'<p class="note">The {what} <span class="swatch">highlighted</span> below.</p>'
    main = (
        f"<article><h1>{escape(article.title)}</h1>"
        + (f'<p class="meta">{meta}</p>' if meta else "")
        + note
        + body_html(article.body, spans)
        + "</article>"
    )
    return _page(ctx, article.title, main)


def install(app: Any) -> None:
    """Add the article pages to ``app`` (before the chat mounted at ``/``)."""
    app.include_router(router)
