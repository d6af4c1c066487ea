"""The review store: every question and answer, feedback, and staff decisions, in one SQLite file.

One connection per thread, WAL journal, schema migrations numbered in ``MIGRATIONS`` (append
only: an applied migration is never edited). Personal identifiers are redacted
(``chatbot.redact``) before anything a patient typed is written, and a retention setting deletes
whole conversations older than N days.

What staff decide flows back into answers through two doors, both re-checked against the
*current* corpus every time (offsets from an older index are never trusted):

- ``excluded_spans(articles)``: passages staff excluded, re-located by their quote text in
  every current article body, so a re-ingest or an edited article cannot bring them back;
- ``reviewed_answer(question, articles, ...)``: an answer staff marked correct, offered again
  for the same (normalised) question when each of its quotes is still in the articles verbatim
  and none of them is excluded.
"""

from __future__ import annotations

import csv
import json
import re
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from chatbot.answer import Answer, Citation
from chatbot.errors import ChatbotError
from chatbot.redact import redact

DB_NAME = "chatbot.sqlite3"
PURGE_EVERY_S = 3600.0  # with a retention setting, old conversations go at most an hour late

ANSWER_VERDICTS = ("correct", "wrong")
CITATION_VERDICTS = ("supports", "does_not_support")
STATUSES = ("answered", "no_answer", "emergency")

Migration = str | Callable[[sqlite3.Connection], None]


def _backfill_question_norm(conn: sqlite3.Connection) -> None:
    rows = conn.execute("SELECT id, question FROM answers WHERE question_norm = ''").fetchall()
    for answer_id, question in rows:
        conn.execute(
            "UPDATE answers SET question_norm=? WHERE id=?",
            (normalize_question(question), answer_id),
        )


