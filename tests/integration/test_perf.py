"""Serving speed (embedding.QueryEmbedder, pipeline.build_bot(serving=True)) and the large-corpus
paths: same answers, only faster (timings are in bench/)."""

from __future__ import annotations

import functools
import threading
import time

import numpy as np
import pytest

from chatbot import embedding
from chatbot import index as index_module
from chatbot.config import RetrievalWeights
from chatbot.embedding import AnswerSlots, FakeEmbedder, QueryEmbedder
from chatbot.retrieval.fusion import fused_search

QUESTIONS = [
    "What causes restless legs?",
    "Why would low iron give me restless legs?",
    "can pregnancy cause rls",
    "what medicines make restless legs worse",
    "what is mesotherapy",
]


class CountingEmbedder(FakeEmbedder):
    """The fake embedder, slowed down and counting calls, failing on the text 'boom'."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__()
        self.delay = delay
        self.calls: list[list[str]] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        if "boom" in texts:
            raise RuntimeError("model failed")
        time.sleep(self.delay)
        return super().encode(texts)


def test_query_embedder_gives_the_model_s_vectors_and_keeps_its_identity():
    inner = CountingEmbedder()
    fast = QueryEmbedder(inner)
    assert (fast.name, fast.dim) == (inner.name, inner.dim)
    one = fast.encode(["iron and legs"])
    assert one.shape == (1, inner.dim)
    assert np.array_equal(one[0], FakeEmbedder().encode(["iron and legs"])[0])
    many = fast.encode(["a b", "c d"])  # a few texts: cached and batched like one
    assert np.array_equal(many, FakeEmbedder().encode(["a b", "c d"]))
    big = [f"t{i}" for i in range(fast.max_batch + 1)]  # a big batch passes straight through
    assert np.array_equal(fast.encode(big), FakeEmbedder().encode(big))
    assert fast.encode(["a b"]).shape == (1, 64) and fast.hits >= 1
    assert fast.count_word_pieces("iron legs") == inner.count_word_pieces("iron legs")


def test_concurrent_questions_are_batched_and_each_gets_its_own_vector():
    inner = CountingEmbedder(delay=0.05)
    fast = QueryEmbedder(inner, cache_size=0)
    texts = [f"question number {i} about legs" for i in range(16)]
    results: dict[str, np.ndarray] = {}

    def ask(text: str) -> None:
        results[text] = fast.encode([text])[0]

    threads = [threading.Thread(target=ask, args=(t,)) for t in texts]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    reference = FakeEmbedder()
    for text in texts:
        assert np.array_equal(results[text], reference.encode([text])[0])
    assert fast.batches < len(texts)  # while the model works, the others wait together
    assert sum(len(c) for c in inner.calls) == len(texts)
    sizes = fast.stats()["batch_sizes"]  # texts per model call → calls, as /healthz shows it
    assert sum(sizes.values()) == fast.batches == len(inner.calls)
    assert sum(size * calls for size, calls in sizes.items()) == len(texts)
    assert max(sizes) > 1


def _until(check, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_answers_hold_a_slot_but_hand_it_on_while_they_wait_for_the_model():
    # One slot: one answer's Python at a time, yet the questions waiting for the model still
    # make one batch (a thread waiting for its vector gives its slot to the next question).
    slots = AnswerSlots(1)
    inner = CountingEmbedder(delay=0.05)
    fast = QueryEmbedder(inner, cache_size=0, slots=slots)
    inside, most = [0], [0]
    guard = threading.Lock()

    def answer(i: int) -> None:
        with slots.held():
            with guard:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.002)  # the answer's own Python
            with guard:
                inside[0] -= 1
            fast.encode([f"question {i}"])
            with guard:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.002)
            with guard:
                inside[0] -= 1

    threads = [threading.Thread(target=answer, args=(i,)) for i in range(12)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert most[0] == 1
    assert max(fast.stats()["batch_sizes"]) > 1
    assert sum(len(c) for c in inner.calls) == 12
    # All slots free again, a new answer does not wait; re-entrant, a nested hold keeps its slot.
    with slots.held(), slots.held():
        assert slots._free == 0


def test_a_freed_slot_goes_to_the_answer_back_from_the_model_then_to_the_longest_waiter():
    slots = AnswerSlots(1)
    order: list[str] = []
    back = threading.Event()

    def returning() -> None:  # holds the slot, waits for the model, then finishes
        with slots.held():
            with slots.handed_on():
                back.wait(10)
            order.append("returning")

    def new(name: str, release: threading.Event | None = None) -> None:
        with slots.held():
            order.append(name)
            if release is not None:
                release.wait(10)

    r = threading.Thread(target=returning)
    r.start()
    _until(lambda: slots._free == 1)  # it handed its slot on while it waits
    go_on = threading.Event()
    first = threading.Thread(target=new, args=("first", go_on))
    first.start()
    _until(lambda: order == ["first"])
    later = []
    for name in ("second", "third"):
        t = threading.Thread(target=new, args=(name,))
        t.start()
        later.append(t)
        _until(functools.partial(lambda n: len(slots._new) == n, len(later)))
    back.set()  # the model's vector is back: that answer queues before the new questions
    _until(lambda: len(slots._returning) == 1)
    go_on.set()
    for t in (r, first, *later):
        t.join()
    assert order == ["first", "returning", "second", "third"]
    assert slots._free == 1


def test_one_call_s_texts_go_to_the_model_together():
    # A question and its side reading are one model call: queued one by one, the idle worker
    # woke at the first text and embedded it alone, then the second in a call of its own.
    inner = CountingEmbedder()
    fast = QueryEmbedder(inner, cache_size=4)
    queue_one = fast._submit

    def slow_queue_one(text: str):  # a request thread that loses its core between two texts
        queued = queue_one(text)
        time.sleep(0.005)
        return queued

    fast._submit = slow_queue_one  # type: ignore[method-assign]
    for i in range(50):
        vectors = fast.encode([f"legs {i}", f"iron {i}", f"sleep {i}"])
        assert inner.calls[-1] == [f"legs {i}", f"iron {i}", f"sleep {i}"]
        assert np.array_equal(vectors, FakeEmbedder().encode(inner.calls[-1]))
    assert fast.batches == len(inner.calls) == 50
    fast.encode(["sleep 49", "new one", "other one"])  # a cached one is left out of the call
    assert inner.calls[-1] == ["new one", "other one"]


class TwoCallEmbedder(FakeEmbedder):
    """A batch cut in two model calls (as ``OnnxEmbedder.encode_calls`` cuts it by length): the
    texts with 'short' first; the second call waits until the test lets it go on."""

    def __init__(self) -> None:
        super().__init__()
        self.go_on = threading.Event()

    def encode_calls(self, texts: list[str]):
        short = [i for i, t in enumerate(texts) if "short" in t]
        rest = [i for i in range(len(texts)) if i not in short]
        yield short, super().encode([texts[i] for i in short])
        if not self.go_on.wait(10):
            raise RuntimeError("the second call was never let go")
        if any(texts[i] == "boom" for i in rest):
            raise RuntimeError("model failed")
        yield rest, super().encode([texts[i] for i in rest])


def test_each_model_call_s_questions_go_on_before_the_batch_ends():
    inner = TwoCallEmbedder()
    fast = QueryEmbedder(inner, cache_size=0)
    queued = fast._submit_all(["short one", "a longer one", "short one", "boom"])  # one batch
    reference = FakeEmbedder()
    # The first call's texts (both waiting for "short one") are answered while the second
    # call is still held back.
    assert np.array_equal(queued[0].result(5), reference.encode(["short one"])[0])
    assert queued[2].result(0) is queued[0].result(0)
    assert not queued[1].done() and not queued[3].done()
    inner.go_on.set()
    with pytest.raises(RuntimeError, match="model failed"):  # the failed call's callers only
        queued[1].result(5)
    assert isinstance(queued[3].exception(5), RuntimeError)
    both = fast.encode(["short two", "a longer two"])  # the worker lived on
    assert np.array_equal(both, reference.encode(["short two", "a longer two"]))
    assert fast.stats()["batch_sizes"] == {1: 3}  # texts per model call, as the model got them


def test_cache_hits_skip_the_model_and_evict_least_recent():
    inner = CountingEmbedder()
    fast = QueryEmbedder(inner, cache_size=2)
    fast.encode(["a"])
    fast.encode(["b"])
    fast.encode(["a"])  # hit; "a" becomes most recent
    assert (fast.hits, len(inner.calls)) == (1, 2)
    fast.encode(["c"])  # evicts "b"
    fast.encode(["a"])
    assert len(inner.calls) == 3
    fast.encode(["b"])
    assert len(inner.calls) == 4


def test_cache_off_always_runs_the_model():
    inner = CountingEmbedder()
    fast = QueryEmbedder(inner, cache_size=0)
    for _ in range(3):
        fast.encode(["same question"])
    assert len(inner.calls) == 3 and fast.stats()["cached"] == 0


def test_model_threads_leave_a_core_for_the_web_server():
    import os

    import torch

    before = torch.get_num_threads()
    try:
        assert embedding.limit_model_threads() == max(1, (os.cpu_count() or 2) - 1)
        assert torch.get_num_threads() == max(1, (os.cpu_count() or 2) - 1)
    finally:
        torch.set_num_threads(before)


def test_a_model_error_reaches_the_caller_and_the_worker_lives_on():
    fast = QueryEmbedder(CountingEmbedder())
    with pytest.raises(RuntimeError, match="model failed"):
        fast.encode(["boom"])
    assert fast.encode(["still working"]).shape == (1, 64)


def test_served_bot_answers_exactly_as_before(real_bot, real_settings, real_embedder, monkeypatch):
    from chatbot import pipeline

    monkeypatch.setattr(
        pipeline, "limit_model_threads", lambda processes=1: 1
    )  # keep the session's torch

    plain = pipeline.Bot(real_settings, real_bot.index, real_embedder)
    tuned = pipeline.build_bot(
        real_settings.replace(query_cache_size=16), real_embedder, serving=True, log=False
    )
    fast = tuned.embedder
    assert isinstance(fast, QueryEmbedder) and tuned.retriever.embedder.inner is fast
    for round_ in range(2):
        before = fast.misses
        for q in QUESTIONS:
            a, b = plain.ask(q), tuned.ask(q)
            assert (a.status, a.answer) == (b.status, b.answer)
            assert [(c.article, c.start, c.end) for c in a.citations] == [
                (c.article, c.start, c.end) for c in b.citations
            ]
        if round_ == 1:
            assert fast.misses == before  # repeated questions never reach the model
    assert fast.hits >= len(QUESTIONS)


def test_large_corpus_search_path_matches_the_exact_one(real_bot, real_embedder, monkeypatch):
    """With every chunk a candidate, the FAISS top-k fusion ranks exactly as the full one."""
    retriever = real_bot.retriever
    n = len(real_bot.index.chunks)
    assert n <= RetrievalWeights().fusion_candidates
    expected = {}
    for q in QUESTIONS:
        qvec = real_embedder.encode([q])[0]
        expected[q] = (qvec, retriever.search(q, qvec, 8))
    large = retriever.weights.model_copy(update={"exact_search_max": 0})
    monkeypatch.setattr(retriever, "weights", large)
    for q, (qvec, exact) in expected.items():
        fast = retriever.search(q, qvec, 8)
        assert [p.chunk.chunk_id for p in fast] == [p.chunk.chunk_id for p in exact]
        for a, b in zip(fast, exact, strict=True):
            assert a.fused == pytest.approx(b.fused, abs=1e-12)
            assert a.dense == pytest.approx(b.dense, abs=1e-5)
            assert a.lexical == pytest.approx(b.lexical, abs=1e-9)


def test_fused_search_scores_a_lexical_only_candidate_with_its_true_cosine():
    import faiss

    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((50, 16)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    flat = faiss.IndexFlatIP(16)
    flat.add(vecs)
    q = vecs[3]
    worst = int(np.argmin(vecs @ q))
    lexical = np.zeros(50)
    lexical[worst] = 5.0
    hits = fused_search(flat, q, lexical, k=3, candidates=2, rrf_k=60)
    by_id = {ci: (fused, dense, lex) for ci, fused, dense, lex in hits}
    assert hits[0][0] == 3  # best dense (itself), rank 1
    assert worst in by_id  # best lexical, fused with rank 1 too
    assert by_id[worst][1] == pytest.approx(float(vecs[worst] @ q), abs=1e-6)
    assert by_id[worst][2] == 5.0
    everything = fused_search(flat, q, None, k=60, candidates=100, rrf_k=60)
    assert everything[0][0] == 3 and len(everything) == 50


def test_a_large_index_is_built_as_hnsw_and_still_loads_and_searches(
    tiny_corpus, tmp_path, fake_embedder, monkeypatch
):
    from chatbot.corpus import load_corpus
    from chatbot.index import build_index, load_index, read_manifest
    from chatbot.retrieval import Retriever

    monkeypatch.setattr(index_module, "FLAT_MAX_CHUNKS", 1)
    articles = load_corpus(tiny_corpus)
    target = tmp_path / "index"
    build_index(articles, fake_embedder, target, 64, 16)
    assert read_manifest(target)["index_type"] == "IndexHNSWFlat"
    loaded = load_index(target, articles, fake_embedder, 64, 16)
    assert type(loaded.faiss_index).__name__ == "IndexHNSWFlat"
    assert loaded.faiss_index.hnsw.efSearch == index_module.HNSW_EF_SEARCH
    retriever = Retriever(loaded, fake_embedder, RetrievalWeights(exact_search_max=1))
    question = "iron deficiency and restless legs"
    passages = retriever.search(question, fake_embedder.encode([question])[0], 3)
    assert passages and passages[0].chunk.article_id == "iron-and-legs"


def test_real_corpus_stays_on_the_exact_index(real_bot):
    """The clinic's own articles are searched exactly: no approximation where none is needed."""
    assert real_bot.index.manifest["index_type"] == "IndexFlatIP"
    assert type(real_bot.index.faiss_index).__name__ == "IndexFlatIP"
    assert len(real_bot.index.chunks) <= real_bot.retriever.weights.exact_search_max


