"""The articles' words: stems, IDF, patients' words for them, typo mending, the lexical match.

Built once per index from the citable sentences. Everything lexical the retriever reads comes
from here: which sentences hold a stem, the vocabulary groups of ``vocabulary.py`` ("wine" is
said "alcohol" in the articles), the subject every article shares ("restless legs"), and the
mending of a question's typos to the articles' own words ("pregancy" → "pregnancy").
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from rapidfuzz.distance import OSA

from chatbot.config import RetrievalWeights
from chatbot.index import LoadedIndex
from chatbot.retrieval import vocabulary
from chatbot.retrieval.stopwords import GENERIC
from chatbot.text.sentences import list_blocks

WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*[A-Za-z]|[A-Za-z]")
_RLS = re.compile(r"\bRLS\b", re.IGNORECASE)
_BM25_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # bm25s.tokenize's default token pattern


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """bm25s's English stop words."""
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def plain(word: str) -> str:
    """A word as it is compared: lower case, plain apostrophe."""
    return word.lower().replace("’", "'")


def is_topic_word(word: str) -> bool:
    """Not a stop word or a word every question is made of ("what", "help", "doctor")."""
    low = plain(word)
    return low not in stopwords() and low not in GENERIC


def topic_words(text: str) -> str:
    """``text`` without its question and function words ("what are the symptoms of rls?" →
    "symptoms rls"): what a follow-up question refers back to."""
    return " ".join(w for w in WORD.findall(text) if is_topic_word(w))


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


def expand(text: str, weights: RetrievalWeights) -> str:
    """``text`` with "RLS" spelled out, which the model reads better."""
    return _RLS.sub("restless legs syndrome", text) if weights.expand_abbreviation else text


