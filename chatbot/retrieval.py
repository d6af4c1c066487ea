"""Question → ranked passages and scored candidate sentences: dense (FAISS) fused with BM25.

Two levels, both hybrid:

* passages (chunks): the dense ranking from FAISS and a BM25 ranking are fused by reciprocal rank
  fusion (``search``);
* sentences (what gets quoted): every citable sentence of the corpus is scored by its own cosine
  similarity to the question (read past the articles' subject, "restless legs", which every
  sentence shares), the similarity of the passage around it (a list item such as "Lithium
  preparations." means little alone), and an IDF-weighted lexical match over the sentence with
  its heading and list lead-in that knows patients' words for the articles' (vocabulary.py),
  so a drug name, a rare word or a lay word is still found (``candidate_sentences``).

Before any of that the question's typos are mended against the articles' own vocabulary
("restles legs in pregancy" → "restless legs in pregnancy"), and the question's *coverage* is
measured: the share of its content words the articles use at all, each unused word weighed by
how close it is to the articles' field ("apnea" counts, "my new job" barely). A question whose
key words the articles never use ("a recipe for lentil soup") is out of scope however close its
other words are; the relevance gate in ``answer.py`` reads this through each candidate's
``relevance``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from chatbot import perf, vocabulary
from chatbot.chunking import Chunk, embed_text
from chatbot.embedding import Embedder
from chatbot.index import LoadedIndex, SentenceRecord
from chatbot.text import list_blocks

RRF_K = 60

# Weights of a sentence's score: its own cosine, its passage's cosine, its BM25 relative to the
# best sentence's. Chosen on the dev half of tests/questions.jsonl (see README, "Answer quality").
W_SENTENCE, W_CONTEXT, W_LEXICAL = 0.50, 0.20, 0.30
HUB_WEIGHT = 0.2
LEXICAL_FLOOR = 3.0  # the IDF of a word found in about one sentence in twenty
# A sentence that says a question's word another way (vocabulary.py: "hereditary" for
# "genetic") earns this share of the word's weight; a group named only by a question word
# ("why" → causes) weighs this share of the group's mean weight.
ALTERNATIVE_SHARE = 0.8
CUE_SHARE = 0.5
EXPAND_ABBREVIATION = True
_RLS = re.compile(r"\bRLS\b", re.IGNORECASE)
# How much the words of the question the articles never use lower every score: by their share
# (``QueryAnalysis.coverage``) and by the meaning lost without them (``semantic_coverage``).
# Chosen with the threshold on the dev half of tests/questions.jsonl (README, "Answer quality").
GATE_COSINE = 0.7
COVERAGE_WEIGHT = 0.7
# An unused word's weight in the coverage is scaled by its cosine to the articles' mean sentence,
# from TOPIC_FLOOR (at TOPIC_LOW or below: "job", "couch") to 1 (at TOPIC_HIGH: "apnea").
TOPIC_LOW, TOPIC_HIGH, TOPIC_FLOOR = 0.05, 0.25, 0.1
SEMANTIC_WEIGHT = 0.3

# Words a question is made of whatever it asks: they carry no topic, so they never count as
# "not in the articles" (bm25s's English stop words are removed as well).
_GENERIC = frozenset(
    [
        "anything",
        "something",
        "thing",
        "things",
        "stuff",
        "really",
        "actually",
        "maybe",
        "please",
        "thanks",
        "thank",
        "hi",
        "hello",
        "ok",
        "okay",
        "yes",
        "help",
        "helps",
        "helped",
        "helping",
        "good",
        "best",
        "normal",
        "know",
        "tell",
        "say",
        "says",
        "said",
        "get",
        "gets",
        "getting",
        "got",
        "make",
        "makes",
        "making",
        "made",
        "take",
        "takes",
        "taking",
        "took",
        "go",
        "goes",
        "going",
        "went",
        "come",
        "comes",
        "keep",
        "keeps",
        "kind",
        "sort",
        "lot",
        "lots",
        "way",
        "ways",
        "much",
        "many",
        "way",
        "like",
        "also",
        "even",
        "ever",
        "just",
        "want",
        "wanted",
        "need",
        "needs",
        "needed",
        "think",
        "thought",
        "wonder",
        "wondering",
        "happen",
        "happens",
        "happened",
        "work",
        "works",
        "worked",
        "use",
        "used",
        "using",
        "try",
        "tried",
        "someone",
        "people",
        "anyone",
        "everyone",
        "person",
        "thing",
        "im",
        "ive",
        "dont",
        "doesnt",
        "cant",
        "wont",
        "isnt",
        "arent",
        "whats",
        "hows",
        "question",
        "questions",
        "answer",
        "article",
        "articles",
        "read",
        "heard",
        "told",
        "doctor",
        "doctors",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "whose",
        "why",
        "how",
        "do",
        "does",
        "did",
        "doing",
        "done",
        "can",
        "could",
        "should",
        "would",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "i",
        "me",
        "my",
        "mine",
        "myself",
        "you",
        "your",
        "yours",
        "we",
        "us",
        "our",
        "he",
        "him",
        "his",
        "she",
        "her",
        "they",
        "them",
        "their",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "am",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "have",
        "has",
        "had",
        "having",
        "not",
        "no",
        "nor",
        "too",
        "very",
        "so",
        "than",
        "then",
        "there",
        "here",
        "about",
        "above",
        "again",
        "against",
        "all",
        "any",
        "both",
        "each",
        "few",
        "more",
        "most",
        "other",
        "some",
        "such",
        "only",
        "own",
        "same",
        "just",
        "now",
        "from",
        "into",
        "out",
        "over",
        "under",
        "up",
        "down",
        "off",
        "once",
        "further",
        "while",
        "until",
        "because",
        "if",
        "or",
        "and",
        "but",
        "with",
        "without",
        "within",
        "of",
        "at",
        "by",
        "for",
        "on",
        "in",
        "to",
        "as",
        "an",
        "the",
        "a",
        "also",
    ]
)
# Sentences about the article itself ("will be discussed in this article", "More on that
# later."): they answer nothing, however close their words are to a question.
_NAVIGATION = re.compile(
    r"\b(this article|in this (?:comprehensive )?article|more on that later|"
    r"is of interest to many|will be discussed)\b",
    re.IGNORECASE,
)
# A message's sentences: split at sentence ends and line breaks.
_PART_SPLIT = re.compile(r"(?<=[.?!;])\s+|[?!]+|\n+")
PART_MIN_WORDS, MAX_PARTS = 2, 4
# The articles' subject: stems found in at least SUBJECT_DF of the citable sentences ("restless",
# "leg", "syndrom", "rls" here). Every article is about it, so naming it in a question says
# nothing about which sentence answers; but its weight in the question's vector pulls every
# question toward the sentences that merely name it ("RLS is a common neurological disorder").
# Sentences are ranked against SUBJECT_BLEND x the question's vector + the rest x the vector of
# the question without its subject words. Both chosen on the dev split (README).
SUBJECT_DF, SUBJECT_BLEND = 0.3, 0.5
# Sentences that advertise the clinic ("Our team of expert doctors specializes in diagnosing and
# treating...") share a question's words without answering it: their score is lowered by
# PROMOTION_PENALTY (chosen on dev; 7 of the 304 sentences here).
_PROMOTION = re.compile(
    r"\b(our (team|clinic|doctors|specialists|experts|dedicated|experienced|skilled)|"
    r"we (offer|provide|specialize)|contact us|schedule (a|an|your) (consultation|appointment))\b",
    re.IGNORECASE,
)
PROMOTION_PENALTY = 0.06
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*[A-Za-z]|[A-Za-z]")


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with its scores (dense = cosine similarity to the question)."""

    chunk: Chunk
    fused: float
    dense: float
    lexical: float


