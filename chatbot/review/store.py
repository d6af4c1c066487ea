"""The review store: every question and answer, feedback, and staff decisions, in one SQLite file
(the default) or a PostgreSQL database (``CHATBOT_DATABASE_URL``).

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
    """The answer log. Thread-safe: on SQLite each thread gets its own connection, on
    PostgreSQL the threads share a pool (``backend.py``).

    Args:
        location: The SQLite file (created with its folder when missing) or a
            ``postgresql://`` URL.
        retention_days: Delete conversations whose last message is older than this many days,
            now and then again at most every hour while answers are logged; 0 keeps everything.
    """


def store_location(settings: Settings) -> Path | str:
    """The configured PostgreSQL URL, else the SQLite file under the data directory."""
    return settings.staff.database_url or Path(settings.paths.data_dir) / DB_NAME


def open_store(settings: Settings) -> Store:
    """The configured store (``store_location``), with its retention setting."""
    return Store(store_location(settings), retention_days=settings.staff.retention_days)
