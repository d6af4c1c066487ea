"""The review store as the pipeline sees it: nothing it does can stop an answer."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from chatbot.types import Answer, Article, ArticleSpan, Turn


class AnswerLog(Protocol):
    """Where answers go for staff review, and what staff decided flows back from."""

    def excluded_spans(self, articles: Mapping[str, Article] | None = None) -> set[ArticleSpan]: ...

    def reviewed_answer(
        self, question: str, articles: Mapping[str, Article], disclaimer: str
    ) -> Answer | None: ...

    def approved_answer(
        self,
        question: str,
        articles: Mapping[str, Article],
        disclaimer: str,
        encode: Callable[[list[str]], Any],
    ) -> Answer | None: ...

    def log_answer(
        self,
        question: str,
        answer: Answer,
        history: Sequence[Turn],
        channel: str,
        conversation: str | None = None,
    ) -> None: ...


_log = logging.getLogger("chatbot.review")
REOPEN_EVERY_S = 60.0


class GuardedLog:
    """The answer log as ``Bot.ask`` sees it: nothing it does can stop an answer.

    A patient gets the answer (or the emergency reply) whether or not the review store can be
    written: a full disk, a read-only data folder or a locked database is caught here, counted,
    written to the server log and reported by ``health`` (``/healthz``). Exclusions are read
    through it too: when the store cannot be read, the last exclusions it gave are used, so a
    passage staff took out never comes back because of a fault. A store that could not be
    opened at all is tried again at most every ``REOPEN_EVERY_S`` seconds.

    Args:
        store: The review store, or None when it could not be opened.
        opener: Opens the store again (used while ``store`` is None).
        error: Why the store could not be opened, when it is None.
        read_only: Read exclusions and reviewed answers, log nothing (``chatbot eval``: its
            answers would crowd the staff's review queue).
    """

    def __init__(
        self,
        store: AnswerLog | None,
        opener: Callable[[], AnswerLog] | None = None,
        error: str = "",
        read_only: bool = False,
    ) -> None:
        self.store = store
        self.read_only = read_only
        self._opener = opener
        self._lock = threading.Lock()
        self._last_try = time.monotonic()
        self._excluded: set[ArticleSpan] = set()
        self.failures = 0
        self.last_error = error
        self.failing = store is None

    def _current(self) -> AnswerLog | None:
        if self.store is None and self._opener is not None:
            now = time.monotonic()
            with self._lock:
                if self.store is None and now - self._last_try >= REOPEN_EVERY_S:
                    self._last_try = now
                    try:
                        self.store = self._opener()
                    except Exception as exc:
                        self._failed("open", exc)
        return self.store

    def _failed(self, what: str, exc: BaseException) -> None:
        with self._lock:
            self.failures += 1
            self.failing = True
            self.last_error = f"{what}: {type(exc).__name__}: {exc}"[:300]
        _log.error("review store: could not %s (%s); the patient was answered", what, exc)

    def _ok(self) -> None:
        if self.failing:
            with self._lock:
                self.failing = self.store is None

    def log_answer(
        self,
        question: str,
        answer: Answer,
        history: Sequence[Turn],
        channel: str,
        conversation: str | None = None,
    ) -> None:
        if self.read_only:
            return
        store = self._current()
        if store is None:
            with self._lock:
                self.failures += 1
            return
        try:
            store.log_answer(question, answer, history, channel, conversation)
        except Exception as exc:
            self._failed("log an answer", exc)
            return
        self._ok()

    def excluded_spans(self, articles: Mapping[str, Article] | None = None) -> set[ArticleSpan]:
        store = self._current()
        if store is None:
            return set(self._excluded)
        try:
            spans = store.excluded_spans(articles)
        except Exception as exc:
            self._failed("read the excluded passages", exc)
            return set(self._excluded)
        self._excluded = set(spans)
        return spans

    def reviewed_answer(
        self, question: str, articles: Mapping[str, Article], disclaimer: str
    ) -> Answer | None:
        store = self._current()
        if store is None:
            return None
        try:
            return store.reviewed_answer(question, articles, disclaimer)
        except Exception as exc:
            self._failed("look up a reviewed answer", exc)
            return None

    def staff_answer(
        self,
        question: str,
        articles: Mapping[str, Article],
        disclaimer: str,
        encode: Callable[[list[str]], Any],
    ) -> Answer | None:
        """What staff approved for this question: an approved answer matched by meaning
        (``approved.py``), else the answer marked correct for the same words (``loop.py``)."""
        found = self.approved_answer(question, articles, disclaimer, encode)
        return found if found is not None else self.reviewed_answer(question, articles, disclaimer)

    def approved_answer(
        self,
        question: str,
        articles: Mapping[str, Article],
        disclaimer: str,
        encode: Callable[[list[str]], Any],
    ) -> Answer | None:
        store = self._current()
        if store is None:
            return None
        try:
            return store.approved_answer(question, articles, disclaimer, encode)
        except Exception as exc:
            self._failed("look up an approved answer", exc)
            return None

    def health(self) -> dict[str, object]:
        """What ``/healthz`` says of the store: "ok" or "failing", with the failure count."""
        return {
            "store": "failing" if self.failing else "ok",
            "store_failures": self.failures,
            **({"store_error": self.last_error} if self.failing and self.last_error else {}),
        }
