"""CHATBOT_EMBEDDING_BACKEND: the bundled model exported locally to ONNX gives the torch
model's vectors, and the bot built with it gives the same answers (figures: bench/)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chatbot.config import ConfigError, load_settings
from chatbot.embedding import FakeEmbedder
from chatbot.fast_embedding import OnnxEmbedder, length_groups, onnx_file, query_embedder

TEXTS = [
    "Why would low iron give me restless legs?",
    "rls",
    "my legs feel fizzy and creepy crawly every night when I lie down " * 30,  # over 256 pieces
    "Ekbom beschrieb 1945 das Syndrom; ¿qué es? 🦵",
]
QUESTIONS = ["What causes restless legs?", "can pregnancy cause rls", "what is mesotherapy"]


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def onnx_embedder(onnx_cache: Path) -> OnnxEmbedder:
    return OnnxEmbedder(onnx_file(onnx_cache), threads=1)


def test_onnx_gives_the_torch_model_s_vectors_and_word_pieces(real_embedder, onnx_embedder):
    assert (onnx_embedder.name, onnx_embedder.dim) == (real_embedder.name, real_embedder.dim)
    ours, theirs = onnx_embedder.encode(TEXTS), real_embedder.encode(TEXTS)
    assert ours.dtype == np.float32 and ours.shape == theirs.shape
    assert np.abs(ours - theirs).max() < 1e-5
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    for text in TEXTS:
        assert onnx_embedder.count_word_pieces(text) == real_embedder.count_word_pieces(text)
    assert onnx_embedder.encode([]).shape == (0, onnx_embedder.dim)


def test_a_batch_of_mixed_lengths_gives_each_text_its_own_vector_bit_for_bit(onnx_embedder):
    # The batch is cut into calls by length and padded call by call: a text's vector must not
    # depend on the texts it came with (the answers are compared byte for byte, bench/).
    texts = [*TEXTS, *QUESTIONS, "iron", "rls " * 40, *QUESTIONS]
    together = onnx_embedder.encode(texts)
    for i, text in enumerate(texts):
        assert np.array_equal(together[i], onnx_embedder.encode([text])[0]), text


def test_length_groups_cut_long_texts_from_short_ones_when_padding_costs_more_than_a_call():
    lengths = [5, 120, 6, 7, 118, 5]
    groups = length_groups(lengths, call=12)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    assert sorted(map(sorted, groups)) == [[0, 2, 3, 5], [1, 4]]
    assert length_groups([9, 11, 10], call=12) == [[0, 2, 1]]  # padding 3 pieces: one call
    assert [len(g) for g in length_groups([8] * 70, call=12, most=32)] == [6, 32, 32]
    assert length_groups([]) == []


def test_the_export_is_made_once_and_kept(onnx_cache: Path, onnx_embedder):
    path = onnx_file(onnx_cache)
    assert path == onnx_embedder.path and path.parent == onnx_cache
    before = path.stat().st_mtime_ns
    assert onnx_file(onnx_cache).stat().st_mtime_ns == before
    assert not [p for p in onnx_cache.iterdir() if p.name.startswith(".")]  # no temp left


def test_a_bot_on_onnx_answers_as_the_torch_one(real_settings, real_embedder, onnx_cache):
    from chatbot.pipeline import Bot, open_index

    index = open_index(real_settings, real_embedder, rebuild=False)
    torch_bot = Bot(real_settings, index, real_embedder)
    onnx_bot = Bot(real_settings, index, query_embedder("onnx", real_embedder, onnx_cache, 1))
    for q in QUESTIONS:
        a, b = torch_bot.ask(q), onnx_bot.ask(q)
        assert (a.status, a.answer) == (b.status, b.answer)
        assert [(c.article, c.start, c.end) for c in a.citations] == [
            (c.article, c.start, c.end) for c in b.citations
        ]


def test_the_backend_setting_defaults_to_onnx_and_refuses_unknown_ones(monkeypatch, tmp_path):
    assert load_settings().web.embedding_backend == "onnx"
    monkeypatch.setenv("CHATBOT_EMBEDDING_BACKEND", "tensorrt")
    with pytest.raises(ConfigError, match="CHATBOT_EMBEDDING_BACKEND"):
        load_settings()
    fake = FakeEmbedder()  # a test's fake is never swapped for the real model
    assert query_embedder("onnx", fake, tmp_path, 1) is fake
    assert query_embedder("torch", fake, tmp_path, 1) is fake


def test_a_failed_export_leaves_the_bot_on_torch_with_a_warning(
    real_embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog
):
    import chatbot.fast_embedding as fast

    def broken(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(fast, "export_onnx", broken)
    with caplog.at_level("WARNING", logger="chatbot.embedding"):
        chosen = query_embedder("onnx", real_embedder, tmp_path / "empty", 1)
    assert chosen is real_embedder
    assert "No space left on device" in caplog.text and "torch" in caplog.text
    assert not list((tmp_path / "empty").glob("*.onnx"))
