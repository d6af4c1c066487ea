"""Re-indexing in the background, started from the staff area: the chat keeps answering from
the old index until the new one swaps in, and a failed build leaves the old one serving and
says why.

The build reads ``corpus/`` (checked first: a broken article fails the job, not the chat),
embeds with a model instance of its own (the serving model's worker thread is never shared), and
writes the index folder atomically (``index.build_index``). Then the new index is loaded and
verified and ``Bot.swap_index`` replaces the index and its retriever in one assignment; a
question already being answered finishes on the index it started with.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chatbot.chunking import chunk_article
from chatbot.corpus import corpus_hash, load_corpus
from chatbot.index import build_index, load_index
from chatbot.text.sentences import split_sentences
from chatbot.web import heap

log = logging.getLogger("chatbot.reindex")
BATCH = 64  # texts embedded per step (the progress bar moves once a step)


@dataclass
class Job:
    """What the staff page shows of the last re-index."""

    state: str = "idle"  # idle | running | done | failed
    stage: str = ""
    progress: float = 0.0
    error: str = ""
    by: str = ""
    started: float | None = None
    finished: float | None = None
    articles: int = 0
    chunks: int = 0
    stale: bool = False
    can_start: bool = True


class _Progress:
    """An embedder that encodes in steps and reports how far it is."""

    def __init__(self, inner: Any, total: int, report: Callable[[int], None]) -> None:
        self.inner = inner
        self.name, self.dim = inner.name, inner.dim
        self.total, self.done, self.report = max(total, 1), 0, report

    def encode(self, texts: list[str]) -> np.ndarray:
        parts = []
        for i in range(0, len(texts), BATCH):
            parts.append(self.inner.encode(texts[i : i + BATCH]))
            self.done += len(texts[i : i + BATCH])
            self.report(self.done)
        if not parts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.concatenate(parts)

    def count_word_pieces(self, text: str) -> int:
        return int(self.inner.count_word_pieces(text))


def fresh_embedder(serving: Any) -> Any:
    """A model of the same kind as the serving one, for the build alone. The index is always
    built with torch: a served ONNX model (``CHATBOT_EMBEDDING_BACKEND``) builds with the
    sentence-transformers one it was exported from."""
    from chatbot.embedding import SentenceTransformerEmbedder
    from chatbot.fast_embedding import OnnxEmbedder

    inner = serving
    while hasattr(inner, "inner"):  # the serving wrappers (cache, batching, triage's ride-along)
        inner = inner.inner
    if isinstance(inner, OnnxEmbedder):
        return SentenceTransformerEmbedder()
    return type(inner)()


class Reindexer:
    """One background re-index at a time for ``bot``.

    Args:
        bot: The running bot (``swap_index`` is called on it).
        make_embedder: Builds the embedder the job uses (default: a fresh model).
        on_done: Called with (who, ok, message) when a job ends (the audit log).
    """

    def __init__(
        self,
        bot: Any,
        make_embedder: Callable[[], Any] | None = None,
        on_done: Callable[[str, bool, str], None] | None = None,
    ) -> None:
        self.bot = bot
        self.make_embedder = make_embedder or (lambda: fresh_embedder(bot.embedder))
        self.on_done = on_done
        self.job = Job()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def status(self) -> Job:
        """The job, with whether the articles changed since the index being served."""
        job = Job(**self.job.__dict__)
        try:
            current = corpus_hash(load_corpus(Path(self.bot.settings.paths.corpus_dir)))
            job.stale = current != self.bot.index.settings.corpus_hash
        except Exception:  # a broken corpus: the next job says why
            job.stale = True
        return job

    def start(self, by: str) -> bool:
        """Start a job; False when one is running already."""
        with self._lock:
            if self.job.state == "running":
                return False
            self.job = Job(
                state="running", stage="reading the articles", by=by, started=time.time()
            )
            self._thread = threading.Thread(target=self._run, name="reindex", daemon=True)
            self._thread.start()
            return True

    def wait(self, timeout: float | None = None) -> Job:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.job

    def _set(self, **fields: Any) -> None:
        for k, v in fields.items():
            setattr(self.job, k, v)

    def _run(self) -> None:
        s = self.bot.settings
        size = (s.chunking.chunk_tokens, s.chunking.overlap_tokens)
        try:
            articles = load_corpus(Path(s.paths.corpus_dir))
            total = sum(
                len(chunk_article(a, *size)) + len(split_sentences(a.body)) for a in articles
            )
            self._set(stage="loading the model", progress=0.02)
            model = self.make_embedder()

            def report(done: int) -> None:
                self._set(
                    stage=f"embedding {done} of {total} passages and sentences",
                    progress=0.05 + 0.85 * done / max(total, 1),
                )

            build_index(articles, _Progress(model, total, report), s.paths.index_dir, *size)
            self._set(stage="checking the new index", progress=0.93)
            index = load_index(s.paths.index_dir, articles, model, *size)
            self.bot.swap_index(index)
            heap.resettle()  # the old index's cycles may be freed; the new one's are frozen
        except Exception as exc:  # the old index keeps serving; staff see why
            log.exception("re-index failed; the old index keeps serving")
            message = f"{type(exc).__name__}: {exc}"[:500]
            self._set(state="failed", error=message, finished=time.time(), stage="")
            self._done(False, message)
            return
        self._set(
            state="done",
            progress=1.0,
            stage="",
            finished=time.time(),
            articles=len(index.articles),
            chunks=len(index.chunks),
        )
        self._done(True, f"{len(index.articles)} articles, {len(index.chunks)} passages")

    def _done(self, ok: bool, message: str) -> None:
        if self.on_done is not None:
            try:
                self.on_done(self.job.by, ok, message)
            except Exception:
                log.exception("could not record the re-index in the audit log")
