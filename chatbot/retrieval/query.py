"""A question read for retrieval: typos mended, coverage measured, side readings embedded,
and a follow-up read with the earlier turn.

Before anything else a question's typos are mended against the articles' own vocabulary
("restles legs in pregancy" → "restless legs in pregnancy"), and its *coverage* is measured:
the share of its content words the articles use at all, each unused word weighed by how close it
is to the articles' field ("apnea" counts, "my new job" barely). A question whose key words the
articles never use ("a recipe for lentil soup") is out of scope however close its other words
are; the relevance gate reads this.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from chatbot.config import RetrievalWeights
from chatbot.embedding import Embedder
from chatbot.retrieval.lexicon import (
    WORD,
    Lexicon,
    Term,
    expand,
    plain,
    stopwords,
    topic_words,
)
from chatbot.retrieval.stopwords import GENERIC
from chatbot.types import Turn

# A message's sentences: split at sentence ends and line breaks.
_PART_SPLIT = re.compile(r"(?<=[.?!;])\s+|[?!]+|\n+")

# A message that refers back ("it", "she", "those", "as well", "and in pregnancy?") is read with
# the earlier turn's topic: patients and carers write whole sentences around a follow-up ("Thank
# you. In the meantime, is there anything she can safely take for it?"). A message that names
# the subject itself ("is rls dangerous?") is a complete new question and stands alone, and so
# does any other message past FOLLOW_UP_ELLIPSIS words that does not refer back.
FOLLOW_UP_MAX_WORDS = 25
FOLLOW_UP_ELLIPSIS = 4  # "in children?", "pregnancy", "what about at night": elliptical
_FOLLOW_UP = re.compile(
    r"^\W*(and|but|also|what about|how about|what if|so|then|or|instead)\b"
    r"|\b(it|this|that|they|them|those|these|she|he|her|him|his|as well|too|instead|either|"
    r"the same|one|ones)\b",
    re.IGNORECASE,
)
_NAMES_SUBJECT = re.compile(r"\b(restless[- ]?legs?|rls|willis[- ]ekbom|ekbom)\b", re.IGNORECASE)


def is_follow_up(question: str) -> bool:
    """Whether a message (with earlier turns) is read with the earlier turn's topic."""
    words = len(question.split())
    if words > FOLLOW_UP_MAX_WORDS or _NAMES_SUBJECT.search(question):
        return False
    return words <= FOLLOW_UP_ELLIPSIS or bool(_FOLLOW_UP.search(question))


def retrieval_query(
    question: str, history: Sequence[Turn], known: Callable[[str], bool] | None = None
) -> str:
    """The text to search with: a follow-up is read with the topic of the last user turn.

    "and in pregnancy?" after "What causes restless legs?" is searched as "and in pregnancy?
    (causes restless legs)": the earlier turn's topic words only, after the new question, so the
    new question still leads ("why are they worse at night" after "what are the symptoms" must
    find sentences about the night, not the symptoms again). With ``known`` (the lexicon's
    ``knows``), only the earlier words the articles use are carried over: "my legs go nuts
    every night, i pace" brings "legs night", not the story. A question that stands alone
    (``is_follow_up``) is returned unchanged.
    """
    previous = [t.content for t in history if t.role == "user" and t.content.strip()]
    if not previous or not is_follow_up(question):
        return question
    topic = topic_words(previous[-1])
    if known is not None:
        topic = " ".join(w for w in topic.split() if known(w))
    return f"{question} ({topic})" if topic else question


@dataclass(frozen=True)
class QueryAnalysis:
    """What the retriever made of a question."""

    text: str  # the question as searched (typos mended)
    corrections: dict[str, str] = field(default_factory=dict)
    content: tuple[str, ...] = ()  # the question's topic words (stemmed)
    uncovered: tuple[str, ...] = ()  # those the articles never use
    coverage: float = 1.0  # 1 - weighted share of uncovered words
    kept: str = ""  # the question without its uncovered words
    # The question's terms as the lexical score reads them: each is the question's own stem(s)
    # and, for a word of a vocabulary group (vocabulary.py), every way the articles say it.
    terms: tuple[Term, ...] = ()
    # The share of the question's weight in unused rare words (a drug, another condition: the
    # model splits them into pieces) and in unused common words (a story's or a figure of
    # speech's: "killing me", "tips"): the gate weighs the two apart.
    uncovered_rare: float = 0.0
    uncovered_common: float = 0.0


