"""The rate limit: requests that ask the bot something (``POST /api/...`` and the chat pages'
Gradio calls) count against ``settings.web.rate_limit_per_minute`` per client, in a moving
one-minute window; over it, 429 with ``Retry-After``.

The counting is the ``limits`` library's moving window. Its storage is chosen in one place,
``make_storage``: in memory for one server process (the default); a ``redis://`` URI would
share one allowance between processes. The client is ``scope["client"]``, which
``middleware.ClientAddressMiddleware`` has already set to the real client's address (proxy
headers are believed only from ``CHATBOT_TRUSTED_PROXIES``). An IPv6 client counts by its /64
network: one home or server holds a whole /64 and could otherwise take a fresh allowance per
address.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable
from typing import Any

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from chatbot.web.middleware import COUNTED, ASGIApp, Receive, Scope, Send, send_json

WINDOW_SECONDS = 60.0
PRUNE_EVERY = 1024  # requests between two sweeps of clients with nothing left in their window


def make_storage(uri: str = "memory://") -> Storage:
    """The rate limit's storage: ``memory://`` (this process), or any URI ``limits`` knows
    (``redis://host:6379`` needs the ``redis`` package)."""
    storage = storage_from_string(uri)
    if not isinstance(storage, Storage):  # an async storage (``async+redis://``): not for us
        raise ValueError(f"{uri!r} names an async storage; give the synchronous one")
    return storage


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
        storage: Where the counts live (default: ``make_storage()``, in memory).
        clock: The time ``Retry-After`` is measured from (the storage's own clock, wall time).
    """

    def __init__(
        self,
        per_minute: int,
        storage: Storage | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self.item = RateLimitItemPerMinute(per_minute)
        self.storage = storage if storage is not None else make_storage()
        self._window = MovingWindowRateLimiter(self.storage)
        self._since_prune = 0

    def check(self, key: str) -> float:
        """Record a request by ``key``; 0 if allowed, else the seconds until one is allowed."""
        if self._window.hit(self.item, key):
            self._since_prune += 1
            if self._since_prune >= PRUNE_EVERY:
                self._since_prune = 0
                self.prune()
            return 0.0
        reset, _ = self._window.get_window_stats(self.item, key)
        return max(0.0, reset - self.clock())

    def prune(self) -> int:
        """Forget the clients with nothing left in their window; returns how many are left.

        The in-memory storage expires old requests but keeps an empty entry for every client
        it has ever seen, so under many addresses its table would grow without bound.
        """
        storage: Any = self.storage
        if not isinstance(storage, MemoryStorage):
            return -1  # a shared store expires its own keys
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
