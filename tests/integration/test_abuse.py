"""Faults and abuse, against real servers: each asserts that nothing is lost and the patient is
answered.

- the review store's disk fills up, or its folder turns read-only (a small tmpfs when the tests
  run as root, as in CI; an injected write error otherwise): emergencies and questions are still
  answered and ``/healthz`` reports the failing store;
- anonymous uploads to Gradio's upload routes (on ``/`` and ``/embed``) are refused before
  the body is read, and so is Gradio's server-side URL fetch;
- spoofed proxy headers: 60 requests from one client with rotating ``X-Forwarded-For`` are
  rate limited; behind a trusted proxy each patient has an allowance of their own;
- two server processes on one data folder: every answer from both is logged, with its rating.

Friends: damaged index bytes and a crash mid-swap in ``test_abuse_index.py``, the tokenizer
race in ``test_tokenizer_race.py``, killed processes in ``test_faults.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import LiveServer, live_server_env, post_json

EMERGENCY = "I have crushing chest pain and can't breathe"
QUESTION = "What causes restless legs?"


_post = post_json


def _health(url: str) -> dict:
    with urllib.request.urlopen(url + "/healthz", timeout=10) as resp:
        return json.loads(resp.read())


IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@contextlib.contextmanager
def small_disk(where: Path, size: str = "2m") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``where`` (root only), unmounted afterwards."""
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(disk: Path) -> None:
    """Write junk until the disk is full."""
    with open(disk / "filler", "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass


def _answers_while_store_fails(server: LiveServer) -> None:
    """Ask until the store has failed a write, then the emergency and a question."""
    for _ in range(80):
        status, body = _post(server.url + "/api/ask", {"question": QUESTION})
        assert status == 200, body
        assert body["status"] == "answered"
        if _health(server.url)["store"] == "failing":
            break
    health = _health(server.url)
    assert health["status"] == "ok"
    assert health["store"] == "failing", health
    assert health["store_failures"] >= 1
    status, body = _post(server.url + "/api/ask", {"question": EMERGENCY})
    assert status == 200, body
    assert body["status"] == "emergency"
    assert "call" in body["answer"].lower()
    status, body = _post(server.url + "/api/ask", {"question": QUESTION})
    assert status == 200 and body["status"] == "answered" and body["citations"], body
    log = server.log.read_text() if server.log.exists() else ""
    assert "review store" in log  # the server log says why


@pytest.mark.skipif(not IS_ROOT, reason="covered by the injected-error test below")
def test_full_disk_under_the_store_still_answers_everyone(real_index_dir, tmp_path):
    with small_disk(tmp_path / "disk") as disk:
        env = live_server_env(real_index_dir, disk / "data")
        # The server's own output goes off the disk under test.
        server = LiveServer(env, log=tmp_path / "server.log")
        try:
            server.wait()
            _fill(disk)
            _answers_while_store_fails(server)
        finally:
            server.stop()


@pytest.mark.skipif(not IS_ROOT, reason="a read-only folder needs a mount; see the tests below")
def test_read_only_data_folder_leaves_the_app_answering(real_index_dir, tmp_path):
    with small_disk(tmp_path / "disk") as disk:
        env = live_server_env(real_index_dir, disk / "data")
        first = LiveServer(env, log=tmp_path / "first.log")
        try:
            first.wait()  # it creates the store and logs one answer
            assert _post(first.url + "/api/ask", {"question": QUESTION})[0] == 200
        finally:
            first.stop()
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        server = LiveServer(env, log=tmp_path / "server.log")
        try:
            server.wait()
            status, body = _post(server.url + "/api/ask", {"question": EMERGENCY})
            assert status == 200 and body["status"] == "emergency", body
            status, body = _post(server.url + "/api/ask", {"question": QUESTION})
            assert status == 200 and body["status"] == "answered", body
            health = _health(server.url)
            assert health["store"] == "failing" and health["store_failures"] >= 2, health
            status, body = _post(server.url + "/api/feedback", {"id": body["id"], "rating": "up"})
            assert status in (503, 404) and "error" in body
            assert "review store" in server.log.read_text()
        finally:
            server.stop()


def test_injected_store_write_errors_never_stop_an_answer(real_bot, real_settings, tmp_path):
    """The same without root: every store write raises "database or disk is full"."""
    from fastapi.testclient import TestClient

    from chatbot.pipeline import Bot
    from chatbot.review.guard import GuardedLog
    from chatbot.review.store import Store
    from chatbot.web.app import create_app

    class FullDisk(Store):
        def log_answer(self, *args, **kwargs):
            raise sqlite3.OperationalError("database or disk is full")

        def record_feedback(self, *args, **kwargs):
            raise sqlite3.OperationalError("database or disk is full")

    store = FullDisk(tmp_path / "store.sqlite3")
    bot = Bot(real_settings, real_bot.index, real_bot.embedder, log=GuardedLog(store))
    with TestClient(create_app(bot)) as client:
        for question, status in ((EMERGENCY, "emergency"), (QUESTION, "answered")):
            resp = client.post("/api/ask", json={"question": question})
            assert resp.status_code == 200, resp.text
            assert resp.json()["status"] == status
        health = client.get("/healthz").json()
        assert health["store"] == "failing" and health["store_failures"] == 2
        assert "disk is full" in health["store_error"]
        answer_id = client.post("/api/ask", json={"question": QUESTION}).json()["id"]
        resp = client.post("/api/feedback", json={"id": answer_id, "rating": "down"})
        assert resp.status_code == 503 and "could not be saved" in resp.json()["error"]


def test_exclusions_hold_while_the_store_cannot_be_read(real_bot, real_settings, tmp_path):
    """A passage staff excluded stays out when a later read of the store fails."""
    from chatbot.pipeline import Bot
    from chatbot.review.guard import GuardedLog
    from chatbot.review.store import Store

    store = Store(tmp_path / "store.sqlite3")
    bot = Bot(real_settings, real_bot.index, real_bot.embedder, log=GuardedLog(store))
    first = bot.ask(QUESTION)
    cited = first.citations[0]
    store.exclude_passage(cited.article, cited.start, cited.end, cited.quote, "test")
    assert all(c.quote != cited.quote for c in bot.ask(QUESTION).citations)

    def broken(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    store.excluded_spans = broken  # type: ignore[method-assign]
    again = bot.ask(QUESTION)
    assert again.status == "answered"
    assert all(c.quote != cited.quote for c in again.citations)


# --- uploads ------------------------------------------------------------------------------------

TWENTY_MB = 20 * 1024 * 1024


@pytest.mark.parametrize("prefix", ["", "/embed"])
def test_anonymous_uploads_are_refused_before_the_body_is_read(live_server, prefix):
    """A 20 MB upload from another site: refused on its headers alone, nothing stored."""
    import socket

    head = (
        f"POST {prefix}/gradio_api/upload HTTP/1.1\r\nHost: 127.0.0.1:{live_server.port}\r\n"
        "Origin: https://evil.example\r\n"
        "Content-Type: multipart/form-data; boundary=----abuse\r\n"
        f"Content-Length: {TWENTY_MB}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", live_server.port), timeout=30) as sock:
        sock.sendall(head.encode())  # the headers announce 20 MB; not a byte of it is sent
        reply = b""
        while chunk := sock.recv(65536):  # the server answers and closes the connection
            reply += chunk
    status_line = reply.split(b"\r\n", 1)[0]
    assert b" 404 " in status_line, reply[:300]
    assert b'"not found"' in reply


@pytest.mark.parametrize(
    "path",
    [
        "/gradio_api/upload_progress?upload_id=x",
        "/gradio_api/file=https://example.com/x.png",
        "/embed/gradio_api/file=http://127.0.0.1:1/",
        "/gradio_api/process_recording",
    ],
)
def test_other_gradio_file_routes_are_closed(live_server, path):
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(live_server.url + path, timeout=30)
    assert err.value.code == 404


def test_refusals_carry_the_security_headers(live_server):
    """A 404 of a closed route and a 413 carry the same headers as any page."""
    for req in (
        urllib.request.Request(live_server.url + "/gradio_api/upload", b"x", method="POST"),
        urllib.request.Request(
            live_server.url + "/api/ask",
            b'{"question": "' + b"a" * 300_000 + b'"}',
            {"Content-Type": "application/json"},
            method="POST",
        ),
    ):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=30)
        assert err.value.code in (404, 413)
        assert err.value.headers["X-Content-Type-Options"] == "nosniff"
        assert "frame-ancestors" in err.value.headers["Content-Security-Policy"]


