"""The whole question path in one place, and the one place that builds it.

``Bot.ask``: hygiene → triage (rules; then the learned layers on the vectors of the retrieval
reading) → reviewed answer → retrieval → evidence → answer (under the safety-net line) → log.
Every front end (CLI, chat, widget, HTTP API, eval) calls it, so they all behave alike.
``build_bot(settings)`` is the composition root: the CLI and the web app both get their bot
from it (model, index, serving wrapper, review store).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from chatbot import messages
from chatbot.answer import compose, select_sentences
from chatbot.answer.compose import with_cautions
from chatbot.answer.select import words
from chatbot.config import Settings
from chatbot.corpus import load_corpus
from chatbot.embedding import AnswerSlots, Embedder, QueryEmbedder, limit_model_threads
from chatbot.errors import BadInputError, IndexCorruptError, IndexMissingError, IndexStaleError
from chatbot.fast_embedding import query_embedder
from chatbot.index import LoadedIndex, build_index, load_index
from chatbot.retrieval import Retriever, retrieval_query
from chatbot.retrieval.intent import as_oneself
from chatbot.review.guard import AnswerLog, GuardedLog
from chatbot.safety.advice import asks_personal_advice, is_personal_advice
from chatbot.safety.contacts import country_lines, emergency_contacts
from chatbot.safety.emergency import overlong_emergency
from chatbot.safety.hygiene import clean_question
from chatbot.safety.model import triage_model
from chatbot.safety.triage import Triage
from chatbot.structure import apply_inputs, read_inputs
from chatbot.types import Answer, Turn


def disclaimer_of(settings: Settings) -> str:
    """The one disclaimer wording, everywhere: the configured one (or the default), saying it
    is an automated assistant, and naming the configured emergency number."""
    safety = settings.safety
    number, _ = emergency_contacts(safety.country, safety.emergency_number, safety.crisis_line)
    return messages.disclaimer_text(settings.clinic.disclaimer, number)


def open_index(settings: Settings, embedder: Embedder, rebuild: bool) -> LoadedIndex:
    """Load the index; with ``rebuild`` build it when it is missing, stale or damaged."""
    paths, chunking = settings.paths, settings.chunking
    articles = load_corpus(Path(paths.corpus_dir))
    size = (chunking.chunk_tokens, chunking.overlap_tokens)
    try:
        return load_index(paths.index_dir, articles, embedder, *size)
    except (IndexMissingError, IndexStaleError, IndexCorruptError) as exc:
        if not rebuild:
            raise
        logging.getLogger("chatbot.index").warning("%s: rebuilding it now", exc)
    build_index(articles, embedder, paths.index_dir, *size)
    return load_index(paths.index_dir, articles, embedder, *size)


def open_log(settings: Settings, read_only: bool = False) -> GuardedLog:
    """The review store behind its guard: a store that cannot be opened (a read-only or full
    data folder) leaves the bot answering, with the failure reported by ``/healthz``."""
    from chatbot.review.store import open_store

    def opener() -> AnswerLog:
        return open_store(settings)

    try:
        return GuardedLog(opener(), opener, read_only=read_only)
    except Exception as exc:
        logging.getLogger("chatbot.review").error(
            "review store: cannot open it (%s); answering without a log until it can", exc
        )
        return GuardedLog(None, opener, f"open: {exc}", read_only=read_only)


def build_bot(
    settings: Settings,
    embedder: Embedder | None = None,
    *,
    rebuild: bool = False,
    serving: bool = False,
    log: bool = True,
    read_only_log: bool = False,
) -> Bot:
    """The bot the CLI, the web app and the eval use.

    Args:
        settings: The configuration.
        embedder: The model (default: all-MiniLM-L6-v2 from its PyPI package).
        rebuild: Build the index when it is missing, stale or damaged (the app); the CLI
            refuses instead, with a message to run ``ingest``.
        serving: Many patients at once: query embeddings micro-batched and cached by one worker
            thread (``embedding.QueryEmbedder``), the model on all cores but one.
        log: Attach the review store (answers logged, staff decisions read back).
        read_only_log: Read staff decisions but log nothing (``chatbot eval``).
    """
    if embedder is None:
        from chatbot.embedding import SentenceTransformerEmbedder

        embedder = SentenceTransformerEmbedder()
    index = open_index(settings, embedder, rebuild=rebuild)  # built with torch, always
    numpy_on_one_thread()
    threads = limit_model_threads(settings.web.workers) if serving else (os.cpu_count() or 1)
    web = settings.web
    embedder = query_embedder(web.embedding_backend, embedder, web.model_cache_dir, threads)
    slots = AnswerSlots(web.answer_slots) if serving else None
    if serving:
        embedder = QueryEmbedder(embedder, cache_size=web.query_cache_size, slots=slots)
    store = open_log(settings, read_only=read_only_log) if log else None
    return Bot(settings, index, embedder, log=store, slots=slots)


def numpy_on_one_thread() -> None:
    """numpy's BLAS on one thread for the rest of the process. An answer's products are small
    (a few hundred sentences by 384): a second BLAS thread only hands work over and spins, which
    cost selection 5x its single-thread time on this 2-core machine, and takes the core the
    model and the other requests need. The results are the same (the threads split the rows,
    not the sums): ``bench/same_answers.py``. The model (torch, ONNX Runtime) and FAISS keep
    their own thread pools."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


