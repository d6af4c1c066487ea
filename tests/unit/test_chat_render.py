"""The chat's HTML: inert user and article text, sources in their paragraph, and the page parts."""

from __future__ import annotations

import html
import re

import gradio as gr
import pytest

from chatbot.types import Answer, Article, Citation
from chatbot.web.render import (
    CONTEXT_CHARS,
    answer_html,
    answer_stages,
    article_href,
    disclaimer_banner,
    disclaimer_footer,
    inert,
    paragraph_around,
    text_html,
    user_message_html,
)

BODY = (
    "Iron and legs\n"
    "Iron deficiency is linked to restless legs. Iron helps the brain make dopamine. "
    "Ask your doctor <b>before</b> taking [supplements](http://example.com).\n"
    "Sleep\n"
    "Symptoms are often worse at night.\n"
)
QUOTE = "Iron helps the brain make dopamine."
ARTICLE = Article(
    id="iron",
    title="Iron & <legs>",
    date="2024-01-02",
    publisher="t",
    source_file="t",
    note="",
    body=BODY,
)
NIGHT = "Symptoms are often worse at night."


def _answer() -> Answer:
    s1 = BODY.index(QUOTE)
    s2 = BODY.index(NIGHT)
    return Answer(
        status="answered",
        answer=f"Here is what the articles say:\n\n- {QUOTE} [1]\n- {NIGHT} [2]",
        citations=[
            Citation(1, "iron", ARTICLE.title, QUOTE, s1, s1 + len(QUOTE), 0.8, ARTICLE.date),
            Citation(2, "iron", ARTICLE.title, NIGHT, s2, s2 + len(NIGHT), 0.7, ARTICLE.date),
        ],
        disclaimer="Not a clinician.",
    )


HOSTILE = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "![pixel](http://tracker.example/p.png)",
    "[click](javascript:alert(1))",
    "www.example.com and http://example.com",
    "$x^2$ and `code` and **bold** and # heading",
    "&amp; &lt; already escaped",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_inert_text_has_no_markup_and_round_trips(text):
    shown = inert(text)
    assert not re.search(r"[<>\[\]()*_`!#$:\"']", shown.replace("&#", "")), shown
    assert html.unescape(shown) == text


def test_user_message_is_escaped():
    out = user_message_html("<script>x()</script> ![a](http://e.x/a.png)")
    assert "<script" not in out and "http://" not in out
    assert (
        html.unescape(re.sub(r"<[^>]+>", "", out)) == "<script>x()</script> ![a](http://e.x/a.png)"
    )


def test_paragraph_around_returns_the_quotes_line():
    start = BODY.index(QUOTE)
    before, quote, after = paragraph_around(BODY, start, start + len(QUOTE))
    assert quote == QUOTE
    assert before == "Iron deficiency is linked to restless legs. "
    assert after.startswith(" Ask your doctor <b>before</b>") and "\n" not in after


def test_paragraph_around_cuts_a_long_paragraph_at_words():
    body = ("word " * 400) + QUOTE + (" more" * 400)
    start = body.index(QUOTE)
    before, quote, after = paragraph_around(body, start, start + len(QUOTE))
    assert quote == QUOTE
    assert before.startswith("… word") and after.endswith("more …")
    assert len(before) <= CONTEXT_CHARS + 4 and len(after) <= CONTEXT_CHARS + 4


def test_answer_html_highlights_each_quote_inside_its_paragraph():
    out = answer_html(_answer(), {"iron": ARTICLE})
    marks = re.findall(r"<mark>(.*?)</mark>", out)
    assert [html.unescape(m) for m in marks] == [QUOTE, NIGHT]
    # The surrounding paragraph is shown, and the article's own markup stays text.
    assert "Iron deficiency is linked to restless legs&#46;" in out
    assert "<b>" not in out and "&#60;b&#62;before&#60;/b&#62;" in out
    assert "http://" not in out
    # One entry for the article: its title (escaped) and date once, both quotes under it,
    # and a link to the article's page on this site with both quotes highlighted.
    assert out.count('<li class="source">') == 1
    assert out.count("Iron &#38; &#60;legs&#62;") == 1
    assert html.unescape(out).count('<time datetime="2024-01-02">2024-01-02</time>') == 1
    assert out.count('class="source-quote"') == 2
    s1, s2 = BODY.index(QUOTE), BODY.index(NIGHT)
    link = f"/articles/iron?q={s1}-{s1 + len(QUOTE)}&amp;q={s2}-{s2 + len(NIGHT)}#quote-1"
    assert f'href="{link}" target="_blank" rel="noopener">Read the article</a>' in out


