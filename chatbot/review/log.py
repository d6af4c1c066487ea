"""What the bot writes to the review store (every answer, patients' feedback), what staff read
back (one answer, the filtered list), and the retention purge.

Personal identifiers are redacted (``redact``) before anything a patient typed is written.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatbot.review.db import Database, StoreError, day_start
from chatbot.review.redact import redact
from chatbot.safety.hygiene import plain_text
from chatbot.text.normalise import question_key
from chatbot.types import Answer

PURGE_EVERY_S = 3600.0  # with a retention setting, old conversations go at most an hour late
ANSWER_VERDICTS = ("correct", "wrong")
SAFETY_TIERS = ("emergency", "safety_net")
MAX_OFFSET = 2**62  # the store's integers are 64-bit: a larger offset would overflow
# An answer's patient rating: the latest one (one vote per rated answer).
LATEST_RATING = (
    "(SELECT f.rating FROM feedback f WHERE f.answer_id = a.id ORDER BY f.id DESC LIMIT 1)"
)
STATUSES = ("answered", "no_answer", "emergency")


@dataclass
class AnswerFilter:
    """What the staff list shows (every field optional)."""

    status: str = ""  # answered | no_answer | emergency
    feedback: str = ""  # up | down | none | any
    verdict: str = ""  # correct | wrong | unreviewed | reviewed
    since: str = ""  # YYYY-MM-DD (UTC), inclusive
    until: str = ""  # YYYY-MM-DD (UTC), inclusive
    text: str = ""  # words in the question or the answer
    channel: str = ""
    safety_tier: str = ""  # emergency | safety_net | none (answers without safety information)
    safety_kind: str = ""  # chest_pain, breathing, ... (``answer.safety["kind"]``)
    limit: int = 50
    offset: int = 0


class Log(Database):
    """Writing answers and feedback; reading them back for staff; the retention purge."""

    def __init__(self, location: Path | str, retention_days: int = 0) -> None:
        super().__init__(location, retention_days)
        self._purge_lock = threading.Lock()
        self._last_purge = 0.0
        if self.retention_days > 0:
            self._maybe_purge(force=True)

    def log_answer(
        self,
        question: str,
        answer: Answer,
        history: Sequence[Any],
        channel: str,
        conversation: str | None = None,
    ) -> None:
        """Record one question and its answer; what the patient typed is redacted first."""
        question = redact(question)
        turns = [{"role": t.role, "content": redact(t.content)} for t in history]
        safety = getattr(answer, "safety", None)
        safety = safety if isinstance(safety, dict) else {}
        self._conn().execute(
            "INSERT INTO answers (id, created, conversation, channel, question, history, status,"
            " reason, answer, citations, latency_ms, question_norm, reviewed, approved_id,"
            " safety_tier, safety_kind) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                answer.id,
                time.time(),
                conversation,
                channel,
                question,
                json.dumps(turns, ensure_ascii=False),
                answer.status,
                answer.reason,
                answer.answer,
                json.dumps([c.__dict__ for c in answer.citations], ensure_ascii=False),
                answer.timings.get("total_ms"),
                question_key(question),
                int(bool(getattr(answer, "reviewed", False))),
                getattr(answer, "approved", None),
                str(safety.get("tier") or "")[:40],
                str(safety.get("kind") or "")[:40],
            ),
        )
        self._maybe_purge()

    def record_feedback(self, answer_id: str, rating: str, comment: str = "") -> bool:
        """Store a patient's rating of an answer; False when the answer id is unknown."""
        if rating not in ("up", "down"):
            raise ValueError("rating must be 'up' or 'down'")
        conn = self._conn()
        if conn.execute("SELECT 1 FROM answers WHERE id=?", (answer_id,)).fetchone() is None:
            return False
        conn.execute(
            "INSERT INTO feedback (answer_id, created, rating, comment) VALUES (?,?,?,?)",
            # Bidi, zero-width and control characters out: staff read it as it looks.
            (answer_id, time.time(), rating, redact(plain_text(comment)[:2000])),
        )
        return True

    # -- what staff read ----------------------------------------------------------------------

    def get_answer(self, answer_id: str) -> dict[str, Any] | None:
        """One logged answer with its feedback, verdicts and the rest of its conversation."""
        conn = self._conn()
        row = conn.execute("SELECT * FROM answers WHERE id=?", (answer_id,)).fetchone()
        if row is None:
            return None
        data = dict(row)
        data["citations"] = json.loads(data["citations"])
        data["history"] = json.loads(data["history"])
        data["feedback"] = [
            dict(r)
            for r in conn.execute(
                "SELECT rating, comment, created FROM feedback WHERE answer_id=? ORDER BY id",
                (answer_id,),
            )
        ]
        verdict = conn.execute(
            "SELECT verdict, note, reviewer, updated FROM verdicts WHERE answer_id=?", (answer_id,)
        ).fetchone()
        data["verdict"] = dict(verdict) if verdict else None
        data["citation_verdicts"] = {
            int(r["citation"]): dict(r)
            for r in conn.execute(
                "SELECT citation, verdict, note, reviewer, updated FROM citation_verdicts"
                " WHERE answer_id=?",
                (answer_id,),
            )
        }
        data["conversation_turns"] = []
        if data["conversation"]:
            data["conversation_turns"] = [
                dict(r)
                for r in conn.execute(
                    "SELECT id, created, question, status FROM answers WHERE conversation=?"
                    " ORDER BY created",
                    (data["conversation"],),
                )
            ]
        return data

    def list_answers(self, flt: AnswerFilter | None = None) -> tuple[list[dict[str, Any]], int]:
        """Logged answers matching ``flt``, newest first, and how many match in all."""
        flt = flt or AnswerFilter()
        where: list[str] = []
        args: list[Any] = []
        if flt.status:
            if flt.status not in STATUSES:
                raise StoreError(f"status must be one of {', '.join(STATUSES)}")
            where.append("a.status = ?")
            args.append(flt.status)
        if flt.channel:
            where.append("a.channel = ?")
            args.append(flt.channel)
        if flt.safety_tier == "none":
            where.append("a.safety_tier = ''")
        elif flt.safety_tier:
            if flt.safety_tier not in SAFETY_TIERS:
                raise StoreError("safety tier must be emergency, safety_net or none")
            where.append("a.safety_tier = ?")
            args.append(flt.safety_tier)
        if flt.safety_kind:
            where.append("a.safety_kind = ?")
            args.append(flt.safety_kind[:40])
        fb = "EXISTS (SELECT 1 FROM feedback f WHERE f.answer_id = a.id{})"
        if flt.feedback in ("up", "down"):
            where.append(f"{LATEST_RATING} = ?")
            args.append(flt.feedback)
        elif flt.feedback == "any":
            where.append(fb.format(""))
        elif flt.feedback == "none":
            where.append("NOT " + fb.format(""))
        elif flt.feedback:
            raise StoreError("feedback must be up, down, any or none")
        if flt.verdict in ANSWER_VERDICTS:
            where.append("v.verdict = ?")
            args.append(flt.verdict)
        elif flt.verdict == "unreviewed":
            where.append("v.verdict IS NULL")
        elif flt.verdict == "reviewed":
            where.append("v.verdict IS NOT NULL")
        elif flt.verdict:
            raise StoreError("verdict must be correct, wrong, reviewed or unreviewed")
        if flt.since:
            where.append("a.created >= ?")
            args.append(day_start(flt.since, "since"))
        if flt.until:
            where.append("a.created < ?")
            args.append(day_start(flt.until, "until") + 86400)
        if flt.text.strip():
            like = "%" + re.sub(r"([\\%_])", r"\\\1", flt.text.strip()) + "%"
            where.append("(a.question LIKE ? ESCAPE '\\' OR a.answer LIKE ? ESCAPE '\\')")
            args += [like, like]
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        conn = self._conn()
        base = f"FROM answers a LEFT JOIN verdicts v ON v.answer_id = a.id {clause}"
        total = int(conn.execute(f"SELECT COUNT(*) {base}", args).fetchone()[0])
        rows = conn.execute(
            "SELECT a.id, a.created, a.conversation, a.channel, a.question, a.status, a.reason,"
            " a.latency_ms, a.reviewed, a.citations, a.safety_tier, a.safety_kind, v.verdict,"
            f" v.note, v.reviewer, {LATEST_RATING} AS rating"
            f" {base} ORDER BY a.created DESC, a.id LIMIT ? OFFSET ?",
            [*args, max(1, min(int(flt.limit), 1000)), max(0, min(int(flt.offset), MAX_OFFSET))],
        ).fetchall()
        out = []
        for r in rows:
            item = dict(r)
            item["citations"] = len(json.loads(item["citations"]))
            # One vote per rated answer, everywhere: its latest rating (a comment after a
            # rating is another row with the same rating, not a second vote).
            item["up"] = int(item["rating"] == "up")
            item["down"] = int(item["rating"] == "down")
            out.append(item)
        return out, total

    # -- what staff decide --------------------------------------------------------------------

    def purge(self, older_than_days: int, now: float | None = None) -> int:
        """Delete conversations whose last message is older than the cutoff; returns rows deleted.

        A conversation goes as a whole (with its feedback and verdicts); an answer logged without
        a conversation id is its own conversation.
        """
        if older_than_days <= 0:
            raise StoreError("purge needs a number of days above 0")
        cutoff = (now if now is not None else time.time()) - older_than_days * 86400
        conn = self._conn()
        cur = conn.execute(
            "DELETE FROM answers WHERE created < ? AND (conversation IS NULL OR conversation NOT IN"
            " (SELECT conversation FROM answers WHERE conversation IS NOT NULL AND created >= ?))",
            (cutoff, cutoff),
        )
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('last_purge', ?)"
            " ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (str(time.time()),),
        )
        return int(cur.rowcount)

    def _maybe_purge(self, force: bool = False) -> None:
        if self.retention_days <= 0:
            return
        now = time.time()
        if not force and now - self._last_purge < PURGE_EVERY_S:
            return
        with self._purge_lock:
            if not force and now - self._last_purge < PURGE_EVERY_S:
                return
            self._last_purge = now
            self.purge(self.retention_days, now)
