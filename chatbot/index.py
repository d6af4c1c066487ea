"""Build, save and load index/: a FAISS index of chunks, the chunk and sentence tables, a manifest.

An index proves itself when it is loaded:

- the manifest holds the SHA-256 of every other file (``FILES``), and each is checked;
- every chunk's and every sentence's text is its article's text at its offsets;
- every vector (the FAISS index's and the sentences') is finite and of unit length.

A damaged index raises ``IndexCorruptError``: the served app rebuilds it, the CLI refuses it
with one line. All files are read through one handle on the folder, so a load never mixes two
builds; a build swapped in while it read makes it read again.

A build writes into a temporary folder beside the target and swaps it in so that the old or
the new index is there at every instant (``index_files.py``).
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chatbot.chunking import TOKENIZER_NAME, chunk_article, embed_text
from chatbot.corpus import corpus_hash
from chatbot.embedding import Embedder
from chatbot.errors import IndexCorruptError, IndexMissingError, IndexStaleError
from chatbot.index_files import (
    FolderReader,
    SwappedWhileReading,
    current_folder,
    swap_in,
    sync_files,
)
from chatbot.structure import STRUCTURE_KEY, Facts, analyse
from chatbot.text.sentences import split_sentences
from chatbot.types import Article, Chunk, Sentence

# 2: the manifest holds every file's SHA-256; 3: structure.json and facets.npy (structure.py)
SCHEMA_VERSION = 3
MANIFEST = "manifest.json"
# Every file of an index. The manifest (written last) lists the checksum of each other one, and
# a load checks them all, whatever files are added here.
FILES = (
    "manifest.json",
    "chunks.faiss",
    "chunks.json",
    "sentences.json",
    "sentences.npy",
    "structure.json",
    "facets.npy",
)
UNIT_TOLERANCE = 1e-3  # a stored vector's length may differ from 1 by float rounding only

# Up to this many chunks an exact (flat) search costs well under a millisecond or two; above it
# an HNSW graph keeps a question's search far below that with recall near 1 against flat
# (bench/scale.py measures both, and IVF, at 10x-1000x the corpus; see bench/RESULTS.md).
FLAT_MAX_CHUNKS = 20_000
HNSW_M = 32  # links per node
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128  # saved in the index file; candidates explored per search


@dataclass(frozen=True)
class IndexSettings:
    """What decides the index's contents; a change means a rebuild."""

    model: str
    dim: int
    chunk_tokens: int
    overlap_tokens: int
    corpus_hash: str
    tokenizer: str = TOKENIZER_NAME
    schema: int = SCHEMA_VERSION
    structure: str = STRUCTURE_KEY  # the facet descriptions and exemplars read at ingest

    def key(self) -> str:
        raw = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha256(raw).hexdigest()[:16]


@dataclass
class LoadedIndex:
    """An index in memory, ready for search."""

    settings: IndexSettings
    manifest: dict[str, Any]
    faiss_index: Any
    chunks: list[Chunk]
    sentences: list[Sentence]
    sentence_vectors: np.ndarray
    articles: dict[str, Article]
    # Each sentence's place and facet (``structure.Facts``), and the facet vectors read at ingest.
    structure: list[Facts] = field(default_factory=list)
    facet_vectors: np.ndarray | None = None

    @property
    def hash(self) -> str:
        return self.settings.key()


def expected_settings(
    articles: list[Article], embedder: Embedder, chunk_tokens: int, overlap_tokens: int
) -> IndexSettings:
    return IndexSettings(
        model=embedder.name,
        dim=embedder.dim,
        chunk_tokens=chunk_tokens,
        overlap_tokens=overlap_tokens,
        corpus_hash=corpus_hash(articles),
    )