def test_every_marker_links_to_its_source_and_the_answer_id_is_on_the_element():
    a = _answer()
    out = answer_html(a, {"iron": ARTICLE})
    assert f'id="answer-{a.id}"' in out and "answer-done" in out
    links = re.findall(r'href="#([^"]+)"', out)
    anchors = re.findall(r'<li class="source-quote" id="([^"]+)"', out)
    assert len(links) == 2 and sorted(links) == sorted(anchors)


def test_a_quote_staff_question_carries_their_caution_and_its_marker_a_flag():
    from dataclasses import replace

    a = _answer()
    caution = "The clinic's staff question this passage: <b>unproven</b> [2] **really**"
    a.citations = [a.citations[0], replace(a.citations[1], caution=caution)]
    out = answer_html(a, {"iron": ARTICLE})
    # Under the second quote, apart from the article's words, as text (staff's markup inert).
    notes = re.findall(r'<p class="src-caution" role="note">(.*?)</p>', out)
    assert [html.unescape(n) for n in notes] == [f"\u26a0 {caution}"]
    assert "<b>" not in out and "<strong>really" not in out
    quote_2 = out[out.index(f'id="src-{a.id}-2"') :]
    assert quote_2.index("</blockquote>") < quote_2.index("src-caution")
    # In the answer's text the flag follows marker [2] only.
    text = out[out.index('class="answer-text"') : out.index('class="sources"')]
    assert text.count('class="flagged"') == 1
    assert re.search(r"&#91;2&#93;</a> <span class=\"flagged\">", text)
    # Without a caution nothing of it is drawn.
    plain = answer_html(_answer(), {"iron": ARTICLE})
    assert "src-caution" not in plain and "flagged" not in plain


def test_partial_answer_has_no_sources_yet():
    a = _answer()
    stages = answer_stages(a)
    assert len(stages) == 3 and stages[-1] == a.answer
    assert all(a.answer.startswith(s) for s in stages)
    out = answer_html(a, {"iron": ARTICLE}, text=stages[0], with_sources=False)
    assert "answer-partial" in out and "<mark>" not in out and "source" not in out


def test_a_changed_article_shows_the_quote_alone():
    moved = Article(**{**ARTICLE.__dict__, "body": "Something else entirely.\n" + BODY})
    out = answer_html(_answer(), {"iron": moved})
    assert html.unescape(re.findall(r"<blockquote[^>]*>(.*?)</blockquote>", out)[0]) == (
        f"<mark>{QUOTE}</mark>"
    )


def test_emergency_is_a_card_with_the_numbers_as_tel_links_and_nothing_else():
    a = Answer(status="emergency", answer="**Call now.** Don't wait.", citations=[], disclaimer="d")
    contacts = [{"label": "Emergency <services>", "number": "112", "tel": "112"}]
    out = answer_html(a, {}, contacts=contacts)
    assert "emergency-card" in out and "<strong>Call now&#46;</strong>" in out
    assert '<a class="call" href="tel:112">Call 112</a>' in out
    assert "Emergency &#60;services&#62;" in out and "<services>" not in out
    assert "sources" not in out and "answer-disclaimer" not in out
    # No number configured: the card says what to do, without a link that cannot work.
    out = answer_html(a, {}, contacts=[])
    assert "tel:" not in out and "Call your local emergency number now" in html.unescape(out)


def test_a_safety_net_answers_first_line_stands_out_with_its_numbers():
    a = _answer()
    a.answer = "**If this gets worse, call 999.**\n" + a.answer
    a.safety = {"tier": "safety_net", "kind": "clot", "contacts": []}
    contacts = [{"label": "Emergency services", "number": "999", "tel": "999"}]
    out = answer_html(a, {"iron": ARTICLE}, contacts=contacts)
    net = re.search(r'<div class="safety-net">(.*?)</div>', out).group(1)
    assert "<strong>If this gets worse, call 999&#46;</strong>" in net
    assert 'href="tel:999"' in net
    assert out.count("<mark>") == 2  # the quotes and their sources follow as usual


@pytest.fixture
def tiny_bot(tiny_corpus, fake_embedder, tmp_path):
    from chatbot.config import Settings
    from chatbot.pipeline import Bot, open_index

    s = Settings(corpus_dir=tiny_corpus, index_dir=tmp_path / "index", clinic_name="Tiny <Clinic>")
    return Bot(s, open_index(s, fake_embedder, rebuild=True), fake_embedder)


