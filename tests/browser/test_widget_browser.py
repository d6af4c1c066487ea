"""The widget on a clinic's page in real headless Chromium, the chat served from another origin.

One app (its own LiveServer, CHATBOT_ALLOWED_ORIGINS = the clinic page's origin) and two
"websites" on other ports: the clinic (allowed, twice: plain and with options) and a stranger.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest
from helpers import ROOT, LiveServer, free_port, live_server_env

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("WIDGET_SHOTS", "")) if os.environ.get("WIDGET_SHOTS") else None


def _examples():
    spec = importlib.util.spec_from_file_location(
        "serve_clinic", ROOT / "examples" / "serve_clinic.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


OPTIONS = {
    "label": "Chat with us",
    "position": "left",
    "open": "true",
    "text_color": "#000000",
    "greeting": "<b>Hi</b> there",
}


@pytest.fixture(scope="module")
def sites(real_index_dir, tmp_path_factory):
    """The chat app and three sites on other ports: the clinic's page, the same page with
    OPTIONS (both allowed to frame the chat) and a stranger's (not allowed)."""
    examples = _examples()
    clinic_port, options_port = free_port(), free_port()
    clinic = f"http://127.0.0.1:{clinic_port}"
    options = f"http://127.0.0.1:{options_port}"
    env = live_server_env(
        real_index_dir,
        tmp_path_factory.mktemp("widget-data"),
        CHATBOT_ALLOWED_ORIGINS=json.dumps([clinic, options + "/"]),
        CHATBOT_RATE_LIMIT_PER_MINUTE="1000",
    )
    app = LiveServer(env).wait()
    servers = [
        examples.make_server(app.url, clinic_port),
        examples.make_server(app.url, options_port, **OPTIONS),
        examples.make_server(app.url, 0),
    ]
    stranger = f"http://127.0.0.1:{servers[2].server_address[1]}"
    try:
        yield {
            "app": app.url,
            "clinic": clinic + "/",
            "options": options + "/",
            "stranger": stranger + "/",
        }
    finally:
        for server in servers:
            server.shutdown()
        app.stop()


def shadow(p, js: str):
    """Evaluate ``js`` with ``root`` bound to the widget's shadow root."""
    return p.evaluate(
        "(js) => { const root = document.querySelector('[data-clinic-chat]').shadowRoot;"
        " return new Function('root', js)(root); }",
        js,
    )


def chat_frame(p):
    p.wait_for_function(
        "() => { const r = document.querySelector('[data-clinic-chat]');"
        " const f = r && r.shadowRoot.querySelector('iframe'); return f && f.contentWindow; }"
    )
    for _ in range(100):
        frames = [f for f in p.frames if "/embed/" in f.url]
        if frames:
            return frames[0]
        p.wait_for_timeout(100)
    raise AssertionError(f"no chat frame among {[f.url for f in p.frames]}")


def test_clinic_page_embeds_the_chat_ask_and_see_cited_answer(sites, page):
    app, clinic = sites["app"], sites["clinic"]
    p = page.page
    responses = []
    p.on("response", lambda r: responses.append(r))
    p.goto(clinic)
    button = p.get_by_role("button", name="Ask about restless legs")
    button.wait_for()

    # Before the chat is opened the page has loaded exactly one script from the app: widget.js.
    p.wait_for_load_state("networkidle")
    scripts = [r for r in responses if r.request.resource_type == "script"]
    assert [r.url for r in scripts] == [app + "/widget.js"]
    size = len(scripts[0].body())
    print(f"\nwidget: {size} bytes of JavaScript before the chat is opened")
    assert size < 8_000  # a budget: the page should hardly notice the widget
    assert not [u for u in page.requests if "/embed" in u]  # nothing framed until opened
    assert button.get_attribute("aria-expanded") == "false"

    button.click()
    assert button.get_attribute("aria-expanded") == "true"
    dialog = p.get_by_role("dialog", name="Ask our Restless Legs team")
    assert dialog.is_visible()
    assert "I answer questions from our clinic's articles" in dialog.inner_text()
    frame = chat_frame(p)
    box = frame.get_by_role("textbox").first
    box.fill("Why would low iron give me restless legs?")
    box.press("Enter")
    # The answer: quotes with [n] markers, then (once it has fully appeared) its sources.
    frame.wait_for_function(
        "() => { const t = document.body.innerText;"
        " return /\\[1\\]/.test(t) && /iron deficiency/i.test(t) && /Sources/.test(t); }",
        timeout=90_000,
    )
    text = frame.locator("body").inner_text()
    assert "not a clinician" in text  # the disclaimer
    if SHOTS:
        p.screenshot(path=str(SHOTS / "widget-answer.png"))
    # Only the clinic's page and the chat app were contacted: both on this loopback host.
    assert page.foreign_hosts("127.0.0.1") == set()