@dataclass(frozen=True)
class SideVectors:
    """A question's other readings (see ``QueryReader.read``); None when not needed."""

    plain: np.ndarray | None  # without the articles' subject words
    parts: np.ndarray | None  # its sentences, for a message of several
    kept: np.ndarray | None  # without the words the articles never use


class QueryReader:
    """Reads questions against one index's lexicon.

    Args:
        lexicon: The index's lexicon.
        embedder: The embedder the index was built with (served: the batching one).
        centroid: The articles' mean sentence vector (normalised), or None for an empty index.
        weights: The retrieval weights.
    """

    def __init__(
        self,
        lexicon: Lexicon,
        embedder: Embedder,
        centroid: np.ndarray | None,
        weights: RetrievalWeights,
    ) -> None:
        self.lexicon = lexicon
        self.embedder = embedder
        self.weights = weights
        self._centroid = centroid
        self._topic_cache: dict[str, float] = {}
        # One answer reads the analysis several times (search, lexical query, gate), and
        # patients repeat questions: work it out once per question text.
        self.analyse = lru_cache(maxsize=2048)(self._analyse)  # type: ignore[method-assign]

    def analyse(self, question: str) -> QueryAnalysis:
        """Mend typos and measure how much of the question the articles cover (cached)."""
        return self._analyse(question)

    def _topicality(self, words: Sequence[str]) -> dict[str, float]:
        """How much each word the articles never use belongs to their field (topic_floor..1):
        its cosine to the articles' mean sentence, scaled between topic_low and topic_high.
        Words are embedded together, once each per process."""
        w = self.weights
        missing = [word for word in dict.fromkeys(words) if word not in self._topic_cache]
        if missing and self._centroid is not None:
            try:
                cosines = self.embedder.encode(missing) @ self._centroid
            except Exception:  # an embedder that cannot encode a word alone: count it fully
                cosines = np.full(len(missing), w.topic_high)
            if len(self._topic_cache) > 8192:
                self._topic_cache.clear()
            for word, cos in zip(missing, cosines.tolist(), strict=True):
                scaled = (cos - w.topic_low) / (w.topic_high - w.topic_low)
                self._topic_cache[word] = min(1.0, max(w.topic_floor, scaled))
        return {word: self._topic_cache.get(word, 1.0) for word in words}

    def _analyse(self, question: str) -> QueryAnalysis:
        lex = self.lexicon
        corrections: dict[str, str] = {}

        def fix(m: re.Match[str]) -> str:
            word = m.group(0)
            mended = lex.mend(word)
            if mended is None:
                return word
            corrections[word] = mended
            return mended

        text = WORD.sub(fix, question)
        # Vocabulary groups the question names: by a phrase ("pins and needles"), whose words
        # then belong to the group, or by a single word, question words included ("why").
        lowered = plain(text)
        group_of: dict[str, str] = {}
        stop = stopwords()
        stems = [lex.stem(w) for w in WORD.findall(lowered) if w not in stop]
        for phrase, name in lex.group_phrases:
            n = len(phrase)
            if any(tuple(stems[i : i + n]) == phrase for i in range(len(stems) - n + 1)):
                for stem in phrase:
                    group_of.setdefault(stem, name)
        named: dict[str, set[str]] = {}
        for stem in stems:
            found = group_of.get(stem) or lex.group_of_stem.get(stem)
            if found:
                group_of[stem] = found
                named.setdefault(found, set())

        content: list[str] = []
        uncovered: list[str] = []
        weight_in = 0.0
        out_words: list[tuple[str, float]] = []
        for word in WORD.findall(text):
            low = plain(word)
            if low in stop or low in GENERIC or len(low) < 3 or low.replace("'", "") in GENERIC:
                continue
            stem = lex.stem(low)
            content.append(stem)
            if stem in group_of:
                named[group_of[stem]].add(stem)
            # A word the model splits into pieces is rare (a drug, a disease): it weighs more.
            weight = 1.0 if lex.is_common_word(low) else 2.0
            said_otherwise = stem in group_of and lex.group_weight[group_of[stem]] > 0
            if stem not in lex.stems and low not in lex.words and not said_otherwise:
                uncovered.append(stem)
                out_words.append((low, weight))
            else:
                weight_in += weight
        # A word of the articles' field they never use ("apnea", "medicare") says the question
        # is about something else; a word of the patient's story ("my new job", "the couch")
        # says little: each unused word weighs by its closeness to the articles.
        topical = self._topicality([w for w, _ in out_words]) if out_words else {}
        weight_out = sum(weight * topical[w] for w, weight in out_words)
        rare_out = sum(weight * topical[w] for w, weight in out_words if weight > 1.0)
        weight_all = weight_in + weight_out
        coverage = 1.0 - weight_out / weight_all if weight_all else 1.0
        out = set(uncovered)
        kept = " ".join(w for w in WORD.findall(text) if lex.stem(w.lower()) not in out)
        grouped = set(group_of)
        terms = [Term(frozenset([t])) for t in dict.fromkeys(content) if t not in grouped]
        terms += [Term(frozenset(own), lex.group_alts[name], name) for name, own in named.items()]
        return QueryAnalysis(
            text,
            corrections,
            tuple(content),
            tuple(uncovered),
            coverage,
            kept,
            tuple(terms),
            rare_out / weight_all if weight_all else 0.0,
            (weight_out - rare_out) / weight_all if weight_all else 0.0,
        )

    def semantic_coverage(
        self, analysis: QueryAnalysis, qvec: np.ndarray, kept: np.ndarray | None = None
    ) -> float:
        """How much of the question's meaning is left without the words the articles never use.

        The cosine between the question and the question with those words taken out: "what are
        the symptoms? i get fizzy legs like ants under my skin" keeps most of its meaning
        without "fizzy" and "ants"; "how do I treat a sprained ankle" keeps little without
        "sprained ankle". 1.0 when every word is covered.
        """
        if not analysis.uncovered:
            return 1.0
        if not analysis.kept.strip():
            return 0.0
        if kept is None:
            kept = self.embedder.encode([analysis.kept])[0]
        return max(0.0, min(1.0, float(kept @ qvec)))

    def main_text(self, question: str) -> str:
        """What the model reads for the question itself: typos mended, "RLS" spelled out."""
        return expand(self.analyse(question).text, self.weights)

    def embed_query(self, question: str) -> np.ndarray:
        """The question's vector alone; ``read`` gives it with its side readings in one call."""
        return self.embedder.encode([self.main_text(question)])[0]

    def message_parts(self, question: str) -> list[str]:
        """The sentences of a message of more than one that each carry ``part_min_words`` topic
        words or more (at most ``max_parts``, first first); [] for a message of one sentence."""
        text = self.analyse(question).text
        pieces = [p.strip() for p in _PART_SPLIT.split(text) if p.strip()]
        if len(pieces) < 2:
            return []
        stop = stopwords()
        out = []
        for piece in pieces:
            words = [w.lower() for w in WORD.findall(piece)]
            topic = [w for w in words if w not in stop and w not in GENERIC and len(w) >= 3]
            if len(topic) >= self.weights.part_min_words:
                out.append(expand(piece, self.weights))
        return out[: self.weights.max_parts]

    def without_subject(self, question: str) -> str:
        """The question without the articles' subject words ("is restless legs genetic" →
        "is genetic"), or "" when nothing of substance is left ("what is rls?")."""
        text = self.analyse(question).text
        subject = self.lexicon.subject
        kept = [w for w in WORD.findall(text) if self.lexicon.stem(w.lower()) not in subject]
        stop = stopwords()
        if not any(w.lower() not in stop and w.lower() not in GENERIC for w in kept):
            return ""
        return " ".join(kept)

    def read(self, question: str, own: str | None = None) -> tuple[np.ndarray, SideVectors]:
        """The question's vector and its side readings, in one model call: the question
        without its subject, without the words the articles never use, and each of its
        sentences. ``own`` is the message itself when ``question`` carries an earlier turn's
        topic (a follow-up): it is read as one more sentence, so the context never makes a
        follow-up look less covered than it is alone. (Served, the query cache keeps each
        text's vector: a repeated question costs no model call.)"""
        analysis = self.analyse(question)
        main = self.main_text(question)
        plain_text = self.without_subject(question)
        kept = analysis.kept if analysis.uncovered and analysis.kept.strip() else ""
        parts = self.message_parts(question)
        if own and own != question:
            parts.append(self.main_text(own))
        vecs = self.embedder.encode([main, *(t for t in (plain_text, kept) if t), *parts])
        i = 1
        plain_vec = kept_vec = None
        if plain_text:
            plain_vec, i = vecs[i], i + 1
        if kept:
            kept_vec, i = vecs[i], i + 1
        return vecs[0], SideVectors(plain_vec, vecs[i:] if parts else None, kept_vec)
