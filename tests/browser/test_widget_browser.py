"""The widget on a clinic's page in real headless Chromium, the chat served from another origin.

The app (a LiveServer, CHATBOT_ALLOWED_ORIGINS = the clinic's origins, CHATBOT_COUNTRY=GB) and
the example clinic's site on other ports come from the ``clinic_sites`` fixture. Layout at four
screen sizes, the conversation across pages and the weight: test_fit_browser.py.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from helpers import axe_problems, run_axe, settle

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ["WIDGET_SHOTS"]) if os.environ.get("WIDGET_SHOTS") else None
W = "[data-clinic-chat]"  # Playwright's CSS locators pierce the open shadow root


def shadow(p, js: str):
    """Evaluate ``js`` with ``root`` bound to the widget's shadow root."""
    return p.evaluate(
        "js => new Function('root', js)(document.querySelector('[data-clinic-chat]').shadowRoot)",
        js,
    )


def launcher(p):
    return p.locator(f"{W} button[aria-controls=p]")


def ask(p, question: str):
    """Ask in the widget; the new answer's element once it is shown."""
    before = p.locator(f"{W} .log > .a:not(.wait)").count()
    box = p.locator(f"{W} textarea")
    box.fill(question)
    box.press("Enter")
    answer = p.locator(f"{W} .log > .a:not(.wait)").nth(before)
    answer.wait_for(timeout=90_000)
    return answer


def test_clinic_page_loads_one_script_then_answers_with_chips_that_open_the_quotes(
    clinic_sites, page
):
    p = page.page
    p.goto(clinic_sites.clinic)
    button = p.get_by_role("button", name="Ask about restless legs")
    button.wait_for()
    p.wait_for_load_state("networkidle")
    # Before the chat is opened the page has loaded one file from the app: widget.js.
    assert [u for u in page.requests if clinic_sites.app in u] == [clinic_sites.app + "/widget.js"]
    assert button.get_attribute("aria-expanded") == "false"

    button.click()
    # The launcher is now the close button; the dialog is named by data-title.
    close = p.locator(W).get_by_role("button", name="Close chat").last
    assert close.get_attribute("aria-expanded") == "true"
    dialog = p.get_by_role("dialog", name="Ask our Restless Legs team")
    text = dialog.inner_text()
    assert "I answer questions from our clinic's articles" in text  # data-greeting
    assert "Please read: This is an automated assistant, not a clinician." in text
    assert not p.locator(f"{W} .foot").is_visible()  # the banner first, no footer yet
    assert [u for u in page.requests if clinic_sites.app in u] == [clinic_sites.app + "/widget.js"]

    answer = ask(p, "Why would low iron give me restless legs?")
    assert re.search(r"\[1\]", answer.inner_text()) and "iron" in answer.inner_text().lower()
    # The banner has given way to the one-line footer; "More" shows the full text.
    assert "Please read" not in dialog.inner_text()
    foot = p.locator(f"{W} .foot")
    assert foot.inner_text().strip() == "Not medical advice. More"
    foot.get_by_role("button", name="More").click()
    assert "not a clinician" in foot.inner_text()
    # One chip per article; a chip opens its quotes and the way to the article page.
    chips = answer.locator(".chip")
    assert chips.count() >= 1
    titles = [chips.nth(i).inner_text() for i in range(chips.count())]
    assert len({re.sub(r"^(\[\d+\] )+", "", t) for t in titles}) == len(titles)
    chips.first.click()
    assert chips.first.get_attribute("aria-expanded") == "true"
    quotes = answer.locator(".qs:not([hidden])")
    marks = [
        quotes.locator("mark").nth(i).inner_text() for i in range(quotes.locator("mark").count())
    ]
    assert marks and all(m in answer.locator(".txt").inner_text() for m in marks)
    link = quotes.get_by_role("link", name="Read the article")
    href = link.get_attribute("href")
    assert href.startswith(clinic_sites.app + "/articles/") and "#quote-1" in href
    assert link.get_attribute("target") == "_blank" and "noopener" in link.get_attribute("rel")
    with p.context.expect_page() as article_page:
        link.click()
    article = article_page.value
    article.wait_for_load_state()
    assert sorted(article.locator("mark[id^=quote-]").all_inner_texts()) == sorted(marks)
    article.close()
    if SHOTS:
        p.screenshot(path=str(SHOTS / "widget-answer.png"))
    # Only the clinic's page and the chat app were contacted: both on this loopback host.
    assert page.foreign_hosts("127.0.0.1") == set()


