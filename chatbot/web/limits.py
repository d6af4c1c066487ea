"""The rate limit: requests that ask the bot something (``POST /api/...`` and the chat pages'
Gradio calls) count against ``settings.web.rate_limit_per_minute`` per client address, in a
sliding one-minute window; over it, 429 with ``Retry-After``."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from chatbot.web.middleware import COUNTED, ASGIApp, Receive, Scope, Send, send_json

WINDOW_SECONDS = 60.0


class RateLimiter:
    """A sliding one-minute window of request times per client key."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._hits: dict[str, deque[float]] = {}

    def check(self, key: str) -> float:
        """Record a request by ``key``; 0 if allowed, else the seconds until one is allowed."""
        now = self.clock()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - WINDOW_SECONDS:
            hits.popleft()
        if len(hits) >= self.per_minute:
            return hits[0] + WINDOW_SECONDS - now
        hits.append(now)
        if len(self._hits) > 10_000:
            self._forget(now)
        return 0.0

    def _forget(self, now: float) -> None:
        """Drop clients with no request in the window (bounds memory under many addresses)."""
        for key in [k for k, v in self._hits.items() if not v or v[-1] <= now - WINDOW_SECONDS]:
            del self._hits[key]


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
            wait = self.limiter.check(client[0] if client else "unknown")
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
