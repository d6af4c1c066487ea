"""Staff sign-in: one account per person, sessions kept in the review store, CSRF tokens, and a
brake on wrong passwords that counts per account and per client address.

- Accounts live in the review store (``review user add NAME --role ...`` or the staff area's
  Accounts page). The old single login (``CHATBOT_STAFF_USERNAME`` and
  ``CHATBOT_STAFF_PASSWORD_HASH``) still works: it is a bootstrap admin, not stored, so existing
  deployments sign in as before and can create the real accounts.
- A password is kept only as a scrypt hash; checking one runs in a thread pool with its own
  limit (``KDF_THREADS``), never on the event loop, so sign-ins cannot stall patients' answers.
- The session is a cookie signed with HMAC-SHA256 (``Secure``, ``HttpOnly``,
  ``SameSite=Strict``; the key: ``staff_secret``), expiring after ``SESSION_HOURS``; it names
  its account and a fingerprint of that account's password hash (a new password ends every
  session), and it is valid only while its row in the store's ``staff_sessions`` table is
  open: signing out holds in every server process and after a restart, and on every machine
  when they share one PostgreSQL store (``CHATBOT_DATABASE_URL``) and one
  ``CHATBOT_STAFF_SECRET``.
- Every form carries a CSRF token bound to the session (or, for the sign-in form, to a
  pre-login cookie).
- Wrong passwords (``LoginLimiter``, the ``limits`` library): 5 in 15 minutes for one account
  from one address block that account from that address; 20 from one address block it for
  every account. A wrong password from one place never locks anyone out elsewhere. The counts
  are in the rate limit's store (``CHATBOT_LIMITS_URL``), so with Redis every worker and
  machine shares one brake; what happens when Redis is down is said at ``LoginLimiter``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import secrets
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from chatbot.review.accounts import ROLES
from chatbot.review.passwords import PasswordHashError, hash_password, parse_hash, verify_password
from chatbot.web.limits import LimitsStore

SESSION_HOURS = 8
KDF_THREADS = 2  # scrypt checks at once (each takes ~50-100 ms of a core and 32 MiB)
BOOTSTRAP_ROLE = "admin"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def client_key(request: Any) -> str:
    """The client address the sign-in brake counts by. (To become ``middleware.client_address``
    with ``CHATBOT_TRUSTED_PROXIES`` once that lands: this is the one place to change.)"""
    client = getattr(request, "client", None)
    return str(client.host) if client else "unknown"


class StaffAuth:
    """Who may sign in, sessions and CSRF tokens.

    Args:
        settings: The configuration (``staff.staff_username``, ``staff.staff_password_hash``,
            ``paths.data_dir``).
        store: Returns the review store (or None while there is none): accounts and sessions.
    """

    def __init__(self, settings: Any, store: Callable[[], Any] | None = None) -> None:
        self.username = str(settings.staff.staff_username).strip()
        self.password_hash = str(settings.staff.staff_password_hash or "").strip()
        self._store = store or (lambda: None)
        self.config_problem = ""
        if self.password_hash:
            if not self.username:
                self.config_problem = (
                    "Staff review is switched off: CHATBOT_STAFF_USERNAME is empty."
                )
            else:
                try:
                    parse_hash(self.password_hash)
                except PasswordHashError as exc:
                    self.config_problem = f"Staff review is switched off: {exc}."
        self._key = staff_secret(settings)
        self._dummy = hash_password(secrets.token_urlsafe(16))  # same cost for unknown names
        # Without a review store (a server started without one): sessions in memory.
        self._memory: dict[str, dict[str, Any]] = {}
        self._memory_lock = threading.Lock()
        self._kdf_limiters: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()

    # -- is it on, and who is who --------------------------------------------------------------

    @property
    def store(self) -> Any:
        return self._store()

    @property
    def problem(self) -> str:
        """Why the staff pages are off ("" when they are on)."""
        if self.config_problem:
            return self.config_problem
        if self.password_hash:
            return ""
        try:
            store = self.store
            if store is not None and store.has_users():
                return ""
        except Exception:  # a failing store: report it as off, with the reason below
            pass
        return (
            "Staff review is switched off: no staff account exists and no staff password is "
            "configured. There is no default password. Create an account with `python -m "
            "chatbot review user add NAME --role admin` (the password on stdin), or run "
            "`python -m chatbot review hash-password`, put the hash in "
            "CHATBOT_STAFF_PASSWORD_HASH (and the login name in CHATBOT_STAFF_USERNAME, "
            "default 'staff') and restart the app."
        )

    @property
    def enabled(self) -> bool:
        return not self.problem

    def account(self, name: str) -> tuple[str, str] | None:
        """(role, password hash) of an account that may sign in, or None."""
        store = self.store
        if store is not None:
            try:
                user = store.get_user(name)
            except Exception:
                user = None
            if user is not None:
                return (user["role"], user["password_hash"]) if user["active"] else None
        if self.password_hash and not self.config_problem and name == self.username:
            return BOOTSTRAP_ROLE, self.password_hash
        return None

    def check_password(self, username: str, password: str) -> str | None:
        """The account's role when the password is right, else None (always runs the KDF)."""
        found = self.account(username)
        encoded = found[1] if found else self._dummy
        try:
            ok = verify_password(password, encoded)
        except PasswordHashError:
            ok = False
        return found[0] if ok and found else None

    async def login(self, username: str, password: str) -> str | None:
        """``check_password`` in the KDF thread pool (never on the event loop)."""
        import asyncio

        import anyio

        # One limiter per event loop (a served app has one; each test client has its own; a
        # limiter belongs to the loop it was made in). Keyed weakly: a closed loop's goes.
        loop = asyncio.get_running_loop()
        limiter = self._kdf_limiters.get(loop)
        if limiter is None:
            limiter = self._kdf_limiters[loop] = anyio.CapacityLimiter(KDF_THREADS)
        if not self.enabled:
            return None
        return await anyio.to_thread.run_sync(
            self.check_password, username[:100], password[:1000], limiter=limiter
        )

    # -- sessions ---------------------------------------------------------------------------

    def _sign(self, payload: bytes) -> str:
        return _b64(hmac.new(self._key, payload, hashlib.sha256).digest())

    def _fingerprint(self, encoded: str) -> str:
        return self._sign(b"pw:" + encoded.encode())[:16]

    def issue(self, username: str, now: float | None = None) -> str:
        """A session cookie for ``username`` (recorded as open)."""
        found = self.account(username)
        if found is None:
            raise ValueError(f"no account {username!r} may sign in")
        expires = int((now or time.time()) + SESSION_HOURS * 3600)
        nonce = secrets.token_urlsafe(12)
        payload = json.dumps(
            {"u": username, "exp": expires, "n": nonce, "h": self._fingerprint(found[1])},
            separators=(",", ":"),
        ).encode()
        store = self.store
        if store is not None:
            store.open_session(nonce, username, expires)
        else:
            with self._memory_lock:
                self._memory[nonce] = {"exp": expires, "out": False}
        return f"{_b64(payload)}.{self._sign(payload)}"

    def session(self, cookie: str | None, now: float | None = None) -> dict[str, Any] | None:
        """The session in a cookie (with the account's current ``role``), or None when it is
        absent, forged, expired, signed out, or its account or password changed."""
        if not cookie or "." not in cookie or not self.enabled:
            return None
        raw, sig = cookie.rsplit(".", 1)
        try:
            payload = _unb64(raw)
            if not hmac.compare_digest(self._sign(payload), sig):
                return None
            data = json.loads(payload)
        except (ValueError, binascii.Error):
            return None
        now = now or time.time()
        if not isinstance(data, dict) or float(data.get("exp", 0)) < now:
            return None
        found = self.account(str(data.get("u", "")))
        if found is None or not hmac.compare_digest(
            self._fingerprint(found[1]), str(data.get("h", ""))
        ):
            return None
        if not self._open(str(data.get("n", "")), now):
            return None
        return {**data, "role": found[0]}

    def _open(self, nonce: str, now: float) -> bool:
        store = self.store
        if store is not None:
            try:
                return bool(store.session_open(nonce, now))
            except Exception:
                return False
        with self._memory_lock:
            entry = self._memory.get(nonce)
            return entry is not None and not entry["out"] and entry["exp"] >= now

    def sign_out(self, session: Mapping[str, Any]) -> None:
        """End ``session`` before it expires: its cookie, even if copied, no longer works."""
        nonce = str(session.get("n", ""))
        store = self.store
        if store is not None:
            store.close_session(nonce)
        with self._memory_lock:
            if nonce in self._memory:
                self._memory[nonce]["out"] = True
            now = time.time()
            self._memory = {n: v for n, v in self._memory.items() if v["exp"] >= now}

    # -- CSRF -------------------------------------------------------------------------------

    def csrf(self, nonce: str, purpose: str = "form") -> str:
        return self._sign(f"{purpose}:{nonce}".encode())

    def check_csrf(self, nonce: str, token: str, purpose: str = "form") -> bool:
        return bool(nonce) and hmac.compare_digest(self.csrf(nonce, purpose), token or "")


