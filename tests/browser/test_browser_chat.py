"""The patient chat in a real headless Chromium, against the real app served in this process.

The app runs in a thread here (real model, real index, a real SQLite review store in a temp
folder), so a test can check that what the patient did in the page reached the store.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from helpers import ROOT, free_port

pytestmark = pytest.mark.browser

AXE = ROOT / ".venv" / "axe" / "node_modules" / "axe-core"
AXE_JS = AXE / "axe.min.js"
CLINIC = "Test Clinic <b>&</b> Co"
INPUT = "Your question about restless legs"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


class ThreadServer:
    """uvicorn serving ``app`` on a free loopback port from a daemon thread."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the in-process chat server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


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
    settings = real_settings.replace(**{"clinic_name": CLINIC, "data_dir": data})
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


def answers(p) -> int:
    return p.locator("#conversation .answer-done, #conversation .answer-error").count()


def wait_answer(p, count: int) -> Any:
    """Wait until ``count`` answers are complete; return the last answer's element."""
    p.wait_for_function(
        "n => document.querySelectorAll("
        "'#conversation .answer-done, #conversation .answer-error').length >= n"
        " && !document.querySelector('#conversation .answer-pending')",
        arg=count,
        timeout=90_000,
    )
    return p.locator("#conversation .answer-done, #conversation .answer-error").last


def ask(p, question: str) -> Any:
    before = answers(p)
    p.get_by_label(INPUT).fill(question)
    p.get_by_label(INPUT).press("Enter")
    return wait_answer(p, before + 1)


def answer_id(element) -> str:
    return element.get_attribute("id").removeprefix("answer-")


def norm(text: str) -> str:
    return " ".join(text.split())


def no_horizontal_scroll(p) -> bool:
    return p.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )


def run_axe(p) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.x A/AA violations on the page as it is now."""
    assert AXE_JS.exists(), f"{AXE_JS} is missing: `make axe` installs axe-core from npm"
    p.add_script_tag(path=str(AXE_JS))
    result = p.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_TAGS
    )
    return result["violations"]


def serious(violations: list[dict[str, Any]]) -> list[str]:
    return [
        f"{v['impact']} {v['id']}: {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]


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
    examples = p.locator("#conversation .examples button")
    assert examples.count() == 3
    box = p.get_by_label(INPUT)
    assert box.get_attribute("placeholder").startswith("Type your question")
    assert box.get_attribute("maxlength") == str(chat.settings.safety.max_question_chars)
    assert p.get_by_role("button", name="Ask").is_visible()
    assert page.foreign_hosts("127.0.0.1") == set()


# ---------------------------------------------------------------------------------------------
# asking


def test_answer_shows_markers_and_each_source_with_its_quote_in_context(chat, page):
    p = page.page
    open_chat(p, chat.url)
    install_stage_counter(p)
    el = ask(p, "What treatments are there for restless legs?")
    logged = chat.store.get_answer(answer_id(el))
    assert logged is not None and logged["status"] == "answered" and logged["channel"] == "chat"
    text = el.locator(".answer-text").inner_text()
    sources = el.locator(".source")
    assert sources.count() == len(logged["citations"]) >= 2
    for i, c in enumerate(logged["citations"]):
        assert f"[{c['id']}]" in text
        src = sources.nth(i)
        head = src.locator(".src-head").inner_text()
        article = chat.bot.index.articles[c["article"]]
        assert article.title in head and (article.date or "") in head
        assert norm(src.locator("mark").inner_text()) == norm(c["quote"])
        # The highlighted quote sits inside its own paragraph (the article's line).
        line_start = article.body.rfind("\n", 0, c["start"]) + 1
        line_end = article.body.find("\n", c["end"])
        line = norm(article.body[line_start : line_end if line_end >= 0 else None])
        context = norm(src.locator("blockquote").inner_text())
        assert len(context) > len(norm(c["quote"])) or context == line
        assert context.strip(" …") in line
        # The [n] marker links to the source it names.
        href = el.locator(f".answer-text a.cite:has-text('[{c['id']}]')").first.get_attribute(
            "href"
        )
        assert href == "#" + src.get_attribute("id")
    # It appeared progressively, inside the chat's live region, and the disclaimer stays.
    assert p.evaluate("window.__partials") >= 1
    live = p.locator('#conversation [role="log"][aria-live="polite"]')
    assert live.locator(".answer-done").count() == 1
    assert p.locator(".disclaimer").is_visible()
    assert page.foreign_hosts("127.0.0.1") == set()


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
    p.get_by_role("button", name="Start a new conversation").click()
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


def test_compact_panel_shows_the_disclaimer_first_and_answers(chat, browser):
    context = browser.new_context(viewport={"width": 360, "height": 560})
    try:
        p = context.new_page()
        open_chat(p, chat.compact_url)
        disclaimer = p.locator(".disclaimer").bounding_box()
        assert disclaimer["y"] >= 0 and disclaimer["y"] + disclaimer["height"] <= 560
        assert not p.locator(".tagline").is_visible()  # no big header in the widget
        assert p.locator("h1").bounding_box()["height"] <= 1  # kept for screen readers only
        assert no_horizontal_scroll(p)
        el = ask(p, "Can low iron cause restless legs?")
        logged = chat.store.get_answer(answer_id(el))
        assert logged["channel"] == "widget" and el.locator(".source").count() >= 1
        assert no_horizontal_scroll(p)
        # Once the chat has started the banner folds to its first sentence, the rest a click away.
        first, _, rest = chat.bot.disclaimer.partition(". ")
        folded = p.locator("details.disclaimer")
        assert norm(first) in norm(folded.locator("summary").inner_text())
        assert not folded.get_by_text(rest[:40]).is_visible()
        folded.locator("summary").focus()
        p.keyboard.press("Enter")
        assert folded.get_by_text(rest[:40]).is_visible()
        assert serious(run_axe(p)) == []
    finally:
        context.close()


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


def test_axe_finds_no_serious_or_critical_issue(chat, page, browser):
    p = page.page
    open_chat(p, chat.url)
    found = {"empty page": run_axe(p)}
    ask(p, "What treatments are there for restless legs?")
    p.locator("#conversation").get_by_role("button", name="Dislike", exact=True).last.click()
    p.get_by_label("Anything to add for the clinic's staff? (optional)").wait_for()
    found["answer, sources and feedback form"] = run_axe(p)
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
    problems = {k: serious(vs) for k, vs in found.items() if serious(vs)}
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
