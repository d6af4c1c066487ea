"""An index that proves itself (fake embedder, tiny corpus): checksums of every file, offsets
against the articles, finite unit vectors, and a swap that leaves an index at every instant.

Damage that leaves the checksums right too (a builder's bug, or a manifest rewritten with the
files) is made with ``_reseal``: then the content checks alone must catch it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

from chatbot.corpus import load_corpus
from chatbot.errors import IndexCorruptError, IndexMissingError
from chatbot.index import FILES, MANIFEST, build_index, load_index, read_manifest


def _build(corpus: Path, target: Path, embedder) -> None:
    build_index(load_corpus(corpus), embedder, target, 64, 16)


def _load(corpus: Path, target: Path, embedder):
    return load_index(target, load_corpus(corpus), embedder, 64, 16)


def _reseal(target: Path) -> None:
    """Rewrite the manifest's checksums to match the files as they are now."""
    manifest = json.loads((target / MANIFEST).read_text())
    for name in manifest.get("files", ()):
        data = (target / name).read_bytes()
        manifest["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    (target / MANIFEST).write_text(json.dumps(manifest, indent=2))


@pytest.fixture
def built(tiny_corpus, tmp_path, fake_embedder) -> Path:
    target = tmp_path / "index"
    _build(tiny_corpus, target, fake_embedder)
    return target


def test_the_manifest_holds_a_checksum_of_every_other_file(built):
    files = read_manifest(built)["files"]
    assert set(files) == set(FILES) - {MANIFEST}
    for name, entry in files.items():
        data = (built / name).read_bytes()
        assert entry == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


@pytest.mark.parametrize("victim", sorted(set(FILES) - {MANIFEST}))
def test_one_flipped_byte_in_any_file_is_caught(tiny_corpus, built, fake_embedder, victim):
    path = built / victim
    data = bytearray(path.read_bytes())
    data[len(data) - 5] ^= 0x01  # inside the payload (the vectors, for the .npy / .faiss)
    path.write_bytes(bytes(data))
    with pytest.raises(IndexCorruptError, match=f"{victim} does not match its checksum"):
        _load(tiny_corpus, built, fake_embedder)


def test_flipped_bytes_in_the_sentence_vectors_are_caught(tiny_corpus, built, fake_embedder):
    """The vectors still parse and still look like vectors: only the checksum can tell."""
    path = built / "sentences.npy"
    vectors = np.load(path)
    flipped = vectors.copy()
    flipped[0] = vectors[1]  # a plausible, finite, unit-length, wrong vector
    np.save(path, flipped)
    with pytest.raises(IndexCorruptError, match="sentences.npy"):
        _load(tiny_corpus, built, fake_embedder)


def test_a_file_missing_from_the_manifest_or_the_folder(tiny_corpus, built, fake_embedder):
    manifest = json.loads((built / MANIFEST).read_text())
    del manifest["files"]["chunks.json"]
    (built / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(IndexCorruptError, match="no checksum for chunks.json"):
        _load(tiny_corpus, built, fake_embedder)
    _build(tiny_corpus, built, fake_embedder)
    (built / "sentences.json").unlink()
    with pytest.raises(IndexCorruptError, match="sentences.json is missing"):
        _load(tiny_corpus, built, fake_embedder)


@pytest.mark.parametrize("table", ["chunks.json", "sentences.json"])
def test_offsets_shifted_by_three_are_caught(tiny_corpus, built, fake_embedder, table):
    rows = json.loads((built / table).read_text())
    rows[-1]["start"] += 3
    rows[-1]["end"] += 3
    (built / table).write_text(json.dumps(rows))
    with pytest.raises(IndexCorruptError, match="checksum"):
        _load(tiny_corpus, built, fake_embedder)
    _reseal(built)
    with pytest.raises(IndexCorruptError, match="is not its article's text"):
        _load(tiny_corpus, built, fake_embedder)


def _faiss_with(built: Path, change) -> None:
    import faiss

    index = faiss.read_index(str(built / "chunks.faiss"))
    vectors = index.reconstruct_n(0, index.ntotal)
    change(vectors)
    fresh = faiss.IndexFlatIP(index.d)
    fresh.add(vectors)
    faiss.write_index(fresh, str(built / "chunks.faiss"))


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda v: v.__setitem__((0, 3), np.nan), "NaN or infinity"),
        (lambda v: v.__setitem__((1, 0), np.inf), "NaN or infinity"),
        (lambda v: v.__imul__(2.0), "not of unit length"),
    ],
    ids=["nan", "inf", "not-unit"],
)
def test_bad_vectors_in_the_faiss_index_are_caught(
    tiny_corpus, built, fake_embedder, change, words
):
    _faiss_with(built, change)
    with pytest.raises(IndexCorruptError, match="chunks.faiss does not match"):
        _load(tiny_corpus, built, fake_embedder)
    _reseal(built)
    with pytest.raises(IndexCorruptError, match=words):
        _load(tiny_corpus, built, fake_embedder)


