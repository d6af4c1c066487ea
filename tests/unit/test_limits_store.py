"""CHATBOT_LIMITS_URL and the limits store (web/limits.py) without a Redis: which URLs are
accepted, what a malformed one says, and what happens while the store cannot be reached (the
counts fall back to this process, Redis is tried again only every so often, one log line per
outage). The store shared over a real Redis: tests/integration/test_shared_limits.py."""

from __future__ import annotations

import logging

import pytest
from helpers import free_port

from chatbot.config import ConfigError, load_settings, redact_url
from chatbot.web.auth import LoginLimiter
from chatbot.web.limits import LimitsConfigError, LimitsStore, RateLimiter, make_storage


@pytest.mark.parametrize(
    "url",
    [
        "memory://",
        "redis://127.0.0.1:6379/0",
        "redis://redis.internal",
        "rediss://:secret@cache.example:6380/2",
        "redis+unix:///run/redis/redis.sock",
    ],
)
def test_the_limits_store_url_accepts_memory_and_redis(url: str):
    assert load_settings(limits_url=url).web.limits_url == url


def test_by_default_and_when_empty_the_limits_are_in_memory(monkeypatch: pytest.MonkeyPatch):
    assert load_settings().web.limits_url == "memory://"
    monkeypatch.setenv("CHATBOT_LIMITS_URL", "  ")
    assert load_settings().web.limits_url == "memory://"


def test_chatbot_redis_url_names_the_same_setting(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("CHATBOT_LIMITS_URL", raising=False)
    monkeypatch.setenv("CHATBOT_REDIS_URL", "redis://127.0.0.1:6390/0")
    assert load_settings().web.limits_url == "redis://127.0.0.1:6390/0"
    monkeypatch.setenv("CHATBOT_LIMITS_URL", "memory://")  # the project's own name wins
    assert load_settings().web.limits_url == "memory://"


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("mysql://db/limits", "is not a limits store: give memory:// or redis://"),
        ("127.0.0.1:6379", "is not a limits store"),
        ("redis://127.0.0.1:63a9/0", "the port is not a number"),
        ("redis://127.0.0.1:6379/zero", "the database after the '/' must be a number"),
        ("redis://", "names no host"),
        ("redis+unix://", "names no socket"),
        ("memory://somewhere", "memory:// takes nothing after it"),
    ],
)
def test_a_malformed_limits_url_is_one_clear_line(monkeypatch, url: str, words: str):
    monkeypatch.setenv("CHATBOT_LIMITS_URL", url)
    with pytest.raises(ConfigError) as err:
        load_settings()
    text = str(err.value)
    assert text.startswith("bad setting: CHATBOT_LIMITS_URL") and words in text
    assert "\n" not in text and "Traceback" not in text


