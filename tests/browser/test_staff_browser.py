"""The staff page in a real browser against the served app: sign in, review, HTML stays inert."""

from __future__ import annotations

import json
import urllib.request
import uuid

import pytest
from helpers import STAFF_PASSWORD

pytestmark = pytest.mark.browser


def ask(server, question: str) -> dict:
    req = urllib.request.Request(
        server.url + "/api/ask",
        data=json.dumps({"question": question}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


def sign_in(p, server, password: str = STAFF_PASSWORD) -> None:
    p.goto(server.url + "/staff")
    p.fill("input[name=username]", "staff")
    p.fill("input[name=password]", password)
    p.click("button:has-text('Sign in')")


def test_wrong_password_is_refused_in_the_browser(live_server, page):
    p = page.page
    sign_in(p, live_server, "not the password at all")
    assert p.get_by_role("alert").inner_text() == "Wrong user name or password."
    assert p.locator("input[name=password]").count() == 1
    assert page.foreign_hosts("127.0.0.1") == set()


def test_script_in_a_question_is_shown_as_text_and_never_runs(live_server, page, tmp_path):
    marker = "m" + uuid.uuid4().hex[:7]  # never all digits: that would be redacted as a phone
    evil = (
        f"<script>window.__pwned='{marker}'</script><img src=x onerror=\"window.__pwned=1\">"
        f"<b>bold{marker}</b> why are my legs worse at night?"
    )
    answer = ask(live_server, evil)
    p = page.page
    dialogs: list[str] = []
    p.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    sign_in(p, live_server)
    assert "Signed in as staff" in p.content()

    # Find it with the text filter, open it.
    p.fill("input[name=q]", f"bold{marker}")
    p.click("button:has-text('Filter')")
    link = p.locator(f"a[href='/staff/answer/{answer['id']}']")
    assert link.count() == 1
    assert f"<b>bold{marker}</b>" in link.inner_text()  # the tags are visible text
    link.click()
    p.wait_for_url(f"**/staff/answer/{answer['id']}")
    shown = p.locator("#question").inner_text()
    assert f"<script>window.__pwned='{marker}'</script>" in shown
    assert "onerror" in shown
    # Nothing was turned into markup, nothing ran.
    assert p.locator("main script").count() == 0
    assert p.locator("main img").count() == 0
    assert p.locator("#question b").count() == 0
    assert p.evaluate("() => window.__pwned === undefined")
    assert dialogs == []
    p.screenshot(path=str(tmp_path / "staff-answer.png"), full_page=True)

    # The review itself: judge the answer, it shows as saved.
    p.check("#verdict input[name=verdict][value=wrong]")
    p.fill("#verdict textarea[name=note]", f"note {marker} <i>x</i>")
    p.click("#verdict button:has-text('Save verdict')")
    assert p.get_by_role("status").inner_text() == "Saved."
    assert f"note {marker} <i>x</i>" in p.locator("#verdict textarea").input_value()

    # An answer with quotes: each is shown highlighted inside its paragraph of the article.
    good = ask(live_server, f"Why are my legs worse at night? {marker}")
    assert good["citations"]
    p.goto(f"{live_server.url}/staff/answer/{good['id']}")
    first = good["citations"][0]
    card = p.locator(f"#citation-{first['id']}")
    assert card.locator(".context mark").inner_text() == first["quote"]
    assert len(card.locator(".context").inner_text()) > len(first["quote"])
    card.locator("input[value=supports]").check()
    card.locator("button:has-text('Save citation review')").click()
    assert p.get_by_role("status").inner_text() == "Saved."
    assert "supports" in p.locator(f"#citation-{first['id']}").inner_text()
    p.screenshot(path=str(tmp_path / "staff-citations.png"), full_page=True)

    # Figures render their chart from the same origin, nothing from elsewhere.
    p.goto(live_server.url + "/staff/stats")
    assert p.locator("svg rect").count() >= 1
    assert page.foreign_hosts("127.0.0.1") == set()
