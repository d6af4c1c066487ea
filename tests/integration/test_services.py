"""The real PostgreSQL and Redis the tests start (tests/services.py) answer, on loopback only,
and leave nothing running or on disk when stopped."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlparse

import psycopg
import pytest
import redis
from services import PostgresServer, RedisServer, ServiceError


def test_postgres_answers_and_keeps_what_it_is_given(postgres_url: str):
    assert urlparse(postgres_url).hostname == "127.0.0.1"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS smoke (id serial PRIMARY KEY, note text)")
        conn.execute("INSERT INTO smoke (note) VALUES (%s)", ("iron and legs",))
        (note,) = conn.execute("SELECT note FROM smoke ORDER BY id DESC LIMIT 1").fetchone()
        (version,) = conn.execute("SHOW server_version").fetchone()
        conn.execute("DROP TABLE smoke")
    assert note == "iron and legs"
    assert int(version.split(".")[0]) >= 13


def test_redis_answers_with_counters_and_expiry(redis_url: str):
    assert urlparse(redis_url).hostname == "127.0.0.1"
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.ping()
        key = "smoke:counter"
        client.delete(key)
        assert client.incr(key) == 1 and client.incr(key) == 2
        client.expire(key, 60)
        assert 0 < client.ttl(key) <= 60
        assert client.config_get("save")["save"] == ""  # nothing is written to disk
        client.delete(key)
    finally:
        client.close()


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), 0.5):
            return True
    except OSError:
        return False


def test_stopped_servers_free_their_port_and_folder():
    with PostgresServer() as pg, RedisServer() as rd:
        ports, folders = (pg.port, rd.port), (pg.root, rd.root)
        assert all(_listening(p) for p in ports)
    assert not any(_listening(p) for p in ports)
    assert not any(Path(f).exists() for f in folders)


def test_a_missing_server_binary_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch):
    import services

    monkeypatch.setattr(services.shutil, "which", lambda name: None)
    monkeypatch.setattr(services.glob, "glob", lambda pattern: [])
    monkeypatch.setattr(services.os, "access", lambda path, mode: False)
    with pytest.raises(ServiceError, match="make services"):
        services.postgres_bin_dir()
    with pytest.raises(ServiceError, match="make services"):
        services.redis_binary()
