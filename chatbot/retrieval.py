"""Question → ranked passages and candidate sentences: dense (FAISS) fused with BM25."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from chatbot import perf
from chatbot.chunking import Chunk, embed_text
from chatbot.embedding import Embedder
from chatbot.index import LoadedIndex, SentenceRecord

RRF_K = 60


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with its scores (dense = cosine similarity to the question)."""

    chunk: Chunk
    fused: float
    dense: float
    lexical: float


@dataclass(frozen=True)
class ScoredSentence:
    """A candidate sentence with its cosine similarity to the question."""

    record: SentenceRecord
    position: int  # index in the sentence table
    similarity: float
    passage: Passage


class Retriever:
    """Hybrid retrieval over a loaded index.

    Args:
        index: The loaded index.
        embedder: The same embedder the index was built with.
    """

    def __init__(self, index: LoadedIndex, embedder: Embedder) -> None:
        import bm25s
        import Stemmer

        self.index = index
        self.embedder = embedder
        self._stemmer = Stemmer.Stemmer("english")
        self._bm25 = bm25s.BM25()
        texts = [embed_text(c, index.articles[c.article_id].title) for c in index.chunks]
        self._bm25.index(self._tokenize(texts), show_progress=False)
        self._sentences_by_chunk: dict[int, list[int]] = {}
        for pos, sent in enumerate(index.sentences):
            for ci, chunk in enumerate(index.chunks):
                if (
                    chunk.article_id == sent.article_id
                    and chunk.start <= sent.start
                    and sent.end <= chunk.end
                ):
                    self._sentences_by_chunk.setdefault(ci, []).append(pos)

    def _tokenize(self, texts: list[str]) -> list[list[str]]:
        import bm25s

        return bm25s.tokenize(  # type: ignore[no-any-return]
            texts, stopwords="en", stemmer=self._stemmer, return_ids=False, show_progress=False
        )

    def embed_query(self, question: str) -> np.ndarray:
        return self.embedder.encode([question])[0]

    def search(self, question: str, qvec: np.ndarray, k: int) -> list[Passage]:
        """Top ``k`` chunks by reciprocal-rank fusion of dense and BM25 rankings."""
        n = len(self.index.chunks)
        if n > perf.EXACT_SEARCH_MAX:  # a large corpus: FAISS's own top-k, candidate-limited RRF
            words = self._tokenize([question])[0]
            scores = np.asarray(self._bm25.get_scores(words)) if words else None
            hits = perf.fused_search(self.index.faiss_index, qvec, scores, k, rrf_k=RRF_K)
            return [Passage(self.index.chunks[ci], f, d, lx) for ci, f, d, lx in hits]
        dense = np.asarray(self.index.faiss_index.reconstruct_n(0, n)) @ qvec if n else np.array([])
        tokens = self._tokenize([question])[0]
        lexical = np.asarray(self._bm25.get_scores(tokens)) if tokens else np.zeros(n)
        dense_rank = np.argsort(-dense)
        fused = np.zeros(n)
        for rank, ci in enumerate(dense_rank):
            fused[ci] += 1.0 / (RRF_K + rank + 1)
        if lexical.any():
            for rank, ci in enumerate(np.argsort(-lexical)):
                if lexical[ci] <= 0:
                    break
                fused[ci] += 1.0 / (RRF_K + rank + 1)
        order = np.argsort(-fused)[:k]
        return [
            Passage(self.index.chunks[ci], float(fused[ci]), float(dense[ci]), float(lexical[ci]))
            for ci in order
        ]

    def candidate_sentences(
        self, passages: Iterable[Passage], qvec: np.ndarray, excluded: set[tuple[str, int, int]]
    ) -> list[ScoredSentence]:
        """Non-heading sentences of the passages, scored by cosine to the question, best first.

        ``excluded`` holds (article_id, start, end) spans staff took out of answers; a sentence
        overlapping any of them is never offered.
        """
        seen: set[int] = set()
        out: list[ScoredSentence] = []
        chunk_pos = {id(c): i for i, c in enumerate(self.index.chunks)}
        for passage in passages:
            ci = chunk_pos.get(id(passage.chunk))
            if ci is None:
                ci = self.index.chunks.index(passage.chunk)
            for pos in self._sentences_by_chunk.get(ci, []):
                if pos in seen:
                    continue
                seen.add(pos)
                rec = self.index.sentences[pos]
                # Headings and the articles' own rhetorical questions answer nothing.
                if rec.heading or rec.text.endswith("?") or _overlaps_excluded(rec, excluded):
                    continue
                sim = float(self.index.sentence_vectors[pos] @ qvec)
                out.append(ScoredSentence(rec, pos, sim, passage))
        out.sort(key=lambda s: -s.similarity)
        return out


def _overlaps_excluded(rec: SentenceRecord, excluded: set[tuple[str, int, int]]) -> bool:
    return any(a == rec.article_id and s < rec.end and rec.start < e for a, s, e in excluded)
