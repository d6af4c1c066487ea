"""The whole question path in one place: safety → retrieval → evidence → answer → log.

Every front end (CLI, chat, widget, HTTP API, eval) calls ``Bot.ask`` so they all behave alike.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from chatbot import messages
from chatbot.answer import Answer, compose, select_sentences
from chatbot.config import Settings
from chatbot.corpus import Article, load_corpus
from chatbot.embedding import Embedder
from chatbot.errors import BadInputError, IndexCorruptError, IndexMissingError, IndexStaleError
from chatbot.index import LoadedIndex, build_index, load_index
from chatbot.retrieval import Retriever, topic_words
from chatbot.safety import (
    clean_question,
    detect_emergency,
    detect_emergency_followup,
    emergency_contacts,
    is_personal_advice,
    overlong_emergency,
)


@dataclass(frozen=True)
class Turn:
    """One earlier message of the conversation."""

    role: str  # "user" or "assistant"
    content: str


class AnswerLog(Protocol):
    """Where answers go for staff review, and what staff decided flows back from."""

    def excluded_spans(
        self, articles: Mapping[str, Article] | None = None
    ) -> set[tuple[str, int, int]]: ...

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
    """

    def __init__(
        self,
        store: AnswerLog | None,
        opener: Callable[[], AnswerLog] | None = None,
        error: str = "",
    ) -> None:
        self.store = store
        self._opener = opener
        self._lock = threading.Lock()
        self._last_try = time.monotonic()
        self._excluded: set[tuple[str, int, int]] = set()
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

    def excluded_spans(
        self, articles: Mapping[str, Article] | None = None
    ) -> set[tuple[str, int, int]]:
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

    def reviewed_answer(self, question: str, articles: Mapping[str, Article], disclaimer: str):  # type: ignore[no-untyped-def]
        store = self._current()
        lookup = getattr(store, "reviewed_answer", None)
        if lookup is None:
            return None
        try:
            return lookup(question, articles, disclaimer)
        except Exception as exc:
            self._failed("look up a reviewed answer", exc)
            return None

    def health(self) -> dict[str, object]:
        """What ``/healthz`` says of the store: "ok" or "failing", with the failure count."""
        return {
            "store": "failing" if self.failing else "ok",
            "store_failures": self.failures,
            **({"store_error": self.last_error} if self.failing and self.last_error else {}),
        }


# A message this short that refers back ("it", "she", "those", "as well") is read with the
# earlier turn's topic: patients and carers write whole sentences around a follow-up ("Thank
# you. In the meantime, is there anything she can safely take for it?").
FOLLOW_UP_MAX_WORDS = 25
_FOLLOW_UP = re.compile(
    r"^(and|but|also|what about|how about|what if|so|then|or|is it|does it|can it|why)\b"
    r"|\b(it|this|that|they|them|those|these|she|he|her|him|his|as well)\b",
    re.IGNORECASE,
)


def retrieval_query(
    question: str, history: Sequence[Turn], known: Callable[[str], bool] | None = None
) -> str:
    """The text to search with: a short follow-up is read with the topic of the last user turn.

    "and in pregnancy?" after "What causes restless legs?" is searched as "and in pregnancy?
    (causes restless legs)": the earlier turn's topic words only, after the new question, so the
    new question still leads ("why are they worse at night" after "what are the symptoms" must
    find sentences about the night, not the symptoms again). With ``known`` (the retriever's
    ``knows``), only the earlier words the articles use are carried over: "my legs go nuts
    every night, i pace" brings "legs night", not the story. A question that stands alone is
    returned unchanged.
    """
    previous = [t.content for t in history if t.role == "user" and t.content.strip()]
    if not previous:
        return question
    words = len(question.split())
    if words <= 6 or (words <= FOLLOW_UP_MAX_WORDS and _FOLLOW_UP.search(question)):
        topic = topic_words(previous[-1])
        if known is not None:
            topic = " ".join(w for w in topic.split() if known(w))
        return f"{question} ({topic})" if topic else question
    return question


def open_index(settings: Settings, embedder: Embedder, rebuild: bool) -> LoadedIndex:
    """Load the index; with ``rebuild`` build it when it is missing, stale or damaged."""
    articles = load_corpus(Path(settings.corpus_dir))
    try:
        return load_index(
            settings.index_dir, articles, embedder, settings.chunk_tokens, settings.overlap_tokens
        )
    except (IndexMissingError, IndexStaleError, IndexCorruptError):
        if not rebuild:
            raise
    build_index(
        articles, embedder, settings.index_dir, settings.chunk_tokens, settings.overlap_tokens
    )
    return load_index(
        settings.index_dir, articles, embedder, settings.chunk_tokens, settings.overlap_tokens
    )


