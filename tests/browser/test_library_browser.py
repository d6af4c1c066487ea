"""The library and the staff who run it, in a real browser against a served app: two accounts,
articles from an HTML page and a PDF quoted in the chat after the background re-index (with
patients asking all the while), a binary file refused, a reviewer kept from the articles, the
audit log, an approved answer composed in the browser, the content gaps."""

from __future__ import annotations

import json
import os
import shutil
import threading
import urllib.request
from pathlib import Path

import pytest
from helpers import (
    CORPUS,
    HTML_FURNITURE,
    HTML_QUOTE,
    LIBRARY_HTML,
    PDF_QUOTE,
    STAFF_PASSWORD,
    LiveServer,
    live_server_env,
    make_pdf,
    post_json,
    tree_state,
)

pytestmark = pytest.mark.browser
# The README's staff screenshots (docs/screenshots/) are refreshed only when asked
# (`make screenshots`, i.e. UPDATE_SCREENSHOTS=1); otherwise a run writes them to a temp folder
# and leaves the git tree clean.
DOCS_SHOTS = Path(__file__).resolve().parent.parent.parent / "docs" / "screenshots"
ALICE, BOB = ("alice", "alice's own password 1"), ("bob", "bob's own password 22")


@pytest.fixture(scope="module")
def site(real_index_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """A served app over its own copy of the corpus and the index (this test changes both)."""
    root = tmp_path_factory.mktemp("library")
    shutil.copytree(CORPUS, root / "corpus")
    shutil.copytree(real_index_dir, root / "index")
    env = live_server_env(root / "index", root / "data", CHATBOT_CORPUS_DIR=str(root / "corpus"))
    server = LiveServer(env).wait()
    server.root = root  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("files")
    (folder / "sleep.html").write_text(LIBRARY_HTML, "utf-8")
    (folder / "noise.bin").write_bytes(bytes(range(256)) * 64)
    return {
        "html": folder / "sleep.html",
        "pdf": make_pdf(folder / "cramps.pdf"),
        "bin": folder / "noise.bin",
    }


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where this module's screenshots go: docs/screenshots/ with UPDATE_SCREENSHOTS=1, else a
    temp folder (they are still taken: a page that cannot be drawn fails the test)."""
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        return DOCS_SHOTS
    return tmp_path_factory.mktemp("screenshots")


def shot(p, folder: Path, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    p.screenshot(path=str(folder / name), full_page=True)


def sign_in(browser, site, user: str, password: str):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    p = context.new_page()
    p.goto(site.url + "/staff")
    p.fill("input[name=username]", user)
    p.fill("input[name=password]", password)
    p.click("button:has-text('Sign in')")
    p.wait_for_selector("text=Signed in as " + user)
    return context, p


def wait_for_index(p, site, timeout: float = 240) -> None:
    """Until the articles page says the re-index finished. While it runs the page reloads itself
    (a 2 s meta refresh), so the test waits for the text across those reloads instead of
    navigating itself (a navigation of its own could collide with one and be aborted)."""
    if not p.url.endswith("/staff/articles"):
        p.goto(site.url + "/staff/articles")
    done = "#reindex:has-text('answers from the new index'), #reindex:has-text('re-index failed')"
    p.wait_for_selector(done, timeout=timeout * 1000)
    text = p.locator("#reindex").inner_text()
    if "re-index failed" in text:
        raise AssertionError(text)


def test_accounts_are_made_in_the_staff_area(browser, site, shots):
    context, p = sign_in(browser, site, "staff", STAFF_PASSWORD)  # the bootstrap admin
    p.goto(site.url + "/staff/users")
    for name, password in (ALICE, BOB):
        p.fill("form[action='/staff/users'] input[name=name]", name)
        p.select_option(
            "form[action='/staff/users'] select[name=role]",
            "editor" if name == "alice" else "reviewer",
        )
        p.fill("form[action='/staff/users'] input[name=password]", password)
        p.click("button:has-text('Add the account')")
        p.wait_for_selector(f"td:text-is('{name}')")
    shot(p, shots, "staff-accounts.png")
    context.close()


def test_an_html_page_and_a_pdf_become_articles_quoted_in_the_chat(browser, site, files, shots):
    context, p = sign_in(browser, site, *ALICE)
    statuses: list[int] = []
    stop = threading.Event()

    def patients() -> None:  # a patient asking all the time, while the index is rebuilt
        while not stop.is_set():
            status, _ = post_json(site.url + "/api/ask", {"question": "Can iron help?"}, 60)
            statuses.append(status)

    asking = threading.Thread(target=patients)
    asking.start()
    try:
        for key, furniture in (("html", HTML_FURNITURE), ("pdf", ("Page 1 of 2",))):
            p.goto(site.url + "/staff/articles")
            p.set_input_files("input[name=file]", str(files[key]))
            p.click("button:has-text('Read it and preview')")
            p.wait_for_selector("text=How it will be split and quoted")
            preview = p.locator("main").inner_text()
            assert not any(f in preview for f in furniture), key
            assert (HTML_QUOTE if key == "html" else PDF_QUOTE) in preview
            if key == "html":
                shot(p, shots, "staff-article-preview.png")
                p.fill("input[name=reviewed_by]", "Dr Ann Lee")
            p.click("button:has-text('Publish this article')")
            p.wait_for_selector("text=Published.")
            p.goto(site.url + "/staff/articles")
            if key == "html":
                shot(p, shots, "staff-articles-reindexing.png")
            wait_for_index(p, site)
    finally:
        stop.set()
        asking.join()
    assert statuses and set(statuses) == {200}, statuses  # no failed request during the swaps
    shot(p, shots, "staff-articles.png")
    context.close()

    chat = browser.new_context(viewport={"width": 1000, "height": 900}).new_page()
    for question, quote in (
        ("Does a warm bath before bed help restless legs?", HTML_QUOTE),
        ("How is a leg cramp different from restless legs?", PDF_QUOTE),
    ):
        chat.goto(site.url + "/")
        chat.get_by_label("Your question about restless legs").fill(question)
        chat.keyboard.press("Enter")
        chat.get_by_text("Sources").first.wait_for(timeout=60_000)
        assert quote in chat.locator(".answer-text").last.inner_text(), question
    shot(chat, shots, "chat-new-article.png")
    chat.context.close()


def test_a_binary_file_is_refused_and_nothing_changes(browser, site, files, shots):
    corpus = site.root / "corpus"
    before = tree_state(corpus)
    context, p = sign_in(browser, site, *ALICE)
    p.goto(site.url + "/staff/articles")
    p.set_input_files("input[name=file]", str(files["bin"]))
    p.click("button:has-text('Read it and preview')")
    alert = p.get_by_role("alert").inner_text()
    assert "not supported" in alert and "Nothing was changed" in alert
    shot(p, shots, "staff-article-refused.png")
    assert tree_state(corpus) == before
    context.close()


def test_a_reviewer_cannot_edit_articles_and_the_audit_log_shows_who_did_what(browser, site, shots):
    corpus = site.root / "corpus"
    before = tree_state(corpus)
    context, p = sign_in(browser, site, *BOB)
    p.goto(site.url + "/staff/articles")
    assert p.locator("input[name=file]").count() == 0
    p.goto(site.url + "/staff/articles/cause-of-rls")
    assert p.locator("textarea[name=body]").count() == 0
    # Even a hand-made request with his valid token is refused.
    token = p.locator("input[name=csrf]").first.get_attribute("value")
    r = context.request.post(
        site.url + "/staff/articles/cause-of-rls/retire",
        form={"csrf": token},
        headers={"Origin": site.url},
    )
    assert r.status == 403 and "needs the editor role" in r.text()
    assert tree_state(corpus) == before
    # Bob's verdict and Alice's articles show apart.
    status, answer = post_json(site.url + "/api/ask", {"question": "Is RLS genetic?"})
    p.goto(f"{site.url}/staff/answer/{answer['id']}")
    p.check("#verdict input[value=correct]")
    p.click("#verdict button:has-text('Save verdict')")
    p.get_by_role("status").wait_for()
    assert "bob" in p.locator("#audit").inner_text()
    assert "still stands" in p.locator("main").inner_text()
    shot(p, shots, "staff-answer-detail.png")
    p.goto(site.url + "/staff/audit")
    rows = p.locator("table.audit tbody tr").all_inner_texts()
    assert any("bob" in r and "verdict" in r for r in rows)
    assert any("alice" in r and "article added" in r for r in rows)
    assert any("alice" in r and "reindex done" in r for r in rows)
    shot(p, shots, "staff-audit.png")
    with urllib.request.urlopen(site.url + "/healthz") as h:
        assert json.loads(h.read())["articles"] == 7
    context.close()


def test_an_approved_answer_is_composed_and_given_to_paraphrases_only(browser, site, shots):
    context, p = sign_in(browser, site, *BOB)
    p.goto(site.url + "/staff/approved/new?q=genetic")
    p.fill(
        "textarea[name=examples]", "Is restless legs syndrome genetic?\nDoes RLS run in families?"
    )
    first = p.locator("p.s", has_text="Research suggests that genetics may contribute")
    first.locator("input[type=checkbox]").check()
    first.locator("input[type=number]").fill("1")
    second = p.locator("p.s", has_text="specific genetic variants")
    second.locator("input[type=checkbox]").check()
    second.locator("input[type=number]").fill("2")
    shot(p, shots, "staff-approved-compose.png")
    p.click("button:has-text('Save the approved answer')")
    p.wait_for_selector("text=Approved answer saved")
    for question in ("is rls hereditary", "can i inherit restless legs from my mum"):
        _, got = post_json(site.url + "/api/ask", {"question": question})
        assert got["reviewed"] is True and got["approved"], question
    _, other = post_json(site.url + "/api/ask", {"question": "is restless legs contagious?"})
    assert not other.get("approved")
    chat = browser.new_context(viewport={"width": 1000, "height": 800}).new_page()
    chat.goto(site.url + "/")
    chat.get_by_label("Your question about restless legs").fill("does rls run in the family?")
    chat.keyboard.press("Enter")
    chat.get_by_text("Reviewed by clinic staff").first.wait_for(timeout=60_000)
    shot(chat, shots, "chat-approved-answer.png")
    chat.context.close()
    p.goto(site.url + "/staff/approved")
    assert "in use" in p.locator("main").inner_text()
    shot(p, shots, "staff-approved.png")
    context.close()


def test_the_content_gap_view_lists_clustered_no_answer_questions(browser, site, shots):
    for q in (
        "How do I renew my passport?",
        "how can I renew my passport",
        "passport renewal steps please",
        "what time does the post office open?",
    ):
        _, got = post_json(site.url + "/api/ask", {"question": q})
        assert got["status"] == "no_answer", q
    context, p = sign_in(browser, site, *BOB)
    p.goto(site.url + "/staff/gaps")
    cards = p.locator(".gap").all_inner_texts()
    passport = next(c for c in cards if "passport" in c)
    assert "3 times" in passport and "Asked in 3 wordings" in passport
    assert any("post office" in c and "1 time" in c for c in cards)
    shot(p, shots, "staff-gaps.png")
    p.goto(site.url + "/staff")
    shot(p, shots, "staff-answers.png")
    context.close()
