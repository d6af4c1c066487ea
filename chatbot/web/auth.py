"""Staff sign-in: sessions in signed cookies, sign-outs that end them everywhere, CSRF tokens,
and a brake on repeated wrong passwords.

- the password is configured only as a scrypt hash (``python -m chatbot review hash-password``);
  without one the staff pages stay off and say why: there is no default password;
- the session is a cookie signed with HMAC-SHA256 (``Secure``, ``HttpOnly``,
  ``SameSite=Strict``), expiring after ``SESSION_HOURS``; signing out ends that session on the
  server too (a copied cookie stops working); changing the password hash ends every session;
- every form carries a CSRF token bound to the session (or, for the login form, to a pre-login
  cookie);
- repeated wrong passwords from one client are slowed down (``LoginThrottle``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chatbot.review.passwords import PasswordHashError, parse_hash, verify_password

SESSION_HOURS = 8


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class StaffAuth:
    """Login state: whether the page is on, the signing key, sessions and CSRF tokens.

    Args:
        settings: The configuration (``staff_username``, ``staff_password_hash``, ``data_dir``).
    """

    def __init__(self, settings: Any) -> None:
        self.username = str(settings.staff.staff_username)
        self.password_hash = str(settings.staff.staff_password_hash or "").strip()
        self.problem = ""
        if not self.password_hash:
            self.problem = (
                "Staff review is switched off: no staff password is configured. There is no "
                "default password. Run `python -m chatbot review hash-password`, put the hash in "
                "CHATBOT_STAFF_PASSWORD_HASH (and the login name in CHATBOT_STAFF_USERNAME, "
                "default 'staff') and restart the app."
            )
        elif not self.username.strip():
            self.problem = "Staff review is switched off: CHATBOT_STAFF_USERNAME is empty."
        else:
            try:
                parse_hash(self.password_hash)
            except PasswordHashError as exc:
                self.problem = f"Staff review is switched off: {exc}."
        # Sessions survive a restart (the secret is kept in the data folder) but not a change
        # of password: the key depends on the hash.
        secret = _load_secret(Path(settings.paths.data_dir) / "staff_secret")
        self._key = hmac.new(secret, self.password_hash.encode(), hashlib.sha256).digest()
        # Sessions signed out before they expire: nonce -> expiry, kept in the data folder so
        # a restart or another server process honours a sign-out too.
        self._revoked_path = Path(settings.paths.data_dir) / "staff_signed_out.json"
        self._revoked: dict[str, int] = {}
        self._revoked_stamp: int | None = None
        self._revoked_lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return not self.problem

    def login(self, username: str, password: str) -> bool:
        if not self.enabled:
            return False
        # Always run the KDF, so a wrong user name takes as long as a wrong password.
        ok_password = verify_password(password, self.password_hash)
        ok_user = hmac.compare_digest(username.encode(), self.username.encode())
        return ok_password and ok_user

    def _sign(self, payload: bytes) -> str:
        return _b64(hmac.new(self._key, payload, hashlib.sha256).digest())

    def issue(self, username: str, now: float | None = None) -> str:
        expires = int((now or time.time()) + SESSION_HOURS * 3600)
        payload = json.dumps(
            {"u": username, "exp": expires, "n": secrets.token_urlsafe(12)}, separators=(",", ":")
        ).encode()
        return f"{_b64(payload)}.{self._sign(payload)}"

    def session(self, cookie: str | None, now: float | None = None) -> dict[str, Any] | None:
        """The session in a cookie value, or None when absent, forged or expired."""
        if not cookie or not self.enabled or "." not in cookie:
            return None
        raw, sig = cookie.rsplit(".", 1)
        try:
            payload = _unb64(raw)
            if not hmac.compare_digest(self._sign(payload), sig):
                return None
            data = json.loads(payload)
        except (ValueError, binascii.Error):
            return None
        if not isinstance(data, dict) or data.get("exp", 0) < (now or time.time()):
            return None
        if str(data.get("n", "")) in self._signed_out():
            return None
        return data

    def _signed_out(self) -> dict[str, int]:
        """The signed-out sessions, re-read when the file changed (another process)."""
        try:
            stamp = self._revoked_path.stat().st_mtime_ns
        except OSError:
            return self._revoked
        if stamp != self._revoked_stamp:
            try:
                data = json.loads(self._revoked_path.read_text("utf-8"))
                if isinstance(data, dict):
                    self._revoked = {str(k): int(v) for k, v in data.items()}
            except (OSError, ValueError, TypeError):
                pass  # a damaged file: keep what was known
            self._revoked_stamp = stamp
        return self._revoked

    def sign_out(self, session: Mapping[str, Any], now: float | None = None) -> None:
        """End ``session`` before it expires: its cookie, even if copied, no longer works."""
        now = now or time.time()
        with self._revoked_lock:
            kept = {n: exp for n, exp in self._signed_out().items() if exp >= now}
            kept[str(session.get("n", ""))] = int(session.get("exp", now))
            self._revoked = kept
            try:
                self._revoked_path.parent.mkdir(parents=True, exist_ok=True)
                tmp = self._revoked_path.with_suffix(".tmp")
                tmp.write_text(json.dumps(kept), "utf-8")
                tmp.replace(self._revoked_path)
                self._revoked_stamp = self._revoked_path.stat().st_mtime_ns
            except OSError:
                pass  # an unwritable data folder: this process still refuses the cookie

    def csrf(self, nonce: str, purpose: str = "form") -> str:
        return self._sign(f"{purpose}:{nonce}".encode())

    def check_csrf(self, nonce: str, token: str, purpose: str = "form") -> bool:
        return bool(nonce) and hmac.compare_digest(self.csrf(nonce, purpose), token or "")


def _load_secret(path: Path) -> bytes:
    try:
        data = path.read_bytes()
        if len(data) >= 32:
            return data
    except OSError:
        pass
    secret = secrets.token_bytes(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.touch(mode=0o600)
        tmp.write_bytes(secret)
        tmp.replace(path)
    except OSError:
        pass  # an unwritable data folder: sessions then last as long as the process
    return secret


class LoginThrottle:
    """At most ``limit`` failed logins per client in ``window`` seconds."""

    def __init__(self, limit: int = 5, window: float = 900.0) -> None:
        self.limit, self.window = limit, window
        self._fails: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        q = self._fails.setdefault(client, deque())
        while q and now - q[0] > self.window:
            q.popleft()
        return q

    def blocked_for(self, client: str, now: float | None = None) -> float:
        now = now or time.monotonic()
        with self._lock:
            q = self._recent(client, now)
            return self.window - (now - q[0]) if len(q) >= self.limit else 0.0

    def failed(self, client: str, now: float | None = None) -> None:
        now = now or time.monotonic()
        with self._lock:
            self._recent(client, now).append(now)
            if len(self._fails) > 10000:  # never grow without bound
                self._fails = {k: v for k, v in self._fails.items() if v}

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._fails.pop(client, None)
