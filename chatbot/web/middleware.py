"""What keeps the served app safe to embed: framing and CORS policy, closed routes, body limit.

Everything here is plain ASGI middleware (no ``BaseHTTPMiddleware``), so Gradio's streamed
responses pass through untouched.

- **Framing.** The compact chat at ``/embed`` may be framed only by the sites listed in
  ``settings.web.allowed_origins`` (``Content-Security-Policy: frame-ancestors``); every other page
  only by the app itself. ``X-Frame-Options: SAMEORIGIN`` is added wherever the policy is
  same-origin only (older browsers understand nothing else).
- **CORS.** Starlette's ``CORSMiddleware`` with exactly the allowed origins. Gradio leaves CORS
  to a parent app that installs that class, so its own localhost-friendly policy is switched off.
- **Body limit.** A request to ``/api/`` larger than ``API_BODY_LIMIT`` (a chat page's call
  larger than ``CHAT_BODY_LIMIT``) gets 413 before it is read into memory as a whole.
- **Gradio's extra doors closed.** The chat takes no files, so Gradio's upload routes (and its
  recording upload, its server-side URL fetch ``file=https://...``, its proxy and its
  developer routes) answer 404 on every mounted chat (``/`` and ``/embed``), before a byte of
  the body is read: an anonymous visitor cannot fill the disk the review store lives on.
- **The client's address** (``client_address``). ``X-Forwarded-For`` (or ``Forwarded``) is
  believed only from the proxies in ``settings.web.trusted_proxies`` (none by default), read
  from the right: the first address that is not a trusted proxy is the client. Anyone else's
  header changes nothing. ``ClientAddressMiddleware`` puts that address (and the proxy's
  ``X-Forwarded-Proto``) into the request, so the rate limit, the staff lockout and the logs
  all see the real client. It drops ``X-Forwarded-Host`` from anyone but a trusted proxy (the
  staff pages' same-origin check reads it as the public host).
- **Errors.** An unexpected error becomes the generic JSON 500 inside this stack, so it
  carries the same headers as every other reply (the app's own 500 handler sits outside it).
- **Rate limit** (``limits.py``), installed here with the rest.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from chatbot import messages
from chatbot.errors import ChatbotError
from chatbot.safety.contacts import emergency_contacts

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

API_BODY_LIMIT = 256 * 1024  # bytes; a question plus a long conversation fits many times over
CHAT_BODY_LIMIT = 4 * 1024 * 1024  # a chat page's call carries the whole conversation as HTML
EMBED_PATH = "/embed"

# POSTs that make the bot answer: the HTTP API and the Gradio calls of the two chat pages
# (``/`` and ``/embed``). The staff page's Gradio calls are not patients' questions.
COUNTED = re.compile(r"^/api/|^(/embed)?/gradio_api/(queue/join|run/|api/|call/)")
# Gradio routes the chat pages never use, refused wherever a chat is mounted.
_CLOSED = re.compile(
    r"^(/embed)?/gradio_api/(upload|upload_progress|process_recording|component_server"
    r"|vibe-edit|undo-vibe-edit|vibe-code|dev/reload|run-history|monitoring|proxy="
    r"|file=(https?:|//))",
    re.IGNORECASE,
)
_ORIGIN = re.compile(r"^https?://(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?$")
log = logging.getLogger(__name__)


class OriginError(ChatbotError):
    """An entry of CHATBOT_ALLOWED_ORIGINS is not a web origin."""


def normalise_origins(origins: Iterable[str]) -> list[str]:
    """The allowed sites as exact origins (``https://www.example.org``), or OriginError.

    An origin is a scheme, a host and an optional port: no path, no wildcard. Each one ends
    up in a Content-Security-Policy header and in CORS checks, so nothing else may pass.
    """
    out: list[str] = []
    for raw in origins:
        value = str(raw).strip().lower().rstrip("/")
        parts = urlsplit(value)
        default_port = {"http": 80, "https": 443}.get(parts.scheme)
        if not _ORIGIN.match(value) or default_port is None:
            raise OriginError(
                f"CHATBOT_ALLOWED_ORIGINS: {raw!r} is not a web origin; give each site as "
                '"https://www.example.org" (scheme and host, optional port, no path or "*")'
            )
        if parts.port == default_port:
            value = f"{parts.scheme}://{parts.hostname}"
        if value not in out:
            out.append(value)
    return out


def frame_ancestors(path: str, origins: list[str]) -> str:
    """The CSP ``frame-ancestors`` value for a page at ``path``."""
    if _is_embed(path) and origins:
        return "frame-ancestors 'self' " + " ".join(origins)
    return "frame-ancestors 'self'"


def _is_embed(path: str) -> bool:
    return path == EMBED_PATH or path.startswith(EMBED_PATH + "/")


class SecurityHeadersMiddleware:
    """Adds the framing policy and a few safe defaults to every response."""

    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self.app = app
        self.origins = origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        extra = [
            (b"content-security-policy", frame_ancestors(path, self.origins).encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"strict-origin-when-cross-origin"),
        ]
        if not (_is_embed(path) and self.origins):
            extra.append((b"x-frame-options", b"SAMEORIGIN"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (k, v)
                    for k, v in extra
                    # A page that sets its own CSP keeps it; ours is added beside it (both
                    # apply), but X-Frame-Options and the others are never doubled.
                    if k == b"content-security-policy" or k not in present
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def send_json(send: Send, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
    data = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": data})


class BodyLimitMiddleware:
    """413 for a request to ``/api/`` larger than ``limit`` bytes, or a chat page's call
    larger than ``chat_limit`` (a message plus the conversation shown so far)."""

    def __init__(
        self,
        app: ASGIApp,
        limit: int = API_BODY_LIMIT,
        chat_limit: int = CHAT_BODY_LIMIT,
        urgent: str = "",
    ) -> None:
        self.app = app
        self.limit = limit
        self.chat_limit = chat_limit
        # A message too large to read may still be someone in danger: the refusal says whom
        # to call (``messages.urgent_help``).
        self.urgent = urgent

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path.startswith("/api/"):
            limit = self.limit
        elif COUNTED.match(path):
            limit = self.chat_limit
        else:
            await self.app(scope, receive, send)
            return
        error = f"the request is too large (at most {limit} bytes)"
        too_big = {"error": f"{error}. {self.urgent}" if self.urgent else error}
        for key, value in scope.get("headers", []):
            if key == b"content-length" and value.isdigit() and int(value) > limit:
                await send_json(send, 413, too_big, {"Connection": "close"})
                return
        # Read the body here (bounded) so a chunked upload without a length is capped too.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([], message, receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await send_json(send, 413, too_big, {"Connection": "close"})
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(chunks, None, receive), send)


def _replay(chunks: list[bytes], final: Message | None, receive_next: Receive) -> Receive:
    """A ``receive`` that hands the app the already-read body, then waits as usual."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            if final is not None:
                return final
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        # After the body, the app only ever waits for the client to disconnect.
        return await receive_next()

    return receive


class ClosedRoutesMiddleware:
    """404 for the Gradio routes the chat never needs (``_CLOSED``): file uploads above all."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _CLOSED.match(scope.get("path", "")):
            await send_json(send, 404, {"error": "not found"}, {"Connection": "close"})
            return
        await self.app(scope, receive, send)


# --- the client's address ---------------------------------------------------------------------

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TrustedProxies:
    """The reverse proxies whose forwarding headers are believed (addresses or networks)."""

    def __init__(self, entries: Iterable[str] = ()) -> None:
        self.networks = [ipaddress.ip_network(str(e).strip(), strict=False) for e in entries]

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: str | IPAddress | None) -> bool:
        ip = _ip(address) if not isinstance(address, IPAddress) else address
        if ip is None:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip.version == net.version and ip in net for net in self.networks)


def _ip(text: str | None) -> IPAddress | None:
    """An address from a header value: ``192.0.2.1``, ``192.0.2.1:443``, ``"[2001:db8::1]:80"``,
    ``2001:db8::1``; None for anything else (``unknown``, ``_hidden``, garbage)."""
    if not text:
        return None
    value = text.strip().strip('"').strip()
    if value.startswith("["):
        value = value[1 : value.find("]")] if "]" in value else ""
    elif value.count(":") == 1:  # IPv4 with a port
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _header(scope: Scope, name: bytes) -> str:
    """All values of one request header, joined as one comma-separated list."""
    values = [v.decode("latin-1") for k, v in scope.get("headers", []) if k.lower() == name]
    return ", ".join(values)


def _forwarded_pairs(value: str, key: str) -> list[str]:
    """The ``key=`` value of each element of a ``Forwarded`` header (RFC 7239), in order."""
    out = []
    for element in value.split(","):
        found = ""
        for pair in element.split(";"):
            name, _, val = pair.partition("=")
            if name.strip().lower() == key:
                found = val.strip()
        out.append(found)
    return out


def client_address(scope: Scope, trusted: TrustedProxies) -> str:
    """The client's address for a request (an ASGI scope, e.g. ``request.scope``).

    The connection's peer, unless the peer is a trusted proxy: then the forwarding header is
    read from its right end (the entry the nearest proxy added) leftwards, past every trusted
    proxy; the first other address is the client. ``X-Forwarded-For`` is read when present
    (nginx and Caddy set it), else ``Forwarded``. A hop that is not an address stops the walk
    at the last address a trusted proxy vouched for. Never reads a header a direct client
    sent.
    """
    return _walk(scope, trusted)[0]


def _walk(scope: Scope, trusted: TrustedProxies) -> tuple[str, int | None]:
    """(the client's address, the position of its ``Forwarded`` element or None)."""
    client = scope.get("client")
    peer = str(client[0]) if client else ""
    if not trusted or not trusted.trusts(peer):
        return peer or "unknown", None
    forwarded_for = _header(scope, b"x-forwarded-for")
    if forwarded_for:
        hops, elements = [h.strip() for h in forwarded_for.split(",")], False
    else:
        hops, elements = _forwarded_pairs(_header(scope, b"forwarded"), "for"), True
    address, at = peer, None
    for position in range(len(hops) - 1, -1, -1):
        ip = _ip(hops[position])
        if ip is None:
            break
        address, at = str(ip), position
        if not trusted.trusts(ip):
            break
    return address, at if elements else None


def forwarded_scheme(scope: Scope, trusted: TrustedProxies) -> str | None:
    """``https`` or ``http`` as a trusted proxy says the client used (None: not said).

    ``X-Forwarded-Proto`` (its last value: the nearest proxy's word), else the ``proto=`` of
    the ``Forwarded`` element that names the client.
    """
    client = scope.get("client")
    if not trusted or not client or not trusted.trusts(str(client[0])):
        return None
    proto = _header(scope, b"x-forwarded-proto")
    if proto:
        value = proto.split(",")[-1]
    else:
        _, at = _walk(scope, trusted)
        protos = _forwarded_pairs(_header(scope, b"forwarded"), "proto")
        value = protos[at] if at is not None and at < len(protos) else ""
    value = value.strip().strip('"').lower()
    return value if value in ("http", "https") else None


def _without_untrusted_host(scope: Scope, trusted: TrustedProxies) -> Scope:
    """``scope`` without ``X-Forwarded-Host`` unless a trusted proxy sent the request: the staff
    pages' same-origin check reads that header as the public host, so only our own proxy may
    name it."""
    headers = scope.get("headers") or []
    if not any(key == b"x-forwarded-host" for key, _ in headers):
        return scope
    client = scope.get("client")
    if trusted and client and trusted.trusts(str(client[0])):
        return scope
    return {**scope, "headers": [(k, v) for k, v in headers if k != b"x-forwarded-host"]}


class ClientAddressMiddleware:
    """Sets the request's client (and scheme) to what ``client_address`` finds, so everything
    after it (rate limit, staff lockout, logs, Gradio) sees the real client."""

    def __init__(self, app: ASGIApp, trusted: TrustedProxies) -> None:
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = _without_untrusted_host(scope, self.trusted)
        if scope["type"] in ("http", "websocket") and self.trusted and scope.get("client"):
            peer = scope["client"]
            address = client_address(scope, self.trusted)
            scheme = forwarded_scheme(scope, self.trusted)
            changes: dict[str, Any] = {}
            if address != peer[0]:
                changes["client"] = (address, 0)  # the client's own port is not known
            if scheme is not None:
                if scope["type"] == "websocket":
                    scheme = "wss" if scheme == "https" else "ws"
                changes["scheme"] = scheme
            if changes:
                scope = {**scope, **changes}
        await self.app(scope, receive, send)


class ErrorMiddleware:
    """An unexpected error becomes the generic JSON 500 here, inside the header middleware."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            if started:  # part of the reply is out: nothing better to do than end it
                raise
            log.exception("unexpected error on %s %s", scope.get("method"), scope.get("path", ""))
            await send_json(
                send,
                500,
                {"error": "something went wrong on our side; please try again later"},
                {},
            )


def install(app: Any, settings: Any) -> list[str]:
    """Add the middleware to ``app`` (a FastAPI app); returns the normalised allowed origins.

    Raises:
        OriginError: an allowed origin is not of the form ``https://host[:port]``.
        LimitsConfigError: ``CHATBOT_LIMITS_URL`` names a store that cannot be used.
    """
    from starlette.middleware.cors import CORSMiddleware

    from chatbot.web.limits import LimitsStore, RateLimiter, RateLimitMiddleware

    origins = normalise_origins(settings.web.allowed_origins)
    # Starlette applies the last added middleware first: CORS outermost, so even a 413 or a
    # 429 carries the CORS headers an allowed site needs to read the message.
    app.add_middleware(ClosedRoutesMiddleware)
    number, _ = emergency_contacts(
        settings.safety.country, settings.safety.emergency_number, settings.safety.crisis_line
    )
    app.add_middleware(
        BodyLimitMiddleware,
        limit=API_BODY_LIMIT,
        chat_limit=CHAT_BODY_LIMIT,
        urgent=messages.urgent_help(number),
    )
    # One store per app for the rate limit and the staff sign-in brake (CHATBOT_LIMITS_URL).
    app.state.limits = LimitsStore(settings.web.limits_url)
    limiter = RateLimiter(settings.web.rate_limit_per_minute, app.state.limits)
    # Shared, so a front end may check the same allowance itself (e.g. to answer in the chat).
    app.state.rate_limiter = limiter
    app.add_middleware(RateLimitMiddleware, limiter=limiter)
    app.add_middleware(ErrorMiddleware)
    # Outside the refusals above, so a 404, 413, 429 or 500 of ours carries the same headers.
    app.add_middleware(SecurityHeadersMiddleware, origins=origins)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_methods=["GET", "POST"],
        allow_headers=["Content-Type"],
        expose_headers=["Retry-After"],
        max_age=600,
    )
    # Outermost: everything inside sees the real client (and scheme).
    trusted = TrustedProxies(settings.web.trusted_proxies)
    app.state.trusted_proxies = trusted
    app.add_middleware(ClientAddressMiddleware, trusted=trusted)
    return origins
