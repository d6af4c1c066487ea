"""Shared fixtures: env isolation, a fake embedder, a tiny corpus, and the real model and index."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
SEEDS = ROOT.parent / "shared" / "seeds"

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
        "Iron\n\nIron deficiency is linked to restless legs. Iron helps the brain make dopamine.\n\n"
        "Sleep\n\nSymptoms are often worse at night. Walking around relieves the urge to move.\n",
    ),
    "pregnancy-note": (
        "Pregnancy note",
        "Pregnancy\n\nRestless legs are common in the third trimester of pregnancy. "
        "They usually go away after the baby is born.\n",
    ),
}


def write_article(directory: Path, slug: str, title: str, body: str, date: str = "2024-01-01") -> None:
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
    )


@pytest.fixture(scope="session")
def real_bot(real_settings, real_embedder):
    """A Bot over the real corpus and model, with no answer log."""
    from chatbot.bot import Bot, open_index

    return Bot(real_settings, open_index(real_settings, real_embedder, rebuild=False), real_embedder)


@pytest.fixture
def index_copy(real_index_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the real index that a test may damage."""
    target = tmp_path / "index"
    shutil.copytree(real_index_dir, target)
    return target