class Bot:
    """Answers questions from a loaded index.

    Args:
        settings: The configuration.
        index: A loaded index (see ``open_index``).
        embedder: The embedder the index was built with (served: the batching one).
        log: Optional answer log (the review store); without one nothing is recorded.
        slots: Served: how many answers run their Python at once (``embedding.AnswerSlots``).
    """

    def __init__(
        self,
        settings: Settings,
        index: LoadedIndex,
        embedder: Embedder,
        log: AnswerLog | None = None,
        slots: AnswerSlots | None = None,
    ) -> None:
        self.settings = settings
        self.slots = slots
        self.embedder = embedder
        safety = settings.safety
        lines = country_lines(
            safety.country, safety.emergency_number, safety.crisis_line, safety.poison_line
        )
        # Triage's learned layers read the message's vectors from the retriever's own model call.
        model = triage_model(
            Path(settings.paths.index_dir), embedder, cache_dir=settings.web.model_cache_dir
        )
        self.triage = Triage(model, embedder, lines)
        # The index and its retriever are swapped together (``swap_index``); a question in
        # progress keeps the pair it started with (``_pinned``), so none fails during a swap.
        self._served = (index, self._retriever_for(index))
        self._pinned = threading.local()
        # Answering never depends on the log: every call to it goes through the guard.
        self.log = log if log is None or isinstance(log, GuardedLog) else GuardedLog(log)
        safety = settings.safety
        self.emergency_number, self.crisis_line = emergency_contacts(
            safety.country, safety.emergency_number, safety.crisis_line
        )
        self.disclaimer = disclaimer_of(settings)

    @property
    def index(self) -> LoadedIndex:
        return (getattr(self._pinned, "served", None) or self._served)[0]

    @property
    def retriever(self) -> Retriever:
        return (getattr(self._pinned, "served", None) or self._served)[1]

    def swap_index(self, index: LoadedIndex) -> None:
        """Serve ``index`` from now on (a background re-index): its retriever is built first,
        then both replace the old pair in one assignment."""
        self._served = (index, self._retriever_for(index))

    def _retriever_for(self, index: LoadedIndex) -> Retriever:
        """A retriever over ``index`` with staff's corrections to the articles' structure (facet
        overrides in a header, dubious claims in corpus/README.md), read now: an edit needs no
        re-ingest, and a re-index reads them again."""
        facts = apply_inputs(
            index.structure, index.sentences, read_inputs(self.settings.paths.corpus_dir)
        )
        return Retriever(index, self.triage.embedder, self.settings.retrieval.weights, facts)

    def ask(
        self,
        question: object,
        history: Sequence[Turn] = (),
        channel: str = "api",
        conversation: str | None = None,
    ) -> Answer:
        """Answer one message and log it (see ``_ask``), with one index throughout."""
        outer = getattr(self._pinned, "served", None)
        self._pinned.served = outer or self._served
        try:
            with self.slots.held() if self.slots is not None else nullcontext():
                text, answer = self._ask(question, history)
            if self.log is not None:
                # After the answer's slot is given back: the store's write can wait on a disk, a
                # lock or a database server while other answers run, and the thread does not
                # queue for a slot again only to hand it straight back (under load that second
                # wait, in the line of answers back from the model, was ~90 ms an answer).
                self.log.log_answer(text, answer, history, channel, conversation)
            return answer
        finally:
            self._pinned.served = outer

    @property
    def store(self) -> AnswerLog | None:
        """The review store itself (staff tools read and write it), or None."""
        return self.log.store if self.log is not None else None

    def _ask(self, question: object, history: Sequence[Turn] = ()) -> tuple[str, Answer]:
        """Answer one message: the message as cleaned (what is logged) and the answer.

        Args:
            question: The user's message (anything; it is checked here).
            history: Earlier turns of the same conversation, oldest first.

        Raises:
            BadInputError: the message is empty, too long or not text.
        """
        s = self.settings
        max_chars = s.safety.max_question_chars
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        try:
            text = clean_question(question, max_chars)
        except BadInputError:
            # Too long to answer is not too long to be an emergency: that reply is never lost.
            overlong = overlong_emergency(question, max_chars)
            if overlong is None:
                raise
            text, verdict = overlong[0], self.triage.from_rules(overlong[1])
        else:
            # Triage first: the rules read the text before anything else (an emergency told over
            # two messages too); the learned layers' texts ride along in the retrieval reading.
            previous = next((t.content for t in reversed(history) if t.role == "user"), "")
            # The question read (issue 15): someone else's question as one's own, a follow-up
            # with the earlier turn.
            asked = as_oneself(text)
            query = retrieval_query(asked, history, self.retriever.knows)

            def read() -> tuple[Any, Any]:
                t = time.perf_counter()
                try:
                    return self.retriever.read(query, own=asked)
                finally:
                    timings["embed_ms"] = (time.perf_counter() - t) * 1000

            t = time.perf_counter()
            verdict = self.triage.assess(text, previous, read)
            triage_ms = (time.perf_counter() - t) * 1000 - timings.get("embed_ms", 0.0)
            timings["triage_ms"] = triage_ms

        if verdict.tier == "emergency":
            # The reply says what to do now and whom to call, no more.
            answer = Answer(
                status="emergency",
                answer=self.triage.emergency_text(verdict),
                citations=[],
                disclaimer=self.disclaimer,
                reason=verdict.category,
            )
        elif (reviewed := self._reviewed_answer(text, history)) is not None:
            answer = reviewed
        else:
            qvec, side = verdict.reading
            t = time.perf_counter()
            passages = self.retriever.search(query, qvec, s.retrieval.top_k)
            excluded = self.log.excluded_spans(self.index.articles) if self.log else set()
            candidates = self.retriever.candidate_sentences(
                passages, qvec, excluded, query=query, side=side, own=asked
            )
            intent = self.retriever.intent(asked, qvec, side)
            facts = self.retriever.facts
            # -- end of the question read
            timings["search_ms"] = (time.perf_counter() - t) * 1000
            t = time.perf_counter()
            a = s.answer
            chosen = select_sentences(
                candidates,
                self.index,
                a.max_quotes,
                a.min_relevance,
                a.weights,
                intent,
                facts,
                self.retriever.facet_scores,
            )
            confidence = candidates[0].relevance if candidates else 0.0
            contact = s.clinic.clinic_contact
            # Learned from banks that can grow (``safety/advice.py``); the patterns without it.
            vector = verdict.scores.vector if verdict.scores is not None else None
            personal = asks_personal_advice(text, vector, self.embedder.name)
            # The words put around the quotes count towards the answer's cap too.
            around = [self.triage.net_line(verdict)] if verdict.tier == "safety_net" else []
            if personal:
                around += [messages.personal_advice_text(contact), messages.PERSONAL_ADVICE_GENERAL]
            reserve = sum(words(t) for t in around) - (
                words(messages.ANSWER_INTRO) if personal else 0
            )
            answer = compose(
                chosen,
                self.index,
                self.disclaimer,
                contact,
                confidence,
                intent,
                facts,
                a.weights,
                reserve,
            )
            if personal:
                answer = _personal_advice(answer, contact)
            timings["compose_ms"] = (time.perf_counter() - t) * 1000
        # A quote of a claim staff listed as dubious carries their caution (reviewed answers too).
        answer.citations = with_cautions(answer.citations, self.retriever.dubious)
        if verdict.tier == "safety_net":
            answer.answer = f"{self.triage.net_line(verdict)}\n\n{answer.answer}"
        answer.safety = self.triage.safety_field(verdict)
        timings["total_ms"] = (time.perf_counter() - t0) * 1000
        answer.timings = timings
        return text, answer

    def _reviewed_answer(self, text: str, history: Sequence[Turn]) -> Answer | None:
        """The answer staff marked correct for this same question, re-checked against the
        current articles and exclusions by the store (see ``Store.reviewed_answer``)."""
        if self.log is None:
            return None
        # A follow-up read with its context, or a request for personal advice, is answered afresh.
        follow_up = retrieval_query(text, history, self.retriever.knows) != text
        if follow_up or is_personal_advice(text):
            return None
        return self.log.staff_answer(
            text, self.index.articles, self.disclaimer, self.embedder.encode
        )


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
