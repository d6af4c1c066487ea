"""The patient chat in a real headless Chromium, against the real app served in this process.

The app runs in a thread here (real model, real index, a real SQLite review store in a temp
folder), so a test can check that what the patient did in the page reached the store.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    AXE,
    CHAT_INPUT,
    ThreadServer,
    axe_problems,
    chat_ask,
    chat_wait,
    run_axe,
    settle,
)

pytestmark = pytest.mark.browser

CLINIC = "Test Clinic <b>&</b> Co"
INPUT = CHAT_INPUT
SHOTS = Path(os.environ["CHAT_SHOTS"]) if os.environ.get("CHAT_SHOTS") else None


@pytest.fixture(scope="module")
def chat(real_settings, real_embedder, real_bot, tmp_path_factory):
    """The full app (create_app) and the compact chat, sharing one bot and one review store."""
    import gradio as gr
    from fastapi import FastAPI

    from chatbot.pipeline import Bot
    from chatbot.review.store import Store
    from chatbot.web.app import create_app
    from chatbot.web.chat import create_chat, mount_options

    data = tmp_path_factory.mktemp("chat-data")
    settings = real_settings.replace(clinic_name=CLINIC, data_dir=data, country="US")
    store = Store(data / "chatbot.sqlite3")
    bot = Bot(settings, real_bot.index, real_embedder, log=store)
    full = ThreadServer(create_app(bot, store))
    compact_app = gr.mount_gradio_app(
        FastAPI(), create_chat(bot, store, compact=True), path="/", **mount_options(compact=True)
    )
    compact = ThreadServer(compact_app)
    yield type(
        "Chat",
        (),
        {
            "url": full.url,
            "compact_url": compact.url,
            "store": store,
            "bot": bot,
            "settings": settings,
        },
    )
    full.stop()
    compact.stop()


# ---------------------------------------------------------------------------------------------
# helpers


def open_chat(p, url: str) -> None:
    p.goto(url + "/")
    p.get_by_label(INPUT).wait_for(timeout=60_000)


def wait_answer(p, count: int) -> Any:
    return chat_wait(p, count)


def ask(p, question: str) -> Any:
    return chat_ask(p, question)


def answer_id(element) -> str:
    return element.get_attribute("id").removeprefix("answer-")


def norm(text: str) -> str:
    return " ".join(text.split())


def no_horizontal_scroll(p) -> bool:
    return p.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )


def install_stage_counter(p) -> None:
    """Count how often the page shows an answer still being written (progressive display)."""
    p.evaluate(
        """() => {
        window.__partials = 0;
        new MutationObserver(() => {
          if (document.querySelector('#conversation .answer-partial')) window.__partials++;
        }).observe(document.body, {childList: true, subtree: true, characterData: true});
    }"""
    )


# ---------------------------------------------------------------------------------------------
# the page before the first message


def test_page_shows_clinic_disclaimer_examples_and_a_labelled_input(chat, page):
    p = page.page
    open_chat(p, chat.url)
    assert p.locator("h1").inner_text() == CLINIC  # configurable, and shown as text
    assert CLINIC in p.title()
    disclaimer = p.locator(".disclaimer")
    assert norm(chat.bot.disclaimer) in norm(disclaimer.inner_text())
    conversation = p.locator("#conversation")
    assert disclaimer.bounding_box()["y"] < conversation.bounding_box()["y"]
    assert not p.locator("#chat-footer").is_visible()
    examples = p.locator("#conversation .examples button")
    assert examples.count() == 3
    box = p.get_by_label(INPUT)
    assert box.get_attribute("placeholder").startswith("Type your question")
    assert box.get_attribute("maxlength") == str(chat.settings.safety.max_question_chars)
    assert p.get_by_role("button", name="Ask").is_visible()
    assert page.foreign_hosts("127.0.0.1") == set()


def test_after_the_first_message_the_disclaimer_is_one_line_under_the_conversation(chat, page):
    p = page.page
    open_chat(p, chat.url)
    el = ask(p, "Why are my legs worse at night?")
    assert not p.locator(".disclaimer").is_visible()  # the banner has gone
    assert "clinician" not in el.inner_text()  # and nothing is repeated under the answer
    footer = p.locator("#chat-footer details")
    assert norm(footer.locator("summary").inner_text()) == "Not medical advice. More"
    box = footer.bounding_box()
    assert box["height"] < 40  # one line
    log = p.locator("#conversation").bounding_box()
    assert log["y"] + log["height"] <= box["y"] + 1  # under the conversation
    assert box["y"] + box["height"] <= p.get_by_label(INPUT).bounding_box()["y"]
    footer.locator("summary").click()
    assert norm(chat.bot.disclaimer) in norm(footer.inner_text())
    # A new conversation starts with the banner again.
    p.get_by_role("button", name="New conversation").click()
    p.locator(".disclaimer").wait_for()
    assert not p.locator("#chat-footer").is_visible()


# ---------------------------------------------------------------------------------------------
# asking


def test_answer_shows_markers_and_its_sources_grouped_by_article(chat, page):
    p = page.page
    open_chat(p, chat.url)
    install_stage_counter(p)
    el = ask(p, "What treatments are there for restless legs?")
    logged = chat.store.get_answer(answer_id(el))
    assert logged is not None and logged["status"] == "answered" and logged["channel"] == "chat"
    text = el.locator(".answer-text").inner_text()
    citations = logged["citations"]
    articles = list(dict.fromkeys(c["article"] for c in citations))
    sources = el.locator(".source")
    assert sources.count() == len(articles) and len(citations) >= 2
    for k, article_id in enumerate(articles):
        src = sources.nth(k)
        article = chat.bot.index.articles[article_id]
        head = src.locator(".src-head").inner_text()
        assert article.title in head  # once per article
        assert ("·" in head) == bool(article.date) and (article.date or "") in head
        cited = [c for c in citations if c["article"] == article_id]
        quotes = src.locator(".source-quote")
        assert quotes.count() == len(cited)
        for i, c in enumerate(cited):
            quote = quotes.nth(i)
            assert f"[{c['id']}]" in text and f"[{c['id']}]" in quote.inner_text()
            assert norm(quote.locator("mark").inner_text()) == norm(c["quote"])
            # The highlighted quote sits inside its own paragraph (the article's line).
            line_start = article.body.rfind("\n", 0, c["start"]) + 1
            line_end = article.body.find("\n", c["end"])
            line = norm(article.body[line_start : line_end if line_end >= 0 else None])
            context = norm(quote.locator("blockquote").inner_text())
            assert context.strip(" …") in line
            # The [n] marker links to the quote it names.
            marker = el.locator(f".answer-text a.cite:has-text('[{c['id']}]')").first
            assert marker.get_attribute("href") == "#" + quote.get_attribute("id")
        # "Read the article" opens the article on this app with these quotes highlighted.
        link = src.get_by_role("link", name="Read the article")
        assert link.get_attribute("target") == "_blank"
        with p.context.expect_page() as opened:
            link.click()
        article_page = opened.value
        article_page.wait_for_load_state()
        marks = article_page.locator("mark[id^=quote-]").all_inner_texts()
        assert sorted(norm(m) for m in marks) == sorted(norm(c["quote"]) for c in cited)
        assert article_page.locator("h1").inner_text() == article.title
        article_page.close()
    # It appeared progressively, inside the chat's live region.
    assert p.evaluate("window.__partials") >= 1
    live = p.locator('#conversation [role="log"][aria-live="polite"]')
    assert live.locator(".answer-done").count() == 1
    assert page.foreign_hosts("127.0.0.1") == set()


# Its answer quotes "Dopamine receptor agonists (DRA) can be taken daily for a long time without
# significant damage", which corpus/README.md lists as dubious (the test checks it does).
CAUTIONED = "is mirapex good for rls? can u take it long term"


def test_a_quote_staff_question_shows_their_caution_under_it_and_a_flag_in_the_answer(chat, page):
    p = page.page
    open_chat(p, chat.url)
    el = ask(p, CAUTIONED)
    citations = chat.store.get_answer(answer_id(el))["citations"]
    cautioned = [c for c in citations if c.get("caution")]
    assert cautioned and len(cautioned) < len(citations)
    for c in citations:
        quote = el.locator(f".source-quote[id$='-{c['id']}']")
        note = quote.locator(".src-caution")
        if c.get("caution"):
            assert note.is_visible() and norm(note.inner_text()) == norm("\u26a0 " + c["caution"])
            assert note.get_attribute("role") == "note"
            # Apart from the article's words: not inside the quoted paragraph.
            assert c["caution"] not in quote.locator("blockquote").inner_text()
        else:
            assert note.count() == 0
    flags = el.locator(".answer-text .flagged")
    assert flags.count() == len(cautioned)
    assert "questioned by the clinic's staff" in flags.first.inner_text()
    if SHOTS:
        el.locator(".src-caution").first.scroll_into_view_if_needed()
        p.screenshot(path=str(SHOTS / "chat-caution.png"))


def test_example_question_is_asked_with_one_click(chat, page):
    p = page.page
    open_chat(p, chat.url)
    p.locator("#conversation .examples button").first.click()
    el = wait_answer(p, 1)
    logged = chat.store.get_answer(answer_id(el))
    assert logged["question"] == "Why are my legs worse at night?"
    assert logged["citations"]


def test_follow_up_sends_history_and_one_conversation_id(chat, page):
    p = page.page
    open_chat(p, chat.url)
    first = answer_id(ask(p, "Can low iron cause restless legs?"))
    second_el = ask(p, "And what about pregnancy?")
    first_log = chat.store.get_answer(first)
    second_log = chat.store.get_answer(answer_id(second_el))
    assert first_log["conversation"] and first_log["conversation"] == second_log["conversation"]
    assert first_log["history"] == []
    assert second_log["history"][0] == {
        "role": "user",
        "content": "Can low iron cause restless legs?",
    }
    assert second_log["history"][1]["role"] == "assistant"
    assert "<" not in second_log["history"][1]["content"]  # plain answer text, not page HTML
    assert "pregnan" in second_el.inner_text().lower()

    # A new conversation starts afresh: new id, no history.
    p.get_by_role("button", name="New conversation").click()
    p.wait_for_function("!document.querySelector('#conversation .answer')")
    third = chat.store.get_answer(answer_id(ask(p, "Is restless legs common in pregnancy?")))
    assert third["history"] == [] and third["conversation"] != first_log["conversation"]


# ---------------------------------------------------------------------------------------------
# feedback


def test_feedback_and_comment_reach_the_store(chat, page):
    p = page.page
    open_chat(p, chat.url)
    el = ask(p, "Why are my legs worse at night?")
    aid = answer_id(el)
    p.locator("#conversation").get_by_role("button", name="Like", exact=True).last.click()
    p.get_by_text("marked the answer as helpful").wait_for()
    assert [(f["rating"], f["comment"]) for f in chat.store.get_answer(aid)["feedback"]] == [
        ("up", "")
    ]
    comment = "Clear, thanks <b>really</b>"
    p.get_by_label("Anything to add for the clinic's staff? (optional)").fill(comment)
    p.get_by_role("button", name="Send comment").click()
    p.get_by_text("your comment was sent").wait_for()
    feedback = chat.store.get_answer(aid)["feedback"]
    assert [(f["rating"], f["comment"]) for f in feedback] == [("up", ""), ("up", comment)]
    assert not p.locator("#feedback-comment").is_visible()


# ---------------------------------------------------------------------------------------------
# keyboard, screen readers, phone, compact panel


def test_keyboard_alone_can_ask_and_rate(chat, page):
    p = page.page
    open_chat(p, chat.url)
    for _ in range(30):
        p.keyboard.press("Tab")
        if p.evaluate("document.activeElement?.closest('#question') !== null"):
            break
    else:
        pytest.fail("Tab never reached the question box")
    outline = p.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", ""), "the focused question box shows no focus outline"
    p.keyboard.type("Can low iron cause restless legs?")
    p.keyboard.press("Enter")
    el = wait_answer(p, 1)
    aid = answer_id(el)
    # The conversation itself is a Tab stop: a long answer is read with the arrow keys.
    for _ in range(30):
        p.keyboard.press("Shift+Tab")
        if p.evaluate("document.activeElement?.getAttribute('role') === 'log'"):
            break
    else:
        pytest.fail("Shift+Tab never reached the conversation")
    assert p.evaluate("document.activeElement.getAttribute('aria-label')") == "Conversation"
    assert p.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    assert p.evaluate("(e => e.scrollHeight > e.clientHeight)(document.activeElement)")
    before = p.evaluate("document.activeElement.scrollTop")
    p.keyboard.press("PageDown")
    p.wait_for_function("n => document.activeElement.scrollTop > n", arg=before)
    p.get_by_label(INPUT).focus()
    for _ in range(30):
        p.keyboard.press("Shift+Tab")
        if p.evaluate("document.activeElement?.getAttribute('aria-label') === 'Dislike'"):
            break
    else:
        pytest.fail("Shift+Tab never reached the answer's feedback buttons")
    assert p.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    p.keyboard.press("Enter")
    p.get_by_text("marked the answer as not helpful").wait_for()
    assert [f["rating"] for f in chat.store.get_answer(aid)["feedback"]] == ["down"]
    notice = p.locator("#chat-notice")
    assert notice.get_attribute("role") == "status" and notice.get_attribute("aria-live")


def test_phone_320_has_no_horizontal_scroll_and_a_usable_input(chat, browser):
    context = browser.new_context(viewport={"width": 320, "height": 640}, has_touch=True)
    try:
        p = context.new_page()
        open_chat(p, chat.url)
        assert no_horizontal_scroll(p)
        box = p.get_by_label(INPUT).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 320 and box["width"] >= 200
        assert p.locator(".disclaimer").is_visible()
        el = ask(p, "What treatments are there for restless legs?")
        assert el.locator(".source").count() >= 1
        assert no_horizontal_scroll(p)
        ask_btn = p.get_by_role("button", name="Ask").bounding_box()
        assert ask_btn["x"] + ask_btn["width"] <= 320 and ask_btn["height"] >= 24
    finally:
        context.close()


def test_compact_chat_for_iframes_shows_the_disclaimer_first_and_answers(chat, browser):
    context = browser.new_context(viewport={"width": 360, "height": 560})
    try:
        p = context.new_page()
        open_chat(p, chat.compact_url)
        disclaimer = p.locator(".disclaimer").bounding_box()
        assert disclaimer["y"] >= 0 and disclaimer["y"] + disclaimer["height"] <= 560
        assert not p.locator(".tagline").is_visible()  # no tagline in a small frame
        assert no_horizontal_scroll(p)
        el = ask(p, "Can low iron cause restless legs?")
        logged = chat.store.get_answer(answer_id(el))
        assert logged["channel"] == "widget" and el.locator(".source").count() >= 1
        assert no_horizontal_scroll(p)
        assert p.locator("#chat-footer summary").is_visible()
        assert axe_problems(run_axe(p)) == []
    finally:
        context.close()


def test_emergency_is_a_card_with_a_tel_link_and_no_rating(chat, page):
    p = page.page
    open_chat(p, chat.url)
    ask(p, "Why are my legs worse at night?")
    card = ask(p, "I have crushing chest pain and can't breathe")
    assert "emergency-card" in card.get_attribute("class")
    assert card.locator(".sources").count() == 0
    number = chat.bot.emergency_number
    call = card.get_by_role("link", name=f"Call {number}")
    assert call.get_attribute("href") == f"tel:{number}"
    box = call.bounding_box()
    assert box["height"] >= 24 and box["width"] >= 44
    on_top = p.evaluate(
        "([x, y]) => document.elementFromPoint(x, y)?.closest('a')?.getAttribute('href')",
        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
    )
    assert on_top == f"tel:{number}"
    # The earlier answer can be rated; the emergency card cannot.
    rows = p.locator("#conversation .message-row")
    buttons = p.locator("#conversation .message-buttons")
    assert rows.count() == 4
    visible = [buttons.nth(i).is_visible() for i in range(buttons.count())]
    assert visible.count(True) == 1
    like = p.locator("#conversation").get_by_role("button", name="Like", exact=True)
    assert [like.nth(i).is_visible() for i in range(like.count())].count(True) == 1
    settle(p)
    assert card.bounding_box()["y"] >= p.locator("#conversation").bounding_box()["y"] - 1


# ---------------------------------------------------------------------------------------------
# bad input


def test_html_and_script_in_a_message_stay_inert(chat, page):
    p = page.page
    dialogs: list[str] = []
    p.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    open_chat(p, chat.url)
    hostile = (
        '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> '
        "![t](http://tracker.example/p.png) [x](javascript:alert(3)) legs at night?"
    )
    el = ask(p, hostile)
    user = p.locator("#conversation .user-text").last
    assert norm(user.inner_text()) == norm(hostile)
    assert p.locator("#conversation img, #conversation script").count() == 0
    assert p.locator("#conversation a[href^='javascript']").count() == 0
    assert p.evaluate("window.__pwned") is None and dialogs == []
    logged = chat.store.get_answer(answer_id(el))
    # Stored as the text typed (the store may redact links), never as markup that ran.
    assert logged["question"].startswith('<img src=x onerror="window.__pwned=1"><script>')
    assert page.foreign_hosts("127.0.0.1") == set()


def test_empty_message_gets_a_clear_notice_and_adds_nothing(chat, page):
    p = page.page
    open_chat(p, chat.url)
    p.get_by_label(INPUT).fill("   ")
    p.get_by_label(INPUT).press("Enter")
    p.get_by_text("Please type a question first.").wait_for()
    assert p.locator("#conversation .user-text").count() == 0


# ---------------------------------------------------------------------------------------------
# privacy and accessibility over a whole visit


def test_a_whole_visit_requests_nothing_from_another_host(chat, page):
    p = page.page
    open_chat(p, chat.url)
    ask(p, "Why are my legs worse at night?")
    p.locator("#conversation").get_by_role("button", name="Like", exact=True).last.click()
    p.get_by_text("marked the answer as helpful").wait_for()
    ask(p, "What about iron?")
    assert len(page.requests) > 5
    assert page.foreign_hosts("127.0.0.1") == set(), page.requests
    config = json.loads(p.evaluate("fetch('/config').then(r => r.text())"))
    assert config["analytics_enabled"] is False


def test_axe_finds_no_violation(chat, page, browser):
    p = page.page
    open_chat(p, chat.url)
    found = {"empty page": run_axe(p)}
    ask(p, "What treatments are there for restless legs?")
    p.locator("#conversation").get_by_role("button", name="Dislike", exact=True).last.click()
    p.get_by_label("Anything to add for the clinic's staff? (optional)").wait_for()
    found["answer, sources and feedback form"] = run_axe(p)
    ask(p, CAUTIONED)
    found["a quote with staff's caution"] = run_axe(p)
    ask(p, "I have crushing chest pain and can't breathe")
    found["emergency reply"] = run_axe(p)
    context = browser.new_context(viewport={"width": 320, "height": 640})
    try:
        phone = context.new_page()
        open_chat(phone, chat.url)
        ask(phone, "Is restless legs common in pregnancy?")
        found["phone 320 px"] = run_axe(phone)
    finally:
        context.close()
    summary = {k: sorted(f"{v['impact']}:{v['id']}" for v in vs) for k, vs in found.items()}
    print("axe-core", json.loads((AXE / "package.json").read_text())["version"], summary)
    problems = {k: axe_problems(vs) for k, vs in found.items() if vs}
    assert problems == {}


def test_two_patients_are_answered_at_the_same_time(browser):
    """Each answer waits for the other's question: this passes only if both run at once.

    The chat here has no review store (no feedback buttons), which must render too.
    """
    import gradio as gr
    from fastapi import FastAPI
    from helpers import StandInBot
    from helpers import stand_in_answer as _answer

    from chatbot.web.chat import create_chat, mount_options

    meeting = threading.Barrier(2, timeout=30)

    class MeetingBot(StandInBot):
        def ask(self, *args: Any, **kwargs: Any):
            meeting.wait()
            return super().ask(*args, **kwargs)

    app = gr.mount_gradio_app(
        FastAPI(), create_chat(MeetingBot(_answer()), None), path="/", **mount_options()
    )
    server = ThreadServer(app)
    contexts = [browser.new_context() for _ in range(2)]
    try:
        pages = [c.new_page() for c in contexts]
        for p in pages:
            open_chat(p, server.url)
        for p in pages:
            p.get_by_label(INPUT).fill("Why worse at night?")
            p.get_by_label(INPUT).press("Enter")
        for p in pages:
            el = wait_answer(p, 1)
            assert "answer-done" in el.get_attribute("class")
    finally:
        for c in contexts:
            c.close()
        server.stop()
