"""Approved answers: composed by staff from the articles' own sentences, given to patients who
ask the same thing in other words, marked "Reviewed by clinic staff".

An approved answer is a list of quotes (each an exact span of an article, in the order staff
chose) and example questions. A patient's question gets it when

1. its cosine to one of the example questions (all-MiniLM-L6-v2) is at least
   ``MATCH_COSINE``, chosen on the dev half of ``tests/approved_pairs.jsonl`` (README,
   "Approved answers"); and
2. every key word of the question (not a question or function word, not the articles' subject
   "restless legs") is known to the answer: used by one of its example questions or quotes,
   as the same stem or as a word of the same patients'-words group (``vocabulary.py``). This
   is the guard against near-opposites, which the model puts very close ("is it contagious" /
   "is it genetic": 0.64; "does caffeine help" / "does caffeine make it worse": 0.94). Staff
   widen what an answer knows by adding example questions.

It stops being given as soon as one of its quotes is no longer verbatim in the current article
(edited or retired) or overlaps an excluded passage; the staff pages say so.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from chatbot import messages
from chatbot.retrieval.lexicon import WORD, plain, stopwords
from chatbot.retrieval.stopwords import GENERIC
from chatbot.retrieval.vocabulary import GROUPS
from chatbot.review.db import Database, StoreError
from chatbot.safety.advice import needs_medication_caution
from chatbot.text.spans import overlaps_any, relocate
from chatbot.types import Answer, Article, ArticleSpan, Citation

MATCH_COSINE = 0.65  # chosen on tests/approved_pairs.jsonl (dev); see README
MAX_EXAMPLES = 50
MAX_QUOTES = 10
SUBJECT = frozenset({"restless", "leg", "legs", "syndrome", "syndromes", "rls", "ekbom"})
# Words that turn a question around: never taken as mere question words.
POLARITY = frozenset(
    {"help", "helps", "helped", "helping", "good", "best", "much", "many", "more", "against"}
    | {"without", "not", "no", "worse", "better", "stop", "stops", "cause", "causes"}
)
Encode = Callable[[list[str]], np.ndarray]


@lru_cache(maxsize=1)
def _lexicon() -> tuple[Any, frozenset[str], dict[str, str]]:
    import Stemmer

    filler = (frozenset(stopwords()) | GENERIC) - POLARITY
    group_of: dict[str, str] = {}
    for name, words in GROUPS:
        for w in words:
            if " " not in w:
                group_of.setdefault(w.lower(), "@" + name)
    return Stemmer.Stemmer("english"), filler, group_of


def key_words(text: str) -> dict[str, str]:
    """The words that say what ``text`` asks: concept (group or stem) → the word as written."""
    stemmer, filler, group_of = _lexicon()
    out: dict[str, str] = {}
    for raw in WORD.findall(text):
        w = plain(raw).strip("'")
        if not w or w in filler or w in SUBJECT:
            continue
        out.setdefault(group_of.get(w) or stemmer.stemWord(w), w)
    return out


def unknown_words(question: str, known_texts: Sequence[str]) -> list[str]:
    """The question's key words that none of ``known_texts`` uses (the near-opposite guard)."""
    known: set[str] = set()
    for t in known_texts:
        known |= key_words(t).keys()
    return [w for k, w in key_words(question).items() if k not in known]


def compose_text(quotes: Sequence[str]) -> str:
    """The answer text of an approved answer: the bot's intro, one bullet a quote."""
    lines = [messages.ANSWER_INTRO, ""]
    lines += [f"- {q} [{i}]" for i, q in enumerate(quotes, start=1)]
    if needs_medication_caution(list(quotes)):
        lines += ["", messages.MEDICATION_CAUTION]
    return "\n".join(lines)


def _clean_examples(examples: Sequence[str]) -> list[str]:
    out: list[str] = []
    for e in examples:
        e = " ".join(str(e).split())[:300]
        if e and e.casefold() not in {o.casefold() for o in out}:
            out.append(e)
    return out[:MAX_EXAMPLES]