def build_index(
    articles: list[Article],
    embedder: Embedder,
    target: Path,
    chunk_tokens: int = 128,
    overlap_tokens: int = 32,
) -> IndexSettings:
    """Chunk, embed and write the index to ``target`` atomically; returns its settings."""
    import faiss

    settings = expected_settings(articles, embedder, chunk_tokens, overlap_tokens)
    chunks: list[Chunk] = []
    titles = {a.id: a.title for a in articles}
    for art in articles:
        chunks.extend(chunk_article(art, chunk_tokens, overlap_tokens))
    sentences: list[Sentence] = []
    chunks_of: dict[str, list[tuple[int, Chunk]]] = {}
    for i, c in enumerate(chunks):  # grouped once: a large corpus must not cost articles x chunks
        chunks_of.setdefault(c.article_id, []).append((i, c))
    for art in articles:
        art_chunks = chunks_of.get(art.id, [])
        for sent in split_sentences(art.body):
            owner = next(
                (i for i, c in art_chunks if c.start <= sent.start and sent.end <= c.end),
                art_chunks[0][0],
            )
            sentences.append(Sentence(art.id, sent.start, sent.end, sent.text, sent.heading, owner))

    chunk_vecs = embedder.encode([embed_text(c, titles[c.article_id]) for c in chunks])
    sent_vecs = embedder.encode([s.text for s in sentences])
    faiss_index = make_faiss_index(chunk_vecs, embedder.dim)
    facts, facet_vecs = analyse(articles, sentences, sent_vecs, embedder)

    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_builds(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-build-", dir=target.parent))
    try:
        faiss.write_index(faiss_index, str(tmp / "chunks.faiss"))
        (tmp / "chunks.json").write_text(
            json.dumps([asdict(c) for c in chunks], ensure_ascii=False), encoding="utf-8"
        )
        (tmp / "sentences.json").write_text(
            json.dumps([asdict(s) for s in sentences], ensure_ascii=False), encoding="utf-8"
        )
        np.save(tmp / "sentences.npy", sent_vecs)
        (tmp / "structure.json").write_text(
            json.dumps([f.to_json() for f in facts], ensure_ascii=False), encoding="utf-8"
        )
        np.save(tmp / "facets.npy", facet_vecs)
        manifest = {
            **asdict(settings),
            "hash": settings.key(),
            "articles": len(articles),
            "chunks": len(chunks),
            "sentences": len(sentences),
            "index_type": type(faiss_index).__name__,
            "files": file_checksums(tmp),
        }
        # The manifest is written last: a folder without one is never taken for an index.
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        sync_files(tmp, FILES)
        swap_in(tmp, target, MANIFEST)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return settings


def make_faiss_index(vectors: np.ndarray, dim: int) -> Any:
    """An inner-product FAISS index over ``vectors``: exact (flat) when small, HNSW when large.

    Both keep the vectors themselves, so ``reconstruct`` works on either.
    """
    import faiss

    index: Any
    if len(vectors) <= FLAT_MAX_CHUNKS:
        index = faiss.IndexFlatIP(dim)
    else:
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


ABANDONED_AFTER_S = 3600


def _remove_abandoned_builds(target: Path) -> None:
    """Delete temporary build folders a killed ingest left behind (an hour old: none running)."""
    import time

    for leftover in target.parent.glob(f".{target.name}-build-*"):
        try:
            if time.time() - leftover.stat().st_mtime > ABANDONED_AFTER_S:
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            continue


def file_checksums(folder: Path) -> dict[str, dict[str, Any]]:
    """``{name: {"sha256": ..., "bytes": ...}}`` of every file of ``FILES`` but the manifest."""
    out: dict[str, dict[str, Any]] = {}
    for name in FILES:
        if name == MANIFEST:
            continue
        data = (folder / name).read_bytes()  # a file a build forgot to write fails here
        out[name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    return out


def _current_folder(directory: Path) -> Path:
    return current_folder(directory, MANIFEST)


def read_manifest(directory: Path) -> dict[str, Any]:
    directory = _current_folder(Path(directory))
    path = directory / MANIFEST
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise IndexMissingError(
            f"there is no index in {directory}; run `python -m chatbot ingest` to build it"
        ) from None
    except OSError as exc:
        raise _unreadable(path, exc) from exc
    return _parse_manifest(raw, path)


def _parse_manifest(raw: bytes, path: Path) -> dict[str, Any]:
    try:
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not an object")
        return data
    except ValueError as exc:
        raise _unreadable(path, exc) from exc


def _unreadable(path: Path, exc: Exception) -> IndexCorruptError:
    return IndexCorruptError(
        f"the index manifest {path} is unreadable ({exc}); run `python -m chatbot ingest`"
    )


def check_fresh(manifest: dict[str, Any], expected: IndexSettings, directory: Path) -> None:
    """Raise IndexStaleError naming what differs between the index and the expected settings."""
    wanted = asdict(expected)
    diffs = [k for k, v in wanted.items() if manifest.get(k) != v]
    if diffs:
        what = ", ".join(f"{k} (index: {manifest.get(k)!r}, now: {wanted[k]!r})" for k in diffs)
        raise IndexStaleError(
            f"the index in {directory} is out of date: {what}; run `python -m chatbot ingest`"
        )


def load_index(
    directory: Path,
    articles: list[Article],
    embedder: Embedder,
    chunk_tokens: int,
    overlap_tokens: int,
) -> LoadedIndex:
    """Load an index and check it whole (checksums, offsets, vectors).

    Raises:
        IndexMissingError: no index there.
        IndexStaleError: built from another corpus, model or chunk setting.
        IndexCorruptError: files missing, truncated, altered or inconsistent.
    """
    directory = Path(directory)
    expected = expected_settings(articles, embedder, chunk_tokens, overlap_tokens)
    for _ in range(5):  # a build swapped in while we read: read the new one
        try:
            manifest, blobs = _read_snapshot(_current_folder(directory), expected)
        except SwappedWhileReading:
            continue
        return _parse_and_check(directory, manifest, blobs, articles, expected)
    raise IndexCorruptError(
        f"the index in {directory} kept changing while it was read; try again when the "
        "ingest has finished"
    )


def _read_snapshot(
    folder: Path, expected: IndexSettings
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The manifest and every file's bytes, read through one handle on ``folder`` (a swap
    mid-way cannot mix two builds), each checked against the manifest's SHA-256."""
    missing = IndexMissingError(
        f"there is no index in {folder}; run `python -m chatbot ingest` to build it"
    )
    try:
        reader = FolderReader(folder)
    except FileNotFoundError:
        raise missing from None
    except OSError as exc:
        raise _corrupt(folder, f"{type(exc).__name__}: {str(exc)[:120]}") from exc
    with reader:
        try:
            try:
                raw_manifest = reader.read(MANIFEST)
            except FileNotFoundError:
                raise missing from None
            manifest = _parse_manifest(raw_manifest, folder / MANIFEST)
            check_fresh(manifest, expected, folder)
            listed = manifest.get("files")
            if not isinstance(listed, dict):
                raise _corrupt(folder, "the manifest lists no checksums")
            blobs: dict[str, bytes] = {}
            for name in dict.fromkeys([*(n for n in FILES if n != MANIFEST), *listed]):
                entry = listed.get(name)
                if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
                    raise _corrupt(folder, f"the manifest has no checksum for {name}")
                try:
                    data = reader.read(name)
                except FileNotFoundError:
                    raise _corrupt(folder, f"{name} is missing") from None
                if hashlib.sha256(data).hexdigest() != entry["sha256"]:
                    if reader.replaced():
                        raise SwappedWhileReading
                    raise _corrupt(
                        folder,
                        f"{name} does not match its checksum ({len(data)} bytes, "
                        f"{entry.get('bytes')} when built)",
                    )
                blobs[name] = data
        except OSError as exc:
            raise _corrupt(folder, f"{type(exc).__name__}: {str(exc)[:120]}") from exc
    return manifest, blobs


def _corrupt(directory: Path, what: str) -> IndexCorruptError:
    return IndexCorruptError(
        f"the index in {directory} is damaged: {what}; run `python -m chatbot ingest` to rebuild it"
    )


def _parse_and_check(
    directory: Path,
    manifest: dict[str, Any],
    blobs: dict[str, bytes],
    articles: list[Article],
    expected: IndexSettings,
) -> LoadedIndex:
    import faiss

    try:
        faiss_index = faiss.deserialize_index(np.frombuffer(blobs["chunks.faiss"], np.uint8))
        chunks = [Chunk(**c) for c in json.loads(blobs["chunks.json"].decode("utf-8"))]
        sentences = [Sentence(**s) for s in json.loads(blobs["sentences.json"].decode("utf-8"))]
        sent_vecs = np.load(io.BytesIO(blobs["sentences.npy"]), allow_pickle=False)
        facts = [Facts.from_json(f) for f in json.loads(blobs["structure.json"].decode("utf-8"))]
        facet_vecs = np.load(io.BytesIO(blobs["facets.npy"]), allow_pickle=False)
    except Exception as exc:  # faiss raises RuntimeError, json ValueError, numpy many
        raise _corrupt(directory, f"{type(exc).__name__}: {str(exc)[:120]}") from exc
    by_id = {a.id: a for a in articles}
    problem = _first_problem(faiss_index, chunks, sentences, sent_vecs, by_id, expected.dim)
    if problem is None and (
        len(facts) != len(sentences) or facet_vecs.ndim != 2 or facet_vecs.shape[1] != expected.dim
    ):
        problem = "the structure does not match the sentence table"
    if problem:
        raise IndexCorruptError(
            f"the index in {directory} is inconsistent: {problem}; "
            "run `python -m chatbot ingest` to rebuild it"
        )
    return LoadedIndex(
        settings=expected,
        manifest=manifest,
        faiss_index=faiss_index,
        chunks=chunks,
        sentences=sentences,
        sentence_vectors=sent_vecs.astype(np.float32),
        articles=by_id,
        structure=facts,
        facet_vectors=facet_vecs.astype(np.float32),
    )


def _first_problem(
    faiss_index: Any,
    chunks: list[Chunk],
    sentences: list[Sentence],
    sent_vecs: np.ndarray,
    by_id: dict[str, Article],
    dim: int,
) -> str | None:
    """What is wrong with a parsed index (None when nothing): counts, offsets, vectors."""
    if faiss_index.ntotal != len(chunks) or faiss_index.d != dim:
        return "vector count or dimension does not match the chunk table"
    if sent_vecs.shape != (len(sentences), dim):
        return "sentence vectors do not match the sentence table"
    spans: list[tuple[str, int, Chunk | Sentence]] = [("chunk", i, c) for i, c in enumerate(chunks)]
    spans += [("sentence", i, s) for i, s in enumerate(sentences)]
    for kind, i, row in spans:
        art = by_id.get(row.article_id)
        if art is None or art.body[row.start : row.end] != row.text:
            where = f"{row.article_id}, {row.start}-{row.end}"
            return f"{kind} {i} ({where}) is not its article's text"
    if any(not 0 <= s.chunk < len(chunks) for s in sentences):
        return "a sentence points to no chunk"
    stored = faiss_index.reconstruct_n(0, faiss_index.ntotal) if faiss_index.ntotal else None
    for kind, vectors in (("chunk", stored), ("sentence", sent_vecs)):
        if vectors is None or not len(vectors):
            continue
        vectors = np.asarray(vectors, dtype=np.float64)
        if not np.isfinite(vectors).all():
            return f"a {kind} vector holds NaN or infinity"
        norms = np.linalg.norm(vectors, axis=1)
        worst = float(norms[np.abs(norms - 1.0).argmax()])
        if abs(worst - 1.0) > UNIT_TOLERANCE:
            return f"a {kind} vector is not of unit length ({worst:.4f})"
    return None
