"""The staff page in process: login, sessions, CSRF, escaping, review forms, export, figures."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers import STAFF_PASSWORD, TinyWorld, csrf_of
from helpers import staff_client as make_client
from helpers import staff_login as login
from markupsafe import escape

from chatbot.review import passwords
from chatbot.web import auth
from chatbot.web.routers import staff

EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)> are my legs worse at night?'


@pytest.fixture
def world(tmp_path: Path, store_location: Path | str, request) -> TinyWorld:
    """The tiny world twice: its store on SQLite with the limits in memory, then its store on
    PostgreSQL with the sign-in brake in Redis (emptied first), as on several machines."""
    world = TinyWorld(tmp_path, store_location)
    if isinstance(store_location, str):
        import redis

        url = request.getfixturevalue("redis_url")
        redis.Redis.from_url(url).flushdb()
        world.settings = world.settings.replace(limits_url=url)
    return world


@pytest.fixture
def site(world: TinyWorld, password_hash: str):
    client, bot = make_client(world, staff_password_hash=password_hash)
    return client, bot


# -- passwords and the switch ----------------------------------------------------------------


def test_hash_password_round_trip_and_salt(password_hash: str):
    assert password_hash.startswith("scrypt$")
    assert passwords.verify_password(STAFF_PASSWORD, password_hash)
    assert not passwords.verify_password(STAFF_PASSWORD + "!", password_hash)
    assert passwords.hash_password(STAFF_PASSWORD) != password_hash  # a fresh salt each time
    with pytest.raises(passwords.PasswordHashError, match="at least"):
        passwords.hash_password("short")
    for bad in ("plaintext", "scrypt$1$8$1$AAAA$BBBB", "scrypt$16384$8$1$!!$??"):
        with pytest.raises(passwords.PasswordHashError, match="hash-password"):
            passwords.parse_hash(bad)


def test_without_a_password_hash_the_page_is_off_and_says_why(world: TinyWorld):
    client, _ = make_client(world)  # the default: no hash
    r = client.get("/staff")
    assert r.status_code == 503
    assert "switched off" in r.text and "no staff password is configured" in r.text
    assert "hash-password" in r.text
    assert "<form" not in r.text  # nothing to log in to: there is no default password
    r = client.post("/staff/login", data={"username": "staff", "password": ""})
    assert r.status_code == 503


def test_a_malformed_hash_keeps_the_page_off(world: TinyWorld):
    client, _ = make_client(world, staff_password_hash="hunter2")
    r = client.get("/staff")
    assert r.status_code == 503 and "not a hash made by" in r.text


# -- login ---------------------------------------------------------------------------------


def test_wrong_password_or_user_is_refused(site):
    client, _ = site
    for user, pw in (("staff", "wrong password!!"), ("admin", STAFF_PASSWORD), ("staff", "")):
        r = login(client, user, pw)
        assert r.status_code == 401 and "Wrong user name or password" in r.text
        assert staff.SESSION_COOKIE not in r.cookies
    assert "Sign in" in client.get("/staff").text  # still signed out
    assert client.get("/staff/export.csv", follow_redirects=False).status_code == 303


def test_login_sets_a_secure_httponly_strict_session(site):
    client, _ = site
    r = login(client)
    assert r.status_code == 303 and r.headers["location"] == "/staff"
    cookie = next(
        h for h in r.headers.get_list("set-cookie") if h.startswith(staff.SESSION_COOKIE + "=")
    )
    low = cookie.lower()
    assert "secure" in low and "httponly" in low and "samesite=strict" in low
    page = client.get("/staff")
    assert page.status_code == 200 and "Signed in as staff" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert "script-src" not in page.headers["content-security-policy"]  # no script at all
    assert page.headers["cache-control"] == "no-store"


def test_login_without_the_form_token_is_refused(site):
    client, _ = site
    client.get("/staff")
    r = client.post("/staff/login", data={"username": "staff", "password": STAFF_PASSWORD})
    assert r.status_code == 400 and staff.SESSION_COOKIE not in r.cookies


def test_forged_or_tampered_session_cookie_is_ignored(site, world: TinyWorld):
    client, _ = site
    login(client)
    good = client.cookies.get(staff.SESSION_COOKIE)
    payload, sig = good.rsplit(".", 1)
    forged = auth._b64(b'{"u":"staff","exp":9999999999,"n":"x"}') + "." + sig
    for value in (forged, payload + ".AAAA", "garbage"):
        client.cookies.clear()
        client.cookies.set(staff.SESSION_COOKIE, value, domain="testserver", path="/staff")
        assert "Sign in" in client.get("/staff").text


def test_sessions_expire_and_die_with_a_password_change(world: TinyWorld, password_hash: str):
    auth = staff.StaffAuth(world.settings.replace(**{"staff_password_hash": password_hash}))
    cookie = auth.issue("staff", now=1000.0)
    assert auth.session(cookie, now=1001.0)["u"] == "staff"
    assert auth.session(cookie, now=1000.0 + staff.SESSION_HOURS * 3600 + 1) is None
    other = staff.StaffAuth(
        world.settings.replace(**{"staff_password_hash": passwords.hash_password("x" * 20)})
    )
    assert other.session(cookie, now=1001.0) is None


def test_repeated_failures_are_throttled(site):
    client, _ = site
    for _ in range(5):
        assert login(client, "staff", "nope nope nope").status_code == 401
    r = login(client)  # even the right password waits now
    assert r.status_code == 429 and "Too many failed sign-ins" in r.text


# -- reviewing -----------------------------------------------------------------------------


def test_html_in_a_question_is_shown_inert(site):
    client, bot = site
    answer = bot.ask(EVIL)
    login(client)
    listing = client.get("/staff").text
    detail = client.get(f"/staff/answer/{answer.id}").text
    for page in (listing, detail):
        assert "<script>alert" not in page and "<img src=x" not in page
        # Jinja2's autoescape (markupsafe) writes " as &#34;
        assert str(escape('<script>alert("x")</script>')) in page
    assert "<script" not in detail.lower()


def test_the_answer_page_shows_the_caution_a_quote_was_given_with(world, password_hash):
    (world.corpus / "README.md").write_text(
        '## Dubious claims\n\n- "often worse at night" — <i>not</i> for everyone.\n',
        encoding="utf-8",
    )
    client, bot = make_client(world, staff_password_hash=password_hash)
    answer = bot.ask("Are symptoms worse at night?")
    caution = next(c.caution for c in answer.citations if c.caution)
    login(client)
    page = client.get(f"/staff/answer/{answer.id}").text
    assert f"Shown beside it: {escape(caution)}" in page and "<i>not</i>" not in page


def test_review_workflow_verdicts_context_and_exclusion(site):
    client, bot = site
    answer = bot.ask("Why is iron deficiency linked to restless legs?")
    assert answer.citations
    login(client)
    r = client.get(f"/staff/answer/{answer.id}")
    assert r.status_code == 200
    token = csrf_of(r.text)
    first = answer.citations[0]
    # The quote is shown highlighted inside its paragraph of the article.
    assert f"<mark>{first.quote}</mark>" in r.text
    shown_context = 0
    for c in answer.citations:
        before, quote, after = staff.context_of(bot.index.articles[c.article].body, c.start, c.end)
        assert f"{escape(before)}<mark>{escape(quote)}</mark>{escape(after)}" in r.text
        shown_context += len((before + after).strip())
    assert shown_context, "the paragraph around the quotes is shown"

    # Without the CSRF token, or from another site, nothing is saved.
    assert (
        client.post(f"/staff/answer/{answer.id}/verdict", data={"verdict": "correct"}).status_code
        == 403
    )
    r = client.post(
        f"/staff/answer/{answer.id}/verdict",
        data={"verdict": "correct", "csrf": token},
        headers={"Origin": "https://evil.example"},
    )
    assert r.status_code == 403
    assert bot.store.get_answer(answer.id)["verdict"] is None
    # Behind a proxy that rewrites Host, the public host comes in X-Forwarded-Host.
    r = client.post(
        f"/staff/answer/{answer.id}/verdict",
        data={"verdict": "correct", "csrf": token},
        headers={"Origin": "https://clinic.example", "X-Forwarded-Host": "clinic.example"},
        follow_redirects=False,
    )
    assert r.status_code == 303

    r = client.post(
        f"/staff/answer/{answer.id}/verdict",
        data={"verdict": "wrong", "note": "overstates it", "csrf": token},
        follow_redirects=False,
    )
    assert r.status_code == 303
    r = client.post(
        f"/staff/answer/{answer.id}/citation/{first.id}",
        data={
            "verdict": "does_not_support",
            "note": "not what the article means",
            "exclude": "1",
            "csrf": token,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    saved = bot.store.get_answer(answer.id)
    assert saved["verdict"]["verdict"] == "wrong" and saved["verdict"]["reviewer"] == "staff"
    assert saved["citation_verdicts"][first.id]["verdict"] == "does_not_support"
    page = client.get(f"/staff/answer/{answer.id}").text
    assert "This passage is excluded" in page
    # ... and the bot no longer quotes it.
    assert first.quote not in [
        c.quote for c in bot.ask("Why is iron deficiency linked to restless legs?").citations
    ]
    excl = client.get("/staff/exclusions").text
    assert first.quote in excl and "not what the article means" in excl

    # Bad values are refused with a message, unknown ids are 404.
    assert (
        client.post(
            f"/staff/answer/{answer.id}/verdict", data={"verdict": "maybe", "csrf": token}
        ).status_code
        == 400
    )
    assert (
        client.post(
            "/staff/answer/nope/verdict", data={"verdict": "correct", "csrf": token}
        ).status_code
        == 404
    )
    assert (
        client.post(
            f"/staff/answer/{answer.id}/citation/99", data={"verdict": "supports", "csrf": token}
        ).status_code
        == 404
    )
    assert client.get("/staff/answer/nope").status_code == 404

    # Lifting the exclusion from the page.
    ex_id = bot.store.exclusions()[0]["id"]
    r = client.post(
        f"/staff/exclusions/{ex_id}/restore", data={"csrf": token}, follow_redirects=False
    )
    assert r.status_code == 303 and bot.store.exclusions() == []


def test_list_filters(site):
    client, bot = site
    good = bot.ask("Are symptoms worse at night?")
    none = bot.ask("Australia: I have chest pain and can't breathe")
    bot.store.record_feedback(good.id, "down", "too short")
    login(client)
    assert good.id in client.get("/staff?feedback=down").text
    assert none.id not in client.get("/staff?feedback=down").text
    assert none.id in client.get("/staff?q=australia").text
    assert good.id not in client.get("/staff?q=australia").text
    assert none.status == "emergency"
    assert good.id not in client.get("/staff?status=emergency").text
    assert none.id in client.get("/staff?status=emergency").text
    assert good.id in client.get("/staff?channel=api").text
    assert good.id not in client.get("/staff?channel=widget").text
    r = client.get("/staff?since=not-a-date")
    assert r.status_code == 200 and "must be a date" in r.text


def test_export_download_and_figures(site):
    client, bot = site
    a = bot.ask("Are symptoms worse at night?")
    bot.ask("Xylophone quantum zebra Australia?")
    bot.store.set_verdict(a.id, "correct", "=fine", "staff")
    login(client)
    r = client.get("/staff/export.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [row["id"] for row in rows] == [a.id]
    assert rows[0]["verdict_note"] == "'=fine"
    all_rows = list(
        csv.DictReader(
            io.StringIO(client.get("/staff/export.csv?all=1").content.decode("utf-8-sig"))
        )
    )
    assert len(all_rows) == 2
    stats = client.get("/staff/stats?days=7")
    assert stats.status_code == 200
    assert "<svg" in stats.text and "Answers a day" in stats.text
    assert "No answer in the articles" in stats.text and "Iron and legs" in stats.text


def test_a_sign_out_holds_in_another_process_and_after_a_restart(world, password_hash):
    from chatbot.review.store import Store

    cfg = world.settings.replace(**{"staff_password_hash": password_hash})
    a, b = Store(world.store_path), Store(world.store_path)  # two server processes' stores
    first = staff.StaffAuth(cfg, store=lambda: a)
    second = staff.StaffAuth(cfg, store=lambda: b)
    keep = first.issue("staff")
    gone = first.issue("staff")
    first.sign_out(first.session(gone))
    assert second.session(gone) is None
    restarted = staff.StaffAuth(cfg, store=lambda: Store(world.store_path))
    assert restarted.session(gone) is None
    assert second.session(keep)["u"] == "staff"  # other sessions go on
    # Sessions are rows of the review store, not a JSON file rewritten without a lock.
    assert not (Path(cfg.paths.data_dir) / "staff_signed_out.json").exists()


SIGN_OUT_SCRIPT = """
import sys, threading
from chatbot.review.store import Store
store = Store(sys.argv[1])
nonces = sys.argv[2].split(",")
def out(n):
    Store(sys.argv[1]).close_session(n)
