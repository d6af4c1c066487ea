"""The rate limit: requests that ask the bot something (``POST /api/...`` and the chat pages'
Gradio calls) count against ``settings.web.rate_limit_per_minute`` per client, in a moving
one-minute window; over it, 429 with ``Retry-After``.

The counting is the ``limits`` library's moving window, in the store ``CHATBOT_LIMITS_URL``
names (``LimitsStore``, one per app, shared with the staff sign-in brake in ``auth.py``): in
memory for one server process (the default), or Redis, which every worker and machine naming it
shares, so N workers give a patient one allowance, not N.

Redis being down never stops an answer. Each count then falls back to this process's memory
(the rate limit as a ``memory://`` deployment has it, which is never stricter than the shared
count: a process sees only part of a patient's requests), the failure is counted and reported
by ``/healthz`` (``"limits": "failing"``) and logged once per outage, and Redis is tried again
every ``RETRY_EVERY_S`` seconds (with short socket timeouts, so a Redis that does not answer
holds one request for at most ``REDIS_TIMEOUT_S``, not every one).

The client is ``scope["client"]``, which ``middleware.ClientAddressMiddleware`` has already set
to the real client's address (proxy headers are believed only from ``CHATBOT_TRUSTED_PROXIES``).
An IPv6 client counts by its /64 network: one home or server holds a whole /64 and could
otherwise take a fresh allowance per address.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from chatbot.config import check_limits_url, redact_url
from chatbot.errors import ChatbotError
from chatbot.web.middleware import COUNTED, ASGIApp, Receive, Scope, Send, send_json

WINDOW_SECONDS = 60.0
PRUNE_EVERY = 1024  # requests between two sweeps of clients with nothing left in their window
REDIS_TIMEOUT_S = 0.25  # connect and read timeout of one Redis call (a local one takes ~0.1 ms)
RETRY_EVERY_S = 5.0  # while Redis fails, how often one request tries it again
KEY_PREFIX = "rls-chatbot"  # the Redis keys' prefix, apart from other apps on the same Redis

log = logging.getLogger("chatbot.limits")
T = TypeVar("T")


class LimitsConfigError(ChatbotError):
    """``CHATBOT_LIMITS_URL`` names a store that cannot be used."""


def make_storage(uri: str = "memory://") -> Storage:
    """The storage behind ``uri``: ``memory://`` (this process) or a Redis URL (``redis://``,
    ``rediss://``, ``redis+unix://``), whose client fails fast: short timeouts, no retries
    (``LimitsStore`` decides when to try again).

    Raises:
        LimitsConfigError: ``uri`` is not one of those, or its client cannot be made.
    """
    try:
        uri = check_limits_url(uri)
    except ValueError as exc:
        raise LimitsConfigError(f"CHATBOT_LIMITS_URL: {exc}") from None
    options: dict[str, Any] = {}
    if urlsplit(uri).scheme != "memory":
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        options = {
            "socket_connect_timeout": REDIS_TIMEOUT_S,
            "socket_timeout": REDIS_TIMEOUT_S,
            "retry": Retry(NoBackoff(), 0),
            "key_prefix": KEY_PREFIX,
            "wrap_exceptions": True,
        }
    if urlsplit(uri).scheme == "memory":
        return QuietMemoryStorage()
    try:
        storage = storage_from_string(uri, **options)
    except Exception as exc:  # the redis package missing, a URL its client refuses
        raise LimitsConfigError(
            f"CHATBOT_LIMITS_URL {redact_url(uri)!r} cannot be used: {exc}"
        ) from None
    if not isinstance(storage, Storage):  # pragma: no cover - check_limits_url allows none
        raise LimitsConfigError(f"{redact_url(uri)!r} names an async storage")
    return storage


class QuietMemoryStorage(MemoryStorage):
    """The ``limits`` library's in-memory storage, sweeping expired entries at most once every
    ``SWEEP_EVERY_S`` seconds.

    The library's own starts a 10 ms ``threading.Timer`` (a new thread) on every count whose
    timer has already run: under load, a thread started and a sweep of every client's list run
    for nearly every question, in the event loop (~0.4 ms of CPU a request, measured with
    cProfile; bench/RESULTS.md). The sweep only frees memory: the moving window reads each
    entry's own time, so what is allowed is the same.
    """

    SWEEP_EVERY_S = 1.0

    def __init__(self, uri: str | None = None, **options: Any) -> None:
        self._next_sweep = 0.0
        self._sweep_lock = threading.Lock()
        super().__init__(uri, **options)

    def _MemoryStorage__schedule_expiry(self) -> None:  # the library's private hook, replaced
        now = time.monotonic()
        if now < self._next_sweep:
            return
        with self._sweep_lock:
            if now < self._next_sweep:
                return
            self._next_sweep = now + self.SWEEP_EVERY_S
            if not self.timer.is_alive():
                sweep = self._MemoryStorage__expire_events  # type: ignore[attr-defined]
                self.timer = threading.Timer(0.01, sweep)
                self.timer.daemon = True
                self.timer.start()


class LimitsStore:
    """Where the rate limit and the sign-in brake count (``CHATBOT_LIMITS_URL``), and whether
    that works: ``run`` calls the shared storage, or a fallback while it fails.

    Args:
        uri: ``memory://`` or a Redis URL (``make_storage``).
        retry_every: Seconds between two tries of a failing Redis.
        clock: Monotonic time, for the retries.
    """

    def __init__(
        self,
        uri: str = "memory://",
        retry_every: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.where = redact_url(uri)
        self.storage = make_storage(uri)
        self.shared = not isinstance(self.storage, MemoryStorage)
        self.retry_every = RETRY_EVERY_S if retry_every is None else retry_every
        self.clock = clock
        self.failing = False
        self.failures = 0  # counts made without the shared store (calls that failed or skipped)
        self.last_error = ""
        self._since = 0.0
        self._next_try = 0.0
        self._lock = threading.Lock()
        if self.shared:  # say at start-up if it cannot be reached (the app starts anyway)
            self.run(self._ping, lambda: False)

    def _ping(self) -> bool:
        return bool(self.storage.get_connection().ping())  # type: ignore[attr-defined]

    def run(self, action: Callable[[], T], fallback: Callable[[], T]) -> T:
        """``action()`` on the shared storage, or ``fallback()`` when it fails (or failed less
        than ``retry_every`` seconds ago). Never raises for the storage."""
        if not self.shared:
            return action()
        if self.failing and self.clock() < self._next_try:
            with self._lock:
                self.failures += 1
            return fallback()
        try:
            result = action()
        except Exception as exc:  # whatever Redis does, the caller goes on
            self._failed(exc)
            return fallback()
        if self.failing:
            self._recovered()
        return result

    def _failed(self, exc: BaseException) -> None:
        cause = exc.__cause__ if exc.__cause__ is not None else exc  # limits wraps redis's
        with self._lock:
            first = not self.failing
            now = self.clock()
            self.failures += 1
            self.failing = True
            self._next_try = now + self.retry_every
            self.last_error = f"{type(cause).__name__}: {cause}"[:300]
            if first:
                self._since = now
        if first:  # once per outage, not once per request
            log.error(
                "limits store %s cannot be reached (%s): until it is back, each server process "
                "counts questions and failed sign-ins on its own; patients are answered",
                self.where,
                self.last_error,
            )

    def _recovered(self) -> None:
        with self._lock:
            if not self.failing:
                return
            self.failing = False
            down = self.clock() - self._since
            failures = self.failures
        log.warning(
            "limits store %s is back after %.0f s (counts made in this process alone: %d)",
            self.where,
            down,
            failures,
        )

    def health(self) -> dict[str, object]:
        """What ``/healthz`` says of the store: ``limits`` "ok" or "failing" (then patients are
        still answered, each process counting alone), ``limits_store`` "memory" or "redis"."""
        return {
            "limits": "failing" if self.failing else "ok",
            "limits_store": "redis" if self.shared else "memory",
            "limits_failures": self.failures,
            **({"limits_error": self.last_error} if self.failing else {}),
        }


def rate_key(address: str) -> str:
    """What one allowance belongs to: an IPv4 address, or an IPv6 address's /64 network."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # ::ffff:192.0.2.1 is 192.0.2.1
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class RateLimiter:
    """``per_minute`` requests per client key in any 60 seconds (a moving window).

    Args:
        per_minute: The allowance.
        store: Where the counts live (default: this process's memory); when it is shared and
            fails, this process's memory (``storage``) counts instead.
        clock: The time ``Retry-After`` is measured from (the storage's own clock, wall time).
    """

    def __init__(
        self,
        per_minute: int,
        store: LimitsStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self.item = RateLimitItemPerMinute(per_minute)
        self.store = store if store is not None else LimitsStore()
        # This process's own counts: all of them with memory://, the fallback with Redis.
        self.storage: Storage = QuietMemoryStorage() if self.store.shared else self.store.storage
        self._local = MovingWindowRateLimiter(self.storage)
        self._shared = MovingWindowRateLimiter(self.store.storage)
        self._since_prune = 0

    def check(self, key: str) -> float:
        """Record a request by ``key``; 0 if allowed, else the seconds until one is allowed."""
        if not self.store.shared:
            return self._check(self._local, key)
        return self.store.run(
            lambda: self._check(self._shared, key), lambda: self._check(self._local, key)
        )

    def _check(self, window: MovingWindowRateLimiter, key: str) -> float:
        if window.hit(self.item, "ask", key):
            if window is self._local:
                self._since_prune += 1
                if self._since_prune >= PRUNE_EVERY:
                    self._since_prune = 0
                    self.prune()
            return 0.0
        reset, _ = window.get_window_stats(self.item, "ask", key)
        return max(0.0, reset - self.clock())

    def prune(self) -> int:
        """Forget the clients with nothing left in their window; returns how many are left.

        The in-memory storage expires old requests but keeps an empty entry for every client
        it has ever seen, so under many addresses its table would grow without bound.
        """
        storage: Any = self.storage
        for key in [k for k, events in list(storage.events.items()) if not events]:
            # Checked again at removal: a request may have arrived since.
            if not storage.events.get(key, True):
                storage.events.pop(key, None)
        return len(storage.events)


class RateLimitMiddleware:
    """429 with ``Retry-After`` once a client has asked more than the limit in a minute."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope.get("method") == "POST"
            and COUNTED.match(scope.get("path", ""))
        ):
            client = scope.get("client")
            wait = self.limiter.check(rate_key(client[0] if client else ""))
            if wait > 0:
                seconds = max(1, math.ceil(wait))
                n = self.limiter.per_minute
                message = (
                    f"too many questions from your address: at most {n} a minute; "
                    f"please wait {seconds} seconds and try again"
                )
                await send_json(send, 429, {"error": message}, {"Retry-After": str(seconds)})
                return
        await self.app(scope, receive, send)
