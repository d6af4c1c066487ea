"""The review loop: what staff decide (verdicts, excluded passages) and how it flows back.

Both doors back into answers are re-checked against the *current* corpus every time (offsets
from an older index are never trusted):

- ``excluded_spans(articles)``: passages staff excluded, re-located by their quote text in
  every current article body, so a re-ingest or an edited article cannot bring them back;
- ``reviewed_answer(question, articles, ...)``: an answer staff marked correct, offered again
  for the same (normalised) question when each of its quotes is still in the articles verbatim
  and none of them is excluded.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chatbot.review.db import StoreError, UnknownAnswerError
from chatbot.review.log import ANSWER_VERDICTS, Log
from chatbot.review.redact import redact
from chatbot.text.normalise import question_key
from chatbot.text.spans import locate, overlaps_any, relocate
from chatbot.types import Answer, ArticleSpan, Citation

CITATION_VERDICTS = ("supports", "does_not_support")


class Loop(Log):
    """Staff verdicts, exclusions and reviewed answers."""

    def __init__(self, location: Path | str, retention_days: int = 0) -> None:
        super().__init__(location, retention_days)
        self._spans_cache: tuple[Any, frozenset[ArticleSpan]] | None = None

    def _require_answer(self, answer_id: str) -> dict[str, Any]:
        row = (
            self._conn()
            .execute("SELECT id, citations FROM answers WHERE id=?", (answer_id,))
            .fetchone()
        )
        if row is None:
            raise UnknownAnswerError(f"no logged answer has the id {answer_id!r}")
        return dict(row)

    def set_verdict(self, answer_id: str, verdict: str, note: str = "", reviewer: str = "") -> None:
        """Staff judge a whole answer correct or wrong (the latest judgement counts)."""
        if verdict not in ANSWER_VERDICTS:
            raise StoreError("an answer verdict is 'correct' or 'wrong'")
        self._require_answer(answer_id)
        self._conn().execute(
            "INSERT INTO verdicts (answer_id, verdict, note, reviewer, updated) VALUES (?,?,?,?,?)"
            " ON CONFLICT(answer_id) DO UPDATE SET verdict=excluded.verdict, note=excluded.note,"
            " reviewer=excluded.reviewer, updated=excluded.updated",
            (answer_id, verdict, redact(note[:4000]), reviewer[:100], time.time()),
        )

    def set_citation_verdict(
        self, answer_id: str, citation: int, verdict: str, note: str = "", reviewer: str = ""
    ) -> None:
        """Staff judge whether one cited passage supports the answer."""
        if verdict not in CITATION_VERDICTS:
            raise StoreError("a citation verdict is 'supports' or 'does_not_support'")
        row = self._require_answer(answer_id)
        if int(citation) not in {int(c["id"]) for c in json.loads(row["citations"])}:
            raise UnknownAnswerError(f"answer {answer_id} has no citation [{citation}]")
        self._conn().execute(
            "INSERT INTO citation_verdicts (answer_id, citation, verdict, note, reviewer, updated)"
            " VALUES (?,?,?,?,?,?) ON CONFLICT(answer_id, citation) DO UPDATE SET"
            " verdict=excluded.verdict, note=excluded.note, reviewer=excluded.reviewer,"
            " updated=excluded.updated",
            (answer_id, int(citation), verdict, redact(note[:4000]), reviewer[:100], time.time()),
        )

    def exclude_passage(
        self,
        article: str,
        start: int,
        end: int,
        quote: str,
        reason: str,
        answer_id: str | None = None,
        reviewer: str = "",
    ) -> int:
        """Keep a passage out of every later answer; returns the exclusion's id.

        The quote text is what counts: it is looked up again in the current articles each time
        (``excluded_spans``), so the offsets here only record where it was when staff saw it.
        """
        if not quote.strip():
            raise StoreError("an excluded passage needs its quote text")
        conn = self._conn()
        existing = conn.execute(
            "SELECT id FROM excluded_passages WHERE article=? AND quote=? AND active=1",
            (article, quote),
        ).fetchone()
        if existing is not None:
            return int(existing[0])
        cur = conn.execute(
            'INSERT INTO excluded_passages (article, start, "end", quote, reason, created,'
            " answer_id, reviewer) VALUES (?,?,?,?,?,?,?,?) RETURNING id",
            (
                article,
                int(start),
                int(end),
                quote,
                reason[:2000],
                time.time(),
                answer_id,
                reviewer[:100],
            ),
        )
        return int(cur.fetchone()[0])

    def exclude_citation(
        self, answer_id: str, citation: int, reason: str, reviewer: str = ""
    ) -> int:
        """Exclude the passage an answer cited as [citation]."""
        row = self._require_answer(answer_id)
        for c in json.loads(row["citations"]):
            if int(c["id"]) == int(citation):
                return self.exclude_passage(
                    c["article"], c["start"], c["end"], c["quote"], reason, answer_id, reviewer
                )
        raise UnknownAnswerError(f"answer {answer_id} has no citation [{citation}]")

    def restore_passage(self, exclusion_id: int) -> bool:
        """Let an excluded passage be quoted again; False when there is no such exclusion."""
        if not 0 < int(exclusion_id) < 2**63:  # 64-bit ids (both backends): a larger one is no id
            return False
        cur = self._conn().execute(
            "UPDATE excluded_passages SET active=0 WHERE id=? AND active=1", (int(exclusion_id),)
        )
        return cur.rowcount > 0

    def exclusions(
        self, articles: Mapping[str, Any] | None = None, include_lifted: bool = False
    ) -> list[dict[str, Any]]:
        """Excluded passages, newest first; with ``articles``, where each is found now."""
        sql = "SELECT * FROM excluded_passages"
        if not include_lifted:
            sql += " WHERE active=1"
        out = []
        for r in self._conn().execute(sql + " ORDER BY id DESC"):
            item = dict(r)
            if articles is not None:
                item["found"] = [
                    {"article": aid, "start": s, "end": e}
                    for aid, art in articles.items()
                    for s, e in locate(art.body, item["quote"])
                ]
            out.append(item)
        return out

    def excluded_spans(self, articles: Mapping[str, Any] | None = None) -> set[ArticleSpan]:
        """The spans no answer may quote.

        Args:
            articles: The current articles by id. With them, each excluded quote is re-located
                in every current body (the same wrong sentence is excluded wherever it appears,
                and a re-ingest or an edit cannot revive it); without them, the stored offsets.
        """
        rows = (
            self._conn()
            .execute('SELECT article, start, "end", quote FROM excluded_passages WHERE active=1')
            .fetchall()
        )
        if articles is None:
            return {ArticleSpan(r[0], int(r[1]), int(r[2])) for r in rows}
        # Every question asks this: the answer is cached until the exclusions or articles change.
        key = (
            tuple(sorted({r[3] for r in rows})),
            tuple((aid, len(art.body), hash(art.body)) for aid, art in articles.items()),
        )
        cached = self._spans_cache
        if cached is not None and cached[0] == key:
            return set(cached[1])
        spans: set[ArticleSpan] = set()
        for quote in key[0]:
            for aid, art in articles.items():
                for s, e in locate(art.body, quote):
                    spans.add(ArticleSpan(aid, s, e))
        self._spans_cache = (key, frozenset(spans))
        return spans

    # -- the loop back: reviewed answers ------------------------------------------------------

    def reviewed_answer(
        self, question: str, articles: Mapping[str, Any], disclaimer: str
    ) -> Answer | None:
        """A staff-approved answer to the same question, valid against the current articles.

        Staff's latest word on this (normalised, redacted) question counts: when the most recent
        answer-level verdict on any answer to it is "wrong" (for example on a reused copy), nothing
        is reused. Otherwise the candidate is the latest answer marked correct that was
        "answered", where no answer with the same text has a citation marked as not supporting
        it. Each quote must still be in its article verbatim (its span is re-located) and overlap
        no excluded passage; otherwise None and the bot answers afresh.
        """
        norm = question_key(redact(question))
        if not norm:
            return None
        conn = self._conn()
        # Staff's verdicts first (CROSS JOIN fixes SQLite's join order): they are few, while a
        # common question's logged answers run to thousands, and SQLite, left to guess without
        # statistics, walked each of those for its verdict (0.5 ms an answer at 5,000).
        rows = conn.execute(
            "SELECT a.id, a.answer, a.citations, a.status, v.verdict FROM verdicts v"
            " CROSS JOIN answers a WHERE a.id=v.answer_id AND a.question_norm=?"
            " ORDER BY v.updated DESC, a.created DESC LIMIT 20",
            (norm,),
        ).fetchall()
        if not rows or rows[0]["verdict"] != "correct":
            return None
        disputed = {
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT a.answer FROM citation_verdicts cv CROSS JOIN answers a"
                " WHERE a.id=cv.answer_id AND a.question_norm=? AND cv.verdict='does_not_support'",
                (norm,),
            )
        }
        excluded = self.excluded_spans(articles)
        for row in rows:
            if row["verdict"] != "correct" or row["status"] != "answered":
                continue
            if row["answer"] in disputed:
                continue
            answer = _revalidate(row["answer"], json.loads(row["citations"]), articles, excluded)
            if answer is not None:
                answer.disclaimer = disclaimer
                return answer
        return None

    # -- retention, export, figures -----------------------------------------------------------


_MARKER = re.compile(r"\[(\d+)\]")


def _revalidate(
    text: str,
    citations: list[dict[str, Any]],
    articles: Mapping[str, Any],
    excluded: set[ArticleSpan],
) -> Answer | None:
    """A stored answer rebuilt against the current articles, or None when it no longer holds."""
    if not citations:
        return None
    fresh: list[Citation] = []
    for c in citations:
        art = articles.get(c.get("article", ""))
        quote = c.get("quote", "")
        if art is None or not quote:
            return None
        span = relocate(art.body, quote, int(c.get("start", -1)), int(c.get("end", -1)))
        if span is None:
            return None  # the quote is gone or reworded: the approval no longer applies
        start, end = span
        if overlaps_any(art.id, start, end, excluded):
            return None
        fresh.append(
            Citation(
                id=int(c["id"]),
                article=art.id,
                title=art.title,
                quote=quote,
                start=start,
                end=end,
                score=float(c.get("score", 0.0)),
                date=getattr(art, "date", ""),
            )
        )
    if {int(m) for m in _MARKER.findall(text)} != {c.id for c in fresh}:
        return None
    return Answer(status="answered", answer=text, citations=fresh, disclaimer="", reviewed=True)
