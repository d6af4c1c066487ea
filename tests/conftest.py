"""Shared fixtures: env isolation, a fake embedder, a tiny corpus, and the real model and index."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
# The clinic's original files, as given (../shared/seeds), kept with the corpus so any checkout
# can check the articles against them.
SEEDS = CORPUS / "sources"

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


TINY_ARTICLES = {
    "iron-and-legs": (
        "Iron and legs",
        "Iron\n\nIron deficiency is linked to restless legs. "
        "Iron helps the brain make dopamine.\n\n"
        "Sleep\n\nSymptoms are often worse at night. Walking around relieves the urge to move.\n",
    ),
    "pregnancy-note": (
        "Pregnancy note",
        "Pregnancy\n\nRestless legs are common in the third trimester of pregnancy. "
        "They usually go away after the baby is born.\n",
    ),
}


def write_article(
    directory: Path, slug: str, title: str, body: str, date: str = "2024-01-01"
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{slug}.md").write_text(
        f"---\nid: {slug}\ntitle: {title}\ndate: {date}\npublisher: Test clinic\n"
        f"source_file: {slug}.txt\nnote: test article\n---\n{body}",
        encoding="utf-8",
    )


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Path:
    directory = tmp_path / "corpus"
    for slug, (title, body) in TINY_ARTICLES.items():
        write_article(directory, slug, title, body)
    return directory


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
    s = Settings()
    build_index(load_corpus(CORPUS), real_embedder, target, s.chunk_tokens, s.overlap_tokens)
    return target


@pytest.fixture(scope="session")
def real_settings(real_index_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    from chatbot.config import Settings

    return Settings(
        index_dir=real_index_dir,
        corpus_dir=CORPUS,
        data_dir=tmp_path_factory.mktemp("data"),
        # Apps built in process from these settings serve many tests from one address; the
        # rate limit is tested with its own low settings (tests/test_api.py).
        rate_limit_per_minute=100_000,
    )


@pytest.fixture(scope="session")
def real_bot(real_settings, real_embedder):
    """A Bot over the real corpus and model, with no answer log."""
    from chatbot.bot import Bot, open_index

    return Bot(
        real_settings, open_index(real_settings, real_embedder, rebuild=False), real_embedder
    )


@pytest.fixture
def index_copy(real_index_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the real index that a test may damage."""
    target = tmp_path / "index"
    shutil.copytree(real_index_dir, target)
    return target


# ---------------------------------------------------------------------------------------------
# A served app and a real browser, shared by the web, widget, staff and fault tests.

STAFF_PASSWORD = "correct horse battery staple"  # test-only credential for the live server


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def live_server_env(index_dir: Path, data_dir: Path, **extra: str) -> dict[str, str]:
    """Environment for a served app: real index, private data dir, offline, no analytics."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATBOT_")}
    env.update(
        HF_HUB_OFFLINE="1",
        GRADIO_ANALYTICS_ENABLED="False",
        CHATBOT_INDEX_DIR=str(index_dir),
        CHATBOT_DATA_DIR=str(data_dir),
    )
    env.update(LIVE_SERVER_EXTRA_ENV)
    env.update(extra)
    return env


# Modules that need a setting on the shared live server add it here (e.g. the staff login).
LIVE_SERVER_EXTRA_ENV: dict[str, str] = {
    # Many tests share this server from one address: a limit far above what they send, so only
    # tests/test_api.py and tests/test_widget*.py (own servers, low limits) meet the 429.
    "CHATBOT_RATE_LIMIT_PER_MINUTE": "100000",
}


def _staff_login_env() -> dict[str, str]:
    try:
        from chatbot.web.staff import hash_password
    except ImportError:
        return {}
    return {"CHATBOT_STAFF_PASSWORD_HASH": hash_password(STAFF_PASSWORD)}


# The shared live server has a staff login: user "staff", password STAFF_PASSWORD.
LIVE_SERVER_EXTRA_ENV.update(_staff_login_env())


class LiveServer:
    """A ``python -m chatbot serve`` process on a free loopback port."""

    def __init__(self, env: dict[str, str], port: int | None = None) -> None:
        import subprocess
        import sys

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = Path(env["CHATBOT_DATA_DIR"]) / "server.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chatbot", "serve", "--port", str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )

    def wait(self, timeout: float = 180) -> LiveServer:
        import time
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"server did not start: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except Exception:
            self.proc.kill()


@pytest.fixture(scope="session")
def live_server(real_index_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """One served app for the whole session (real model, real index, its own data dir)."""
    data = tmp_path_factory.mktemp("live-data")
    server = LiveServer(live_server_env(real_index_dir, data)).wait()
    yield server
    server.stop()


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Chromium is missing: `make test` installs it (make browser)"
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


class RecordedPage:
    """A page plus every URL it requested (to prove no third-party host is contacted)."""

    def __init__(self, page) -> None:
        self.page = page
        self.requests: list[str] = []
        page.on("request", lambda req: self.requests.append(req.url))

    def foreign_hosts(self, *allowed_hosts: str) -> set[str]:
        from urllib.parse import urlparse

        hosts = {urlparse(u).hostname for u in self.requests if u.startswith("http")}
        return {h for h in hosts if h not in allowed_hosts}


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    recorded = RecordedPage(context.new_page())
    yield recorded
    context.close()