class Lexicon:
    """The lexical knowledge of one index.

    Args:
        index: The loaded index.
        citable: Positions (in the sentence table) of the sentences that may be quoted.
        word_pieces: Counts the model's word pieces of a word (a rare word splits into many).
        weights: The retrieval weights (``config.RetrievalWeights``).
    """

    def __init__(
        self,
        index: LoadedIndex,
        citable: list[int],
        word_pieces: Callable[[str], int],
        weights: RetrievalWeights,
    ) -> None:
        import Stemmer

        self.index = index
        self.weights = weights
        self._word_pieces = word_pieces
        self._stemmer = Stemmer.Stemmer("english")
        contexts = self.tokenize(self._sentence_contexts(citable))
        self.sent_terms = [set(terms) for terms in contexts]
        df: Counter[str] = Counter(t for terms in self.sent_terms for t in terms)
        n = len(contexts)
        self.idf = {t: math.log((n - f + 0.5) / (f + 0.5) + 1.0) for t, f in df.items()}
        # The articles' subject: stems in at least ``subject_df`` of the citable sentences.
        self.subject = frozenset(t for t, f in df.items() if n and f / n >= weights.subject_df)

        # The articles' vocabulary: surface words (for mending typos) and stems (for coverage).
        words: Counter[str] = Counter()
        for art in index.articles.values():
            words.update(w.lower() for w in WORD.findall(f"{art.title}\n{art.body}"))
        self.words = words
        self.stems = {self.stem(w) for w in words}
        self._stems_list = sorted(self.stems)
        # Typos are mended to an article word or a word of the vocabulary groups ("famlies" →
        # "families"); the articles' own words win a tie (``mend`` ranks by count).
        self._mendable: Counter[str] = Counter(words)
        for _, members in vocabulary.GROUPS:
            for member in members:
                if member.isalpha():
                    self._mendable[member.lower()] += 0
        self._by_length: dict[int, list[str]] = {}
        for w in self._mendable:
            self._by_length.setdefault(len(w), []).append(w)
        # Vocabulary groups: members as stems, which citable sentences say each group at all,
        # single-word members by stem and phrases ("runs in the family") by pattern.
        stop = stopwords()
        self.group_alts: dict[str, tuple[tuple[str, ...], ...]] = {}
        self.group_of_stem: dict[str, str] = {}
        self.group_phrases: list[tuple[tuple[str, ...], str]] = []
        for name, members in vocabulary.GROUPS:
            alts: list[tuple[str, ...]] = []
            for member in members:
                parts = WORD.findall(member)
                stems = tuple(self.stem(w) for w in parts if w.lower() not in stop) or tuple(
                    self.stem(w) for w in parts
                )
                alts.append(stems)
                if len(stems) == 1:
                    self.group_of_stem.setdefault(stems[0], name)
                else:
                    self.group_phrases.append((stems, name))
            self.group_alts[name] = tuple(dict.fromkeys(alts))
        self._rows_of_stem: dict[str, np.ndarray] = {}
        self.group_rows = {name: self._rows_saying(alts) for name, alts in self.group_alts.items()}
        self.group_weight = {name: self._mean_idf(alts) for name, alts in self.group_alts.items()}

    # -- words ----------------------------------------------------------------------------------

    def tokenize(self, texts: list[str]) -> list[list[str]]:
        """bm25s's tokens (English stop words out, stemmed) of each text."""
        import bm25s

        return bm25s.tokenize(  # type: ignore[no-any-return]
            texts, stopwords="en", stemmer=self._stemmer, return_ids=False, show_progress=False
        )

    def tokens_of(self, text: str) -> list[str]:
        """``tokenize([text])[0]`` for one question, without bm25s's batch machinery (its
        vocabulary of ids, its progress bars): the same steps, lower case, its word pattern,
        English stop words out, each word stemmed (``test_lexicon_tokens`` checks they agree)."""
        stop = stopwords()
        words = [t for t in _BM25_TOKEN.findall(text.lower()) if t not in stop]
        return list(self._stemmer.stemWords(words)) if words else []

    def stem(self, word: str) -> str:
        return str(self._stemmer.stemWord(plain(word).strip("'")))

    @lru_cache(maxsize=4096)  # noqa: B019 - one lexicon per index; words repeat a lot
    def is_common_word(self, word: str) -> bool:
        """True for a word the model's vocabulary holds whole ("faster"), not in pieces."""
        try:
            return self._word_pieces(word) <= 3  # [CLS] word [SEP]
        except Exception:  # an embedder without a tokenizer: never mend
            return True

    def knows(self, word: str) -> bool:
        """True for a word the articles use, or one of the vocabulary groups' words."""
        low = plain(word)
        stem = self.stem(low)
        return low in self.words or stem in self.stems or stem in self.group_of_stem

    def mend(self, word: str) -> str | None:
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
            or low in self.words
            or self.stem(low) in self.stems
            or self.stem(low) in self.group_of_stem
            or self.is_common_word(low)
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
                d = OSA.distance(low, cand, score_cutoff=limit)
                if d <= limit:
                    # A word cut short ("wors") is most likely the word it begins.
                    key = (d, not cand.startswith(low), -self._mendable[cand], cand)
                    if best is None or key < best:
                        best = key
        if best is not None:
            return best[3]
        stem = self.stem(low)
        if len(stem) >= 5:
            near = [
                s
                for s in self._stems_list
                if s[0] == stem[0] and OSA.distance(stem, s, score_cutoff=1) <= 1
            ]
            if near:
                words = [w for w in self.words if self.stem(w) in near]
                return max(words, key=lambda w: (self.words[w], w)) if words else None
        return None

    # -- which sentences say what ---------------------------------------------------------------

    def rows_with(self, stem: str) -> np.ndarray:
        """Which citable sentences' contexts hold ``stem`` (a boolean row mask)."""
        rows = self._rows_of_stem.get(stem)
        if rows is None:
            rows = np.fromiter((stem in t for t in self.sent_terms), bool, len(self.sent_terms))
            self._rows_of_stem[stem] = rows
        return rows

    def _rows_saying(self, alternatives: Iterable[tuple[str, ...]]) -> np.ndarray:
        """Which citable sentences hold every stem of at least one of ``alternatives``."""
        out = np.zeros(len(self.sent_terms), bool)
        for alt in alternatives:
            mask = np.ones(len(self.sent_terms), bool)
            for stem in alt:
                mask &= self.rows_with(stem)
            out |= mask
        return out

    def _mean_idf(self, alternatives: Iterable[tuple[str, ...]]) -> float:
        """The mean IDF of the alternatives the articles use (a phrase: its rarest word's)."""
        known = [
            max(self.idf[t] for t in alt)
            for alt in alternatives
            if alt and all(t in self.idf for t in alt)
        ]
        return float(np.mean(known)) if known else 0.0

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

    def term_weight(self, term: Term) -> float:
        """What a term of the question weighs in the lexical score (see ``lexical``)."""
        own_known = [self.idf[t] for t in term.own if t in self.idf]
        if term.group:
            if own_known:
                return max(own_known)
            return self.group_weight[term.group] * (1.0 if term.own else self.weights.cue_share)
        return max(own_known, default=0.0)

    def unsupported(self, terms: Iterable[Term], row: int) -> float:
        """The IDF-weighted share of the question's known terms that citable sentence ``row``'s
        context says in no way (neither the question's own word nor, for a vocabulary group,
        another way to say it): 0.0 when it holds them all.

        The gate reads it for the sentence that would be quoted first: a near-topic question
        ("a genetic test for RLS?") shares words with the articles, but its best sentence leaves
        the asked-about thing unsaid (measured by leave-one-set-out, README "Answer quality").
        """
        total = unsaid = 0.0
        for term in terms:
            weight = self.term_weight(term)
            if weight <= 0:
                continue
            total += weight
            said = any(t in self.sent_terms[row] for t in term.own if t in self.idf)
            if not said and term.group:
                said = bool(self.group_rows[term.group][row])
            if not said:
                unsaid += weight
        return unsaid / total if total > 0 else 0.0

    def lexical(self, terms: Iterable[Term], rows: Sequence[int]) -> np.ndarray:
        """IDF-weighted share of the question's known terms found in the context of each
        citable sentence ``rows`` (indexes into the citable list): heading, list lead-in, it.

        Like BM25 without length normalisation, but bounded (1.0 = every term is there), so a
        question made only of the articles' commonest words ("rls") gets little lexical lift.
        A term of a vocabulary group weighs as its own word (or, for a word the articles never
        use, as the group's mean); a sentence that says it another way earns
        ``alternative_share`` of that; a group named only by a question word ("why") weighs
        ``cue_share`` of the group's mean.
        """
        w = self.weights
        n = len(self.sent_terms)
        score = np.zeros(n)
        total = 0.0
        for term in terms:
            weight = self.term_weight(term)
            if weight <= 0:
                continue
            total += weight
            own = np.zeros(n, bool)
            for t in term.own:
                if t in self.idf:
                    own |= self.rows_with(t)
            score += weight * own
            if term.group:
                score += w.alternative_share * weight * (self.group_rows[term.group] & ~own)
        if total <= 0:
            return np.zeros(len(rows))
        # A question whose only known word is common ("rls") must not make every sentence
        # holding it a perfect lexical match: the denominator is at least ``lexical_floor``.
        return score[np.asarray(rows, dtype=int)] / max(total, w.lexical_floor)