class Bot:
    """Answers questions from a loaded index.

    Args:
        settings: The configuration.
        index: A loaded index (see ``open_index``).
        embedder: The embedder the index was built with.
        log: Optional answer log (the review store); without one nothing is recorded.
    """

    def __init__(
        self,
        settings: Settings,
        index: LoadedIndex,
        embedder: Embedder,
        log: AnswerLog | None = None,
    ) -> None:
        self.settings = settings
        self.index = index
        self.embedder = embedder
        self.retriever = Retriever(index, embedder)
        # Answering never depends on the log: every call to it goes through the guard.
        self.log = log if log is None or isinstance(log, GuardedLog) else GuardedLog(log)

    @property
    def store(self) -> AnswerLog | None:
        """The review store itself (staff tools read and write it), or None."""
        return self.log.store if self.log is not None else None

    def ask(
        self,
        question: object,
        history: Sequence[Turn] = (),
        channel: str = "api",
        conversation: str | None = None,
    ) -> Answer:
        """Answer one message and log it.

        Args:
            question: The user's message (anything; it is checked here).
            history: Earlier turns of the same conversation, oldest first.
            channel: Where it came from ("chat", "widget", "api", "cli", "batch", "eval").
            conversation: An id grouping the turns of one conversation in the log.

        Raises:
            BadInputError: the message is empty, too long or not text.
        """
        s = self.settings
        t0 = time.perf_counter()
        try:
            text = clean_question(question, s.max_question_chars)
            # Emergencies first, before any retrieval: the reply says to call for help, no more.
            # One may be told over two messages, so the last user turn is read with this one.
            previous = next((t.content for t in reversed(history) if t.role == "user"), "")
            emergency = detect_emergency(text) or detect_emergency_followup(text, previous)
        except BadInputError:
            # Too long to answer is not too long to be an emergency: that reply is never lost.
            overlong = overlong_emergency(question, s.max_question_chars)
            if overlong is None:
                raise
            text, emergency = overlong
        timings: dict[str, float] = {}

        if emergency is not None:
            number, crisis_line = emergency_contacts(s.country, s.emergency_number, s.crisis_line)
            answer = Answer(
                status="emergency",
                answer=messages.emergency_text(number, crisis_line, emergency.category),
                citations=[],
                disclaimer=s.disclaimer,
                reason=emergency.category,
            )
        elif (reviewed := self._reviewed_answer(text, history)) is not None:
            answer = reviewed
        else:
            query = retrieval_query(text, history, self.retriever.knows)
            t = time.perf_counter()
            qvec, side = self.retriever.read(query, own=text)
            timings["embed_ms"] = (time.perf_counter() - t) * 1000
            t = time.perf_counter()
            passages = self.retriever.search(query, qvec, s.top_k)
            excluded = self.log.excluded_spans(self.index.articles) if self.log else set()
            candidates = self.retriever.candidate_sentences(
                passages, qvec, excluded, query=query, side=side, own=text
            )
            timings["search_ms"] = (time.perf_counter() - t) * 1000
            t = time.perf_counter()
            chosen = select_sentences(candidates, self.index, s.max_quotes, s.min_relevance)
            confidence = candidates[0].relevance if candidates else 0.0
            answer = compose(chosen, self.index, s.disclaimer, s.clinic_contact, confidence)
            if is_personal_advice(text):
                answer = _personal_advice(answer, s.clinic_contact)
            timings["compose_ms"] = (time.perf_counter() - t) * 1000
        timings["total_ms"] = (time.perf_counter() - t0) * 1000
        answer.timings = timings
        if self.log is not None:
            self.log.log_answer(text, answer, history, channel, conversation)
        return answer

    def _reviewed_answer(self, text: str, history: Sequence[Turn]) -> Answer | None:
        """The answer staff marked correct for this same question, re-checked against the
        current articles and exclusions by the store (see ``Store.reviewed_answer``)."""
        if self.log is None:
            return None
        # A follow-up read with its context, or a request for personal advice, is answered afresh.
        follow_up = retrieval_query(text, history, self.retriever.knows) != text
        if follow_up or is_personal_advice(text):
            return None
        answer: Answer | None = self.log.reviewed_answer(
            text, self.index.articles, self.settings.disclaimer
        )
        return answer


def _personal_advice(answer: Answer, contact: str) -> Answer:
    """A request for personal advice: say so first; general quotes may follow, still cited."""
    head = messages.personal_advice_text(contact)
    if answer.citations:
        body = answer.answer.replace(messages.ANSWER_INTRO, messages.PERSONAL_ADVICE_GENERAL, 1)
        text = f"{head}\n\n{body}"
    else:
        text = head
    return Answer(
        status="no_answer",
        answer=text,
        citations=answer.citations,
        disclaimer=answer.disclaimer,
        id=answer.id,
        reason="personal_advice",
        confidence=answer.confidence,
    )
