"""Question → ranked passages and scored candidate sentences: dense (FAISS) fused with BM25.

Two levels, both hybrid:

* passages (chunks): the dense ranking from FAISS and a BM25 ranking, fused by reciprocal rank
  (``search``);
* sentences (what gets quoted): every citable sentence of the corpus is scored by its own cosine
  similarity to the question (read past the articles' subject, "restless legs", which every
  sentence shares), the similarity of the passage around it (a list item such as "Lithium
  preparations." means little alone), and an IDF-weighted lexical match over the sentence with
  its heading and list lead-in that knows patients' words for the articles' (``lexicon``), so a
  drug name, a rare word or a lay word is still found (``candidate_sentences``).
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Iterable, Sequence

import numpy as np

from chatbot.chunking import embed_text
from chatbot.config import RetrievalWeights
from chatbot.embedding import Embedder
from chatbot.index import LoadedIndex
from chatbot.retrieval.fusion import fused_search, positive_ranking, rrf
from chatbot.retrieval.gate import AMOUNT, DIGIT, GateModel, GateReading, stored_gate
from chatbot.retrieval.intent import Intent, about_clinic, asking_sentence, is_broad
from chatbot.retrieval.lexicon import Lexicon, Term
from chatbot.retrieval.query import QueryAnalysis, QueryReader, SideVectors
from chatbot.retrieval.scoring import relevance, rounded, sentence_scores
from chatbot.structure import Facts, dubious_spans, sentence_facets
from chatbot.text.spans import overlaps_any
from chatbot.types import ArticleSpan, Chunk, Passage, ScoredSentence

# Sentences about the article itself ("will be discussed in this article", "More on that
# later."): they answer nothing, however close their words are to a question.
_NAVIGATION = re.compile(
    r"\b(this article|in this (?:comprehensive )?article|more on that later|"
    r"is of interest to many|will be discussed)\b",
    re.IGNORECASE,
)
# Sentences that advertise the clinic ("Our team of expert doctors specializes in diagnosing and
# treating...") share a question's words without answering it (see ``promotion_penalty``).
_PROMOTION = re.compile(
    r"\b(our (team|clinic|doctors|specialists|experts|dedicated|experienced|skilled)|"
    r"we (offer|provide|specialize)|contact us|schedule (a|an|your) (consultation|appointment))\b",
    re.IGNORECASE,
)


log = logging.getLogger("chatbot.retrieval")


class Retriever:
    """Hybrid retrieval over a loaded index.

    Args:
        index: The loaded index.
        embedder: The same embedder the index was built with (served: the batching one).
        weights: The retrieval weights (``config.RetrievalWeights``).
        facts: Each sentence's structure with staff's corrections (``structure.apply_inputs``);
            default the index's own.
    """

    def __init__(
        self,
        index: LoadedIndex,
        embedder: Embedder,
        weights: RetrievalWeights | None = None,
        facts: list[Facts] | None = None,
        gate: GateModel | None | bool = True,
    ) -> None:
        import bm25s

        self.index = index
        self.facts = facts if facts is not None else index.structure
        # Where staff's dubious claims sit, with their reasons (a quote of one carries a caution).
        self.dubious = dubious_spans(self.facts, index.sentences)
        # Each sentence's cosine to each facet (heading and lead-in blended), for selection.
        self.facet_scores = sentence_facets(
            index.sentences, index.sentence_vectors, index.facet_vectors, self.facts
        )
        self.embedder = embedder
        self.weights = weights = weights or RetrievalWeights()
        # The learned gate (``retrieval.gate``): the stored one for this embedding model (True),
        # a given one, or none (False: the hand formula ``scoring.relevance``).
        self.gate: GateModel | None = stored_gate(embedder.name) if gate is True else (gate or None)
        if self.gate is not None and not self.gate.fits(index.articles):
            log.warning(
                "the articles changed since the gate was fitted: the hand formula gates until "
                "bench/train_gate.py is run again"
            )
            self.gate = None
        self._last = threading.local()  # the last question's GateReading (for the trainer)
        n_chunks = len(index.chunks)
        self._chunk_vecs = (
            np.asarray(index.faiss_index.reconstruct_n(0, n_chunks), dtype=np.float32)
            if n_chunks
            else np.zeros(
                (0, index.sentence_vectors.shape[1] if index.sentence_vectors.size else 1)
            )
        )
        # Citable sentences (no headings, no rhetorical questions, nothing about the article
        # itself).
        self._citable = [
            pos
            for pos, rec in enumerate(index.sentences)
            if not rec.heading
            and not rec.text.rstrip().endswith("?")
            and not _NAVIGATION.search(rec.text)
        ]
        self.lexicon = Lexicon(index, self._citable, embedder.count_word_pieces, weights)
        self._bm25 = bm25s.BM25()
        texts = [embed_text(c, index.articles[c.article_id].title) for c in index.chunks]
        if texts:
            self._bm25.index(self.lexicon.tokenize(texts), show_progress=False)

        # Which chunks hold each sentence (a sentence cut by a chunk boundary: its owner chunk).
        self._chunks_of: list[list[int]] = []
        by_article: dict[str, list[int]] = {}
        for ci, chunk in enumerate(index.chunks):
            by_article.setdefault(chunk.article_id, []).append(ci)
        for sent in index.sentences:
            holders = [
                ci
                for ci in by_article.get(sent.article_id, [])
                if index.chunks[ci].start <= sent.start and sent.end <= index.chunks[ci].end
            ]
            self._chunks_of.append(holders or [sent.chunk])
        self._chunk_index = {c.chunk_id: ci for ci, c in enumerate(index.chunks)}
        # The same as arrays for the citable sentences of a small corpus, where every chunk is
        # scored: each one's holders (-1 pads), and their vectors, taken out of the table once.
        citable_holders = [self._chunks_of[pos] for pos in self._citable]
        width = max((len(h) for h in citable_holders), default=1)
        self._holders = np.full((len(citable_holders), width), -1, dtype=np.int64)
        for row, holders in enumerate(citable_holders):
            self._holders[row, : len(holders)] = holders
        self._holders_valid = all(0 <= ci < n_chunks for h in citable_holders for ci in h)
        self._citable_vectors = index.sentence_vectors[self._citable]
        self._sentences_by_chunk: dict[int, list[int]] = {}
        for pos, holders in enumerate(self._chunks_of):
            for ci in holders:
                self._sentences_by_chunk.setdefault(ci, []).append(pos)

        # How generic each sentence is: its cosine to the corpus's mean sentence. Generic
        # sentences ("RLS has multiple causes.") sit close to every question and crowd out the
        # specific ones; their similarity is discounted by ``hub`` times this.
        vecs = index.sentence_vectors
        centroid: np.ndarray | None = None
        if len(vecs):
            mean = vecs.mean(axis=0)
            norm = float(np.linalg.norm(mean))
            self._hub = (vecs @ (mean / norm)) if norm else np.zeros(len(vecs))
            centroid = (mean / norm) if norm else None
        else:
            self._hub = np.zeros(0)
        self.reader = QueryReader(self.lexicon, embedder, centroid, weights)
        self._promotional = np.array(
            [bool(_PROMOTION.search(rec.text)) for rec in index.sentences], dtype=float
        )

    # -- the question -------------------------------------------------------------------------

    def analyse(self, question: str) -> QueryAnalysis:
        """Mend typos and measure coverage (see ``QueryReader.analyse``)."""
        return self.reader.analyse(question)

    def read(self, question: str, own: str | None = None) -> tuple[np.ndarray, SideVectors]:
        """The question's vector and its side readings (see ``QueryReader.read``)."""
        return self.reader.read(question, own)

    def embed_query(self, question: str) -> np.ndarray:
        return self.reader.embed_query(question)

    def intent(self, message: str, qvec: np.ndarray, side: SideVectors) -> Intent:
        """What ``message`` asks for (``retrieval.intent``): its breadth read from the message
        itself, its facets from the question as searched (``qvec``, a follow-up's context in)."""
        w = self.weights
        vectors = self.index.facet_vectors
        facets: np.ndarray | None = None
        closeness = 0.0
        if vectors is not None and len(vectors):
            # Read past the subject: "what are the treatments for RLS" asks for treatments.
            plain = side.plain if side.plain is not None else qvec
            asking = asking_sentence(message)
            if asking != message.strip():  # a story around the question: what it asks
                plain = self.embedder.encode([self.reader.without_subject(asking) or asking])[0]
            facets = vectors @ plain
            closeness = float(facets[:-1].max())  # the medical facets ("clinic" is last)
        subject = self.lexicon.subject
        topic = [t for t in self.analyse(message).content if t not in subject]
        broad = is_broad(message, len(topic), closeness, w.broad_topic_floor)
        return Intent(broad, facets, about_clinic(message))

    def knows(self, word: str) -> bool:
        """True for a word the articles use, or one of the vocabulary groups' words."""
        return self.lexicon.knows(word)

    # -- retrieval ------------------------------------------------------------------------------

    def search(self, question: str, qvec: np.ndarray, k: int) -> list[Passage]:
        """Top ``k`` chunks by reciprocal-rank fusion of dense and BM25 rankings."""
        w = self.weights
        n = len(self.index.chunks)
        if not n:
            return []
        tokens = self.lexicon.tokens_of(self.analyse(question).text)
        if n > w.exact_search_max:  # a large corpus: FAISS's own top-k, candidate-limited RRF
            scores = np.asarray(self._bm25.get_scores(tokens)) if tokens else None
            hits = fused_search(
                self.index.faiss_index, qvec, scores, k, w.fusion_candidates, w.rrf_k
            )
            return [Passage(self.index.chunks[ci], f, d, lx) for ci, f, d, lx in hits]
        dense = self._chunk_vecs @ qvec
        lexical = np.asarray(self._bm25.get_scores(tokens)) if tokens else np.zeros(n)
        rankings = [np.argsort(-dense).tolist()]
        if lexical.any():
            rankings.append(positive_ranking(lexical))
        fused = np.zeros(n)
        for ci, score in rrf(rankings, w.rrf_k).items():
            fused[ci] = score
        order = np.argsort(-fused)[:k]
        return [
            Passage(self.index.chunks[ci], float(fused[ci]), float(dense[ci]), float(lexical[ci]))
            for ci in order
        ]

    def candidate_sentences(
        self,
        passages: Iterable[Passage],
        qvec: np.ndarray,
        excluded: Iterable[ArticleSpan],
        query: str | None = None,
        side: SideVectors | None = None,
        own: str | None = None,
    ) -> list[ScoredSentence]:
        """Citable sentences scored against the question, best first.

        The clinic's corpus is small, so every citable sentence is a candidate (a sentence
        outside the top passages can still be the best quote); above ``exact_search_max``
        chunks only the sentences of ``passages`` are.

        Args:
            passages: The fused top passages (``search``).
            qvec: The question's vector.
            excluded: Spans staff took out of answers; a sentence overlapping any of them is
                never offered.
            query: The question's text, for the lexical score and the coverage; without it
                only the dense scores count.
            side: The question's side readings from ``read`` (embedded here when not given).
            own: The message itself, when ``query`` is a follow-up read with an earlier turn's
                topic: the gate also reads its lexical match alone.
        """
        w = self.weights
        passages = list(passages)
        excluded = list(excluded)
        if side is None:
            side = self.read(query)[1] if query else SideVectors(None, None, None)
        # What sentences are ranked against: the question, blended with the question without
        # the articles' subject (see ``subject_blend``); the gate reads the question itself.
        rank_vec = qvec
        if side.plain is not None:
            rank_vec = w.subject_blend * qvec + (1.0 - w.subject_blend) * side.plain
        if len(self.index.chunks) > w.exact_search_max:
            wanted = {
                pos
                for p in passages
                for pos in self._sentences_by_chunk.get(self._chunk_pos(p.chunk), [])
            }
            rows = [r for r, pos in enumerate(self._citable) if pos in wanted]
            chunk_dense = {self._chunk_pos(p.chunk): p.dense for p in passages}
            dense_all = None
        else:
            rows = list(range(len(self._citable)))
            dense_all = self._chunk_vecs @ rank_vec
            chunk_dense = dict(enumerate(dense_all.tolist()))
        if not rows:
            return []
        analysis = self.analyse(query) if query else QueryAnalysis(text="")
        every = len(rows) == len(self._citable)  # every citable sentence (a small corpus)
        positions = self._citable if every else [self._citable[r] for r in rows]
        vectors = self._citable_vectors if every else self.index.sentence_vectors[positions]
        sims = vectors @ qvec
        ranked = vectors @ rank_vec if rank_vec is not qvec else sims
        parts = side.parts
        # A long message: each sentence of it may be the question ("does stress make rls
        # worse?? its been horrendous since i started my new job"). The gate reads the best
        # cosine to the message or any of its parts; ranking reads the whole message (parts
        # alone pulled answers toward the patient's story: measured, README).
        best_part = float((vectors @ parts.T).max()) if parts is not None and len(parts) else 0.0
        lexical = self.lexicon.lexical(analysis.terms, rows)
        sentences = self.index.sentences
        kept = (
            [
                i
                for i, pos in enumerate(positions)
                if not overlaps_any(
                    sentences[pos].article_id, sentences[pos].start, sentences[pos].end, excluded
                )
            ]
            if excluded
            else list(range(len(positions)))
        )
        if not kept:
            return []
        at = np.asarray(kept)
        # Each sentence's passage: the best-scoring chunk holding it (the first of the best).
        if every and dense_all is not None and self._holders_valid:  # every chunk scored
            dense64 = np.append(dense_all.astype(np.float64), -np.inf)  # [-1]: the pads
            holders = self._holders[at]
            best = holders[np.arange(len(kept)), np.argmax(dense64[holders], axis=1)]
            context = dense64[best]
            best_chunk = best.tolist()
        else:
            best_chunk = []
            for i in kept:
                holders_of = self._chunks_of[positions[i]]
                known = [ci for ci in holders_of if ci in chunk_dense] or holders_of
                best_chunk.append(max(known, key=lambda ci: chunk_dense.get(ci, 0.0)))
            context = np.array([chunk_dense.get(ci, 0.0) for ci in best_chunk])
        pos_at = np.asarray(positions)[at]
        scores = sentence_scores(
            w, ranked[at], self._hub[pos_at], context, lexical[at], self._promotional[pos_at]
        )
        best_lexical = float(lexical[at].max())
        own_terms = analysis.terms  # the message's own terms (a follow-up's, below)
        if own and own != query:  # a follow-up: its own words, without the earlier topic's
            own_terms = self.analyse(own).terms
            own_lexical = self.lexicon.lexical(own_terms, rows)
            best_lexical = max(best_lexical, float(own_lexical[at].max()))
        best_cos = max(best_part, float(sims[at].max()))
        semantic = self.reader.semantic_coverage(analysis, qvec, side.kept)
        hand = relevance(w, best_cos, best_lexical, analysis.coverage, semantic)
        # A story around a question ("it's 2am, third night in a row ... what can I do?"): the
        # sentence that asks is judged alone too, so the story's words never refuse it.
        message = own or query or ""
        asking = asking_sentence(message)
        ask = (best_cos, best_lexical, analysis.coverage, semantic)
        if asking != message.strip() and len(asking.split()) >= w.part_min_words + 1:
            alone = self.analyse(asking)
            avec = self.embed_query(asking)
            ask = (
                float((vectors[at] @ avec).max()),
                float(self.lexicon.lexical(alone.terms, rows)[at].max()),
                alone.coverage,
                self.reader.semantic_coverage(alone, avec),
            )
            hand = max(hand, relevance(w, *ask))
        reading = self._reading(
            sims[at],
            ranked[at],
            lexical[at],
            scores,
            pos_at,
            best_cos,
            best_lexical,
            analysis,
            semantic,
            ask,
            side,
            qvec,
            message,
            (own_terms, rows, at),
        )
        self._last.reading = reading
        gate = self.gate.relevance(reading) if self.gate is not None else hand
        given = {p.chunk.chunk_id: p for p in passages}
        chunks = self.index.chunks
        around: dict[int, Passage] = {}  # a chunk outside the top passages, made once
        sims_at, lexical_at, context_at = sims.tolist(), lexical.tolist(), context.tolist()
        scored = rounded(scores, 4)  # [round(score, 4) for score in scores.tolist()]
        # Best first, ties in table order: a stable sort on -score (numpy's stable argsort gives
        # the same order, for less than Python's sort by key; a NaN, which the two order
        # differently, takes Python's).
        keys = -np.asarray(scored)
        if np.isnan(keys).any():
            order = sorted(range(len(scored)), key=lambda j: -scored[j])
        else:
            order = np.argsort(keys, kind="stable").tolist()
        made = ScoredSentence.made
        out = []
        for j in order:
            ci = best_chunk[j]
            passage = around.get(ci)
            if passage is None:  # the same for any sentence of the chunk: its dense score
                chunk = chunks[ci]
                passage = given.get(chunk.chunk_id) or Passage(chunk, 0.0, context_at[j], 0.0)
                around[ci] = passage
            i = kept[j]
            pos = positions[i]
            out.append(
                made(sentences[pos], pos, sims_at[i], passage, scored[j], lexical_at[i], gate)
            )
        return out

    def last_reading(self) -> GateReading | None:
        """What the gate read of the last question this thread asked (the gate's trainer)."""
        return getattr(self._last, "reading", None)

    def _reading(
        self,
        sims: np.ndarray,
        ranked: np.ndarray,
        lexical: np.ndarray,
        scores: np.ndarray,
        positions: np.ndarray,
        best_cos: float,
        best_lexical: float,
        analysis: QueryAnalysis,
        semantic: float,
        ask: tuple[float, float, float, float],
        side: SideVectors,
        qvec: np.ndarray,
        message: str,
        own: tuple[Sequence[Term], Sequence[int], np.ndarray],
    ) -> GateReading:
        """The gate's features (``gate.MEASURED``) from what scoring measured; ``own`` is the
        message's own terms, the citable rows scored and which of them are kept (``at``): the row
        of the sentence ranked first is ``rows[at[order[0]]]``."""
        top = np.sort(sims)[::-1][:3]
        top_lex = np.sort(lexical)[::-1][:3]
        order = np.argsort(-scores)
        five = order[:5]
        gap = float(scores[order[0]] - scores[order[min(4, len(order) - 1)]])
        asks = float(bool(AMOUNT.search(message)))
        sentences = self.index.sentences
        numbers = any(DIGIT.search(sentences[int(positions[i])].text) for i in five)
        facet_best = 0.0
        vectors = self.index.facet_vectors
        if vectors is not None and len(vectors) > 1:
            plain = side.plain if side.plain is not None else qvec
            facet_best = float((vectors[:-1] @ plain).max())  # the medical facets
        measured = {
            "cos_best": best_cos,
            "cos_top3": float(top.mean()),
            "rank_best": float(ranked.max()),
            "lex_best": best_lexical,
            "lex_top3": float(top_lex.mean()),
            "score_gap": gap,
            "coverage": analysis.coverage,
            "semantic": semantic,
            "uncovered": math.log1p(len(analysis.uncovered)),
            "uncovered_rare": analysis.uncovered_rare,
            "uncovered_common": analysis.uncovered_common,
            "ask_cos": ask[0],
            "ask_lex": ask[1],
            "ask_coverage": ask[2],
            "ask_semantic": ask[3],
            "facet_best": facet_best,
            "promotion_top5": float(self._promotional[positions[five]].mean()),
            "words": math.log1p(len(message.split())),
            "asks_amount": asks,
            "amount_unsaid": asks * float(not numbers),
            "unsaid_first": self.lexicon.unsupported(own[0], own[1][int(own[2][order[0]])]),
        }
        return GateReading(measured, qvec)

    def _chunk_pos(self, chunk: Chunk) -> int:
        pos = self._chunk_index.get(chunk.chunk_id)
        return pos if pos is not None else self.index.chunks.index(chunk)