def test_a_quote_staff_question_shows_their_caution_and_a_flag_in_the_answer(clinic_sites, page):
    """The answer to this question quotes a claim corpus/README.md lists as dubious (the API's
    own answer is checked first); the widget shows staff's caution under that quote."""
    question = "is mirapex good for rls? can u take it long term"
    p = page.page
    p.goto(clinic_sites.clinic)
    launcher(p).click()
    with p.expect_response("**/api/ask") as response:
        answer = ask(p, question)
    citations = response.value.json()["citations"]
    cautioned = [c for c in citations if c["caution"]]
    assert cautioned and len(cautioned) < len(citations)
    flags = answer.locator(".txt .flag")
    assert flags.count() == len(cautioned)
    assert "questioned by the clinic's staff" in flags.first.inner_text()
    chips = answer.locator(".chip")
    notes = []
    for i in range(chips.count()):
        chips.nth(i).click()
        shown = answer.locator(".qs:not([hidden]) .caution")
        notes += [shown.nth(k).inner_text() for k in range(shown.count())]
        if shown.count() and SHOTS:
            shown.first.scroll_into_view_if_needed()
            p.screenshot(path=str(SHOTS / "widget-caution.png"))
    assert sorted(notes) == sorted("\u26a0 " + c["caution"] for c in cautioned)


def test_keyboard_alone_opens_asks_reads_and_closes(clinic_sites, page):
    p = page.page
    p.goto(clinic_sites.clinic)
    button = launcher(p)
    button.wait_for()
    for _ in range(20):
        p.keyboard.press("Tab")
        if shadow(p, "return root.activeElement === root.querySelector('[aria-controls=p]')"):
            break
    else:
        pytest.fail("Tab never reached the chat button")
    p.keyboard.press("Enter")
    assert shadow(p, "return root.activeElement && root.activeElement.tagName") == "TEXTAREA"
    p.keyboard.type("Can low iron cause restless legs?")
    p.keyboard.press("Enter")
    p.locator(f"{W} .chip").first.wait_for(timeout=90_000)
    # The conversation is a Tab stop (a long answer is scrolled with the arrow keys), a log
    # that screen readers announce.
    for _ in range(20):
        p.keyboard.press("Shift+Tab")
        if shadow(p, "return root.activeElement && root.activeElement.className") == "log":
            break
    else:
        pytest.fail("Shift+Tab never reached the conversation")
    log = p.locator(f"{W} [role=log]")
    assert log.get_attribute("aria-live") == "polite" and log.get_attribute("aria-label")
    outline = shadow(p, "return getComputedStyle(root.activeElement).outlineStyle")
    assert outline not in ("none", "")
    # On to the first chip; Enter opens its quotes.
    for _ in range(20):
        p.keyboard.press("Tab")
        if shadow(p, "return root.activeElement.classList.contains('chip')"):
            break
    p.keyboard.press("Enter")
    assert shadow(p, "return root.activeElement.getAttribute('aria-expanded')") == "true"
    # Escape closes the panel and gives the focus back to the button, which says so again.
    p.keyboard.press("Escape")
    assert shadow(p, "return root.querySelector('[role=dialog]').hidden") is True
    assert shadow(p, "return root.activeElement === root.querySelector('[aria-controls=p]')")
    assert button.get_attribute("aria-expanded") == "false"
    assert button.inner_text() == "Ask about restless legs"
    # Reopened, the conversation is still there; the close button (×) closes too.
    p.keyboard.press("Enter")
    assert p.locator(f"{W} .log .u").count() == 1
    button.click()
    assert shadow(p, "return root.querySelector('[role=dialog]').hidden") is True


def test_options_from_data_attributes(clinic_sites, page):
    p = page.page
    p.goto(clinic_sites.options)
    button = launcher(p)
    button.wait_for()
    assert button.get_attribute("aria-expanded") == "true"  # data-open
    assert p.get_by_role("dialog").is_visible()
    style = shadow(
        p,
        "const b = root.querySelector('[aria-controls=p]'), h = root.querySelector('.h'),"
        " s = getComputedStyle(h);"
        " return [s.backgroundColor, s.color, b.getBoundingClientRect().left];",
    )
    assert style[0] == "rgb(35, 64, 58)" and style[1] == "rgb(0, 0, 0)"  # #23403a, #000000
    assert style[2] < 100  # on the left
    # The greeting is text, never markup.
    assert shadow(p, "return root.querySelector('.greet').textContent") == "<b>Hi</b> there"
    assert shadow(p, "return root.querySelector('.greet b')") is None
    # Opened by the page, not the patient: the focus stays where it was.
    assert p.evaluate("document.activeElement === document.body")
    button.click()  # now the close button
    assert launcher(p).inner_text() == "Chat with us"  # data-label


