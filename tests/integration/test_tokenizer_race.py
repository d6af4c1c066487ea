"""The tokenizer race: request threads count word pieces (``lexicon.is_common_word``) while the
batching worker embeds a batch with the same model.

The model's tokenizer keeps its padding and truncation as state: a batch call switches padding
on, then encodes; a single word counted in between switched it off again, and the whole batch
failed ("expected sequence of length 25 at dim 1 (got 19)"). The window between the two steps
is a few bytecodes wide, so the test widens it (the tokenizer waits a little after being set up
for a batch) and counts words from other threads all the while; nothing else is changed.
"""

from __future__ import annotations

import threading
import time

import pytest

BATCH = [
    "a short one",
    "Iron deficiency has also been linked to restless leg syndrome, mostly at night.",
    "What helps?",
]


@pytest.fixture
def widened_window(real_embedder, monkeypatch):
    """The model's tokenizer pauses between being set up for a padded batch and encoding it."""
    tokenizer = real_embedder._model.tokenizer
    setup = tokenizer.set_truncation_and_padding

    def setup_then_pause(*args, **kwargs):
        setup(*args, **kwargs)
        if kwargs.get("padding_strategy") is not None and kwargs["padding_strategy"].value != (
            "do_not_pad"
        ):
            time.sleep(0.02)

    monkeypatch.setattr(tokenizer, "set_truncation_and_padding", setup_then_pause)
    return real_embedder


def _errors_while_counting(embed, count, rounds: int = 8) -> list[BaseException]:
    stop = threading.Event()
    errors: list[BaseException] = []
    counted: list[int] = []

    def counter() -> None:
        words = ["pregancy", "faster", "herditary", "ropinirole", "legs"]
        i = 0
        while not stop.is_set():
            try:
                counted.append(count(words[i % len(words)]))
            except BaseException as exc:  # noqa: BLE001 - any failure is the finding
                errors.append(exc)
            i += 1
            time.sleep(0.001)  # a patient's request now and then, not a spinning loop

    threads = [threading.Thread(target=counter) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for _ in range(rounds):
            try:
                vectors = embed(BATCH)
                assert vectors.shape == (len(BATCH), 384)
            except AssertionError:
                raise
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert counted, "the counting threads never ran"
    return errors


def _chain(exc: BaseException) -> str:
    parts = []
    while exc is not None:
        parts.append(f"{type(exc).__name__}: {exc}")
        exc = exc.__cause__ or exc.__context__
    return " <- ".join(parts)


def test_counting_word_pieces_never_breaks_the_workers_batch(widened_window):
    from chatbot.embedding import QueryEmbedder

    served = QueryEmbedder(widened_window, cache_size=0)  # the serving path: one worker thread
    errors = _errors_while_counting(served.encode, served.count_word_pieces)
    assert not errors, _chain(errors[0])


def test_direct_batches_and_counting_from_many_threads(widened_window):
    """The same without the worker (index builds and batch jobs call the model directly)."""
    errors = _errors_while_counting(widened_window.encode, widened_window.count_word_pieces)
    assert not errors, _chain(errors[0])


def test_word_piece_counts_are_the_models_own(real_embedder):
    """Counting on a tokenizer of its own gives what the model's tokenizer gives."""
    from helpers import BODIES

    tokenizer = real_embedder._model.tokenizer
    words = {w for art in BODIES.values() for w in art.body.split()[:400]}
    words |= {"pregancy", "herditary", "famlies", "", "a" * 600, "ünïcödé", "🦵 legs"}
    for word in sorted(words):
        assert real_embedder.count_word_pieces(word) == len(
            tokenizer(word, add_special_tokens=True)["input_ids"]
        ), word
