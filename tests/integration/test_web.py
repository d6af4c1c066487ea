"""The HTTP app in process (FastAPI TestClient), real bot behind it."""

from __future__ import annotations

import os

from helpers import check_invariants


def test_healthz(client, real_bot):
    r = client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    heap = body.pop("heap")  # this test process's collector, left as pytest set it
    assert set(heap) == {"frozen", "thresholds", "collections"}
    assert body == {
        "status": "ok",
        "articles": 5,
        "chunks": len(real_bot.index.chunks),
        "index": real_bot.index.hash,
        "store": "none",  # this bot has no review store
        "store_failures": 0,
        "store_error": None,
        "worker": os.getpid(),  # served in this process
        "query_embedding": None,  # the bot embeds directly (no serving QueryEmbedder)
        "limits": "ok",  # the rate limit and sign-in brake in this process's memory
        "limits_store": "memory",
        "limits_failures": 0,
        "limits_error": None,
    }


def test_api_ask_returns_the_answer_object(client):
    r = client.post("/api/ask", json={"question": "What causes restless legs?", "history": []})
    assert r.status_code == 200
    check_invariants(r.json())


def test_api_ask_bad_input_is_a_json_error(client):
    r = client.post("/api/ask", json={"question": "   "})
    assert r.status_code == 400 and "empty" in r.json()["error"]
    r = client.post("/api/ask", json={"nope": 1})
    assert r.status_code == 422


def test_chat_page_is_served_without_analytics(client):
    r = client.get("/")
    assert r.status_code == 200 and "<html" in r.text.lower()
    config = client.get("/config").json()
    assert config.get("analytics_enabled") is False


def test_fastapi_telemetry_stays_off_whatever_the_host_sets(real_bot, monkeypatch):
    """FastAPI's native OpenTelemetry would export every request once a host sets
    FASTAPI_OTEL_AUTO_CONFIGURE=true or a global provider: patients' requests must not leave."""
    from chatbot.web.app import create_app

    monkeypatch.setenv("FASTAPI_OTEL_AUTO_CONFIGURE", "true")
    app = create_app(real_bot)
    config = app._telemetry
    assert not any(config[k] for k in ("tracing", "metrics", "logs", "auto_configure"))
    assert app._native_telemetry.enabled() is False
