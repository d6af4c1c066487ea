"""The review store's database: numbered migrations over one SQLite file or a PostgreSQL
database (``backend.py`` holds every difference between the two).

``MIGRATIONS`` is append only (an applied migration is never edited; they are written in
SQLite's SQL and translated for PostgreSQL); a store newer than the program is refused rather
than damaged.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from chatbot.review.backend import Backend, Conn, StoreError, open_backend
from chatbot.text.normalise import question_key

Migration = str | Callable[[Conn], None]
__all__ = ["MIGRATIONS", "Database", "StoreError", "UnknownAnswerError", "day_start", "iso_time"]


def _backfill_question_norm(conn: Conn) -> None:
    rows = conn.execute("SELECT id, question FROM answers WHERE question_norm = ''").fetchall()
    for answer_id, question in rows:
        conn.execute(
            "UPDATE answers SET question_norm=? WHERE id=?",
            (question_key(question), answer_id),
        )


# Append only: each entry upgrades the schema by one version (SQLite's PRAGMA user_version,
# PostgreSQL's schema_version table). An entry is an SQL script (SQLite's DDL, translated by
# backend.pg_ddl) or a function of the connection (for data migrations SQL cannot express).
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
    # 4: one account per person (the bootstrap admin of CHATBOT_STAFF_* is not stored), their
    # sessions (a sign-out holds in every process: no file rewritten without a lock), and the
    # audit log of every staff action.
    """
    CREATE TABLE staff_users (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL CHECK (role IN ('reviewer', 'editor', 'admin')),
        password_hash TEXT NOT NULL,
        created REAL NOT NULL,
        created_by TEXT NOT NULL DEFAULT '',
        active INTEGER NOT NULL DEFAULT 1
    );
    CREATE TABLE staff_sessions (
        nonce TEXT PRIMARY KEY,
        user TEXT NOT NULL,
        created REAL NOT NULL,
        expires REAL NOT NULL,
        signed_out REAL
    );
    CREATE INDEX staff_sessions_expires ON staff_sessions(expires);
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts REAL NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL DEFAULT '',
        detail TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX audit_target ON audit(target);
    CREATE INDEX audit_actor ON audit(actor);
    """,
    # 5: approved answers (composed by staff from the articles' sentences, with example
    # questions), and which one an answer reused.
    """
    CREATE TABLE approved_answers (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        created REAL NOT NULL,
        updated REAL NOT NULL,
        created_by TEXT NOT NULL DEFAULT '',
        answer TEXT NOT NULL,
        citations TEXT NOT NULL,
        examples TEXT NOT NULL,
        source_answer TEXT,
        active INTEGER NOT NULL DEFAULT 1
    );
    ALTER TABLE answers ADD COLUMN approved_id INTEGER;
    """,
    # 6: the safety information of an answer (``answer.safety``: tier and kind), for filtering.
    """
    ALTER TABLE answers ADD COLUMN safety_tier TEXT NOT NULL DEFAULT '';
    ALTER TABLE answers ADD COLUMN safety_kind TEXT NOT NULL DEFAULT '';
    CREATE INDEX answers_safety ON answers(safety_tier, safety_kind);
    """,
]


class UnknownAnswerError(StoreError):
    """No logged answer (or citation) has that id."""


def day_start(day: str, field_name: str) -> float:
    """The UTC timestamp of a ``YYYY-MM-DD`` day's start, or StoreError naming the field."""
    try:
        return datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()
    except ValueError as exc:
        raise StoreError(f"{field_name} must be a date like 2025-01-31, not {day!r}") from exc


def iso_time(ts: float) -> str:
    """A stored timestamp as UTC ISO text (what staff see and what the CSV holds)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class Database:
    """The review store's database; the store's parts share ``_conn``.

    Args:
        location: The SQLite file (created with its folder when missing), or a
            ``postgresql://`` URL (``CHATBOT_DATABASE_URL``): see ``backend.py``.
        retention_days: Kept for the log's retention purge (``log.Log``); 0 keeps everything.
    """

    def __init__(self, location: Path | str, retention_days: int = 0) -> None:
        self.backend: Backend = open_backend(location)
        self.path: Path | None = getattr(self.backend, "path", None)  # None on PostgreSQL
        self.where = self.backend.where
        self.retention_days = int(retention_days)
        try:
            self._migrate()
        except BaseException:
            self.backend.close()
            raise

    def _conn(self) -> Conn:
        return self.backend.conn()

    def close(self) -> None:
        """SQLite: close this thread's connection (others close when their thread ends).
        PostgreSQL: close the pool."""
        self.backend.close()

    def _migrate(self) -> None:
        try:
            with self.backend.transaction() as conn:
                version = self.backend.read_version(conn)
                if version > len(MIGRATIONS):
                    raise StoreError(
                        f"the review store {self.where} is at schema version {version}, newer "
                        f"than this program ({len(MIGRATIONS)}); upgrade the program"
                    )
                for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
                    if callable(step):
                        step(conn)
                    else:
                        for statement in self.backend.statements(step):
                            conn.execute(statement)
                    self.backend.write_version(conn, number)
        except self.backend.errors() as exc:
            raise StoreError(f"the review store {self.where} cannot be upgraded: {exc}") from exc

    @property
    def schema_version(self) -> int:
        return self.backend.read_version(self._conn())