@dataclass(frozen=True)
class ScoredSentence:
    """A candidate sentence and why it scored as it did.

    Attributes:
        record: The sentence (exact span in its article).
        position: Its index in the sentence table.
        similarity: Cosine similarity of the sentence to the question.
        passage: The best-scoring passage holding it.
        score: The ranking score: the sentence's own cosine (less its genericness), its
            passage's cosine and its lexical match, weighted.
        lexical: IDF-weighted share of the question's terms in the sentence's context (0..1).
        relevance: How well the articles cover the question at all, the same for every
            candidate of one question (see ``Retriever.relevance``); the gate in ``answer.py``
            compares it with ``min_relevance``.
    """

    record: SentenceRecord
    position: int
    similarity: float
    passage: Passage
    score: float = 0.0
    lexical: float = 0.0
    relevance: float = 0.0


@dataclass(frozen=True)
class Term:
    """One term of a question for the lexical score.

    Attributes:
        own: The question's own stems for it ("wine").
        alternatives: Other ways to say it, each a tuple of stems that must all be present
            ("alcohol", ("famili", "histori")); empty for a word of no vocabulary group.
        group: The vocabulary group's name, or "".
    """

    own: frozenset[str]
    alternatives: tuple[tuple[str, ...], ...] = ()
    group: str = ""


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


