"""The chat page in a real headless Chromium: ask, see the cited answer and the disclaimer."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def _ask(live_server, page, question: str):
    """Open the chat, ask ``question`` and wait for the answer's sources."""
    p = page.page
    p.goto(live_server.url + "/")
    p.get_by_label("Your question about restless legs").fill(question)
    p.keyboard.press("Enter")
    p.get_by_text("Sources").first.wait_for(timeout=60_000)
    return p


def test_ask_in_the_browser_shows_answer_sources_and_disclaimer(live_server, page):
    p = _ask(live_server, page, "Why would low iron give me restless legs?")
    text = p.locator("body").inner_text()
    assert "[1]" in text and "iron" in text.lower()
    # The disclaimer: one line under the conversation, its full text one click away.
    p.get_by_text("Not medical advice.").click()
    assert "not a clinician" in p.locator("body").inner_text()
    assert page.foreign_hosts("127.0.0.1") == set()


def test_a_lists_items_show_nested_under_its_lead_in_at_full_size(live_server, page):
    p = _ask(live_server, page, "what groups of drugs are used for restless legs")
    nested = p.locator(".answer-text ul ul li")
    assert nested.count() >= 4
    assert "dopaminergics;" in nested.first.inner_text()
    size = "el => getComputedStyle(el).fontSize"
    top = p.locator(".answer-text > ul > li").first
    assert nested.first.evaluate(size) == top.evaluate(size)  # readable, not shrunk