# Append only: each entry upgrades the schema by one version (PRAGMA user_version). An entry is
# an SQL script or a function of the connection (for data migrations SQL cannot express).
MIGRATIONS: list[Migration] = [
    """
    CREATE TABLE answers (
        id TEXT PRIMARY KEY,
        created REAL NOT NULL,
        conversation TEXT,
        channel TEXT NOT NULL,
        question TEXT NOT NULL,
        history TEXT NOT NULL,
        status TEXT NOT NULL,
        reason TEXT NOT NULL,
        answer TEXT NOT NULL,
        citations TEXT NOT NULL,
        latency_ms REAL
    );
    CREATE INDEX answers_created ON answers(created);
    CREATE INDEX answers_conversation ON answers(conversation);
    CREATE TABLE feedback (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        answer_id TEXT NOT NULL REFERENCES answers(id) ON DELETE CASCADE,
        created REAL NOT NULL,
        rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
        comment TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE excluded_passages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        article TEXT NOT NULL,
        start INTEGER NOT NULL,
        end INTEGER NOT NULL,
        quote TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        created REAL NOT NULL
    );
    """,
    # 2: staff review (verdicts per answer and per citation), reuse of reviewed answers,
    # exclusions that can be lifted again, and a key/value table for store bookkeeping.
    """
    ALTER TABLE answers ADD COLUMN question_norm TEXT NOT NULL DEFAULT '';
    ALTER TABLE answers ADD COLUMN reviewed INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX answers_question_norm ON answers(question_norm);
    CREATE INDEX answers_status ON answers(status);
    CREATE INDEX feedback_answer ON feedback(answer_id);
    CREATE TABLE verdicts (
        answer_id TEXT PRIMARY KEY REFERENCES answers(id) ON DELETE CASCADE,
        verdict TEXT NOT NULL CHECK (verdict IN ('correct', 'wrong')),
        note TEXT NOT NULL DEFAULT '',
        reviewer TEXT NOT NULL DEFAULT '',
        updated REAL NOT NULL
    );
    CREATE TABLE citation_verdicts (
        answer_id TEXT NOT NULL REFERENCES answers(id) ON DELETE CASCADE,
        citation INTEGER NOT NULL,
        verdict TEXT NOT NULL CHECK (verdict IN ('supports', 'does_not_support')),
        note TEXT NOT NULL DEFAULT '',
        reviewer TEXT NOT NULL DEFAULT '',
        updated REAL NOT NULL,
        PRIMARY KEY (answer_id, citation)
    );
    ALTER TABLE excluded_passages ADD COLUMN active INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE excluded_passages ADD COLUMN answer_id TEXT;
    ALTER TABLE excluded_passages ADD COLUMN reviewer TEXT NOT NULL DEFAULT '';
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 3: answers logged before version 2 get their normalised question.
    _backfill_question_norm,
]


class StoreError(ChatbotError):
    """The review store cannot be opened or written."""


class UnknownAnswerError(StoreError):
    """No logged answer (or citation) has that id."""


_NON_WORD = re.compile(r"[^\w\s]+")
_SPACE = re.compile(r"\s+")


def normalize_question(question: str) -> str:
    """The form two questions are compared in: NFKC, case-folded, no punctuation, single spaces."""
    text = unicodedata.normalize("NFKC", question).casefold()
    text = _NON_WORD.sub(" ", text)
    return _SPACE.sub(" ", text).strip()


def locate(body: str, quote: str) -> list[tuple[int, int]]:
    """Every span of ``body`` holding ``quote``: exact matches, else matches up to whitespace.

    The fallback lets a quote survive a re-flowed article (line breaks or double spaces changed)
    while the words stay the same; the spans returned always point at the current body.
    """
    quote = quote.strip()
    if not quote:
        return []
    spans: list[tuple[int, int]] = []
    at = body.find(quote)
    while at >= 0:
        spans.append((at, at + len(quote)))
        at = body.find(quote, at + 1)
    if spans:
        return spans
    words = quote.split()
    pattern = re.compile(r"\s+".join(re.escape(w) for w in words))
    return [(m.start(), m.end()) for m in pattern.finditer(body)]


def _overlaps(spans: Iterable[tuple[str, int, int]], article: str, start: int, end: int) -> bool:
    return any(a == article and s < end and start < e for a, s, e in spans)


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
    limit: int = 50
    offset: int = 0


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
        from dataclasses import asdict

        data = asdict(self)
        data["no_answer_rate"] = round(self.no_answer_rate, 4)
        data["unhelpful_rate"] = round(self.unhelpful_rate, 4)
        return data


def _day_start(day: str, field_name: str) -> float:
    try:
        return datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()
    except ValueError as exc:
        raise StoreError(f"{field_name} must be a date like 2025-01-31, not {day!r}") from exc


def iso_time(ts: float) -> str:
    """A stored timestamp as UTC ISO text (what staff see and what the CSV holds)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class Store:
    """SQLite-backed answer log. Thread-safe: each thread gets its own connection.

    Args:
        path: The database file (created with its folder when missing).
        retention_days: Delete conversations whose last message is older than this many days,
            now and then again at most every hour while answers are logged; 0 keeps everything.
    """

    def __init__(self, path: Path, retention_days: int = 0) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the folder of the review store {self.path}: {exc}"
            ) from exc
        self.retention_days = int(retention_days)
        self._local = threading.local()
        self._purge_lock = threading.Lock()
        self._last_purge = 0.0
        self._spans_cache: tuple[Any, frozenset[tuple[str, int, int]]] | None = None
        self._migrate()
        if self.retention_days > 0:
            self._maybe_purge(force=True)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
                conn.row_factory = sqlite3.Row
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA foreign_keys=ON")
                conn.execute("PRAGMA busy_timeout=30000")
                # Deleted rows (retention, purge) are overwritten, not left in free pages.
                conn.execute("PRAGMA secure_delete=ON")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open the review store {self.path}: {exc}") from exc
            self._local.conn = conn
        return conn

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _migrate(self) -> None:
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                raise StoreError(
                    f"the review store {self.path} is at schema version {version}, newer than "
                    f"this program ({len(MIGRATIONS)}); upgrade the program"
                )
            for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
                if callable(step):
                    step(conn)
                else:
                    for statement in filter(str.strip, step.split(";")):
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version={number}")
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(f"the review store {self.path} cannot be upgraded: {exc}") from exc
        except StoreError:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    @property
    def schema_version(self) -> int:
        return int(self._conn().execute("PRAGMA user_version").fetchone()[0])

    # -- what the bot writes ------------------------------------------------------------------

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
        self._conn().execute(
            "INSERT INTO answers (id, created, conversation, channel, question, history, status,"
            " reason, answer, citations, latency_ms, question_norm, reviewed)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
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
                normalize_question(question),
                int(bool(getattr(answer, "reviewed", False))),
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
            (answer_id, time.time(), rating, redact(comment[:2000])),
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
        fb = "EXISTS (SELECT 1 FROM feedback f WHERE f.answer_id = a.id{})"
        if flt.feedback == "up":
            where.append(fb.format(" AND f.rating = 'up'"))
        elif flt.feedback == "down":
            where.append(fb.format(" AND f.rating = 'down'"))
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
            args.append(_day_start(flt.since, "since"))
        if flt.until:
            where.append("a.created < ?")
            args.append(_day_start(flt.until, "until") + 86400)
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
            " a.latency_ms, a.reviewed, a.citations, v.verdict, v.note,"
            " (SELECT COUNT(*) FROM feedback f WHERE f.answer_id = a.id AND f.rating='up') AS up,"
            " (SELECT COUNT(*) FROM feedback f WHERE f.answer_id = a.id AND f.rating='down')"
            f" AS down {base} ORDER BY a.created DESC, a.id LIMIT ? OFFSET ?",
            [*args, max(1, min(int(flt.limit), 1000)), max(0, int(flt.offset))],
        ).fetchall()
        out = []
        for r in rows:
            item = dict(r)
            item["citations"] = len(json.loads(item["citations"]))
            out.append(item)
        return out, total

    # -- what staff decide --------------------------------------------------------------------

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
            "INSERT INTO excluded_passages (article, start, end, quote, reason, created, answer_id,"
            " reviewer) VALUES (?,?,?,?,?,?,?,?)",
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
        return int(cur.lastrowid or 0)

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

    def excluded_spans(
        self, articles: Mapping[str, Any] | None = None
    ) -> set[tuple[str, int, int]]:
        """(article, start, end) spans no answer may quote.

        Args:
            articles: The current articles by id. With them, each excluded quote is re-located
                in every current body (the same wrong sentence is excluded wherever it appears,
                and a re-ingest or an edit cannot revive it); without them, the stored offsets.
        """
        rows = (
            self._conn()
            .execute("SELECT article, start, end, quote FROM excluded_passages WHERE active=1")
            .fetchall()
        )
        if articles is None:
            return {(r[0], int(r[1]), int(r[2])) for r in rows}
        # Every question asks this: the answer is cached until the exclusions or articles change.
        key = (
            tuple(sorted({r[3] for r in rows})),
            tuple((aid, len(art.body), hash(art.body)) for aid, art in articles.items()),
        )
        cached = self._spans_cache
        if cached is not None and cached[0] == key:
            return set(cached[1])
        spans: set[tuple[str, int, int]] = set()
        for quote in key[0]:
            for aid, art in articles.items():
                for s, e in locate(art.body, quote):
                    spans.add((aid, s, e))
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
        norm = normalize_question(redact(question))
        if not norm:
            return None
        conn = self._conn()
        rows = conn.execute(
            "SELECT a.id, a.answer, a.citations, a.status, v.verdict FROM answers a"
            " JOIN verdicts v ON v.answer_id=a.id WHERE a.question_norm=?"
            " ORDER BY v.updated DESC, a.created DESC LIMIT 20",
            (norm,),
        ).fetchall()
        if not rows or rows[0]["verdict"] != "correct":
            return None
        disputed = {
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT a.answer FROM answers a JOIN citation_verdicts cv"
                " ON cv.answer_id=a.id WHERE a.question_norm=? AND cv.verdict='does_not_support'",
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
                        sum(1 for f in fb if f["rating"] == "up"),
                        sum(1 for f in fb if f["rating"] == "down"),
                        " | ".join(f["comment"] for f in fb if f["comment"]),
                        "" if r["latency_ms"] is None else round(r["latency_ms"], 1),
                    ]
                )
            )
            n += 1
        return n

    def stats(self, days: int = 30, now: float | None = None) -> Stats:
        """Figures over the last ``days`` days (UTC): volume, no-answer/unhelpful rates, topics."""
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
        questions: dict[str, dict[str, Any]] = {}
        for r in conn.execute(
            "SELECT created, status, reviewed, latency_ms, citations, question, question_norm"
            " FROM answers WHERE created >= ?",
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
            if status != "emergency" and r["question_norm"]:
                q = questions.setdefault(
                    r["question_norm"], {"question": r["question"], "count": 0}
                )
                q["count"] += 1
        # One vote per rated answer: its latest rating (a patient may change their mind; a
        # comment after a rating is another row with the same rating).
        fb = conn.execute(
            "SELECT COUNT(*), SUM(f.rating='down') FROM feedback f"
            " JOIN answers a ON a.id=f.answer_id WHERE a.created >= ?"
            " AND f.id = (SELECT MAX(g.id) FROM feedback g WHERE g.answer_id=f.answer_id)",
            (since,),
        ).fetchone()
        st.rated, st.rated_down = int(fb[0]), int(fb[1] or 0)
        vr = conn.execute(
            "SELECT COUNT(*), SUM(v.verdict='wrong') FROM verdicts v JOIN answers a"
            " ON a.id=v.answer_id WHERE a.created >= ?",
            (since,),
        ).fetchone()
        st.staff_reviewed, st.staff_wrong = int(vr[0]), int(vr[1] or 0)
        if latencies:
            latencies.sort()
            mid = len(latencies) // 2
            st.median_latency_ms = round(
                latencies[mid] if len(latencies) % 2 else (latencies[mid - 1] + latencies[mid]) / 2,
                1,
            )
        st.per_day = list(per_day.values())
        st.top_articles = sorted(articles.values(), key=lambda a: (-a["count"], a["article"]))[:10]
        st.top_questions = sorted(questions.values(), key=lambda q: (-q["count"], q["question"]))[
            :10
        ]
        return st


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
]


def _csv_safe(row: list[Any]) -> list[Any]:
    return [
        "'" + v if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r") else v
        for v in row
    ]


_MARKER = re.compile(r"\[(\d+)\]")


def _revalidate(
    text: str,
    citations: list[dict[str, Any]],
    articles: Mapping[str, Any],
    excluded: set[tuple[str, int, int]],
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
        start, end = int(c.get("start", -1)), int(c.get("end", -1))
        if not (0 <= start < end <= len(art.body) and art.body[start:end] == quote):
            exact = [(s, e) for s, e in locate(art.body, quote) if art.body[s:e] == quote]
            if not exact:
                return None  # the quote is gone or reworded: the approval no longer applies
            start, end = min(exact, key=lambda span: abs(span[0] - start))
        if _overlaps(excluded, art.id, start, end):
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


def open_store(settings: Any) -> Store:
    """The store file under the configured data directory, with its retention setting."""
    return Store(
        Path(settings.data_dir) / DB_NAME, retention_days=getattr(settings, "retention_days", 0)
    )
