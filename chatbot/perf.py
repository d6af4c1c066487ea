"""Serving speed: query embeddings cached and micro-batched, so many patients share the model well.

On a small CPU server the query embedding is nearly all of an answer's time. Two things help
when many patients ask at once:

- **Micro-batching.** One worker thread owns the model. Each question waits in a queue; the
  worker takes everything queued, embeds it in one batch and hands each caller its vector. With
  one patient a batch is one question (no added wait); with fifty, the model runs a few batches
  instead of fifty small calls fighting over the same two cores.
- **An LRU cache** of query embeddings: patients repeat the same questions ("what causes
  restless legs?"); a repeated text costs a dictionary look-up.

Both are exact: a vector is the model's own output for that text (batching pads short queries,
which leaves their embeddings equal to within float rounding, ~1e-7).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import Future
from typing import Any

import numpy as np

from chatbot.embedding import Embedder

MAX_BATCH = 64


class QueryEmbedder:
    """An ``Embedder`` that caches and micro-batches small calls (a question and its side
    readings); calls of more than ``max_batch`` texts pass through.

    Args:
        inner: The real embedder (its ``name`` and ``dim`` are kept, so index checks still match).
        cache_size: Query vectors kept (least recently used dropped first); 0 turns caching off.
        max_batch: The most questions embedded in one model call.
    """

    def __init__(self, inner: Embedder, cache_size: int = 2048, max_batch: int = MAX_BATCH) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.cache_size = cache_size
        self.max_batch = max_batch
        self.hits = 0
        self.misses = 0
        self.batches = 0
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._pending: list[tuple[str, Future[np.ndarray]]] = []
        self._wake = threading.Condition(self._lock)
        self._worker: threading.Thread | None = None

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts or len(texts) > self.max_batch:  # index builds, batch jobs: already batched
            return self.inner.encode(texts)
        # A question and its side readings: each from the cache or the next batch, together.
        waiting = [self._submit(text) for text in texts]
        return np.stack([w if isinstance(w, np.ndarray) else w.result() for w in waiting])

    def count_word_pieces(self, text: str) -> int:
        return self.inner.count_word_pieces(text)

    def encode_one(self, text: str) -> np.ndarray:
        """The vector of ``text``, from the cache or from the next batch."""
        waiting = self._submit(text)
        return waiting if isinstance(waiting, np.ndarray) else waiting.result()

    def _submit(self, text: str) -> np.ndarray | Future[np.ndarray]:
        """``text``'s cached vector, or a future the worker fills with its next batch."""
        with self._lock:
            cached = self._cache.get(text)
            if cached is not None:
                self._cache.move_to_end(text)
                self.hits += 1
                return cached
            self.misses += 1
            future: Future[np.ndarray] = Future()
            self._pending.append((text, future))
            self._start_worker()
            self._wake.notify()
        return future

    def stats(self) -> dict[str, Any]:
        return {
            "hits": self.hits,
            "misses": self.misses,
            "batches": self.batches,
            "cached": len(self._cache),
        }

    def _start_worker(self) -> None:
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._run, name="query-embedder", daemon=True)
            self._worker.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._pending:
                    self._wake.wait()
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
            self._embed_batch(batch)

    def _embed_batch(self, batch: list[tuple[str, Future[np.ndarray]]]) -> None:
        unique = list(dict.fromkeys(text for text, _ in batch))
        try:
            vectors = self.inner.encode(unique)
        except BaseException as exc:  # every waiting caller gets the error, the worker lives on
            for _, future in batch:
                future.set_exception(exc)
            return
        by_text = {text: vectors[i] for i, text in enumerate(unique)}
        with self._lock:
            self.batches += 1
            if self.cache_size:
                for text, vec in by_text.items():
                    self._cache[text] = vec
                    self._cache.move_to_end(text)
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        for text, future in batch:
            future.set_result(by_text[text])


def limit_model_threads() -> int:
    """Give the model all cores but one (at least one); returns the thread count.

    Only one thread (the batching worker) runs the model, while the web server's own Python
    (HTTP, retrieval, composing, logging) needs a core too. With torch on every core the two
    fight, and a model thread that loses its core stalls the others at each step.
    """
    import os

    import torch

    threads = max(1, (os.cpu_count() or 2) - 1)
    torch.set_num_threads(threads)
    return threads


def tune_for_serving(bot: Any, cache_size: int = 2048) -> QueryEmbedder:
    """Route ``bot``'s query embeddings through a ``QueryEmbedder``; returns it."""
    current = bot.retriever.embedder
    if isinstance(current, QueryEmbedder):
        return current
    limit_model_threads()
    fast = QueryEmbedder(current, cache_size=cache_size)
    bot.retriever.embedder = fast
    return fast


# A corpus with more chunks than this is searched through the FAISS index's own top-k and a
# candidate-limited fusion (``fused_search``); up to it, retrieval.py ranks every chunk (and
# scores every sentence) exactly. The clinic's five articles make ~60 chunks; ranking everything
# costs tens of milliseconds a question by ~1,000 chunks (bench/scale.py, 10x and 100x).
EXACT_SEARCH_MAX = 1_000
FUSION_CANDIDATES = 100  # from each ranking (dense and BM25) when the corpus is large


def fused_search(
    faiss_index: Any,
    qvec: np.ndarray,
    lexical: np.ndarray | None,
    k: int,
    candidates: int = FUSION_CANDIDATES,
    rrf_k: int = 60,
) -> list[tuple[int, float, float, float]]:
    """Reciprocal-rank fusion of the index's dense top-``candidates`` and the BM25 top ones.

    Args:
        faiss_index: An inner-product index over normalised chunk vectors (flat or HNSW).
        qvec: The question's vector.
        lexical: BM25 scores of every chunk (None or all zero: dense only).
        k: Passages wanted.
        candidates: How deep each ranking is read.
        rrf_k: The fusion constant (retrieval.RRF_K).

    Returns:
        Up to ``k`` (chunk position, fused, dense cosine, BM25 score), best first: the same
        fusion as ranking every chunk, except that ranks beyond ``candidates`` add nothing.
    """
    n = int(faiss_index.ntotal)
    m = min(max(candidates, k), n)
    if m == 0:
        return []
    scores, ids = faiss_index.search(np.asarray(qvec, dtype=np.float32)[None, :], m)
    fused: dict[int, float] = {}
    dense: dict[int, float] = {}
    for rank, (ci, score) in enumerate(zip(ids[0].tolist(), scores[0].tolist(), strict=True)):
        if ci < 0:  # HNSW may return fewer than asked
            break
        fused[ci] = 1.0 / (rrf_k + rank + 1)
        dense[ci] = score
    if lexical is not None and lexical.any():
        top = np.argpartition(-lexical, m - 1)[:m] if m < len(lexical) else np.arange(len(lexical))
        top = top[np.argsort(-lexical[top], kind="stable")]
        for rank, ci in enumerate(top.tolist()):
            if lexical[ci] <= 0:
                break
            fused[ci] = fused.get(ci, 0.0) + 1.0 / (rrf_k + rank + 1)
    for ci in fused:
        if ci not in dense:  # a BM25-only candidate: its exact cosine, from the stored vector
            dense[ci] = float(faiss_index.reconstruct(ci) @ qvec)
    order = sorted(fused, key=lambda ci: -fused[ci])[:k]
    return [
        (ci, fused[ci], dense[ci], float(lexical[ci]) if lexical is not None else 0.0)
        for ci in order
    ]
