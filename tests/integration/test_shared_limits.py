"""CHATBOT_LIMITS_URL on a real Redis (tests/services.py): two apps (as two workers or two
machines) share one patient's allowance and one staff sign-in brake; with memory:// each counts
alone, as before; with Redis stopped or never there, patients (and emergencies above all) are
still answered, /healthz says the limits are failing, and the brake neither opens nor locks
staff out. Each app here is built apart (``api_client``, ``staff_client``): its own middleware,
rate limiter and limits store, as in another process."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
import redis
import services
from helpers import (
    ROOT,
    TinyWorld,
    api_client,
    check_invariants,
    free_port,
    live_server_env,
    staff_client,
    staff_login,
)
from services import RedisServer

from chatbot.web import limits as limits_module

CLINIC = "https://www.clinic.example"
QUESTION = "Why are my legs worse at night?"
EMERGENCY = "I have crushing chest pain and can't breathe"
WRONG = "not the right password"


@pytest.fixture
def shared(redis_url: str) -> str:
    """The session's Redis, emptied: no count left from another test."""
    client = redis.Redis.from_url(redis_url)
    try:
        client.flushdb()
    finally:
        client.close()
    return redis_url


def ask(client, question: str = QUESTION, **headers: str):
    return client.post("/api/ask", json={"question": question}, headers=headers)


def two_apps(real_bot, url: str, per_minute: int = 3):
    return (
        api_client(
            real_bot, rate_limit_per_minute=per_minute, limits_url=url, allowed_origins=[CLINIC]
        )
        for _ in range(2)
    )


# -- one allowance over two apps -----------------------------------------------------------------


def test_two_apps_on_one_redis_share_a_patients_allowance(real_bot, shared: str):
    a, b = two_apps(real_bot, shared)
    with a, b:
        assert [ask(c).status_code for c in (a, b, a)] == [200, 200, 200]
        r = ask(b, Origin=CLINIC)  # the fourth question in the minute, on the other app
        assert r.status_code == 429
        assert "at most 3 a minute" in r.json()["error"]
        assert 1 <= int(r.headers["retry-after"]) <= 60
        # The same headers as every reply of ours, and an allowed site may read them.
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors" in r.headers["content-security-policy"]
        assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"
        assert r.headers["access-control-allow-origin"] == CLINIC
        assert "retry-after" in r.headers["access-control-expose-headers"].lower()
        assert ask(a).status_code == 429  # and the first app knows it too
        for c in (a, b):
            health = c.get("/healthz").json()
            assert health["limits"] == "ok" and health["limits_store"] == "redis"
            assert health["limits_failures"] == 0
    # Another patient has an allowance of their own.
    with api_client(
        real_bot, client=("198.51.100.9", 1), rate_limit_per_minute=3, limits_url=shared
    ) as other:
        assert ask(other).status_code == 200


def test_with_memory_each_app_counts_alone_as_before(real_bot):
    a, b = two_apps(real_bot, "memory://")
    with a, b:
        codes = [ask(c).status_code for c in (a, b, a, b, a, b)]
        assert codes == [200] * 6  # three each: two processes give twice the allowance
        assert ask(a).status_code == 429 and ask(b).status_code == 429
        health = a.get("/healthz").json()
        assert health["limits"] == "ok" and health["limits_store"] == "memory"


def test_the_staff_sign_in_brake_is_shared(tmp_path, shared: str, password_hash: str):
    world = TinyWorld(tmp_path)
    (a, _), (b, _) = (
        staff_client(world, staff_password_hash=password_hash, limits_url=shared) for _ in range(2)
    )
    assert [staff_login(c, "staff", WRONG).status_code for c in (a, b, a, b, a)] == [401] * 5
    for c in (a, b):  # five wrong tries over both: even the right password waits, on each
        r = staff_login(c)
        assert r.status_code == 429 and "Too many failed sign-ins" in r.text
    # With memory:// the same tries leave each app under its own five.
    (m, _), (n, _) = (
        staff_client(world, staff_password_hash=password_hash, limits_url="memory://")
        for _ in range(2)
    )
    assert [staff_login(c, "staff", WRONG).status_code for c in (m, n, m, n, m)] == [401] * 5
    assert staff_login(m).status_code == 303 and staff_login(n).status_code == 303