def test_a_password_in_the_limits_url_is_never_shown(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CHATBOT_LIMITS_URL", "redis://:hunter2hunter2@cache:port/0")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "hunter2" not in str(err.value) and "redis://:***@cache:port/0" in str(err.value)
    assert redact_url("redis://user:pw@h:1/0") == "redis://user:***@h:1/0"
    assert redact_url("redis://h:1/0") == "redis://h:1/0"
    with pytest.raises(LimitsConfigError, match=r"CHATBOT_LIMITS_URL.*\*\*\*") as direct:
        make_storage("redis://:hunter2hunter2@cache:port/0")
    assert "hunter2" not in str(direct.value)


def _nowhere() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there


def test_an_unreachable_redis_is_said_once_at_start_and_counts_fall_back(caplog):
    caplog.set_level(logging.WARNING, "chatbot.limits")
    store = LimitsStore(_nowhere())
    assert store.shared and store.failing  # the start-up check found it down
    limiter = RateLimiter(3, store)
    assert [limiter.check("198.51.100.1") == 0 for _ in range(3)] == [True] * 3
    assert 0 < limiter.check("198.51.100.1") <= 60  # this process's own count still holds
    assert limiter.check("198.51.100.2") == 0
    health = store.health()
    assert health["limits"] == "failing" and health["limits_store"] == "redis"
    assert health["limits_failures"] >= 6 and "Connection" in str(health["limits_error"])
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1  # one line for the outage, not one per request
    assert "cannot be reached" in errors[0].getMessage()
    assert "patients are answered" in errors[0].getMessage()


def test_a_failing_store_is_tried_again_only_every_few_seconds(caplog):
    caplog.set_level(logging.WARNING, "chatbot.limits")
    now = [100.0]
    store = LimitsStore(_nowhere(), retry_every=5.0, clock=lambda: now[0])
    calls = []

    def shared() -> str:
        calls.append(now[0])
        if len(calls) < 3:
            raise ConnectionError("Redis is down")
        return "shared"

    assert store.failing  # the start-up check, at 100.0, found it down
    assert store.run(shared, lambda: "local") == "local"  # not tried again yet
    now[0] += 4.9
    assert store.run(shared, lambda: "local") == "local"
    assert calls == []
    now[0] += 0.2
    assert store.run(shared, lambda: "local") == "local"  # tried again: still down
    assert store.run(shared, lambda: "local") == "local"
    assert calls == pytest.approx([105.1])
    now[0] += 5.0
    assert store.run(shared, lambda: "local") == "local"  # down once more
    now[0] += 5.0
    assert store.run(shared, lambda: "local") == "shared"  # back
    assert calls == pytest.approx([105.1, 110.1, 115.1])
    assert not store.failing and store.health()["limits"] == "ok"
    assert "limits_error" not in store.health()
    messages = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in messages] == ["ERROR", "WARNING"]
    assert "is back after" in messages[1][1]


def test_the_sign_in_brake_neither_opens_nor_locks_out_while_redis_is_down():
    store = LimitsStore(_nowhere())
    brake = LoginLimiter(store=store)
    for _ in range(5):
        assert brake.blocked_for("staff", "10.0.0.1") == 0
        brake.failed("staff", "10.0.0.1")
    assert brake.blocked_for("staff", "10.0.0.1") > 0  # the guesser is stopped here...
    assert brake.blocked_for("staff", "10.0.0.2") == 0  # ...and staff elsewhere are not
    assert brake.blocked_for("alice", "10.0.0.1") == 0


def test_with_memory_there_is_no_fallback_and_nothing_fails():
    store = LimitsStore("memory://")
    limiter = RateLimiter(2, store)
    assert limiter.storage is store.storage  # one count: this process's
    assert limiter.check("a") == 0 and limiter.check("a") == 0 and limiter.check("a") > 0
    assert store.health() == {"limits": "ok", "limits_store": "memory", "limits_failures": 0}


def test_the_memory_store_sweeps_now_and_then_not_on_every_request(monkeypatch):
    import threading
    import time

    import limits.storage.memory as memory_module

    from chatbot.web.limits import QuietMemoryStorage

    # The library calls this hook (its private name) before every count; the override must
    # still be the one it calls, or each request starts a thread again.
    assert hasattr(memory_module.MemoryStorage, "_MemoryStorage__schedule_expiry")
    started: list[object] = []

    class CountingTimer(threading.Timer):
        def start(self) -> None:
            started.append(self)
            super().start()

    monkeypatch.setattr(threading, "Timer", CountingTimer)
    limiter = RateLimiter(1000)
    assert isinstance(limiter.storage, QuietMemoryStorage)
    for _ in range(200):
        assert limiter.check("192.0.2.1") == 0.0
        time.sleep(0.0002)  # the library's own 10 ms timer has long run out by the end
    assert len(started) <= 1
    # The allowance is the library's own: the 1001st request in the minute waits.
    limiter = RateLimiter(3)
    assert [limiter.check("192.0.2.2") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.check("192.0.2.2") > 0
    # A sweep still comes once SWEEP_EVERY_S has passed: entries past their window are freed.
    storage = QuietMemoryStorage()
    storage.SWEEP_EVERY_S = 0.0
    assert storage.acquire_entry("k", 10, 0)  # expires at once
    deadline = time.monotonic() + 5
    while storage.events.get("k") and time.monotonic() < deadline:
        time.sleep(0.02)
        storage.acquire_entry("other", 10, 60)
    assert not storage.events.get("k")
