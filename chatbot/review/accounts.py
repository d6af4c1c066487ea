"""Staff accounts (one per person, each with a role) and their sessions, in the review store.

Roles, from least to most: ``reviewer`` (judge answers, exclude passages, approve answers),
``editor`` (also add, edit and retire articles and re-index), ``admin`` (also manage accounts).
Sessions live in a table so that a sign-out holds in every server process at once and survives
a restart (and, on PostgreSQL, on every machine): the database serialises the writes, nothing
is rewritten without a lock.
"""

from __future__ import annotations

import re
import time
from typing import Any

from chatbot.review.db import Database, StoreError
from chatbot.review.passwords import hash_password, parse_hash

ROLES = ("reviewer", "editor", "admin")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


def role_at_least(role: str, needed: str) -> bool:
    """Whether ``role`` may do what ``needed`` may (admin > editor > reviewer)."""
    if role not in ROLES or needed not in ROLES:
        return False
    return ROLES.index(role) >= ROLES.index(needed)


def check_name(name: str) -> str:
    """A valid account name (letters, digits, ``. _ @ -``; up to 64), or StoreError."""
    name = name.strip()
    if not _NAME.match(name):
        raise StoreError(
            "an account name is 1-64 letters, digits or . _ @ - (starting with a letter or digit)"
        )
    return name


class Accounts(Database):
    """Staff accounts and sessions."""

    # -- accounts -----------------------------------------------------------------------------

    def add_user(self, name: str, role: str, password: str, created_by: str = "") -> None:
        """Create an account (the password is hashed here; at least 12 characters)."""
        name = check_name(name)
        if role not in ROLES:
            raise StoreError(f"the role must be one of {', '.join(ROLES)}")
        encoded = hash_password(password)
        conn = self._conn()
        if conn.execute("SELECT 1 FROM staff_users WHERE name=?", (name,)).fetchone():
            raise StoreError(f"there is already an account named {name!r}")
        conn.execute(
            "INSERT INTO staff_users (name, role, password_hash, created, created_by)"
            " VALUES (?,?,?,?,?)",
            (name, role, encoded, time.time(), created_by[:100]),
        )

    def get_user(self, name: str) -> dict[str, Any] | None:
        row = (
            self._conn()
            .execute(
                "SELECT name, role, password_hash, created, created_by, active FROM staff_users"
                " WHERE name=?",
                (name,),
            )
            .fetchone()
        )
        return dict(row) if row else None

    def users(self) -> list[dict[str, Any]]:
        """Every account (without its hash), by name."""
        return [
            dict(r)
            for r in self._conn().execute(
                "SELECT name, role, created, created_by, active FROM staff_users ORDER BY name"
            )
        ]

    def has_users(self) -> bool:
        return (
            self._conn().execute("SELECT 1 FROM staff_users WHERE active=1 LIMIT 1").fetchone()
            is not None
        )

    def set_role(self, name: str, role: str) -> None:
        if role not in ROLES:
            raise StoreError(f"the role must be one of {', '.join(ROLES)}")
        self._update_user(name, "role=?", role)

    def set_active(self, name: str, active: bool) -> None:
        """Switch an account off (its sessions end) or on again."""
        self._update_user(name, "active=?", int(active))
        if not active:
            self.end_sessions(name)

    def set_password(self, name: str, password: str) -> None:
        """A new password; every session of the account ends."""
        self._update_user(name, "password_hash=?", hash_password(password))
        self.end_sessions(name)

    def _update_user(self, name: str, assignment: str, value: Any) -> None:
        cur = self._conn().execute(
            f"UPDATE staff_users SET {assignment} WHERE name=?",  # assignment: fixed text only
            (value, name),
        )
        if cur.rowcount == 0:
            raise StoreError(f"there is no account named {name!r}")

    def user_hash(self, name: str) -> str | None:
        """The password hash of an active account (checked to be one), or None."""
        user = self.get_user(name)
        if user is None or not user["active"]:
            return None
        parse_hash(user["password_hash"])
        return str(user["password_hash"])

    # -- sessions -----------------------------------------------------------------------------

    def open_session(self, nonce: str, user: str, expires: float) -> None:
        now = time.time()
        conn = self._conn()
        conn.execute("DELETE FROM staff_sessions WHERE expires < ?", (now - 86400,))
        conn.execute(
            'INSERT INTO staff_sessions (nonce, "user", created, expires) VALUES (?,?,?,?)',
            (nonce, user, now, float(expires)),
        )

    def session_open(self, nonce: str, now: float | None = None) -> bool:
        """True while the session exists, has not expired and was not signed out."""
        row = (
            self._conn()
            .execute("SELECT expires, signed_out FROM staff_sessions WHERE nonce=?", (nonce,))
            .fetchone()
        )
        now = time.time() if now is None else now
        return row is not None and row["signed_out"] is None and row["expires"] >= now

    def close_session(self, nonce: str) -> None:
        self._conn().execute(
            "UPDATE staff_sessions SET signed_out=? WHERE nonce=? AND signed_out IS NULL",
            (time.time(), nonce),
        )

    def end_sessions(self, user: str) -> None:
        self._conn().execute(
            'UPDATE staff_sessions SET signed_out=? WHERE "user"=? AND signed_out IS NULL',
            (time.time(), user),
        )

    def session_count(self) -> int:
        return int(self._conn().execute("SELECT COUNT(*) FROM staff_sessions").fetchone()[0])
