"""What staff take away: the CSV export and the figures (the staff page and ``review stats``)."""

from __future__ import annotations

import csv
import json
import statistics
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import IO, Any

from chatbot.review.audit import Audit
from chatbot.review.db import iso_time
from chatbot.review.gaps import Asked, Embed, group_questions, is_follow_up
from chatbot.review.log import STATUSES


@dataclass
class Stats:
    """Simple figures over a period, for the staff page and ``review stats``."""

    days: int
    total: int = 0
    answered: int = 0
    no_answer: int = 0
    emergency: int = 0
    reviewed_reuse: int = 0
    rated: int = 0
    rated_down: int = 0
    staff_reviewed: int = 0
    staff_wrong: int = 0
    median_latency_ms: float | None = None
    per_day: list[dict[str, Any]] = field(default_factory=list)
    top_articles: list[dict[str, Any]] = field(default_factory=list)
    top_questions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def no_answer_rate(self) -> float:
        return self.no_answer / self.total if self.total else 0.0

    @property
    def unhelpful_rate(self) -> float:
        return self.rated_down / self.rated if self.rated else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["no_answer_rate"] = round(self.no_answer_rate, 4)
        data["unhelpful_rate"] = round(self.unhelpful_rate, 4)
        return data


class Reports(Audit):
    """The export and the figures."""

    def export_csv(self, out: IO[str], reviewed_only: bool = True) -> int:
        """Write the log as CSV (staff-reviewed answers only by default); returns the row count.

        Cells that a spreadsheet would run as a formula (starting with = + - @) get a leading
        apostrophe, so an exported question cannot execute anything.
        """
        conn = self._conn()
        sql = (
            "SELECT a.*, v.verdict, v.note AS verdict_note, v.reviewer, v.updated AS reviewed_at"
            " FROM answers a LEFT JOIN verdicts v ON v.answer_id = a.id"
        )
        if reviewed_only:
            sql += (
                " WHERE v.verdict IS NOT NULL OR EXISTS"
                " (SELECT 1 FROM citation_verdicts cv WHERE cv.answer_id = a.id)"
            )
        writer = csv.writer(out)
        writer.writerow(EXPORT_COLUMNS)
        n = 0
        for r in conn.execute(sql + " ORDER BY a.created"):
            cites = json.loads(r["citations"])
            cverdicts = {
                int(c["citation"]): c
                for c in conn.execute(
                    "SELECT citation, verdict, note FROM citation_verdicts WHERE answer_id=?",
                    (r["id"],),
                )
            }
            fb = conn.execute(
                "SELECT rating, comment FROM feedback WHERE answer_id=? ORDER BY id", (r["id"],)
            ).fetchall()
            latest = fb[-1]["rating"] if fb else ""
            writer.writerow(
                _csv_safe(
                    [
                        r["id"],
                        iso_time(r["created"]),
                        r["conversation"] or "",
                        r["channel"],
                        r["question"],
                        r["status"],
                        r["reason"],
                        "yes" if r["reviewed"] else "",
                        r["answer"],
                        " | ".join(
                            f"[{c['id']}] {c['article']} {c['start']}-{c['end']}: {c['quote']}"
                            for c in cites
                        ),
                        " | ".join(
                            f"[{k}] {v['verdict']}" + (f" ({v['note']})" if v["note"] else "")
                            for k, v in sorted(cverdicts.items())
                        ),
                        r["verdict"] or "",
                        r["verdict_note"] or "",
                        r["reviewer"] or "",
                        iso_time(r["reviewed_at"]) if r["reviewed_at"] else "",
                        # One vote per rated answer: its latest rating.
                        int(latest == "up"),
                        int(latest == "down"),
                        " | ".join(f["comment"] for f in fb if f["comment"]),
                        "" if r["latency_ms"] is None else round(r["latency_ms"], 1),
                        r["safety_tier"],
                        r["safety_kind"],
                        self.audit_actions_of(f"answer:{r['id']}"),
                    ]
                )
            )
            n += 1
        return n

    def stats(self, days: int = 30, now: float | None = None, embed: Embed | None = None) -> Stats:
        """Figures over the last ``days`` days (UTC): volume, no-answer/unhelpful rates, topics.

        "Most asked" groups paraphrases (by meaning with ``embed``, the model's ``encode``;
        by shared words without it) and leaves out follow-ups ("what about tea?"), which mean
        nothing without the turn before them.
        """
        now = now if now is not None else time.time()
        today = datetime.fromtimestamp(now, UTC).date()
        first = today - timedelta(days=max(1, days) - 1)
        since = datetime(first.year, first.month, first.day, tzinfo=UTC).timestamp()
        conn = self._conn()
        st = Stats(days=days)
        per_day: dict[str, dict[str, Any]] = {}
        for i in range(max(1, days)):
            d = (first + timedelta(days=i)).isoformat()
            per_day[d] = {"day": d, "answered": 0, "no_answer": 0, "emergency": 0}
        latencies: list[float] = []
        articles: dict[str, dict[str, Any]] = {}
        asked: list[Asked] = []
        for r in conn.execute(
            "SELECT id, created, status, reviewed, latency_ms, citations, question, question_norm,"
            " history FROM answers WHERE created >= ?",
            (since,),
        ):
            st.total += 1
            status = r["status"] if r["status"] in STATUSES else "no_answer"
            setattr(st, status, getattr(st, status) + 1)
            st.reviewed_reuse += int(r["reviewed"])
            day = datetime.fromtimestamp(r["created"], UTC).date().isoformat()
            if day in per_day:
                per_day[day][status] += 1
            if r["latency_ms"] is not None:
                latencies.append(float(r["latency_ms"]))
            if status == "answered":
                for c in json.loads(r["citations"]):
                    a = articles.setdefault(
                        c["article"],
                        {"article": c["article"], "title": c.get("title", ""), "count": 0},
                    )
                    a["count"] += 1
            if (
                status != "emergency"
                and r["question_norm"]
                and not is_follow_up(r["question"], json.loads(r["history"]))
            ):
                asked.append(Asked(r["id"], r["question"], r["question_norm"]))
        # One vote per rated answer: its latest rating (a patient may change their mind; a
        # comment after a rating is another row with the same rating).
        fb = conn.execute(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE f.rating='down') FROM feedback f"
            " JOIN answers a ON a.id=f.answer_id WHERE a.created >= ?"
            " AND f.id = (SELECT MAX(g.id) FROM feedback g WHERE g.answer_id=f.answer_id)",
            (since,),
        ).fetchone()
        st.rated, st.rated_down = int(fb[0]), int(fb[1] or 0)
        vr = conn.execute(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE v.verdict='wrong') FROM verdicts v"
            " JOIN answers a ON a.id=v.answer_id WHERE a.created >= ?",
            (since,),
        ).fetchone()
        st.staff_reviewed, st.staff_wrong = int(vr[0]), int(vr[1] or 0)
        if latencies:
            st.median_latency_ms = round(statistics.median(latencies), 1)
        st.per_day = list(per_day.values())
        st.top_articles = sorted(articles.values(), key=lambda a: (-a["count"], a["article"]))[:10]
        st.top_questions = [
            {"question": g.question, "count": g.count, "variants": g.variants, "ids": g.ids[:20]}
            for g in group_questions(asked, embed)[:10]
        ]
        return st

    def content_gaps(
        self, days: int = 30, embed: Embed | None = None, now: float | None = None
    ) -> list[dict[str, Any]]:
        """The questions of the last ``days`` days the articles could not answer (no answer,
        not a request for personal advice), clustered by meaning, biggest cluster first."""
        now = now if now is not None else time.time()
        rows = self._conn().execute(
            "SELECT id, question, question_norm FROM answers WHERE created >= ?"
            " AND status = 'no_answer' AND reason != 'personal_advice' AND question_norm != ''"
            " ORDER BY created DESC LIMIT ?",
            (now - max(1, days) * 86400, GAP_ROWS),
        )
        asked = [Asked(r["id"], r["question"], r["question_norm"]) for r in rows]
        return [
            {
                "question": g.question,
                "count": g.count,
                "variants": g.variants,
                "ids": g.ids[:50],
                "examples": g.examples[:8],
            }
            for g in group_questions(asked, embed)
        ]


GAP_ROWS = 2000  # the newest no-answer questions clustered at most (the page stays quick)

EXPORT_COLUMNS = [
    "id",
    "created",
    "conversation",
    "channel",
    "question",
    "status",
    "reason",
    "reused_reviewed_answer",
    "answer",
    "citations",
    "citation_verdicts",
    "verdict",
    "verdict_note",
    "reviewer",
    "reviewed_at",
    "feedback_up",
    "feedback_down",
    "feedback_comments",
    "latency_ms",
    "safety_tier",
    "safety_kind",
    "staff_actions",
]


def _csv_safe(row: list[Any]) -> list[Any]:
    return [
        "'" + v if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r") else v
        for v in row
    ]