def test_an_answer_waiting_on_the_store_holds_no_slot(world):
    # One slot, and the first answer's store write stuck (a disk, a lock, a database server):
    # the second answer is still given, and the first thread never queues for a slot again.
    from chatbot.pipeline import Bot
    from chatbot.pipeline import open_index as opened
    from chatbot.review.store import Store

    class StuckStore(Store):
        def __init__(self, path, release: threading.Event) -> None:
            super().__init__(path)
            self.release, self.entered = release, threading.Event()

        def log_answer(self, *args, **kwargs):
            if not self.entered.is_set():
                self.entered.set()
                assert self.release.wait(30)
            return super().log_answer(*args, **kwargs)

    release = threading.Event()
    store = StuckStore(world.store_path, release)
    emb = FakeEmbedder()
    slots = AnswerSlots(1)
    bot = Bot(
        world.settings, opened(world.settings, emb, rebuild=True), emb, log=store, slots=slots
    )
    first = threading.Thread(target=bot.ask, args=("What causes restless legs?",))
    first.start()
    assert store.entered.wait(30)
    assert slots._free == 1  # the stuck write holds no slot
    second = bot.ask("Why would low iron give me restless legs?")
    assert second.status in ("answered", "no_answer")
    with slots.held():  # every slot busy: a thread that wanted one back would wait here
        release.set()
        first.join(10)
        assert not first.is_alive()
    assert slots._free == 1
    assert store.list_answers()[1] == 2  # both logged
