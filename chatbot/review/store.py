"""The review store: every question and answer, feedback, and staff decisions, in one SQLite file.

``Store`` puts the parts together: ``db`` (connection, migrations), ``log`` (answers and feedback
in, the list out, retention), ``loop`` (verdicts, exclusions, reviewed answers), ``approved``
(answers staff composed, matched by meaning), ``reports`` (CSV, figures, content gaps),
``audit`` (who did what) and ``accounts`` (staff accounts and sessions).
"""

from __future__ import annotations

from pathlib import Path

from chatbot.config import Settings
from chatbot.review.accounts import Accounts
from chatbot.review.approved import ApprovedAnswers
from chatbot.review.loop import Loop
from chatbot.review.reports import Reports

DB_NAME = "chatbot.sqlite3"


class Store(Loop, Reports, Accounts, ApprovedAnswers):
    """SQLite-backed answer log. Thread-safe: each thread gets its own connection.

    Args:
        path: The database file (created with its folder when missing).
        retention_days: Delete conversations whose last message is older than this many days,
            now and then again at most every hour while answers are logged; 0 keeps everything.
    """


def open_store(settings: Settings) -> Store:
    """The store file under the configured data directory, with its retention setting."""
    return Store(
        Path(settings.paths.data_dir) / DB_NAME, retention_days=settings.staff.retention_days
    )