@pytest.mark.parametrize("compact", [False, True])
def test_create_chat_builds_blocks_without_launching(tiny_bot, compact, tmp_path):
    from chatbot.review.store import Store
    from chatbot.web.chat import create_chat

    demo = create_chat(tiny_bot, Store(tmp_path / "s.sqlite3"), compact=compact)
    assert isinstance(demo, gr.Blocks) and not demo.is_running
    config = demo.get_config_file()
    chat = next(c for c in config["components"] if c["props"].get("elem_id") == "conversation")
    assert chat["props"]["feedback_options"] == ["Like", "Dislike"]
    assert chat["props"]["sanitize_html"] is True and chat["props"]["latex_delimiters"] == []
    htmls = " ".join(str(c["props"].get("value", "")) for c in config["components"])
    assert "Tiny &#60;Clinic&#62;" in htmls and "<Clinic>" not in htmls
    assert inert(tiny_bot.disclaimer) in htmls


def test_no_event_lays_a_loading_cover_over_the_page(tiny_bot, tmp_path):
    """Gradio's default progress display greys out an event's outputs while it runs (a flicker,
    and text that fails a contrast check for that moment: CI's axe run caught the notice so)."""
    from chatbot.review.store import Store
    from chatbot.web.chat import create_chat

    config = create_chat(tiny_bot, Store(tmp_path / "s.sqlite3")).get_config_file()
    shown = {
        (d["targets"][0][1], d["show_progress"])
        for d in config["dependencies"]
        if d["show_progress"] != "hidden"
    }
    assert len(config["dependencies"]) >= 6 and shown == set()


def test_without_a_store_there_are_no_feedback_buttons(tiny_bot):
    from chatbot.web.chat import create_chat

    config = create_chat(tiny_bot, None).get_config_file()
    chat = next(c for c in config["components"] if c["props"].get("elem_id") == "conversation")
    assert not chat["props"].get("feedback_options")


def test_mount_options_keep_everything_local():
    from gradio.themes.utils.fonts import GoogleFont

    from chatbot.web.chat import mount_options

    opts = mount_options()
    assert opts["footer_links"] == [] and opts["run_history"] is False
    assert not any(
        isinstance(f, GoogleFont) for f in opts["theme"]._font + opts["theme"]._font_mono
    )
    assert all(p.exists() for p in opts["css_paths"])
    assert "http" not in opts["head"]


def test_an_undated_article_shows_no_date():
    c = _answer().citations[0]
    undated = Citation(c.id, c.article, c.title, c.quote, c.start, c.end, c.score, "")
    out = answer_html(Answer("answered", f"{QUOTE} [1]", [undated], "d"), {"iron": ARTICLE})
    assert "<time" not in out and "date" not in html.unescape(out).replace("src-date", "")


def test_sources_keep_the_order_of_first_citation_and_link_only_known_articles():
    a = _answer()
    other = Citation(3, "gone", "Gone", "x", 0, 1, 0.5, "")
    a.citations = [a.citations[0], other, a.citations[1]]
    out = answer_html(a, {"iron": ARTICLE})
    titles = re.findall(r'<cite class="src-title">(.*?)</cite>', out)
    assert titles == [inert(ARTICLE.title), "Gone"]
    assert out.count("Read the article") == 1  # no page for an article the bot no longer has


def test_article_href_escapes_the_id():
    assert article_href("a b/c", [(1, 5)]) == "/articles/a%20b%2Fc?q=1-5#quote-1"
    assert article_href("x") == "/articles/x"


def test_the_disclaimer_is_a_banner_then_a_one_line_footer_not_in_every_answer():
    answer = _answer()
    answer.disclaimer = "Automated assistant, <not> a clinician."
    out = answer_html(answer, {"iron": ARTICLE})
    assert "clinician" not in out
    assert "Reviewed by clinic staff" not in out
    answer.reviewed = True
    assert "Reviewed by clinic staff" in answer_html(answer, {"iron": ARTICLE})
    banner = disclaimer_banner(answer.disclaimer)
    assert inert(answer.disclaimer) in banner and "<not>" not in banner
    footer = disclaimer_footer(answer.disclaimer)
    summary = re.search(r"<summary>(.*?)</summary>", footer).group(1)
    assert re.sub(r"<[^>]+>", "", summary) == "Not medical advice. More"
    assert inert(answer.disclaimer) in footer


def test_list_items_nest_under_their_lead_in():
    html = text_html(
        "Intro:\n\n- Causes include: [1]\n  - iron; [2]\n  - <b>x</b> [3]\n- Other. [4]"
    )
    tags = re.sub(r"[^<]*(<[^>]*>)[^<]*", r"\1", html)  # the markup alone
    assert tags.replace('<span class="cite">', "").replace("</span>", "") == (
        "<p></p><ul><li><ul><li></li><li></li></ul></li><li></li></ul>"
    )
    assert "&#60;b&#62;x" in html and "<b>" not in html
    # An indented item with nothing above it is an ordinary item, never lost.
    assert "<li>alone</li>" in text_html("  - alone")
