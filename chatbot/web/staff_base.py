"""What the staff routers share: templates (Jinja2, autoescaped), the security headers, the
dependencies that let a request in (signed in, the right role, a genuine form), and two small
renderers (a quote in its paragraph, the answers-a-day chart).

Security, in short: no JavaScript at all (the Content-Security-Policy forbids scripts),
nothing loaded from elsewhere, no framing; every POST carries a CSRF token bound to the session
and is refused when its ``Origin`` is another site; everything shown is escaped by Jinja2's
autoescape (a question's ``<script>`` is text).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader
from markupsafe import Markup, escape

from chatbot.review.accounts import role_at_least
from chatbot.review.db import iso_time
from chatbot.text.spans import around
from chatbot.web.auth import SESSION_HOURS, LoginLimiter, StaffAuth

SESSION_COOKIE = "staff_session"
LOGIN_COOKIE = "staff_login"
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
FORM_LIMIT = 64 * 1024  # bytes: a note or a verdict
TEXT_LIMIT = 2 * 1024 * 1024  # an article's text edited in the staff area
PAGE_SIZE = 50
MAX_PAGE = 1_000_000

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)

TEMPLATES = Environment(
    loader=PackageLoader("chatbot.web", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
TEMPLATES.filters["time"] = lambda ts: iso_time(ts) if ts else ""
TEMPLATES.filters["label"] = lambda v: str(v or "").replace("_", " ")


def headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": CSP,
        "Cache-Control": "no-store",
        "X-Frame-Options": "DENY",
        # Not "no-referrer": with it, browsers send "Origin: null" on our own form posts.
        "Referrer-Policy": "same-origin",
        "X-Content-Type-Options": "nosniff",
    }


@dataclass
class Staff:
    """The signed-in staff member of a request."""

    user: str
    role: str
    nonce: str
    csrf: str
    session: dict[str, Any]

    def may(self, role: str) -> bool:
        return role_at_least(self.role, role)


@dataclass
class StaffState:
    """The staff area's parts, one per app (``app.state.staff``)."""

    ctx: Any  # AppContext: bot, settings, store
    auth: StaffAuth
    limiter: LoginLimiter
    reindexer: Any = None

    @property
    def store(self) -> Any:
        return self.ctx.store


class PageError(Exception):
    """Stops a request with a page (raised by the dependencies, turned into its response)."""

    def __init__(self, response: Response) -> None:
        super().__init__("page")
        self.response = response


def state_of(request: Request) -> StaffState:
    state: StaffState = request.app.state.staff
    return state


State = Annotated[StaffState, Depends(state_of)]


def audit(state: StaffState, staff: Staff, action: str, target: str = "", **detail: Any) -> None:
    """One row of the audit log for what ``staff`` just did."""
    state.store.record(staff.user, action, target, **detail)


def render(
    name: str, staff: Staff | None = None, status: int = 200, **context: Any
) -> HTMLResponse:
    """A staff page from ``templates/staff/<name>``."""
    html = TEMPLATES.get_template(f"staff/{name}").render(
        staff=staff,
        user=staff.user if staff else "",
        csrf=staff.csrf if staff else "",
        **context,
    )
    return HTMLResponse(html, status_code=status, headers=headers())


def message(
    title: str, text: str, staff: Staff | None = None, status: int = 400, back: str = ""
) -> HTMLResponse:
    return render("message.html", staff, status, title=title, text=text, back=back)


def off_page(state: StaffState) -> HTMLResponse:
    return render("off.html", None, 503, problem=state.auth.problem)


def signed_in_as(request: Request, state: StaffState) -> Staff | None:
    sess = state.auth.session(request.cookies.get(SESSION_COOKIE))
    if sess is None:
        return None
    nonce = str(sess["n"])
    return Staff(str(sess["u"]), str(sess["role"]), nonce, state.auth.csrf(nonce), sess)


def _store_or_stop(state: StaffState, staff: Staff) -> None:
    if state.store is None:
        raise PageError(render("no_store.html", staff, 503))


def maybe_staff(request: Request, state: State) -> Staff | None:
    """The signed-in staff member, or None (the page then shows the sign-in form)."""
    if not state.auth.enabled:
        raise PageError(off_page(state))
    staff = signed_in_as(request, state)
    if staff is not None:
        _store_or_stop(state, staff)
    return staff


def require_staff(request: Request, state: State) -> Staff:
    """A GET of a staff page: signed in (else back to the sign-in page) with a store."""
    if not state.auth.enabled:
        raise PageError(off_page(state))
    staff = signed_in_as(request, state)
    if staff is None:
        raise PageError(RedirectResponse("/staff", status_code=303))
    _store_or_stop(state, staff)
    return staff


def same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None  # a "null" origin (sandboxed frame, file:) is refused
    # Behind a reverse proxy that rewrites Host, X-Forwarded-Host names the public host (a
    # cross-site form cannot set that header, and the CSRF token is checked as well).
    hosts = {request.headers.get("host", ""), request.headers.get("x-forwarded-host", "")}
    return urlsplit(origin).netloc.lower() in {h.lower() for h in hosts if h}


def require_form(request: Request, state: State, csrf: Annotated[str, Form()] = "") -> Staff:
    """A staff POST: signed in, a store, sent from our own page with the session's token."""
    if not state.auth.enabled:
        raise PageError(off_page(state))
    staff = signed_in_as(request, state)
    if staff is None:
        raise PageError(
            render(
                "message.html",
                None,
                403,
                title="Signed out",
                text="Your session has ended.",
                back="/staff",
                back_text="Sign in again",
            )
        )
    _store_or_stop(state, staff)
    if not same_origin(request) or not state.auth.check_csrf(staff.nonce, csrf):
        raise PageError(
            message(
                "Refused",
                "This form was not sent from the staff page (security check failed).",
                staff,
                403,
                back="/staff",
            )
        )
    return staff