def staff_secret(settings: Any) -> bytes:
    """The key session cookies are signed with: ``CHATBOT_STAFF_SECRET`` when set (the same on
    every machine behind one address, so a cookie signed by one replica is good on all), else
    the ``staff_secret`` file in the data folder, made on first use (one machine: sessions
    survive a restart)."""
    configured = str(getattr(settings.staff, "staff_secret", "") or "")
    if configured:
        return configured.encode("utf-8")
    return _load_secret(Path(settings.paths.data_dir) / "staff_secret")


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


class LoginLimiter:
    """Wrong passwords per (account, address) and per address, in moving windows, counted in
    the app's ``LimitsStore`` (``CHATBOT_LIMITS_URL``: Redis shares one brake between every
    worker and machine).

    When Redis cannot be reached the brake neither opens nor locks staff out: it falls back to
    this process's own brake, which every failure is also written to while Redis works. Failing
    open would give a password guesser unlimited tries for as long as Redis is down (and an
    attacker able to disturb Redis could choose that moment); failing closed would lock every
    staff member out of reviewing answers over an outage that has nothing to do with them. The
    fallback keeps the limits of a ``memory://`` deployment (5 and 20 tries per process, so at
    most N times that over N workers, each try costing the guesser a full scrypt check), and
    a guesser this process already stopped stays stopped.
    """

    def __init__(
        self,
        per_account: str = "5/15 minutes",
        per_address: str = "20/15 minutes",
        store: LimitsStore | None = None,
    ) -> None:
        from limits import parse
        from limits.strategies import MovingWindowRateLimiter

        from chatbot.web.limits import QuietMemoryStorage

        self.store = store if store is not None else LimitsStore()
        self._shared = MovingWindowRateLimiter(self.store.storage)
        # This process's brake: the same one with memory://, the fallback with Redis.
        self._local = (
            MovingWindowRateLimiter(QuietMemoryStorage()) if self.store.shared else self._shared
        )
        self._pair = parse(per_account)
        self._address = parse(per_address)

    def _keys(self, account: str, address: str) -> tuple[tuple[Any, tuple[str, ...]], ...]:
        return (
            (self._pair, ("signin", "pair", account, address)),
            (self._address, ("signin", "address", address)),
        )

    def _blocked(self, limiter: Any, account: str, address: str) -> float:
        now = time.time()
        waits = []
        for item, keys in self._keys(account, address):
            if not limiter.test(item, *keys):
                reset = limiter.get_window_stats(item, *keys).reset_time
                waits.append(max(1.0, reset - now))
        return max(waits, default=0.0)

    def blocked_for(self, account: str, address: str) -> float:
        """Seconds until ``account`` may try again from ``address`` (0: it may now)."""
        return self.store.run(
            lambda: self._blocked(self._shared, account, address),
            lambda: self._blocked(self._local, account, address),
        )

    def failed(self, account: str, address: str) -> None:
        def hit(limiter: Any) -> None:
            for item, keys in self._keys(account, address):
                limiter.hit(item, *keys)

        if self._local is not self._shared:
            hit(self._local)
        self.store.run(lambda: hit(self._shared), lambda: None)

    def succeeded(self, account: str, address: str) -> None:
        item, keys = self._keys(account, address)[0]
        if self._local is not self._shared:
            self._local.clear(item, *keys)
        self.store.run(lambda: self._shared.clear(item, *keys), lambda: None)


def minutes(seconds: float) -> int:
    return max(1, math.ceil(seconds / 60))


__all__ = ["ROLES", "SESSION_HOURS", "LoginLimiter", "StaffAuth", "client_key"]