# --- spoofed proxy headers ----------------------------------------------------------------------


def _spoofed_posts(url: str, n: int, forwarded_for=lambda i: f"198.51.100.{i}") -> list[int]:
    codes = []
    for i in range(n):
        req = urllib.request.Request(
            url + "/api/ask",
            json.dumps({"question": QUESTION}).encode(),
            {
                "Content-Type": "application/json",
                "X-Forwarded-For": forwarded_for(i),
                "Forwarded": f"for=192.0.2.{i}",
                "X-Real-IP": f"203.0.113.{i}",
            },
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                body = json.loads(resp.read())
                assert body["status"] == "answered"
                codes.append(resp.status)
        except urllib.error.HTTPError as exc:
            assert exc.code == 429 and int(exc.headers["Retry-After"]) >= 1
            codes.append(exc.code)
    return codes


def test_rotating_forwarded_for_from_one_client_is_rate_limited(real_index_dir, tmp_path):
    """60 requests from one client on loopback, each claiming another address: 30 answered,
    then 429 (uvicorn used to believe any X-Forwarded-For from 127.0.0.1)."""
    env = live_server_env(real_index_dir, tmp_path / "data", CHATBOT_RATE_LIMIT_PER_MINUTE="30")
    with LiveServer(env).wait() as server:
        codes = _spoofed_posts(server.url, 60)
        assert codes[:30] == [200] * 30
        assert codes[30:] == [429] * 30


def test_behind_a_trusted_proxy_patients_have_their_own_allowance(real_index_dir, tmp_path):
    """The same requests through a proxy on 127.0.0.1 that is trusted: each patient named by
    the proxy counts apart, and an address forged in front of the proxy's entry is ignored."""
    env = live_server_env(
        real_index_dir,
        tmp_path / "data",
        CHATBOT_RATE_LIMIT_PER_MINUTE="3",
        CHATBOT_TRUSTED_PROXIES="127.0.0.1, ::1",
    )
    with LiveServer(env).wait() as server:
        assert _spoofed_posts(server.url, 6) == [200] * 6  # six patients, one request each
        one_patient = _spoofed_posts(server.url, 5, lambda i: f"10.{i}.0.1, 198.51.100.200")
        assert one_patient == [200, 200, 200, 429, 429]


# --- two processes on one data folder -----------------------------------------------------------

QUESTIONS = [
    QUESTION,
    "Is it worse at night?",
    "Can iron help?",
    "does coffee make rls worse",
    EMERGENCY,
    "What is the capital of France?",
]


def test_two_servers_on_one_data_folder_lose_no_answer(real_index_dir, tmp_path):
    """Two server processes share one data folder (one review store): patients ask both at
    once; every answer either gave is in the store, with its feedback, and the store is whole."""
    from concurrent.futures import ThreadPoolExecutor

    data = tmp_path / "data"
    env = live_server_env(real_index_dir, data)
    first = LiveServer(env, log=tmp_path / "first.log")
    second = LiveServer(env, log=tmp_path / "second.log")
    try:
        first.wait(), second.wait()

        def patient(n: int) -> tuple[str, dict]:
            server = (first, second)[n % 2]
            question = QUESTIONS[n % len(QUESTIONS)]
            status, body = server.post("/api/ask", {"question": question, "conversation": f"c{n}"})
            assert status == 200, body
            # Feedback goes to the other process: it must find the answer the first one logged.
            other = (second, first)[n % 2]
            rated, reply = other.post("/api/feedback", {"id": body["id"], "rating": "up"})
            assert rated == 200, reply
            return question, body

        with ThreadPoolExecutor(max_workers=6) as pool:
            answered = list(pool.map(patient, range(60)))
        for server in (first, second):
            assert server.health()["store"] == "ok"
    finally:
        first.stop()
        second.stop()

    assert {body["status"] for _, body in answered} == {"answered", "no_answer", "emergency"}
    db = sqlite3.connect(data / "chatbot.sqlite3")
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = dict(db.execute("SELECT id, question FROM answers").fetchall())
        rated = {r[0] for r in db.execute("SELECT answer_id FROM feedback WHERE rating='up'")}
    finally:
        db.close()
    ids = {body["id"] for _, body in answered}
    assert len(ids) == 60
    assert ids <= set(rows), f"{len(ids - set(rows))} answers were not logged"
    assert ids <= rated, f"{len(ids - rated)} ratings were lost"
    assert all(rows[body["id"]] == question for question, body in answered)