class ApprovedAnswers(Database):
    """Approved answers in the review store, and the lookup ``Bot.ask`` makes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._vectors: dict[tuple[int, str, tuple[str, ...]], np.ndarray] = {}
        self._vectors_lock = threading.Lock()

    # -- staff compose, edit and retire --------------------------------------------------------

    def create_approved(
        self,
        quotes: Sequence[tuple[str, int, int]],
        examples: Sequence[str],
        articles: Mapping[str, Article],
        created_by: str = "",
        source_answer: str | None = None,
    ) -> int:
        """Store an answer made of ``quotes`` (article id, start, end: exact spans, in order).

        Raises:
            StoreError: no quote or example, a span that is not in its article, too many.
        """
        citations = self._citations(quotes, articles)
        examples = _clean_examples(examples)
        if not examples:
            raise StoreError("an approved answer needs at least one example question")
        now = time.time()
        cur = self._conn().execute(
            "INSERT INTO approved_answers (created, updated, created_by, answer, citations,"
            " examples, source_answer) VALUES (?,?,?,?,?,?,?) RETURNING id",
            (
                now,
                now,
                created_by[:100],
                compose_text([c["quote"] for c in citations]),
                json.dumps(citations, ensure_ascii=False),
                json.dumps(examples, ensure_ascii=False),
                source_answer,
            ),
        )
        return int(cur.fetchone()[0])

    @staticmethod
    def _citations(
        quotes: Sequence[tuple[str, int, int]], articles: Mapping[str, Article]
    ) -> list[dict[str, Any]]:
        if not quotes:
            raise StoreError("pick at least one passage of the articles for the answer")
        if len(quotes) > MAX_QUOTES:
            raise StoreError(f"an approved answer holds at most {MAX_QUOTES} quotes")
        out = []
        for i, (aid, start, end) in enumerate(quotes, start=1):
            art = articles.get(aid)
            if art is None:
                raise StoreError(f"there is no article {aid!r}")
            if not 0 <= int(start) < int(end) <= len(art.body):
                raise StoreError(f"characters {start}-{end} are not in {aid}")
            quote = art.body[int(start) : int(end)]
            if not quote.strip() or quote != quote.strip():
                raise StoreError(f"characters {start}-{end} of {aid} are not a passage")
            out.append(
                {
                    "id": i,
                    "article": aid,
                    "title": art.title,
                    "quote": quote,
                    "start": int(start),
                    "end": int(end),
                    "date": art.date,
                }
            )
        return out

    def set_examples(self, approved_id: int, examples: Sequence[str]) -> None:
        examples = _clean_examples(examples)
        if not examples:
            raise StoreError("an approved answer needs at least one example question")
        cur = self._conn().execute(
            "UPDATE approved_answers SET examples=?, updated=? WHERE id=?",
            (json.dumps(examples, ensure_ascii=False), time.time(), int(approved_id)),
        )
        if cur.rowcount == 0:
            raise StoreError(f"there is no approved answer {approved_id}")

    def retire_approved(self, approved_id: int) -> bool:
        cur = self._conn().execute(
            "UPDATE approved_answers SET active=0, updated=? WHERE id=? AND active=1",
            (time.time(), int(approved_id)),
        )
        return cur.rowcount > 0

    def approved_list(self, include_retired: bool = False) -> list[dict[str, Any]]:
        sql = "SELECT * FROM approved_answers"
        if not include_retired:
            sql += " WHERE active=1"
        out = []
        for r in self._conn().execute(sql + " ORDER BY id DESC"):
            item = dict(r)
            item["citations"] = json.loads(item["citations"])
            item["examples"] = json.loads(item["examples"])
            out.append(item)
        return out

    def get_approved(self, approved_id: int) -> dict[str, Any] | None:
        if not 0 < int(approved_id) < 2**62:
            return None
        return next((a for a in self.approved_list(True) if a["id"] == int(approved_id)), None)

    def times_given(self, approved_id: int) -> int:
        row = (
            self._conn()
            .execute("SELECT COUNT(*) FROM answers WHERE approved_id=?", (int(approved_id),))
            .fetchone()
        )
        return int(row[0])

    # -- whether it still holds, and the lookup ------------------------------------------------

    def approved_problems(
        self,
        item: Mapping[str, Any],
        articles: Mapping[str, Article],
        excluded: set[ArticleSpan] | None = None,
    ) -> list[str]:
        """Why an approved answer is no longer given (empty: it is)."""
        excluded = self.excluded_spans(articles) if excluded is None else excluded
        problems = []
        for c in item["citations"]:
            art = articles.get(c["article"])
            span = relocate(art.body, c["quote"], c["start"], c["end"]) if art else None
            if span is None:
                problems.append(f"quote [{c['id']}] is no longer in {c['article']} as it was")
            elif overlaps_any(c["article"], *span, excluded):
                problems.append(f"quote [{c['id']}] overlaps an excluded passage")
        return problems

    def excluded_spans(  # overridden by the loop (re-located exclusions)
        self, articles: Mapping[str, Any] | None = None
    ) -> set[ArticleSpan]:
        return set()

    def approved_answer(
        self,
        question: str,
        articles: Mapping[str, Article],
        disclaimer: str,
        encode: Encode,
    ) -> Answer | None:
        """The approved answer for ``question``, or None (see the module's docstring)."""
        found = self.match_approved(question, articles, encode)
        if found is None:
            return None
        item, _ = found
        answer = self._rebuilt(item, articles)
        if answer is not None:
            answer.disclaimer = disclaimer
        return answer

    def match_approved(
        self, question: str, articles: Mapping[str, Article], encode: Encode
    ) -> tuple[dict[str, Any], float] | None:
        """The best valid approved answer and its cosine, or None. Costs no model call while
        there is no approved answer."""
        items = self.approved_list()
        if not items:
            return None
        qvec = np.asarray(encode([question]), dtype=np.float32)[0]
        excluded = self.excluded_spans(articles)
        ranked = []
        for item in items:
            cos = float(np.max(self._example_vectors(item, encode) @ qvec))
            if cos >= MATCH_COSINE:
                ranked.append((cos, item))
        for cos, item in sorted(ranked, key=lambda r: -r[0]):
            known = item["examples"] + [c["quote"] for c in item["citations"]]
            if unknown_words(question, known):
                continue
            if self.approved_problems(item, articles, excluded):
                continue
            return item, cos
        return None

    def _example_vectors(self, item: Mapping[str, Any], encode: Encode) -> np.ndarray:
        key = (int(item["id"]), getattr(encode, "__qualname__", ""), tuple(item["examples"]))
        with self._vectors_lock:
            cached = self._vectors.get(key)
        if cached is None:
            cached = np.asarray(encode(list(item["examples"])), dtype=np.float32)
            with self._vectors_lock:
                if len(self._vectors) > 2000:
                    self._vectors.clear()
                self._vectors[key] = cached
        return cached

    @staticmethod
    def _rebuilt(item: Mapping[str, Any], articles: Mapping[str, Article]) -> Answer | None:
        citations = []
        for c in item["citations"]:
            art = articles.get(c["article"])
            span = relocate(art.body, c["quote"], c["start"], c["end"]) if art else None
            if art is None or span is None:
                return None
            citations.append(
                Citation(
                    id=int(c["id"]),
                    article=art.id,
                    title=art.title,
                    quote=c["quote"],
                    start=span[0],
                    end=span[1],
                    score=1.0,
                    date=art.date,
                )
            )
        answer = Answer(
            status="answered",
            answer=str(item["answer"]),
            citations=citations,
            disclaimer="",
            reviewed=True,
            approved=int(item["id"]),
        )
        return answer
