"""CHATBOT_WORKERS: one port served by several processes, each with its own bot (built through
pipeline.build_bot); every one of them answers, they count one rate limit in the Redis that
CHATBOT_LIMITS_URL names, and stopping the server stops them all."""

from __future__ import annotations

import http.client
import json
import threading
import time
from pathlib import Path
from typing import Any

import redis
from helpers import LIVE_SERVER_EXTRA_ENV, LiveServer, check_invariants, live_server_env

QUESTIONS = [
    "Why would low iron give me restless legs?",
    "can pregnancy cause rls",
    "is there a cure",
]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _ask_on_one_connection(server: LiveServer, question: str, seen: dict, lock) -> None:
    """/healthz then /api/ask on one keep-alive connection: the same process answers both."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=120)
    try:
        conn.request("GET", "/healthz")
        worker = json.loads(conn.getresponse().read())["worker"]
        body = json.dumps({"question": question})
        conn.request("POST", "/api/ask", body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        answer = json.loads(resp.read())
    finally:
        conn.close()
    with lock:
        seen.setdefault(worker, []).append((resp.status, answer))


def _worker_of(server: LiveServer) -> int:
    """The process that answers a /healthz on a new connection."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=120)
    try:
        conn.request("GET", "/healthz")
        return int(json.loads(conn.getresponse().read())["worker"])
    finally:
        conn.close()


def _asks_counted(limits_url: str, address: str = "127.0.0.1") -> int:
    """How many questions from ``address`` the limits store holds in the last hour."""
    from limits import RateLimitItemPerMinute

    from chatbot.web.limits import make_storage

    storage: Any = make_storage(limits_url)
    key = RateLimitItemPerMinute(int(LIVE_SERVER_EXTRA_ENV["CHATBOT_RATE_LIMIT_PER_MINUTE"]))
    _, count = storage.get_moving_window(key.key_for("ask", address), key.amount, 3600)
    return int(count)


def test_two_workers_both_answer_and_stop_together(
    real_index_dir: Path, tmp_path: Path, redis_url: str
):
    # The limits on Redis (a database of its own): both workers count one allowance.
    limits_url = redis_url.rsplit("/", 1)[0] + "/3"
    redis.Redis.from_url(limits_url).flushdb()
    env = live_server_env(
        real_index_dir, tmp_path / "data", CHATBOT_WORKERS="2", CHATBOT_LIMITS_URL=limits_url
    )
    server = LiveServer(env).wait(timeout=300)
    try:
        seen: dict[int, list] = {}
        lock = threading.Lock()
        # /healthz answers once the first worker is up; the second may still be loading its
        # model. Connections that arrive together are spread over the ready workers by the
        # kernel: first rounds of /healthz alone until both answer (bounded: at most 3
        # minutes), so the questions below are asked within the rate limit's one-minute window
        # however long the second worker took to load (on a loaded machine, rounds of questions
        # while it loaded outlived the window and fell out of the count).
        ready: set[int] = set()
        deadline = time.monotonic() + 180
        while len(ready) < 2 and time.monotonic() < deadline:
            threads = [
                threading.Thread(target=lambda: ready.add(_worker_of(server))) for _ in range(9)
            ]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
        assert len(ready) == 2, f"only {sorted(ready)} answered /healthz"
        deadline = time.monotonic() + 30  # and the count still within its minute
        while time.monotonic() < deadline:
            threads = [
                threading.Thread(target=_ask_on_one_connection, args=(server, q, seen, lock))
                for q in QUESTIONS * 3
            ]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            if len(seen) >= 2:
                break
        assert len(seen) == 2, f"answers came from {sorted(seen)} only"
        for worker, replies in seen.items():
            assert worker != server.proc.pid and _parent_of(worker) == server.proc.pid
            for status, answer in replies:
                assert status == 200
                check_invariants(answer)
                assert answer["status"] == "answered"
        workers = list(seen)
        # Every question either worker answered is in the one shared count.
        assert _asks_counted(limits_url) == sum(len(replies) for replies in seen.values())
        health = server.health()
        assert health["limits"] == "ok" and health["limits_store"] == "redis"
    finally:
        server.stop()
    deadline = time.monotonic() + 30
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(w) for w in workers), "a worker outlived the server"


def test_one_worker_by_default_answers_from_the_server_process(live_server):
    assert live_server.health()["worker"] == live_server.proc.pid