def test_a_site_that_is_not_allowed_gets_no_answer(clinic_sites, page):
    p = page.page
    console: list[str] = []
    p.on("console", lambda m: console.append(m.text))
    p.goto(clinic_sites.stranger)
    launcher(p).click()
    box = p.locator(f"{W} textarea")
    box.fill("Can iron help?")
    box.press("Enter")
    error = p.locator(f"{W} .log > .err")
    error.wait_for(timeout=30_000)
    assert "could not be reached" in error.inner_text()
    assert any("CORS" in m for m in console), console
    assert p.locator(f"{W} .chip").count() == 0


def test_emergency_card_has_working_tel_links_and_no_rating(clinic_sites, page):
    p = page.page
    p.goto(clinic_sites.clinic)
    launcher(p).click()
    card = ask(p, "I have crushing chest pain and can't breathe")
    assert "emg" in card.get_attribute("class")
    assert card.locator(".fb, .chip").count() == 0  # no rating, no sources
    call = card.get_by_role("link", name="Call 999")  # CHATBOT_COUNTRY=GB
    assert call.get_attribute("href") == "tel:999"
    _check_tappable(p, call)
    crisis = ask(p, "I want to kill myself")
    tels = [a.get_attribute("href") for a in crisis.locator("a.call").all()]
    assert tels == ["tel:999", "tel:116123"]  # and Samaritans on 116 123
    assert "Samaritans" in crisis.inner_text()
    if SHOTS:
        p.screenshot(path=str(SHOTS / "widget-emergency.png"))
    assert axe_problems(run_axe(p)) == []


def _check_tappable(p, link) -> None:
    """Visible, on top where a finger lands, and its click is left to the browser (tel:)."""
    box = link.bounding_box()
    assert box and box["height"] >= 24 and box["width"] >= 44
    on_top = p.evaluate(
        "([x, y]) => { let e = document.elementFromPoint(x, y);"
        " while (e && e.shadowRoot && e.shadowRoot.elementFromPoint(x, y) !== e) "
        "   e = e.shadowRoot.elementFromPoint(x, y);"
        " return e && e.closest('a') && e.closest('a').getAttribute('href'); }",
        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
    )
    assert on_top == link.get_attribute("href")
    prevented = link.evaluate(
        "a => { let p = null; const f = e => { p = e.defaultPrevented; e.preventDefault(); };"
        " window.addEventListener('click', f, {once: true}); a.click(); return p; }"
    )
    assert prevented is False


STAND_IN = {
    "status": "emergency",
    "answer": "**This may be an emergency. Please call 000 now** or go to hospital.",
    "citations": [],
    "disclaimer": "d",
    "id": "stand-in-1",
    "reason": "chest pain",
    "safety": {
        "tier": "emergency",
        "kind": "poisoning",
        "contacts": [
            {"label": "Ambulance", "number": "000", "tel": "000"},
            {"label": "Poisons <b>line</b>", "number": "13 11 26", "tel": "131126"},
            {"label": "bad", "number": "x", "tel": "javascript:alert(1)"},
        ],
    },
}


def test_the_answers_own_safety_contacts_are_used(clinic_sites, page):
    """A stand-in answer carrying the shared ``safety`` field (the safety helper's extension)."""
    p = page.page
    p.route(
        "**/api/ask",
        lambda route: route.fulfill(
            status=200,
            content_type="application/json",
            headers={"Access-Control-Allow-Origin": clinic_sites.clinic.rstrip("/")},
            body=json.dumps(STAND_IN),
        ),
    )
    p.goto(clinic_sites.clinic)
    launcher(p).click()
    card = ask(p, "my child swallowed pills")
    assert [a.get_attribute("href") for a in card.locator("a.call").all()] == [
        "tel:000",
        "tel:131126",
    ]
    assert "Poisons <b>line</b>" in card.inner_text() and card.locator("b").count() == 0
    safety_net = {
        **STAND_IN,
        "status": "answered",
        "id": "stand-in-2",
        "answer": "**If your calf is swollen and hot, call 000.**\nHere is what the articles"
        " say:\n\n- Walking helps. [1]",
        "citations": [
            {
                "id": 1,
                "article": "a",
                "title": "T",
                "quote": "Walking helps.",
                "start": 0,
                "end": 14,
                "score": 0.5,
                "date": "",
            }
        ],
        "safety": {
            "tier": "safety_net",
            "kind": "clot",
            "contacts": STAND_IN["safety"]["contacts"][:1],
        },
    }
    p.unroute("**/api/ask")
    p.route(
        "**/api/ask",
        lambda route: route.fulfill(
            status=200,
            content_type="application/json",
            headers={"Access-Control-Allow-Origin": clinic_sites.clinic.rstrip("/")},
            body=json.dumps(safety_net),
        ),
    )
    answer = ask(p, "my calf hurts")
    net = answer.locator(".net")
    assert net.locator("strong").inner_text() == "If your calf is swollen and hot, call 000."
    assert net.locator("a.call").get_attribute("href") == "tel:000"
    assert answer.locator(".chip").count() == 1 and answer.locator(".fb").count() == 1


