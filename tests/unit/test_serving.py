"""Serving setup without a model: the workers setting, the index lock, the threads per worker."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from chatbot.config import ConfigError, load_settings
from chatbot.web.app import _index_lock


def test_workers_default_to_one_and_are_read_from_the_environment(monkeypatch):
    assert load_settings().web.workers == 1
    monkeypatch.setenv("CHATBOT_WORKERS", "3")
    assert load_settings().web.workers == 3
    monkeypatch.setenv("CHATBOT_WORKERS", "0")
    with pytest.raises(ConfigError, match="CHATBOT_WORKERS"):
        load_settings()


def test_the_index_lock_lets_one_process_at_a_time_check_the_index(tmp_path: Path):
    order: list[str] = []
    index_dir = tmp_path / "index"

    def second() -> None:
        with _index_lock(index_dir):  # its own open of the lock file: flock blocks it
            order.append("second")

    with _index_lock(index_dir):
        th = threading.Thread(target=second)
        th.start()
        time.sleep(0.3)
        order.append("first done")
    th.join(timeout=10)
    assert order == ["first done", "second"]
    assert (tmp_path / ".index.lock").exists() and not index_dir.exists()


def test_each_worker_gets_its_share_of_the_cores(monkeypatch):
    import os

    import torch

    from chatbot.embedding import limit_model_threads

    before = torch.get_num_threads()
    try:
        monkeypatch.setattr(os, "cpu_count", lambda: 8)
        assert limit_model_threads() == 7
        assert limit_model_threads(2) == 3
        assert limit_model_threads(8) == 1 and limit_model_threads(16) == 1
        monkeypatch.setattr(os, "cpu_count", lambda: 2)
        assert limit_model_threads(2) == 1
    finally:
        torch.set_num_threads(before)


def test_the_workers_listening_socket_is_tcp_with_nagle_off():
    """asyncio sets TCP_NODELAY only on connections of a socket whose protocol is TCP; uvicorn's
    own has protocol 0, which left every worker's answers waiting for delayed ACKs."""
    import socket

    from chatbot.web.app import _listen

    sock = _listen("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        assert sock.get_inheritable()
        client = socket.create_connection(sock.getsockname(), timeout=5)
        conn, _ = sock.accept()
        try:
            assert conn.proto == socket.IPPROTO_TCP  # what asyncio checks before NODELAY
            assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        finally:
            conn.close()
            client.close()
    finally:
        sock.close()
