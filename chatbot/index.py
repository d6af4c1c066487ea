"""Build, save and load index/: a FAISS index of chunks, the chunk and sentence tables, a manifest.

A build writes into a temporary folder beside the target and swaps it in with renames, so a
crash mid-build leaves the previous index in place.
"""

from __future__ import annotations

import json
import os
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
from chatbot.structure import STRUCTURE_KEY, Facts, analyse
from chatbot.text.sentences import split_sentences
from chatbot.types import Article, Chunk, Sentence

SCHEMA_VERSION = 2  # 2: structure.json and facets.npy (chatbot/structure.py)
MANIFEST = "manifest.json"
FILES = (
    "manifest.json",
    "chunks.faiss",
    "chunks.json",
    "sentences.json",
    "sentences.npy",
    "structure.json",
    "facets.npy",
)

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
        import hashlib

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
        }
        # The manifest is written last: a folder without one is never taken for an index.
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        _swap_in(tmp, target)
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


def _swap_in(tmp: Path, target: Path) -> None:
    """Replace ``target`` by ``tmp`` with two renames; the old index survives until the last."""
    old = target.with_name(f".{target.name}-old")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


def read_manifest(directory: Path) -> dict[str, Any]:
    path = Path(directory) / MANIFEST
    if not path.exists():
        raise IndexMissingError(
            f"there is no index in {directory}; run `python -m chatbot ingest` to build it"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not an object")
        return data
    except (ValueError, OSError) as exc:
        raise IndexCorruptError(
            f"the index manifest {path} is unreadable ({exc}); run `python -m chatbot ingest`"
        ) from exc


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
    """Load and verify an index.

    Raises:
        IndexMissingError: no index there.
        IndexStaleError: built from another corpus, model or chunk setting.
        IndexCorruptError: files missing, truncated or inconsistent.
    """
    import faiss

    directory = Path(directory)
    manifest = read_manifest(directory)
    expected = expected_settings(articles, embedder, chunk_tokens, overlap_tokens)
    check_fresh(manifest, expected, directory)
    try:
        faiss_index = faiss.read_index(str(directory / "chunks.faiss"))
        chunks = [Chunk(**c) for c in json.loads((directory / "chunks.json").read_text("utf-8"))]
        sentences = [
            Sentence(**s) for s in json.loads((directory / "sentences.json").read_text("utf-8"))
        ]
        sent_vecs = np.load(directory / "sentences.npy", allow_pickle=False)
        facts = [
            Facts.from_json(f)
            for f in json.loads((directory / "structure.json").read_text("utf-8"))
        ]
        facet_vecs = np.load(directory / "facets.npy", allow_pickle=False)
    except Exception as exc:  # faiss raises RuntimeError, json ValueError, numpy many
        raise IndexCorruptError(
            f"the index in {directory} is damaged ({type(exc).__name__}: {str(exc)[:120]}); "
            "run `python -m chatbot ingest` to rebuild it"
        ) from exc
    by_id = {a.id: a for a in articles}
    problems = []
    if faiss_index.ntotal != len(chunks) or faiss_index.d != expected.dim:
        problems.append("vector count or dimension does not match the chunk table")
    if sent_vecs.shape != (len(sentences), expected.dim):
        problems.append("sentence vectors do not match the sentence table")
    if len(facts) != len(sentences) or facet_vecs.ndim != 2 or facet_vecs.shape[1] != expected.dim:
        problems.append("the structure does not match the sentence table")
    for c in chunks:
        art = by_id.get(c.article_id)
        if art is None or art.body[c.start : c.end] != c.text:
            problems.append(f"chunk {c.chunk_id} does not match its article")
            break
    if problems:
        raise IndexCorruptError(
            f"the index in {directory} is inconsistent: {problems[0]}; "
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