def test_feedback_reaches_the_review_store(clinic_sites, page):
    from chatbot.review.store import Store

    p = page.page
    p.goto(clinic_sites.clinic)
    launcher(p).click()
    with p.expect_response("**/api/ask") as response:
        answer = ask(p, "Why are my legs worse at night?")
    answer_id = response.value.json()["id"]
    yes = answer.get_by_role("button", name="Yes")
    with p.expect_response("**/api/feedback") as sent:
        yes.click()
    assert sent.value.status == 200
    p.locator(f"{W} [role=status]").filter(has_text="Thank you").wait_for()
    assert yes.get_attribute("aria-pressed") == "true"
    logged = Store(clinic_sites.data / "chatbot.sqlite3").get_answer(answer_id)
    assert logged["channel"] == "widget"
    assert [(f["rating"], f["comment"]) for f in logged["feedback"]] == [("up", "")]


def test_markup_in_a_question_or_an_answer_stays_text(clinic_sites, page):
    p = page.page
    dialogs: list[str] = []
    p.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    hostile = {
        **STAND_IN,
        "status": "answered",
        "answer": '<img src=x onerror="window.__pwned=1"> **bold** [1]',
        "citations": [
            {
                "id": 1,
                "article": 'a"><script>',
                "title": "<script>window.__pwned=2</script>",
                "quote": "<img src=y onerror=alert(3)>",
                "start": 0,
                "end": 5,
                "score": 1.0,
            }
        ],
        "safety": None,
    }
    p.route(
        "**/api/ask",
        lambda route: route.fulfill(
            status=200,
            content_type="application/json",
            headers={"Access-Control-Allow-Origin": clinic_sites.clinic.rstrip("/")},
            body=json.dumps(hostile),
        ),
    )
    p.goto(clinic_sites.clinic)
    launcher(p).click()
    answer = ask(p, "<script>window.__pwned=3</script>")
    answer.locator(".chip").click()
    assert p.locator(f"{W} .log img, {W} .log script").count() == 0
    assert "<script>window.__pwned=3</script>" in p.locator(f"{W} .log .u").inner_text()
    assert answer.locator(".txt strong").inner_text() == "bold"
    assert p.evaluate("window.__pwned") is None and dialogs == []


def test_a_busy_server_is_explained(clinic_sites, page):
    p = page.page
    p.route(
        "**/api/ask",
        lambda route: route.fulfill(
            status=429,
            content_type="application/json",
            headers={
                "Access-Control-Allow-Origin": clinic_sites.clinic.rstrip("/"),
                "Retry-After": "30",
            },
            body='{"error": "too many requests"}',
        ),
    )
    p.goto(clinic_sites.clinic)
    launcher(p).click()
    p.locator(f"{W} textarea").fill("Can iron help?")
    p.locator(f"{W} textarea").press("Enter")
    error = p.locator(f"{W} .log > .err")
    error.wait_for()
    assert "wait a minute" in error.inner_text()
    # The question is kept in the conversation and the box is free for the next try.
    assert p.locator(f"{W} form button").is_enabled()


@pytest.mark.parametrize("size", [(1280, 800), (320, 568)], ids=["desktop", "phone"])
def test_axe_finds_no_violation_in_any_state(clinic_sites, browser, size):
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    try:
        p = context.new_page()
        p.goto(clinic_sites.clinic)
        launcher(p).wait_for()
        found = {"closed": run_axe(p)}
        launcher(p).click()
        found["open, banner"] = run_axe(p)
        answer = ask(p, "What treatments are there for restless legs?")
        answer.locator(".chip").first.click()
        p.locator(f"{W} .foot").get_by_role("button", name="More").click()
        settle(p)
        found["answer, quotes open, disclaimer open"] = run_axe(p)
        ask(p, "I have crushing chest pain")
        found["emergency card"] = run_axe(p)
        problems = {k: axe_problems(v) for k, v in found.items() if v}
        assert problems == {}
        if SHOTS:
            p.screenshot(path=str(SHOTS / f"widget-{size[0]}.png"))
    finally:
        context.close()


def test_docs_page_loads_nothing_from_other_hosts(clinic_sites, page):
    p = page.page
    p.goto(clinic_sites.app + "/docs")
    p.get_by_text("/api/ask").first.wait_for(timeout=30_000)
    assert page.foreign_hosts("127.0.0.1") == set()
