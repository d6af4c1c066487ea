"""Fixtures shared by every test folder: env isolation, a fake embedder, a tiny corpus, the real
model, index and bot, one served app, one in-process client, a real browser, and real PostgreSQL
and Redis servers (``tests/services.py``).

Helpers that are not fixtures live in ``helpers.py``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    CORPUS,
    TINY_ARTICLES,
    LiveServer,
    RecordedPage,
    TinyWorld,
    live_server_env,
    write_article,
)

# No hub, no analytics, whatever the developer's shell says.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["TOKENIZERS_PARALLELISM"] = "false"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No CHATBOT_* setting from outside leaks in; run-time data goes to a temp folder."""
    for key in list(os.environ):
        if key.startswith("CHATBOT_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CHATBOT_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture
def fake_embedder():
    from chatbot.embedding import FakeEmbedder

    return FakeEmbedder()


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Path:
    directory = tmp_path / "corpus"
    for slug, (title, body) in TINY_ARTICLES.items():
        write_article(directory, slug, title, body)
    return directory


@pytest.fixture(scope="session")
def password_hash() -> str:
    """The scrypt hash of the tests' staff password (hashed once: scrypt is slow on purpose)."""
    from helpers import STAFF_PASSWORD

    from chatbot.review import passwords

    return passwords.hash_password(STAFF_PASSWORD)


@pytest.fixture
def world(tmp_path: Path) -> TinyWorld:
    """A tiny corpus indexed with the fake embedder, and a review store that outlives bots."""
    return TinyWorld(tmp_path)


@pytest.fixture(scope="session")
def real_embedder():
    from chatbot.embedding import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()


@pytest.fixture(scope="session")
def real_index_dir(tmp_path_factory: pytest.TempPathFactory, real_embedder) -> Path:
    """The real corpus indexed with the real model, once per session, in a temp folder."""
    from chatbot.config import Settings
    from chatbot.corpus import load_corpus
    from chatbot.index import build_index

    target = tmp_path_factory.mktemp("real") / "index"
    settings = Settings()
    chunking = settings.chunking
    build_index(
        load_corpus(CORPUS), real_embedder, target, chunking.chunk_tokens, chunking.overlap_tokens
    )
    # --- suite speed: triage's learned layers beside the index from the start -----------------
    # Trained once (or taken from the user's model cache, keyed by their data and trainer), so
    # no served app, CLI process or copy of this index trains them again.
    from chatbot.safety.model import triage_model

    triage_model(target, real_embedder, cache_dir=settings.web.model_cache_dir)
    # --- end suite speed ------------------------------------------------------------------------
    return target


@pytest.fixture(scope="session")
def real_settings(real_index_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    from chatbot.config import Settings

    return Settings(
        index_dir=real_index_dir,
        corpus_dir=CORPUS,
        data_dir=tmp_path_factory.mktemp("data"),
        # Apps built in process from these settings serve many tests from one address; the
        # rate limit is tested with its own low settings (tests/integration/test_api.py).
        rate_limit_per_minute=100_000,
    )


@pytest.fixture(scope="session")
def real_bot(real_settings, real_embedder):
    """A Bot over the real corpus and model, with no answer log."""
    from chatbot.pipeline import Bot, open_index

    return Bot(
        real_settings, open_index(real_settings, real_embedder, rebuild=False), real_embedder
    )


@pytest.fixture
def index_copy(real_index_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the real index that a test may damage."""
    target = tmp_path / "index"
    shutil.copytree(real_index_dir, target)
    return target


@pytest.fixture(scope="module")
def client(real_bot):
    """The whole app in process (FastAPI's TestClient) over the real bot, no review store."""
    from fastapi.testclient import TestClient

    from chatbot.web.app import create_app

    with TestClient(create_app(real_bot)) as c:
        yield c


@pytest.fixture(scope="session")
def live_server(real_index_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """One served app for the whole session (real model, real index, its own data dir)."""
    data = tmp_path_factory.mktemp("live-data")
    server = LiveServer(live_server_env(real_index_dir, data)).wait()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_url():
    """A private PostgreSQL (Debian's package, `make services`) on a free loopback port, in a
    temp folder, for the whole session; stopped and deleted at the end. Its libpq URL."""
    from services import PostgresServer

    with PostgresServer() as server:
        yield server.url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_location(request: pytest.FixtureRequest, tmp_path: Path):
    """Where a test's review store lives, once each: the SQLite file in its data folder, then a
    fresh schema of the tests' PostgreSQL (``helpers.pg_schema``: its stores closed and the
    schema dropped afterwards). ``Store(store_location)`` opens either."""
    if request.param == "sqlite":
        yield tmp_path / "data" / "chatbot.sqlite3"
        return
    from helpers import pg_schema

    monkeypatch = request.getfixturevalue("monkeypatch")
    with pg_schema(request.getfixturevalue("postgres_url"), monkeypatch) as url:
        yield url


@pytest.fixture(scope="session")
def redis_url():
    """A private Redis (Debian's package, `make services`) on a free loopback port, nothing
    kept on disk, for the whole session; stopped at the end. Its redis:// URL."""
    from services import RedisServer

    with RedisServer() as server:
        yield server.url


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Chromium is missing: `make test` installs it (make browser)"
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    recorded = RecordedPage(context.new_page())
    yield recorded
    context.close()


@pytest.fixture(scope="session")
def clinic_sites(real_index_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """The chat app and, on other ports, the example clinic's site (allowed to use the widget),
    the same site with options on the widget's tag, and a stranger's site (not allowed).

    Yields a namespace: ``app`` (no final "/"), ``clinic``, ``options``, ``stranger`` (each
    ending in "/"), ``data`` (the app's data folder, holding its review store) and ``OPTIONS``.
    """
    import importlib.util
    import json
    from types import SimpleNamespace

    from helpers import ROOT, free_port

    spec = importlib.util.spec_from_file_location(
        "serve_clinic", ROOT / "examples" / "serve_clinic.py"
    )
    examples = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(examples)
    options = {
        "label": "Chat with us",
        "position": "left",
        "open": "true",
        "text_color": "#000000",
        "greeting": "<b>Hi</b> there",
    }
    clinic_port, options_port = free_port(), free_port()
    clinic = f"http://127.0.0.1:{clinic_port}"
    with_options = f"http://127.0.0.1:{options_port}"
    data = tmp_path_factory.mktemp("clinic-sites-data")
    env = live_server_env(
        real_index_dir,
        data,
        CHATBOT_ALLOWED_ORIGINS=json.dumps([clinic, with_options + "/"]),
        CHATBOT_COUNTRY="GB",  # emergency cards call 999 (and, for suicide, Samaritans)
    )
    app = LiveServer(env).wait()
    servers = [
        examples.make_server(app.url, clinic_port),
        examples.make_server(app.url, options_port, **options),
        examples.make_server(app.url, 0),
    ]
    stranger = f"http://127.0.0.1:{servers[2].server_address[1]}"
    try:
        yield SimpleNamespace(
            app=app.url,
            clinic=clinic + "/",
            options=with_options + "/",
            stranger=stranger + "/",
            data=data,
            OPTIONS=options,
        )
    finally:
        for server in servers:
            server.shutdown()
        app.stop()