threads = [threading.Thread(target=out, args=(n,)) for n in nonces]
[t.start() for t in threads]; [t.join() for t in threads]
"""


def test_two_processes_signing_out_at_once_lose_no_sign_out(world):
    import subprocess
    import sys

    from helpers import ROOT

    from chatbot.review.store import Store

    store = Store(world.store_path)
    nonces = [f"n{i}" for i in range(40)]
    for n in nonces:
        store.open_session(n, "staff", 9e9)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SIGN_OUT_SCRIPT, str(world.store_path), ",".join(half)],
            cwd=ROOT,
        )
        for half in (nonces[::2], nonces[1::2])
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    assert not any(store.session_open(n) for n in nonces)


def test_logout_ends_the_session(site):
    client, _ = site
    login(client)
    page = client.get("/staff").text
    cookie = client.cookies.get(staff.SESSION_COOKIE)
    r = client.post("/staff/logout", data={"csrf": csrf_of(page)}, follow_redirects=False)
    assert r.status_code == 303
    assert "Sign in" in client.get("/staff").text
    # A copy of the old cookie (a shared computer, a stolen cookie) no longer signs anyone in.
    client.cookies.set(staff.SESSION_COOKIE, cookie, path="/staff")
    assert "Sign in" in client.get("/staff").text


def test_context_of_and_chart_escape_and_trim():
    body = "First para.\n\nBefore text. The quote here. After text.\n\nLast para."
    start = body.index("The quote")
    end = start + len("The quote here.")
    before, quote, after = staff.context_of(body, start, end, at_least=0)
    assert (before, quote, after) == ("Before text. ", "The quote here.", " After text.")
    # A quote that fills its paragraph gets the neighbouring paragraphs as context.
    assert staff.context_of(body, start, end) == (
        "First para.\n\nBefore text. ",
        "The quote here.",
        " After text.\n\nLast para.",
    )
    long = "x" * 2000 + "\n\nQ\n\n" + "y" * 2000
    before, _, after = staff.context_of(long, 2002, 2003, width=100)
    # Cut to the width (at a word where there is one), the cut marked with an ellipsis.
    assert before == "… " + "x" * 98 + "\n\n" and after == "\n\n" + "y" * 98 + " …"
    svg = staff.bar_chart_svg(
        [{"day": "2025-01-01", "answered": 2, "no_answer": 1, "emergency": 0}]
    )
    assert svg.startswith("<svg") and svg.count("<rect") == 2


def test_without_a_store_the_page_says_so(world: TinyWorld, password_hash: str):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    bot = world.bot()
    cfg = world.settings.replace(**{"staff_password_hash": password_hash})
    app = FastAPI()
    staff.register(app, SimpleNamespace(bot=bot, settings=cfg, store=None))
    client = TestClient(app, base_url="https://testserver")
    login(client)
    r = client.get("/staff")
    assert r.status_code == 503 and "No review store" in r.text
    r = client.post("/staff/answer/x/verdict", data={"verdict": "correct", "csrf": "x"})
    assert r.status_code == 503
