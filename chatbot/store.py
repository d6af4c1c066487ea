"""The review store: every question and answer, feedback, and staff decisions, in one SQLite file.

One connection per thread, WAL journal, schema migrations numbered in ``MIGRATIONS``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chatbot.answer import Answer
from chatbot.errors import ChatbotError

DB_NAME = "chatbot.sqlite3"

# Append only: each entry upgrades the schema by one version (PRAGMA user_version).
MIGRATIONS: list[str] = [
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
]


class StoreError(ChatbotError):
    """The review store cannot be opened or written."""


class Store:
    """SQLite-backed answer log. Thread-safe: each thread gets its own connection."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._migrate()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open the review store {self.path}: {exc}") from exc
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    def _migrate(self) -> None:
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in filter(str.strip, script.split(";")):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version={number}")
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(f"the review store {self.path} cannot be upgraded: {exc}") from exc

    @property
    def schema_version(self) -> int:
        return int(self._conn().execute("PRAGMA user_version").fetchone()[0])

    def log_answer(
        self,
        question: str,
        answer: Answer,
        history: Sequence[Any],
        channel: str,
        conversation: str | None = None,
    ) -> None:
        turns = [{"role": t.role, "content": t.content} for t in history]
        self._conn().execute(
            "INSERT INTO answers (id, created, conversation, channel, question, history, status,"
            " reason, answer, citations, latency_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
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
            ),
        )

    def record_feedback(self, answer_id: str, rating: str, comment: str = "") -> bool:
        """Store a patient's rating of an answer; False when the answer id is unknown."""
        if rating not in ("up", "down"):
            raise ValueError("rating must be 'up' or 'down'")
        conn = self._conn()
        if conn.execute("SELECT 1 FROM answers WHERE id=?", (answer_id,)).fetchone() is None:
            return False
        conn.execute(
            "INSERT INTO feedback (answer_id, created, rating, comment) VALUES (?,?,?,?)",
            (answer_id, time.time(), rating, comment[:2000]),
        )
        return True

    def get_answer(self, answer_id: str) -> dict[str, Any] | None:
        row = self._conn().execute("SELECT * FROM answers WHERE id=?", (answer_id,)).fetchone()
        if row is None:
            return None
        data = dict(row)
        data["citations"] = json.loads(data["citations"])
        data["history"] = json.loads(data["history"])
        data["feedback"] = [
            dict(r)
            for r in self._conn().execute(
                "SELECT rating, comment, created FROM feedback WHERE answer_id=? ORDER BY id",
                (answer_id,),
            )
        ]
        return data

    def exclude_passage(self, article: str, start: int, end: int, quote: str, reason: str) -> None:
        self._conn().execute(
            "INSERT INTO excluded_passages (article, start, end, quote, reason, created)"
            " VALUES (?,?,?,?,?,?)",
            (article, start, end, quote, reason, time.time()),
        )

    def excluded_spans(self) -> set[tuple[str, int, int]]:
        rows = self._conn().execute("SELECT article, start, end FROM excluded_passages")
        return {(r[0], int(r[1]), int(r[2])) for r in rows}


def open_store(settings: Any) -> Store:
    """The store file under the configured data directory."""
    return Store(Path(settings.data_dir) / DB_NAME)
