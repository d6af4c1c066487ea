"""The article pages: every article readable on the app, the quoted passages highlighted."""

from __future__ import annotations

import html
import re

import pytest
from helpers import write_article

HOSTILE = (
    "Safety first\n\n"
    'Never run <script>window.x=1</script> or <img src=x onerror="alert(1)">, friends.\n\n'
    "- Iron helps the brain make dopamine.\n"
    "- Walking around relieves the urge to move.\n\n"
    "Symptoms are often worse at night. Rest helps some people.\n"
)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The whole app over a small corpus whose article holds markup."""
    from fastapi.testclient import TestClient

    from chatbot.config import Settings
    from chatbot.embedding import FakeEmbedder
    from chatbot.pipeline import Bot, open_index
    from chatbot.web.app import create_app

    root = tmp_path_factory.mktemp("articles")
    write_article(root / "corpus", "night", "Night & <legs>", HOSTILE, date="2024-03-01")
    write_article(root / "corpus", "undated", "Undated", "Iron\n\nIron matters.\n", date="")
    settings = Settings(corpus_dir=root / "corpus", index_dir=root / "index", data_dir=root / "d")
    emb = FakeEmbedder()
    bot = Bot(settings, open_index(settings, emb, rebuild=True), emb)
    with TestClient(create_app(bot)) as client:
        yield client, bot


def _marks(page: str) -> list[tuple[str, str]]:
    return [(a, html.unescape(t)) for a, t in re.findall(r"<mark([^>]*)>(.*?)</mark>", page)]


def test_an_article_page_shows_the_quoted_spans_highlighted_in_order(site):
    client, bot = site
    body = bot.index.articles["night"].body
    q1 = "Symptoms are often worse at night."
    q2 = "Iron helps the brain make dopamine."
    s1, s2 = body.index(q1), body.index(q2)
    r = client.get(f"/articles/night?q={s1}-{s1 + len(q1)}&q={s2}-{s2 + len(q2)}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    # In the order given: the first span asked for is quote-1 (the fragment's target).
    assert sorted(_marks(r.text)) == sorted([(' id="quote-1"', q1), (' id="quote-2"', q2)])
    assert "<h1>Night &amp; &lt;legs&gt;</h1>" in r.text
    assert "2024-03-01" in r.text and "highlighted" in r.text
    # Headings, list items and paragraphs, as the article has them.
    assert "<h2>Safety first</h2>" in r.text
    assert r.text.count("<li>") == 2 and "<li><mark" in r.text
    assert bot.disclaimer in html.unescape(r.text)


def test_the_article_text_is_never_markup_and_the_page_runs_no_script(site):
    client, _ = site
    r = client.get("/articles/night")
    assert "<script>" not in r.text and "<img" not in r.text
    assert "&lt;script&gt;window.x=1&lt;/script&gt;" in r.text
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert "<mark" not in r.text  # nothing asked for, nothing highlighted


def test_a_span_crossing_lines_is_marked_in_each_line_and_keeps_one_anchor(site):
    client, bot = site
    body = bot.index.articles["night"].body
    start = body.index("friends.")
    end = body.index("dopamine.") + len("dopamine.")
    page = client.get(f"/articles/night?q={start}-{end}").text
    marks = _marks(page)
    assert len(marks) == 2 and [a for a, _ in marks] == [' id="quote-1"', ""]
    # Each line's own part (the bullet is not the article's words, so it stays unmarked).
    assert [t for _, t in marks] == ["friends.", "Iron helps the brain make dopamine."]


@pytest.mark.parametrize(
    "query",
    ["q=5-2", "q=0-999999", "q=abc", "q=-1-4", "q=1-2-3", "q=" + "9" * 20 + "-1", "q="],
)
def test_bad_spans_are_ignored_and_the_article_still_shown(site, query):
    client, _ = site
    r = client.get(f"/articles/night?{query}")
    assert r.status_code == 200 and "<mark" not in r.text and "Safety first" in r.text


def test_many_spans_are_capped(site):
    client, _ = site
    query = "&".join(f"q={i}-{i + 1}" for i in range(60))
    assert len(_marks(client.get(f"/articles/night?{query}").text)) <= 20


def test_the_list_and_an_unknown_article(site):
    client, _ = site
    listing = client.get("/articles")
    assert listing.status_code == 200
    assert 'href="/articles/night"' in listing.text and 'href="/articles/undated"' in listing.text
    assert "Night &amp; &lt;legs&gt;" in listing.text
    missing = client.get("/articles/nope")
    assert missing.status_code == 404 and "Article not found" in missing.text
    assert client.get("/articles/undated").text.count('class="meta"') == 1  # publisher, no date


def test_every_cited_link_of_a_real_answer_opens_its_quotes(client):
    """The links the chat renders lead to pages holding exactly the quoted words."""
    from chatbot.web.render import answer_html

    bot = client.app.state.ctx.bot
    answer = bot.ask("What treatments are there for restless legs?")
    assert answer.citations
    out = answer_html(answer, bot.index.articles)
    links = [html.unescape(h) for h in re.findall(r'href="(/articles/[^"]+)"', out)]
    assert len(links) == len({c.article for c in answer.citations})
    quoted = []
    for link in links:
        page = client.get(link.split("#")[0]).text
        quoted += [t for a, t in _marks(page) if a]
    assert sorted(quoted) == sorted(c.quote for c in answer.citations)