@dataclass(frozen=True)
class SideVectors:
    """A question's other readings (see ``Retriever.read``); None when not needed."""

    plain: np.ndarray | None  # without the articles' subject words
    parts: np.ndarray | None  # its sentences, for a message of several
    kept: np.ndarray | None  # without the words the articles never use


def _osa_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment edit distance (a swap counts as one), cut off above ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


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
        # Kept apart from ``embedder``, which a server may wrap in a cache (see perf.py).
        self._word_pieces: Callable[[str], int] = embedder.count_word_pieces
        self._stemmer = Stemmer.Stemmer("english")
        n_chunks = len(index.chunks)
        self._chunk_vecs = (
            np.asarray(index.faiss_index.reconstruct_n(0, n_chunks), dtype=np.float32)
            if n_chunks
            else np.zeros(
                (0, index.sentence_vectors.shape[1] if index.sentence_vectors.size else 1)
            )
        )
        self._bm25 = bm25s.BM25()
        texts = [embed_text(c, index.articles[c.article_id].title) for c in index.chunks]
        if texts:
            self._bm25.index(self._tokenize(texts), show_progress=False)

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
        self._sentences_by_chunk: dict[int, list[int]] = {}
        for pos, holders in enumerate(self._chunks_of):
            for ci in holders:
                self._sentences_by_chunk.setdefault(ci, []).append(pos)

        # Citable sentences (no headings, no rhetorical questions, nothing about the article
        # itself), and what the lexical score reads for each: heading, list lead-in, the sentence.
        self._citable = [
            pos
            for pos, rec in enumerate(index.sentences)
            if not rec.heading
            and not rec.text.rstrip().endswith("?")
            and not _NAVIGATION.search(rec.text)
        ]
        contexts = self._tokenize(self._sentence_contexts(self._citable))
        self._sent_terms = [set(terms) for terms in contexts]
        df: Counter[str] = Counter(t for terms in self._sent_terms for t in terms)
        n = len(contexts)
        self._idf = {t: math.log((n - f + 0.5) / (f + 0.5) + 1.0) for t, f in df.items()}
        self._subject = frozenset(t for t, f in df.items() if n and f / n >= SUBJECT_DF)

        # How generic each sentence is: its cosine to the corpus's mean sentence. Generic
        # sentences ("RLS has multiple causes.") sit close to every question and crowd out the
        # specific ones; their similarity is discounted by HUB_WEIGHT times this.
        vecs = index.sentence_vectors
        if len(vecs):
            centroid = vecs.mean(axis=0)
            norm = float(np.linalg.norm(centroid))
            self._hub = (vecs @ (centroid / norm)) if norm else np.zeros(len(vecs))
            self._centroid: np.ndarray | None = (centroid / norm) if norm else None
        else:
            self._hub = np.zeros(0)
            self._centroid = None

        # The articles' vocabulary: surface words (for mending typos) and stems (for coverage).
        words: Counter[str] = Counter()
        for art in index.articles.values():
            words.update(w.lower() for w in _WORD.findall(f"{art.title}\n{art.body}"))
        self._words = words
        self._stems = {self._stem(w) for w in words}
        self._stems_list = sorted(self._stems)
        # Typos are mended to an article word or a word of the vocabulary groups ("famlies" →
        # "families"); the articles' own words win a tie (``_mend`` ranks by count).
        self._mendable: Counter[str] = Counter(words)
        for _, members in vocabulary.GROUPS:
            for member in members:
                if member.isalpha():
                    self._mendable[member.lower()] += 0
        self._by_length: dict[int, list[str]] = {}
        for w in self._mendable:
            self._by_length.setdefault(len(w), []).append(w)
        # Vocabulary groups (vocabulary.py): members as stems, which citable sentences say each
        # group at all, single-word members by stem and phrases ("runs in the family") by pattern.
        stop = _stopwords()
        self._group_alts: dict[str, tuple[tuple[str, ...], ...]] = {}
        self._group_of_stem: dict[str, str] = {}
        self._group_phrases: list[tuple[tuple[str, ...], str]] = []
        for name, members in vocabulary.GROUPS:
            alts: list[tuple[str, ...]] = []
            for member in members:
                parts = _WORD.findall(member)
                stems = tuple(self._stem(w) for w in parts if w.lower() not in stop) or tuple(
                    self._stem(w) for w in parts
                )
                alts.append(stems)
                if len(stems) == 1:
                    self._group_of_stem.setdefault(stems[0], name)
                else:
                    self._group_phrases.append((stems, name))
            self._group_alts[name] = tuple(dict.fromkeys(alts))
        self._rows_of_stem: dict[str, np.ndarray] = {}
        self._group_rows = {
            name: self._rows_saying(alts) for name, alts in self._group_alts.items()
        }
        self._group_weight = {name: self._mean_idf(alts) for name, alts in self._group_alts.items()}
        self._topic_cache: dict[str, float] = {}
        self._promotional = np.array(
            [bool(_PROMOTION.search(rec.text)) for rec in index.sentences], dtype=float
        )
        # One answer reads the analysis three times (search, lexical query, gate), and patients
        # repeat questions: work it out once per question text.
        self.analyse = lru_cache(maxsize=2048)(self._analyse)  # type: ignore[method-assign]

    # -- text helpers ---------------------------------------------------------------------------

    def _tokenize(self, texts: list[str]) -> list[list[str]]:
        import bm25s

        return bm25s.tokenize(  # type: ignore[no-any-return]
            texts, stopwords="en", stemmer=self._stemmer, return_ids=False, show_progress=False
        )

    def _rows_with(self, stem: str) -> np.ndarray:
        """Which citable sentences' contexts hold ``stem`` (a boolean row mask)."""
        rows = self._rows_of_stem.get(stem)
        if rows is None:
            rows = np.fromiter((stem in t for t in self._sent_terms), bool, len(self._sent_terms))
            self._rows_of_stem[stem] = rows
        return rows

    def _rows_saying(self, alternatives: Iterable[tuple[str, ...]]) -> np.ndarray:
        """Which citable sentences hold every stem of at least one of ``alternatives``."""
        out = np.zeros(len(self._sent_terms), bool)
        for alt in alternatives:
            mask = np.ones(len(self._sent_terms), bool)
            for stem in alt:
                mask &= self._rows_with(stem)
            out |= mask
        return out

    def _mean_idf(self, alternatives: Iterable[tuple[str, ...]]) -> float:
        """The mean IDF of the alternatives the articles use (a phrase: its rarest word's)."""
        known = [
            max(self._idf[t] for t in alt)
            for alt in alternatives
            if alt and all(t in self._idf for t in alt)
        ]
        return float(np.mean(known)) if known else 0.0

    def _stem(self, word: str) -> str:
        return str(self._stemmer.stemWord(word.lower().replace("’", "'").strip("'")))

    def _sentence_contexts(self, positions: list[int]) -> list[str]:
        """What the lexical score reads for each sentence: its heading, its list's lead-in, it."""
        heading_at: dict[int, str] = {}
        current: dict[str, str] = {}
        for pos, rec in enumerate(self.index.sentences):  # body order within each article
            if rec.heading:
                current[rec.article_id] = rec.text
            heading_at[pos] = current.get(rec.article_id, "")
        lead_at: dict[tuple[str, int], str] = {}
        for art in self.index.articles.values():
            for block in list_blocks(art.body):
                if block.lead:
                    for start, _ in block.items:
                        lead_at[(art.id, start)] = art.body[block.lead[0] : block.lead[1]]
        out = []
        for pos in positions:
            rec = self.index.sentences[pos]
            lead = lead_at.get((rec.article_id, rec.start), "")
            heading = heading_at[pos] if heading_at[pos] != rec.text else ""
            out.append(" ".join(t for t in (heading, lead, rec.text) if t))
        return out

    @lru_cache(maxsize=4096)  # noqa: B019 - one retriever per process; words repeat a lot
    def _is_common_word(self, word: str) -> bool:
        """True for a word the model's vocabulary holds whole ("faster"), not in pieces."""
        try:
            return self._word_pieces(word) <= 3  # [CLS] word [SEP]
        except Exception:  # an embedder without a tokenizer: never mend
            return True

    def _topicality(self, words: Sequence[str]) -> dict[str, float]:
        """How much each word the articles never use belongs to their field (TOPIC_FLOOR..1): its
        cosine to the articles' mean sentence, scaled between TOPIC_LOW and TOPIC_HIGH. Words
        are embedded together, once each per process."""
        missing = [w for w in dict.fromkeys(words) if w not in self._topic_cache]
        if missing and self._centroid is not None:
            try:
                cosines = self.embedder.encode(missing) @ self._centroid
            except Exception:  # an embedder that cannot encode a word alone: count it fully
                cosines = np.full(len(missing), TOPIC_HIGH)
            if len(self._topic_cache) > 8192:
                self._topic_cache.clear()
            for word, cos in zip(missing, cosines.tolist(), strict=True):
                scaled = (cos - TOPIC_LOW) / (TOPIC_HIGH - TOPIC_LOW)
                self._topic_cache[word] = min(1.0, max(TOPIC_FLOOR, scaled))
        return {w: self._topic_cache.get(w, 1.0) for w in words}

    def knows(self, word: str) -> bool:
        """True for a word the articles use, or one of the vocabulary groups' words."""
        low = word.lower().replace("’", "'")
        stem = self._stem(low)
        return low in self._words or stem in self._stems or stem in self._group_of_stem

    def _mend(self, word: str) -> str | None:
        """The article (or vocabulary.py) word that ``word`` is a typo of, or None.

        Only words of four letters or more that neither the articles nor the model's vocabulary
        know are mended ("pregancy", "herditary"), to the nearest article or vocabulary word
        (one edit, two for long words; a swap of two letters is one edit; "famlies" →
        "families"), or to the commonest article word of the nearest stem. A word of four
        letters is mended only to a word it begins ("wors" → "worse", never "wart" → "warm").
        """
        low = word.lower()
        if (
            len(low) < 4
            or not low.isalpha()
            or low in self._words
            or self._stem(low) in self._stems
            or self._stem(low) in self._group_of_stem
            or self._is_common_word(low)
        ):
            return None
        if len(low) == 4:  # too short to guess: only a word cut short by one letter ("wors")
            ends = [c for c in self._by_length.get(5, ()) if c.startswith(low)]
            return max(ends, key=lambda c: (self._mendable[c], c)) if ends else None
        limit = 1 if len(low) <= 7 else 2
        best: tuple[int, bool, int, str] | None = None
        for length in range(len(low) - limit, len(low) + limit + 1):
            for cand in self._by_length.get(length, ()):
                if cand[0] != low[0]:
                    continue  # a typo rarely hits the first letter; guessing it would mislead
                d = _osa_distance(low, cand, limit)
                if d <= limit:
                    # A word cut short ("wors") is most likely the word it begins.
                    key = (d, not cand.startswith(low), -self._mendable[cand], cand)
                    if best is None or key < best:
                        best = key
        if best is not None:
            return best[3]
        stem = self._stem(low)
        if len(stem) >= 5:
            near = [
                s for s in self._stems_list if s[0] == stem[0] and _osa_distance(stem, s, 1) <= 1
            ]
            if near:
                words = [w for w in self._words if self._stem(w) in near]
                return max(words, key=lambda w: (self._words[w], w)) if words else None
        return None

    def analyse(self, question: str) -> QueryAnalysis:
        """Mend typos and measure how much of the question the articles cover (cached)."""
        return self._analyse(question)

    def _analyse(self, question: str) -> QueryAnalysis:
        corrections: dict[str, str] = {}

        def fix(m: re.Match[str]) -> str:
            word = m.group(0)
            mended = self._mend(word)
            if mended is None:
                return word
            corrections[word] = mended
            return mended

        text = _WORD.sub(fix, question)
        # Vocabulary groups the question names: by a phrase ("pins and needles"), whose words
        # then belong to the group, or by a single word, question words included ("why").
        lowered = text.lower().replace("’", "'")
        group_of: dict[str, str] = {}
        stop = _stopwords()
        stems = [self._stem(w) for w in _WORD.findall(lowered) if w not in stop]
        for phrase, name in self._group_phrases:
            n = len(phrase)
            if any(tuple(stems[i : i + n]) == phrase for i in range(len(stems) - n + 1)):
                for stem in phrase:
                    group_of.setdefault(stem, name)
        named: dict[str, set[str]] = {}
        for stem in stems:
            found = group_of.get(stem) or self._group_of_stem.get(stem)
            if found:
                group_of[stem] = found
                named.setdefault(found, set())

        content: list[str] = []
        uncovered: list[str] = []
        weight_in = 0.0
        out_words: list[tuple[str, float]] = []
        for word in _WORD.findall(text):
            low = word.lower().replace("’", "'")
            if low in stop or low in _GENERIC or len(low) < 3 or low.replace("'", "") in _GENERIC:
                continue
            stem = self._stem(low)
            content.append(stem)
            if stem in group_of:
                named[group_of[stem]].add(stem)
            # A word the model splits into pieces is rare (a drug, a disease): it weighs more.
            weight = 1.0 if self._is_common_word(low) else 2.0
            said_otherwise = stem in group_of and self._group_weight[group_of[stem]] > 0
            if stem not in self._stems and low not in self._words and not said_otherwise:
                uncovered.append(stem)
                out_words.append((low, weight))
            else:
                weight_in += weight
        # A word of the articles' field they never use ("apnea", "medicare") says the question
        # is about something else; a word of the patient's story ("my new job", "the couch")
        # says little: each unused word weighs by its closeness to the articles.
        topical = self._topicality([w for w, _ in out_words]) if out_words else {}
        weight_out = sum(weight * topical[w] for w, weight in out_words)
        weight_all = weight_in + weight_out
        coverage = 1.0 - weight_out / weight_all if weight_all else 1.0
        out = set(uncovered)
        kept = " ".join(w for w in _WORD.findall(text) if self._stem(w.lower()) not in out)
        grouped = set(group_of)
        terms = [Term(frozenset([t])) for t in dict.fromkeys(content) if t not in grouped]
        terms += [Term(frozenset(own), self._group_alts[name], name) for name, own in named.items()]
        return QueryAnalysis(
            text, corrections, tuple(content), tuple(uncovered), coverage, kept, tuple(terms)
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

    # -- retrieval ------------------------------------------------------------------------------

    def embed_query(self, question: str) -> np.ndarray:
        """The question's vector alone (typos mended first); ``read`` gives it with its side
        readings in one model call."""
        return self.embedder.encode([self._main_text(question)])[0]

    def _main_text(self, question: str) -> str:
        return _expand(self.analyse(question).text)

    def message_parts(self, question: str) -> list[str]:
        """The sentences of a message of more than one that each carry PART_MIN_WORDS topic
        words or more (at most MAX_PARTS, first first); [] for a message of one sentence."""
        text = self.analyse(question).text
        pieces = [p.strip() for p in _PART_SPLIT.split(text) if p.strip()]
        if len(pieces) < 2:
            return []
        stop = _stopwords()
        out = []
        for piece in pieces:
            words = [w.lower() for w in _WORD.findall(piece)]
            topic = [w for w in words if w not in stop and w not in _GENERIC and len(w) >= 3]
            if len(topic) >= PART_MIN_WORDS:
                out.append(_expand(piece))
        return out[:MAX_PARTS]

    def without_subject(self, question: str) -> str:
        """The question without the articles' subject words ("is restless legs genetic" →
        "is genetic"), or "" when nothing of substance is left ("what is rls?")."""
        text = self.analyse(question).text
        kept = [w for w in _WORD.findall(text) if self._stem(w.lower()) not in self._subject]
        stop = _stopwords()
        if not any(w.lower() not in stop and w.lower() not in _GENERIC for w in kept):
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
        main = self._main_text(question)
        plain = self.without_subject(question)
        kept = analysis.kept if analysis.uncovered and analysis.kept.strip() else ""
        parts = self.message_parts(question)
        if own and own != question:
            parts.append(self._main_text(own))
        vecs = self.embedder.encode([main, *(t for t in (plain, kept) if t), *parts])
        i = 1
        plain_vec = kept_vec = None
        if plain:
            plain_vec, i = vecs[i], i + 1
        if kept:
            kept_vec, i = vecs[i], i + 1
        return vecs[0], SideVectors(plain_vec, vecs[i:] if parts else None, kept_vec)

    def search(self, question: str, qvec: np.ndarray, k: int) -> list[Passage]:
        """Top ``k`` chunks by reciprocal-rank fusion of dense and BM25 rankings."""
        n = len(self.index.chunks)
        if not n:
            return []
        tokens = self._tokenize([self.analyse(question).text])[0]
        if n > perf.EXACT_SEARCH_MAX:  # a large corpus: FAISS's own top-k, candidate-limited RRF
            scores = np.asarray(self._bm25.get_scores(tokens)) if tokens else None
            hits = perf.fused_search(self.index.faiss_index, qvec, scores, k, rrf_k=RRF_K)
            return [Passage(self.index.chunks[ci], f, d, lx) for ci, f, d, lx in hits]
        dense = self._chunk_vecs @ qvec
        lexical = np.asarray(self._bm25.get_scores(tokens)) if tokens else np.zeros(n)
        fused = np.zeros(n)
        for rank, ci in enumerate(np.argsort(-dense)):
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

    def _lexical(self, terms: Iterable[Term], rows: Sequence[int]) -> np.ndarray:
        """IDF-weighted share of the question's known terms found in the context of each
        citable sentence ``rows`` (indexes into the citable list): heading, list lead-in, it.

        Like BM25 without length normalisation, but bounded (1.0 = every term is there), so a
        question made only of the articles' commonest words ("rls") gets little lexical lift.
        A term of a vocabulary group weighs as its own word (or, for a word the articles never
        use, as the group's mean); a sentence that says it another way earns
        ``ALTERNATIVE_SHARE`` of that; a group named only by a question word ("why") weighs
        ``CUE_SHARE`` of the group's mean.
        """
        n = len(self._sent_terms)
        score = np.zeros(n)
        total = 0.0
        for term in terms:
            own_known = [self._idf[t] for t in term.own if t in self._idf]
            if term.group:
                weight = (
                    max(own_known)
                    if own_known
                    else self._group_weight[term.group] * (1.0 if term.own else CUE_SHARE)
                )
            else:
                weight = max(own_known, default=0.0)
            if weight <= 0:
                continue
            total += weight
            own = np.zeros(n, bool)
            for t in term.own:
                if t in self._idf:
                    own |= self._rows_with(t)
            score += weight * own
            if term.group:
                score += ALTERNATIVE_SHARE * weight * (self._group_rows[term.group] & ~own)
        if total <= 0:
            return np.zeros(len(rows))
        # A question whose only known word is common ("rls") must not make every sentence
        # holding it a perfect lexical match: the denominator is at least LEXICAL_FLOOR.
        return score[np.asarray(rows, dtype=int)] / max(total, LEXICAL_FLOOR)

    def candidate_sentences(
        self,
        passages: Iterable[Passage],
        qvec: np.ndarray,
        excluded: set[tuple[str, int, int]],
        query: str | None = None,
        side: SideVectors | None = None,
        own: str | None = None,
    ) -> list[ScoredSentence]:
        """Citable sentences scored against the question, best first.

        The clinic's corpus is small, so every citable sentence is a candidate (a sentence
        outside the top passages can still be the best quote); above ``perf.EXACT_SEARCH_MAX``
        chunks only the sentences of ``passages`` are.

        Args:
            passages: The fused top passages (``search``).
            qvec: The question's vector.
            excluded: (article_id, start, end) spans staff took out of answers; a sentence
                overlapping any of them is never offered.
            query: The question's text, for the lexical score and the coverage; without it
                only the dense scores count.
            side: The question's side readings from ``read`` (embedded here when not given).
            own: The message itself, when ``query`` is a follow-up read with an earlier turn's
                topic: the gate also reads its lexical match alone.
        """
        passages = list(passages)
        if side is None:
            side = self.read(query)[1] if query else SideVectors(None, None, None)
        # What sentences are ranked against: the question, blended with the question without
        # the articles' subject (see SUBJECT_BLEND); the gate reads the question itself.
        rank_vec = qvec
        if side.plain is not None:
            rank_vec = SUBJECT_BLEND * qvec + (1.0 - SUBJECT_BLEND) * side.plain
        if len(self.index.chunks) > perf.EXACT_SEARCH_MAX:
            wanted = {
                pos
                for p in passages
                for pos in self._sentences_by_chunk.get(self._chunk_pos(p.chunk), [])
            }
            rows = [r for r, pos in enumerate(self._citable) if pos in wanted]
            chunk_dense = {self._chunk_pos(p.chunk): p.dense for p in passages}
        else:
            rows = list(range(len(self._citable)))
            dense_all = self._chunk_vecs @ rank_vec
            chunk_dense = dict(enumerate(dense_all.tolist()))
        if not rows:
            return []
        analysis = self.analyse(query) if query else QueryAnalysis(text="")
        positions = [self._citable[r] for r in rows]
        vectors = self.index.sentence_vectors[positions]
        sims = vectors @ qvec
        ranked = vectors @ rank_vec if rank_vec is not qvec else sims
        parts = side.parts
        # A long message: each sentence of it may be the question ("does stress make rls
        # worse?? its been horrendous since i started my new job"). The gate reads the best
        # cosine to the message or any of its parts; ranking reads the whole message (parts
        # alone pulled answers toward the patient's story: measured, README).
        best_part = float((vectors @ parts.T).max()) if parts is not None and len(parts) else 0.0
        lexical = self._lexical(analysis.terms, rows)
        kept = [
            i
            for i, pos in enumerate(positions)
            if not excluded or not _overlaps_excluded(self.index.sentences[pos], excluded)
        ]
        if not kept:
            return []
        # Each sentence's passage: the best-scoring chunk holding it.
        best_chunk = []
        for i in kept:
            holders = self._chunks_of[positions[i]]
            known = [ci for ci in holders if ci in chunk_dense] or holders
            best_chunk.append(max(known, key=lambda ci: chunk_dense.get(ci, 0.0)))
        context = np.array([chunk_dense.get(ci, 0.0) for ci in best_chunk])
        at = np.asarray(kept)
        pos_at = np.asarray(positions)[at]
        scores = (
            W_SENTENCE * (ranked[at] - HUB_WEIGHT * self._hub[pos_at])
            + W_CONTEXT * context
            + W_LEXICAL * lexical[at]
            - PROMOTION_PENALTY * self._promotional[pos_at]
        )
        best_lexical = float(lexical[at].max())
        if own and own != query:  # a follow-up: its own words, without the earlier topic's
            own_lexical = self._lexical(self.analyse(own).terms, rows)
            best_lexical = max(best_lexical, float(own_lexical[at].max()))
        relevance = self.relevance(
            analysis,
            qvec,
            max(best_part, float(sims[at].max())),
            best_lexical,
            side.kept,
        )
        given = {p.chunk.chunk_id: p for p in passages}
        out = []
        for j, (i, ci) in enumerate(zip(kept, best_chunk, strict=True)):
            chunk = self.index.chunks[ci]
            passage = given.get(chunk.chunk_id) or Passage(chunk, 0.0, float(context[j]), 0.0)
            out.append(
                ScoredSentence(
                    self.index.sentences[positions[i]],
                    positions[i],
                    float(sims[i]),
                    passage,
                    round(float(scores[j]), 4),
                    float(lexical[i]),
                    relevance,
                )
            )
        out.sort(key=lambda c: -c.score)
        return out

    def relevance(
        self,
        analysis: QueryAnalysis,
        qvec: np.ndarray,
        best_cosine: float,
        best_lexical: float,
        kept: np.ndarray | None = None,
    ) -> float:
        """How well the articles cover the question: the gate's number (0..1).

        ``GATE_COSINE`` x the best sentence cosine + the rest x the best lexical match, lowered
        for the words of the question the articles never use, by their share
        (``COVERAGE_WEIGHT``) and by the meaning lost without them (``SEMANTIC_WEIGHT``).
        """
        base = GATE_COSINE * best_cosine + (1.0 - GATE_COSINE) * best_lexical
        semantic = self.semantic_coverage(analysis, qvec, kept)
        factor = (1.0 - COVERAGE_WEIGHT * (1.0 - analysis.coverage)) * (
            1.0 - SEMANTIC_WEIGHT * (1.0 - semantic)
        )
        return round(max(0.0, base * factor), 4)

    def _chunk_pos(self, chunk: Chunk) -> int:
        pos = self._chunk_index.get(chunk.chunk_id)
        return pos if pos is not None else self.index.chunks.index(chunk)


def topic_words(text: str) -> str:
    """``text`` without its question and function words ("what are the symptoms of rls?" →
    "symptoms rls"): what a follow-up question refers back to."""
    stop = _stopwords()
    kept = [
        w
        for w in _WORD.findall(text)
        if w.lower().replace("’", "'") not in stop and w.lower().replace("’", "'") not in _GENERIC
    ]
    return " ".join(kept)


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def _expand(text: str) -> str:
    """``text`` with "RLS" spelled out, which the model reads better (EXPAND_ABBREVIATION)."""
    return _RLS.sub("restless legs syndrome", text) if EXPAND_ABBREVIATION else text


def _overlaps_excluded(rec: SentenceRecord, excluded: set[tuple[str, int, int]]) -> bool:
    return any(a == rec.article_id and s < rec.end and rec.start < e for a, s, e in excluded)