def _role_check(staff: Staff, role: str) -> Staff:
    if not staff.may(role):
        raise PageError(
            message(
                "Not allowed",
                f"Your account ({staff.user}, {staff.role}) may not do this: it needs the "
                f"{role} role. Ask an admin.",
                staff,
                403,
            )
        )
    return staff


def editor_page(staff: Annotated[Staff, Depends(require_staff)]) -> Staff:
    return _role_check(staff, "editor")


def editor_form(staff: Annotated[Staff, Depends(require_form)]) -> Staff:
    return _role_check(staff, "editor")


def admin_page(staff: Annotated[Staff, Depends(require_staff)]) -> Staff:
    return _role_check(staff, "admin")


def admin_form(staff: Annotated[Staff, Depends(require_form)]) -> Staff:
    return _role_check(staff, "admin")


Viewer = Annotated[Staff, Depends(require_staff)]
Poster = Annotated[Staff, Depends(require_form)]
Editor = Annotated[Staff, Depends(editor_page)]
EditorPost = Annotated[Staff, Depends(editor_form)]
Admin = Annotated[Staff, Depends(admin_page)]
AdminPost = Annotated[Staff, Depends(admin_form)]


def set_cookie(resp: Response, name: str, value: str, max_age: int) -> None:
    resp.set_cookie(
        name, value, max_age=max_age, path="/staff", secure=True, httponly=True, samesite="strict"
    )


def session_cookie_age() -> int:
    return SESSION_HOURS * 3600


def int_param(value: str, name: str, low: int = 1, high: int = 2**62) -> int:
    """A number from a query or path, or a 400 page naming it (never an OverflowError)."""
    text = (value or "").strip()
    if not text.isdigit() or len(text) > 19 or not low <= int(text) <= high:
        raise PageError(
            message("Bad request", f"{name} must be a whole number from {low} to {high}.")
        )
    return int(text)


# -- renderers ------------------------------------------------------------------------------


def context_of(
    body: str, start: int, end: int, width: int = 400, at_least: int = 160
) -> tuple[str, str, str]:
    """The paragraph around ``body[start:end]`` as (before, quote, after); when the quote fills
    most of its paragraph, the neighbouring ones too, so staff see what it was about."""
    return around(body, start, end, width=width, at_least=at_least, separator="\n\n")


def bar_chart_svg(per_day: list[dict[str, Any]], width: int = 760, height: int = 240) -> Markup:
    """Answers a day as stacked bars (answered / no answer / emergency), as inline SVG."""
    e = escape
    series = [("answered", "#3b7d4f"), ("no_answer", "#e0a030"), ("emergency", "#c5221f")]
    left, bottom, top = 40, 28, 14
    plot_w, plot_h = width - left - 10, height - bottom - top
    peak = max([sum(d[s] for s, _ in series) for d in per_day] + [1])
    n = max(len(per_day), 1)
    slot = plot_w / n
    bar = max(slot * 0.7, 1.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-labelledby="chart-title">'
        '<title id="chart-title">Answers a day (answered, no answer, emergency)</title>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" '
        'stroke="#888"/>',
        f'<text x="{left - 6}" y="{top + 4}" font-size="11" text-anchor="end">{peak}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" font-size="11" text-anchor="end">0</text>',
    ]
    label_every = max(1, n // 8)
    for i, day in enumerate(per_day):
        x = left + i * slot + (slot - bar) / 2
        y = top + plot_h
        tip = ", ".join(f"{s.replace('_', ' ')} {day[s]}" for s, _ in series)
        for name, colour in series:
            h = plot_h * day[name] / peak
            if h > 0:
                y -= h
                parts.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                    f'fill="{colour}"><title>{e(day["day"])}: {e(tip)}</title></rect>'
                )
        if i % label_every == 0 or i == n - 1:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{height - 8}" font-size="10" '
                f'text-anchor="middle">{e(day["day"][5:])}</text>'
            )
    parts.append("</svg>")
    legend = " ".join(
        f'<span style="color:{c}">■</span> {e(s.replace("_", " "))}' for s, c in series
    )
    return Markup("".join(parts) + f"<div>{legend}</div>")  # noqa: S704 - escaped above


# -- request size ---------------------------------------------------------------------------


class StaffBodyLimit:
    """413 (an HTML page) for a staff POST larger than its route allows, before it is read
    whole: a form ``FORM_LIMIT``, an article's text ``TEXT_LIMIT``, an upload the file limit."""

    def __init__(self, app: Any, upload_limit: int) -> None:
        self.app = app
        self.upload_limit = upload_limit

    def limit_for(self, path: str) -> int:
        if path.startswith("/staff/articles"):
            return self.upload_limit + 256 * 1024 if path.endswith("/new") else TEXT_LIMIT
        return FORM_LIMIT

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith("/staff") or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(path)
        declared = dict(scope.get("headers", [])).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, limit)
            return
        chunks, size = [], 0
        while True:
            msg = await receive()
            if msg["type"] != "http.request":
                break
            size += len(msg.get("body", b""))
            if size > limit:
                await self._refuse(scope, receive, send, limit)
                return
            chunks.append(msg.get("body", b""))
            if not msg.get("more_body", False):
                break
        sent = False

        async def replay() -> Any:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(scope: Any, receive: Any, send: Any, limit: int) -> None:
        what = "file" if limit > TEXT_LIMIT else "form"
        resp = message(
            "Too large",
            f"The {what} you sent is larger than {limit // 1024:,} KB; nothing was changed.",
            status=413,
            back="/staff",
        )
        resp.headers["Connection"] = "close"
        await resp(scope, receive, send)