def test_panel_is_keyboard_accessible_and_closes_with_escape(sites, page):
    clinic = sites["clinic"]
    p = page.page
    p.goto(clinic)
    button = p.get_by_role("button", name="Ask about restless legs")
    button.focus()
    p.keyboard.press("Enter")
    assert button.get_attribute("aria-expanded") == "true"
    # Focus moved into the panel: the chat's iframe, then its question box.
    assert shadow(p, "return root.activeElement && root.activeElement.tagName") == "IFRAME"
    frame = chat_frame(p)
    frame.wait_for_function(
        "() => document.activeElement && document.activeElement.tagName === 'TEXTAREA'",
        timeout=60_000,
    )
    p.keyboard.type("hello")
    assert frame.get_by_role("textbox").first.input_value() == "hello"

    # Escape inside the (cross-origin) chat closes the panel and gives the focus back.
    p.keyboard.press("Escape")
    p.wait_for_function(
        "() => document.querySelector('[data-clinic-chat]')"
        ".shadowRoot.querySelector('[role=dialog]').hidden"
    )
    assert button.get_attribute("aria-expanded") == "false"
    assert shadow(p, "return root.activeElement && root.activeElement.className") == "b"

    # Reopening keeps the conversation's page; Escape on the close button closes too.
    p.keyboard.press("Enter")
    close = p.get_by_role("button", name="Close chat")
    close.focus()
    p.keyboard.press("Escape")
    assert not p.get_by_role("dialog").is_visible()
    # The close button works by click as well.
    button.click()
    close.click()
    assert button.get_attribute("aria-expanded") == "false"


def test_options_from_data_attributes(sites, page):
    p = page.page
    p.goto(sites["options"])
    button = p.get_by_role("button", name="Chat with us")
    button.wait_for()
    assert button.get_attribute("aria-expanded") == "true"  # data-open
    assert p.get_by_role("dialog").is_visible()
    style = shadow(
        p,
        "const b = root.querySelector('.b'), s = getComputedStyle(b);"
        " return [s.backgroundColor, s.color, b.getBoundingClientRect().left];",
    )
    assert style[0] == "rgb(35, 64, 58)" and style[1] == "rgb(0, 0, 0)"  # #23403a, #000000
    assert style[2] < 100  # on the left
    # The greeting is text, never markup.
    assert shadow(p, "return root.querySelector('.g').textContent") == "<b>Hi</b> there"
    assert shadow(p, "return root.querySelector('.g b')") is None
    # Opened by the page, not the patient: the focus stays where it was.
    assert p.evaluate("document.activeElement === document.body")
    chat_frame(p).get_by_role("textbox").first.wait_for(timeout=60_000)


def test_a_site_that_is_not_allowed_cannot_frame_the_chat(sites, page):
    stranger = sites["stranger"]
    p = page.page
    console = []
    p.on("console", lambda m: console.append(m.text))
    p.goto(stranger)
    p.get_by_role("button", name="Ask about restless legs").click()
    p.wait_for_timeout(500)
    for _ in range(100):
        if any("frame-ancestors" in m for m in console):
            break
        p.wait_for_timeout(100)
    assert any("frame-ancestors" in m for m in console), console
    # The frame never shows the chat.
    for frame in p.frames[1:]:
        assert frame.locator("textarea").count() == 0
    if SHOTS:
        p.screenshot(path=str(SHOTS / "widget-refused.png"))


def test_docs_page_loads_nothing_from_other_hosts(sites, page):
    p = page.page
    p.goto(sites["app"] + "/docs")
    p.get_by_text("/api/ask").first.wait_for(timeout=30_000)
    assert page.foreign_hosts("127.0.0.1") == set()