def test_a_nan_in_the_sentence_vectors_is_caught_even_resealed(tiny_corpus, built, fake_embedder):
    vectors = np.load(built / "sentences.npy")
    vectors[2, 5] = np.nan
    np.save(built / "sentences.npy", vectors)
    _reseal(built)
    with pytest.raises(IndexCorruptError, match="sentence vector holds NaN"):
        _load(tiny_corpus, built, fake_embedder)


def test_an_index_built_before_checksums_is_out_of_date(tiny_corpus, built, fake_embedder):
    """An index of the previous schema (no checksums) is rebuilt, never trusted."""
    from chatbot.errors import IndexStaleError

    manifest = json.loads((built / MANIFEST).read_text())
    manifest["schema"] = 1
    del manifest["files"]
    (built / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(IndexStaleError, match="schema"):
        _load(tiny_corpus, built, fake_embedder)


# --- the swap ---------------------------------------------------------------------------------


def _new_article(corpus: Path) -> None:
    from helpers import write_article

    write_article(corpus, "new-one", "New", "Walking\n\nA short walk eases the legs.\n")


def test_the_swap_is_one_atomic_exchange_where_the_system_has_it(
    tiny_corpus, built, fake_embedder, monkeypatch
):
    from chatbot import index_files

    renames: list[tuple[str, str]] = []
    real_replace = os.replace
    monkeypatch.setattr(
        index_files.os, "replace", lambda a, b: (renames.append((a, b)), real_replace(a, b))[1]
    )
    _new_article(tiny_corpus)
    _build(tiny_corpus, built, fake_embedder)
    assert _load(tiny_corpus, built, fake_embedder).manifest["articles"] == 3
    if index_files.exchange(built, built):  # the system can exchange (Linux, most file systems)
        assert renames == []  # nothing but the exchange: no instant without an index
    assert [p.name for p in built.parent.iterdir() if p.name.startswith(".index")] == []


class Crash(BaseException):
    """A kill at this point (not an Exception: nothing catches it)."""


def test_a_crash_between_the_two_renames_leaves_an_index(
    tiny_corpus, built, fake_embedder, monkeypatch
):
    """Where the swap takes two renames: killed between them, the old index is still loaded,
    and the next build puts it back before swapping."""
    from chatbot import index_files

    before = _load(tiny_corpus, built, fake_embedder).hash
    monkeypatch.setattr(index_files, "exchange", lambda a, b: False)
    real_replace = os.replace
    calls = []

    def crash_on_second(a, b):
        calls.append((a, b))
        if len(calls) == 2:
            raise Crash
        real_replace(a, b)

    monkeypatch.setattr(index_files.os, "replace", crash_on_second)
    _new_article(tiny_corpus)
    with pytest.raises(Crash):
        _build(tiny_corpus, built, fake_embedder)
    assert not built.exists()  # the state a kill between the renames leaves
    monkeypatch.setattr(index_files.os, "replace", real_replace)

    old_corpus = load_corpus(tiny_corpus)
    old_corpus = [a for a in old_corpus if a.id != "new-one"]
    loaded = load_index(built, old_corpus, fake_embedder, 64, 16)  # from the kept old folder
    assert loaded.hash == before
    assert read_manifest(built)["articles"] == 2

    _build(tiny_corpus, built, fake_embedder)  # the next ingest: restores, then swaps
    assert _load(tiny_corpus, built, fake_embedder).manifest["articles"] == 3
    assert [p.name for p in built.parent.iterdir() if p.name.startswith(".index-old")] == []


def test_no_index_anywhere_is_still_missing(tiny_corpus, tmp_path, fake_embedder):
    with pytest.raises(IndexMissingError, match="chatbot ingest"):
        _load(tiny_corpus, tmp_path / "nothing", fake_embedder)


def test_a_load_during_a_swap_starts_again_on_the_new_build(
    tiny_corpus, built, fake_embedder, monkeypatch
):
    """An ingest finishes while a load reads: the old folder's files vanish under the reader,
    which starts again on the new folder instead of calling the index damaged."""
    from chatbot import index_files

    articles = load_corpus(tiny_corpus)
    other = built.with_name("other")
    build_index(articles, fake_embedder, other, 64, 16)
    real_read = index_files.FolderReader.read
    reads: list[str] = []

    def read_then_swap(self, name):
        data = real_read(self, name)
        reads.append(name)
        if name == "chunks.json" and reads.count(name) == 1:
            index_files.swap_in(other, built, MANIFEST)  # the ingest's swap, right now
        return data

    monkeypatch.setattr(index_files.FolderReader, "read", read_then_swap)
    loaded = load_index(built, articles, fake_embedder, 64, 16)
    assert reads.count(MANIFEST) == 2  # read again, whole, from the new folder
    assert loaded.faiss_index.ntotal == len(loaded.chunks)


def test_a_load_during_a_two_rename_swap_too(tiny_corpus, built, fake_embedder, monkeypatch):
    from chatbot import index_files

    monkeypatch.setattr(index_files, "exchange", lambda a, b: False)
    test_a_load_during_a_swap_starts_again_on_the_new_build(
        tiny_corpus, built, fake_embedder, monkeypatch
    )