# -- Redis down ----------------------------------------------------------------------------------


def test_without_redis_patients_are_answered_and_healthz_says_so(real_bot, caplog):
    caplog.set_level(logging.WARNING, "chatbot.limits")
    nowhere = f"redis://127.0.0.1:{free_port()}/0"  # a bad port: nothing listens there
    with api_client(real_bot, rate_limit_per_minute=3, limits_url=nowhere) as c:
        r = ask(c, EMERGENCY)
        assert r.status_code == 200
        check_invariants(r.json())
        assert r.json()["status"] == "emergency"
        r = ask(c)
        assert r.status_code == 200 and r.json()["status"] == "answered"
        health = c.get("/healthz").json()
        assert health["status"] == "ok" and health["limits"] == "failing"
        assert health["limits_store"] == "redis" and health["limits_failures"] >= 2
        assert "Connection" in health["limits_error"]
        # Not unlimited either: this process still counts (memory://'s allowance).
        assert ask(c).status_code == 200 and ask(c).status_code == 429
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and nowhere in errors[0]


def test_redis_stopped_then_back(real_bot, monkeypatch, caplog):
    caplog.set_level(logging.WARNING, "chatbot.limits")
    monkeypatch.setattr(limits_module, "RETRY_EVERY_S", 0.0)  # try it again at every request
    with RedisServer() as server:
        a, b = two_apps(real_bot, server.url, per_minute=4)
        with a, b:
            assert ask(a).status_code == 200 and ask(b).status_code == 200
            server._kill()  # Redis stops; its port is free
            r = ask(a, EMERGENCY)
            assert r.status_code == 200 and r.json()["status"] == "emergency"
            assert ask(b).status_code == 200
            for c in (a, b):
                assert c.get("/healthz").json()["limits"] == "failing"
            # Back on the same port: the shared count starts again, and health says ok.
            port = server.port
            monkeypatch.setattr(services, "free_port", lambda: port)
            server.start()
            assert [ask(c).status_code for c in (a, b, a, b)] == [200, 200, 200, 200]
            assert ask(a).status_code == 429  # the fifth since Redis came back
            for c in (a, b):
                health = c.get("/healthz").json()
                assert health["limits"] == "ok" and health["limits_error"] is None
                assert health["limits_failures"] >= 1
    logged = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in logged].count("ERROR") == 2  # once per app for the outage
    assert sum("is back after" in text for _, text in logged) == 2


def test_while_redis_is_down_the_brake_neither_opens_nor_locks_staff_out(
    tmp_path, monkeypatch, password_hash: str
):
    monkeypatch.setattr(limits_module, "RETRY_EVERY_S", 0.0)
    world = TinyWorld(tmp_path)
    with RedisServer() as server:
        (a, _), (b, _) = (
            staff_client(world, staff_password_hash=password_hash, limits_url=server.url)
            for _ in range(2)
        )
        assert [staff_login(a, "staff", WRONG).status_code for _ in range(5)] == [401] * 5
        assert staff_login(b).status_code == 429  # shared while Redis is up
        server._kill()
        # The app that saw the guesser keeps stopping it (its own brake was kept in step)...
        assert staff_login(a).status_code == 429
        # ...the other, which saw none of it, lets staff in...
        assert staff_login(b).status_code == 303
        # ...and stops a guesser of its own after five tries, as a memory:// app would.
        b.cookies.clear()  # signed out: a browser of the guesser's
        assert [staff_login(b, "alice", WRONG).status_code for _ in range(5)] == [401] * 5
        assert staff_login(b, "alice", WRONG).status_code == 429


def test_serve_with_a_malformed_limits_url_stops_at_once_saying_why(tmp_path):
    env = live_server_env(
        tmp_path / "index", tmp_path / "data", CHATBOT_LIMITS_URL="redis://:pw@cache:63O9/0"
    )
    done = subprocess.run(
        [sys.executable, "-m", "chatbot", "serve", "--port", str(free_port())],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "error: bad setting: CHATBOT_LIMITS_URL: Value error, 'redis://:***@cache:63O9/0': "
        "the port is not a number (e.g. memory:// or redis://HOST:6379/0)"
    ]
