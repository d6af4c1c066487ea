"""The staff review page at ``/staff``: server-rendered HTML behind a login, no JavaScript.

Staff list and filter logged answers, open one to see each citation beside its article context,
judge each citation ("supports" / "does not support") and the answer ("correct" / "wrong"),
exclude a wrong passage from all later answers, download the log as CSV and look at a few
figures with a chart drawn here as inline SVG.

Security, in short:

- the password is configured only as a scrypt hash (``python -m chatbot review hash-password``);
  without one the page stays off and says why: there is no default password;
- the session is a cookie signed with HMAC-SHA256 (``Secure``, ``HttpOnly``,
  ``SameSite=Strict``), expiring after ``SESSION_HOURS``; signing out ends that session on the
  server too (a copied cookie stops working); changing the password hash ends every session;
- every form carries a CSRF token bound to the session (or, for the login form, to a pre-login
  cookie), and a POST whose ``Origin`` is another site is refused;
- everything shown is escaped with ``html.escape``; the pages send a Content-Security-Policy
  that allows no script at all, load nothing from elsewhere and cannot be framed;
- repeated wrong passwords from one client are slowed down (``LoginThrottle``).
"""

from __future__ import annotations

import html
import io
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import Request

from chatbot.review.db import StoreError, UnknownAnswerError, iso_time
from chatbot.review.log import AnswerFilter
from chatbot.text.spans import around, overlaps_any, relocate
from chatbot.web.auth import SESSION_HOURS, LoginThrottle, StaffAuth

SESSION_COOKIE = "staff_session"
LOGIN_COOKIE = "staff_login"
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
FORM_LIMIT = 64 * 1024  # bytes; a note is short
PAGE_SIZE = 50

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


# -- rendering ------------------------------------------------------------------------------


def e(value: Any) -> str:
    """Escape anything for HTML text and attribute values."""
    return html.escape("" if value is None else str(value), quote=True)


STYLE = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1b1f24;
background:#f6f7f9}
header{background:#1f3a5f;color:#fff;padding:.6rem 1.2rem;display:flex;gap:1.2rem;
align-items:center;flex-wrap:wrap}
header a{color:#fff}header .who{margin-left:auto}
main{padding:1rem 1.2rem;max-width:1200px}
a{color:#0b57d0}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border-bottom:1px solid #dde1e6;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600}
.q{max-width:32rem;overflow-wrap:anywhere}
.pill{display:inline-block;border-radius:.7rem;padding:0 .5rem;font-size:.85em;background:#e3e7ed}
.answered{background:#dcefdc}.no_answer{background:#fde9c8}.emergency{background:#f8d0d0}
.correct{background:#cfe9d4}.wrong{background:#f6cccc}.reviewed{background:#d8e6fb}
.card{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:.8rem 1rem;
margin:.8rem 0}
.cite{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:1rem}
@media (max-width:800px){.cite{grid-template-columns:1fr}}
.context{white-space:pre-wrap;background:#fafbfc;border-left:3px solid #c4ccd6;padding:.5rem .8rem}
mark{background:#fff0a0;padding:0 .1rem}
.excluded{outline:3px solid #d93025}
pre.answer{white-space:pre-wrap;overflow-wrap:anywhere;font:inherit;margin:0}
form.inline{display:inline}
label{margin-right:.8rem}
textarea{width:100%;min-height:3rem;font:inherit}
.filters{display:flex;flex-wrap:wrap;gap:.6rem;align-items:end;margin-bottom:.8rem}
.filters label{display:flex;flex-direction:column;font-size:.85em}
.msg{padding:.6rem .8rem;border-radius:4px;background:#e8f0fe;margin:.6rem 0}
.err{background:#fce8e6}
.figures td:first-child{font-weight:600}
button{font:inherit;padding:.25rem .8rem;cursor:pointer}
"""


def _page(title: str, body: str, user: str = "", csrf: str = "", status: int = 200) -> Any:
    from fastapi.responses import HTMLResponse

    nav = ""
    if user:
        nav = (
            '<a href="/staff">Answers</a><a href="/staff/stats">Figures</a>'
            '<a href="/staff/exclusions">Excluded passages</a>'
            f'<span class="who">Signed in as {e(user)}</span>'
            '<form class="inline" method="post" action="/staff/logout">'
            f'<input type="hidden" name="csrf" value="{e(csrf)}"><button>Sign out</button></form>'
        )
    doc = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{e(title)} – staff review</title><style>{STYLE}</style></head><body>"
        f"<header><strong>Staff review</strong>{nav}</header><main>{body}</main></body></html>"
    )
    return HTMLResponse(doc, status_code=status, headers=_headers())


def _headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": CSP,
        "Cache-Control": "no-store",
        "X-Frame-Options": "DENY",
        # Not "no-referrer": with it, browsers send "Origin: null" on our own form posts.
        "Referrer-Policy": "same-origin",
        "X-Content-Type-Options": "nosniff",
    }


def _pill(value: str, cls: str | None = None) -> str:
    return f'<span class="pill {e(cls or value)}">{e(value.replace("_", " "))}</span>'


def _time(ts: float | None) -> str:
    return iso_time(ts) if ts else ""


def context_of(
    body: str, start: int, end: int, width: int = 400, at_least: int = 160
) -> tuple[str, str, str]:
    """The paragraph around ``body[start:end]`` as (before, quote, after); when the quote fills
    most of its paragraph, the neighbouring ones too, so staff see what it was about."""
    return around(body, start, end, width=width, at_least=at_least, separator="\n\n")


def bar_chart_svg(per_day: list[dict[str, Any]], width: int = 760, height: int = 240) -> str:
    """Answers a day as stacked bars (answered / no answer / emergency), as inline SVG."""
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
    return "".join(parts) + f"<div>{legend}</div>"


# -- the routes -----------------------------------------------------------------------------


def register(app: Any, ctx: Any) -> None:
    """Add ``/staff`` and its sub-pages to ``app`` (a FastAPI app)."""
    from fastapi.responses import RedirectResponse, Response

    auth = StaffAuth(ctx.settings)
    throttle = LoginThrottle()

    def client_of(request: Request) -> str:
        return request.client.host if request.client else "?"

    def current(request: Request) -> dict[str, Any] | None:
        return auth.session(request.cookies.get(SESSION_COOKIE))

    def off_page() -> Any:
        body = f'<h1>Staff review is off</h1><p class="msg err">{e(auth.problem)}</p>'
        return _page("Off", body, status=503)

    def no_store_page(user: str, csrf: str) -> Any:
        body = (
            '<h1>No review store</h1><p class="msg err">This server runs without a review store, '
            "so no answers are logged. Start it with `python -m chatbot serve`.</p>"
        )
        return _page("No store", body, user, csrf, status=503)

    def set_cookie(resp: Any, name: str, value: str, max_age: int) -> None:
        resp.set_cookie(
            name,
            value,
            max_age=max_age,
            path="/staff",
            secure=True,
            httponly=True,
            samesite="strict",
        )

    def login_page(request: Request, message: str = "", status: int = 200) -> Any:
        nonce = secrets.token_urlsafe(16)
        msg = f'<p class="msg err" role="alert">{e(message)}</p>' if message else ""
        if request.url.scheme != "https" and request.url.hostname not in LOOPBACK:
            msg += (
                '<p class="msg err">This page is served over plain HTTP. The staff session '
                "cookie is only sent over HTTPS, so signing in will not work: serve the app "
                "behind HTTPS (or open it on this machine as http://localhost).</p>"
            )
        body = (
            f"<h1>Sign in</h1>{msg}"
            '<form method="post" action="/staff/login" class="card" style="max-width:22rem">'
            f'<input type="hidden" name="csrf" value="{e(auth.csrf(nonce, "login"))}">'
            '<p><label>User name<br><input name="username" autocomplete="username" required>'
            "</label></p>"
            '<p><label>Password<br><input name="password" type="password" '
            'autocomplete="current-password" required></label></p>'
            "<p><button>Sign in</button></p></form>"
        )
        resp = _page("Sign in", body, status=status)
        set_cookie(resp, LOGIN_COOKIE, nonce, 3600)
        return resp

    async def read_form(request: Request) -> dict[str, str] | None:
        if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            return None
        raw = b""
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > FORM_LIMIT:
                return None
        parsed = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
        return {k: v[-1] for k, v in parsed.items()}

    def same_origin(request: Request) -> bool:
        origin = request.headers.get("origin")
        if not origin or origin == "null":
            return origin is None  # a "null" origin (sandboxed frame, file:) is refused
        # Behind a reverse proxy that rewrites Host, X-Forwarded-Host names the public host (a
        # cross-site form cannot set that header, and the CSRF token is checked as well).
        hosts = {request.headers.get("host", ""), request.headers.get("x-forwarded-host", "")}
        return urlsplit(origin).netloc.lower() in {h.lower() for h in hosts if h}

    async def guarded(request: Request) -> tuple[dict[str, Any], dict[str, str]] | Any:
        """The session and form of a staff POST, or the response refusing it."""
        if not auth.enabled:
            return off_page()
        sess = current(request)
        if sess is None:
            return _page(
                "Signed out",
                '<p class="msg err">Your session has ended. '
                '<a href="/staff">Sign in again</a>.</p>',
                status=403,
            )
        if ctx.store is None:
            return no_store_page(sess["u"], auth.csrf(sess["n"]))
        form = await read_form(request)
        if (
            form is None
            or not same_origin(request)
            or not auth.check_csrf(sess["n"], form.get("csrf", ""))
        ):
            return _page(
                "Refused",
                '<p class="msg err">This form was not sent from the staff '
                'page (security check failed). <a href="/staff">Back</a>.</p>',
                sess["u"],
                auth.csrf(sess["n"]),
                status=403,
            )
        return sess, form

    def signed_in(request: Request, signed_out: Any = None) -> tuple[str, str] | Any:
        """(user, csrf token) for a staff GET, or the page to show instead: ``signed_out``'s
        page for a visitor who is not signed in (default: back to the sign-in page)."""
        if not auth.enabled:
            return off_page()
        sess = current(request)
        if sess is None:
            if signed_out is not None:
                return signed_out(request)
            return RedirectResponse("/staff", status_code=303)
        if ctx.store is None:
            return no_store_page(sess["u"], auth.csrf(sess["n"]))
        return sess["u"], auth.csrf(sess["n"])

    # ---- login / logout

    @app.post("/staff/login", include_in_schema=False)
    async def staff_login(request: Request) -> Any:
        if not auth.enabled:
            return off_page()
        client = client_of(request)
        wait = throttle.blocked_for(client)
        if wait > 0:
            return login_page(
                request,
                f"Too many failed sign-ins. Try again in {int(wait // 60) + 1} minutes.",
                429,
            )
        form = await read_form(request)
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        if (
            form is None
            or not same_origin(request)
            or not auth.check_csrf(nonce, form.get("csrf", ""), "login")
        ):
            return login_page(
                request, "The sign-in form expired or cookies are blocked; please try again.", 400
            )
        if not auth.login(form.get("username", ""), form.get("password", "")):
            throttle.failed(client)
            return login_page(request, "Wrong user name or password.", 401)
        throttle.succeeded(client)
        resp = RedirectResponse("/staff", status_code=303)
        set_cookie(resp, SESSION_COOKIE, auth.issue(auth.username), SESSION_HOURS * 3600)
        resp.delete_cookie(LOGIN_COOKIE, path="/staff")
        return resp

    @app.post("/staff/logout", include_in_schema=False)
    async def staff_logout(request: Request) -> Any:
        got = await guarded(request)
        if not isinstance(got, tuple):
            return got
        auth.sign_out(got[0])  # a copy of the cookie stops working too
        resp = RedirectResponse("/staff", status_code=303)
        resp.delete_cookie(
            SESSION_COOKIE, path="/staff", secure=True, httponly=True, samesite="strict"
        )
        return resp

    # ---- the list

    @app.get("/staff", include_in_schema=False)
    def staff_list(
        request: Request,
        status: str = "",
        feedback: str = "",
        verdict: str = "",
        since: str = "",
        until: str = "",
        q: str = "",
        channel: str = "",
        page: int = 1,
    ) -> Any:
        who = signed_in(request, login_page)
        if not isinstance(who, tuple):
            return who
        user, csrf = who
        page = max(1, page)
        flt = AnswerFilter(
            status=status,
            feedback=feedback,
            verdict=verdict,
            since=since,
            until=until,
            text=q[:200],
            channel=channel[:20],
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
        )
        error = ""
        try:
            rows, total = ctx.store.list_answers(flt)
        except StoreError as exc:
            rows, total, error = [], 0, str(exc)
        params = {
            "status": status,
            "feedback": feedback,
            "verdict": verdict,
            "since": since,
            "until": until,
            "q": q,
            "channel": channel,
        }

        def select(name: str, current_value: str, options: list[tuple[str, str]]) -> str:
            opts = "".join(
                f'<option value="{e(v)}"{" selected" if v == current_value else ""}>{e(t)}</option>'
                for v, t in options
            )
            return f'<label>{e(name.title())}<select name="{e(name)}">{opts}</select></label>'

        filters = (
            '<form class="filters" method="get" action="/staff">'
            + select(
                "status",
                status,
                [
                    ("", "any"),
                    ("answered", "answered"),
                    ("no_answer", "no answer"),
                    ("emergency", "emergency"),
                ],
            )
            + select(
                "feedback",
                feedback,
                [
                    ("", "any"),
                    ("down", "rated unhelpful"),
                    ("up", "rated helpful"),
                    ("any", "with feedback"),
                    ("none", "no feedback"),
                ],
            )
            + select(
                "verdict",
                verdict,
                [
                    ("", "any"),
                    ("unreviewed", "not reviewed"),
                    ("reviewed", "reviewed"),
                    ("correct", "correct"),
                    ("wrong", "wrong"),
                ],
            )
            + select(
                "channel",
                channel,
                [("", "any")] + [(c, c) for c in ("chat", "widget", "api", "cli", "batch", "eval")],
            )
            + f'<label>From<input type="date" name="since" value="{e(since)}"></label>'
            f'<label>To<input type="date" name="until" value="{e(until)}"></label>'
            f'<label>Text<input type="search" name="q" value="{e(q)}" '
            'placeholder="words in question or answer"></label>'
            '<button>Filter</button> <a href="/staff">Clear</a></form>'
        )
        trs = []
        for r in rows:
            marks = _pill(r["status"])
            if r["reviewed"]:
                marks += " " + _pill("reused reviewed", "reviewed")
            fb = ""
            if r["up"]:
                fb += f"helpful {r['up']} "
            if r["down"]:
                fb += f"unhelpful {r['down']}"
            verdict_cell = _pill(r["verdict"]) if r["verdict"] else "—"
            latency = f"{r['latency_ms']:.0f} ms" if r["latency_ms"] is not None else ""
            trs.append(
                f"<tr><td>{e(_time(r['created']))}</td>"
                f'<td class="q"><a href="/staff/answer/{e(r["id"])}">{e(r["question"][:300])}'
                f"</a></td><td>{marks}</td><td>{r['citations']}</td><td>{e(fb)}</td>"
                f"<td>{verdict_cell}</td><td>{e(r['channel'])}</td><td>{e(latency)}</td></tr>"
            )
        table = (
            "<table><thead><tr><th>When (UTC)</th><th>Question</th><th>Status</th>"
            "<th>Quotes</th><th>Feedback</th><th>Staff verdict</th><th>Channel</th>"
            "<th>Time</th></tr></thead><tbody>"
            + ("".join(trs) or '<tr><td colspan="8">No answers match.</td></tr>')
            + "</tbody></table>"
        )
        nav = []
        if page > 1:
            nav.append(f'<a href="/staff?{e(urlencode({**params, "page": page - 1}))}">← newer</a>')
        if page * PAGE_SIZE < total:
            nav.append(f'<a href="/staff?{e(urlencode({**params, "page": page + 1}))}">older →</a>')
        err = f'<p class="msg err">{e(error)}</p>' if error else ""
        body = (
            f"<h1>Answers</h1>{err}{filters}<p>{total} answer(s) match. "
            '<a href="/staff/export.csv">Download reviewed answers (CSV)</a> · '
            '<a href="/staff/export.csv?all=1">Download all answers (CSV)</a></p>'
            f"{table}<p>{' · '.join(nav)}</p>"
        )
        return _page("Answers", body, user, csrf)

    # ---- one answer

    @app.get("/staff/answer/{answer_id}", include_in_schema=False)
    def staff_answer(request: Request, answer_id: str, saved: str = "") -> Any:
        who = signed_in(request)
        if not isinstance(who, tuple):
            return who
        user, csrf = who
        row = ctx.store.get_answer(answer_id)
        if row is None:
            return _page(
                "Not found",
                '<p class="msg err">No logged answer has this id. '
                '<a href="/staff">Back to the list</a>.</p>',
                user,
                csrf,
                status=404,
            )
        articles = ctx.bot.index.articles
        excluded = ctx.store.excluded_spans(articles)
        aid = e(row["id"])
        hidden = f'<input type="hidden" name="csrf" value="{e(csrf)}">'
        parts = ['<p><a href="/staff">← all answers</a></p>']
        if saved:
            parts.append('<p class="msg" role="status">Saved.</p>')
        marks = _pill(row["status"])
        if row["reason"]:
            marks += " " + _pill(row["reason"], "x")
        if row["reviewed"]:
            marks += " " + _pill("reused reviewed answer", "reviewed")
        latency = f"{row['latency_ms']:.0f} ms" if row["latency_ms"] is not None else "—"
        parts.append(
            f'<div class="card"><h1 style="margin-top:0">Question</h1>'
            f'<p class="q" id="question">{e(row["question"])}</p>'
            f"<p>{marks} · {e(_time(row['created']))} · channel {e(row['channel'])} · "
            f"{e(latency)} · id <code>{aid}</code></p>"
        )
        if row["history"]:
            turns = "".join(
                f"<li><b>{e(t.get('role'))}:</b> {e(t.get('content', '')[:500])}</li>"
                for t in row["history"]
            )
            parts.append(
                f"<details><summary>Earlier in the conversation</summary><ol>{turns}</ol></details>"
            )
        others = [t for t in row["conversation_turns"] if t["id"] != row["id"]]
        if others:
            links = "".join(
                f'<li><a href="/staff/answer/{e(t["id"])}">{e(t["question"][:120])}</a> '
                f"{_pill(t['status'])}</li>"
                for t in others
            )
            parts.append(
                f"<details><summary>Other turns of this conversation</summary><ul>{links}"
                "</ul></details>"
            )
        parts.append("</div>")
        parts.append(
            f'<div class="card"><h2>Answer</h2><pre class="answer">{e(row["answer"])}</pre></div>'
        )
        if row["feedback"]:
            items = "".join(
                f"<li>{'helpful' if f['rating'] == 'up' else 'unhelpful'} {e(_time(f['created']))}"
                f"{(': ' + e(f['comment'])) if f['comment'] else ''}</li>"
                for f in row["feedback"]
            )
            parts.append(f'<div class="card"><h2>Patient feedback</h2><ul>{items}</ul></div>')

        for c in row["citations"]:
            cid = int(c["id"])
            art = articles.get(c["article"])
            span = (
                relocate(art.body, c["quote"], int(c["start"]), int(c["end"]), exact=False)
                if art is not None
                else None
            )
            cv = row["citation_verdicts"].get(cid)
            is_excluded = span is not None and overlaps_any(c["article"], *span, excluded)
            if span is None or art is None:
                context = (
                    '<p class="msg err">This quote is no longer in the current article '
                    "(the corpus changed since).</p>"
                    f'<div class="context"><mark>{e(c["quote"])}</mark></div>'
                )
            else:
                before, quote, after = context_of(art.body, *span)
                moved = (
                    ""
                    if span == (c["start"], c["end"])
                    else (
                        f'<p class="msg">The article changed: the quote is now at characters '
                        f"{span[0]}–{span[1]}.</p>"
                    )
                )
                context = (
                    f'{moved}<div class="context">{e(before)}<mark>{e(quote)}</mark>'
                    f"{e(after)}</div>"
                )
            current_cv = cv["verdict"] if cv else ""
            radios = "".join(
                f'<label><input type="radio" name="verdict" value="{v}" required'
                f"{' checked' if current_cv == v else ''}> {t}</label>"
                for v, t in (
                    ("supports", "supports the answer"),
                    ("does_not_support", "does not support it"),
                )
            )
            excl = (
                '<p class="msg err">This passage is excluded: no answer quotes it. '
                '<a href="/staff/exclusions">Manage exclusions</a></p>'
                if is_excluded
                else '<p><label><input type="checkbox" name="exclude" value="1"> Exclude this '
                "passage from all future answers (it is wrong or unsafe)</label></p>"
            )
            tone = "correct" if current_cv == "supports" else "wrong"
            judged = (
                f"<p>Judged {_pill(current_cv, tone)}"
                f" by {e(cv['reviewer'])} {e(_time(cv['updated']))}"
                f"{(': ' + e(cv['note'])) if cv['note'] else ''}</p>"
                if cv
                else ""
            )
            parts.append(
                f'<div class="card{" excluded" if is_excluded else ""}" id="citation-{cid}">'
                f"<h3>[{cid}] {e(c.get('title', ''))} <small>({e(c['article'])}, characters "
                f"{e(c['start'])}–{e(c['end'])}, score {e(c.get('score'))})</small></h3>"
                '<div class="cite"><div><h4>Quote in the answer</h4>'
                f"<blockquote>{e(c['quote'])}</blockquote></div>"
                f"<div><h4>In the article</h4>{context}</div></div>{judged}"
                f'<form method="post" action="/staff/answer/{aid}/citation/{cid}">{hidden}'
                f"<p>This passage {radios}</p>"
                f'<p><label>Note<textarea name="note" maxlength="2000">'
                f"{e(cv['note'] if cv else '')}</textarea></label></p>{excl}"
                "<p><button>Save citation review</button></p></form></div>"
            )

        v = row["verdict"]
        radios = "".join(
            f'<label><input type="radio" name="verdict" value="{val}" required'
            f"{' checked' if v and v['verdict'] == val else ''}> {txt}</label>"
            for val, txt in (("correct", "correct"), ("wrong", "wrong"))
        )
        judged = (
            f"<p>Current verdict {_pill(v['verdict'])} by {e(v['reviewer'])} "
            f"{e(_time(v['updated']))}</p>"
            if v
            else "<p>Not reviewed yet.</p>"
        )
        reuse = (
            "<p><small>A correct answered reply is given again, marked “reviewed by clinic "
            "staff”, when a patient asks the same question, as long as its quotes are still in "
            "the articles and none is excluded.</small></p>"
            if row["status"] == "answered"
            else ""
        )
        parts.append(
            f'<div class="card" id="verdict"><h2>Your verdict on the answer</h2>{judged}'
            f'<form method="post" action="/staff/answer/{aid}/verdict">{hidden}'
            f"<p>The answer is {radios}</p>"
            f'<p><label>Note<textarea name="note" maxlength="4000">{e(v["note"] if v else "")}'
            f"</textarea></label></p>{reuse}<p><button>Save verdict</button></p></form></div>"
        )
        return _page("Answer", "".join(parts), user, csrf)

    def not_saved(exc: Exception, answer_id: str, sess: dict[str, Any]) -> Any:
        """The page for a verdict the store refused: 404 for an unknown answer, else 400."""
        if isinstance(exc, UnknownAnswerError):
            return _page(
                "Not found",
                f'<p class="msg err">{e(exc)}</p>',
                sess["u"],
                auth.csrf(sess["n"]),
                status=404,
            )
        back = f'<a href="/staff/answer/{e(answer_id)}">Back</a>'
        return _page(
            "Not saved",
            f'<p class="msg err">{e(exc)}. {back}</p>',
            sess["u"],
            auth.csrf(sess["n"]),
            status=400,
        )

    @app.post("/staff/answer/{answer_id}/verdict", include_in_schema=False)
    async def staff_verdict(request: Request, answer_id: str) -> Any:
        got = await guarded(request)
        if not isinstance(got, tuple):
            return got
        sess, form = got
        try:
            ctx.store.set_verdict(
                answer_id, form.get("verdict", ""), form.get("note", ""), sess["u"]
            )
        except StoreError as exc:
            return not_saved(exc, answer_id, sess)
        return RedirectResponse(f"/staff/answer/{answer_id}?saved=1#verdict", status_code=303)

    @app.post("/staff/answer/{answer_id}/citation/{citation}", include_in_schema=False)
    async def staff_citation(request: Request, answer_id: str, citation: int) -> Any:
        got = await guarded(request)
        if not isinstance(got, tuple):
            return got
        sess, form = got
        try:
            ctx.store.set_citation_verdict(
                answer_id, citation, form.get("verdict", ""), form.get("note", ""), sess["u"]
            )
            if form.get("exclude") == "1":
                reason = form.get("note", "").strip() or "marked wrong or unsafe by staff"
                ctx.store.exclude_citation(answer_id, citation, reason, sess["u"])
        except StoreError as exc:
            return not_saved(exc, answer_id, sess)
        return RedirectResponse(
            f"/staff/answer/{answer_id}?saved=1#citation-{citation}", status_code=303
        )

    # ---- exclusions

    @app.get("/staff/exclusions", include_in_schema=False)
    def staff_exclusions(request: Request) -> Any:
        who = signed_in(request)
        if not isinstance(who, tuple):
            return who
        user, csrf = who
        items = []
        for x in ctx.store.exclusions(ctx.bot.index.articles):
            found = ", ".join(f"{f['article']} {f['start']}–{f['end']}" for f in x["found"])
            source = (
                f'<a href="/staff/answer/{e(x["answer_id"])}">from this answer</a>'
                if x["answer_id"]
                else "added on the command line"
            )
            items.append(
                f'<div class="card"><blockquote>{e(x["quote"])}</blockquote>'
                f"<p>First seen in <b>{e(x['article'])}</b>; now found in: "
                f"{e(found) if found else 'nowhere in the current articles'} · {source} · "
                f"by {e(x['reviewer'] or '—')} {e(_time(x['created']))}</p>"
                f"<p>Reason: {e(x['reason'])}</p>"
                f'<form method="post" action="/staff/exclusions/{int(x["id"])}/restore">'
                f'<input type="hidden" name="csrf" value="{e(csrf)}">'
                "<button>Allow it in answers again</button></form></div>"
            )
        body = (
            "<h1>Excluded passages</h1><p>No answer quotes these passages. Each is looked up by "
            "its words in the current articles (wherever the same words appear), so it stays "
            "out after the articles are re-ingested or edited.</p>"
            + ("".join(items) or "<p>Nothing is excluded.</p>")
        )
        return _page("Excluded passages", body, user, csrf)

    @app.post("/staff/exclusions/{exclusion_id}/restore", include_in_schema=False)
    async def staff_restore(request: Request, exclusion_id: int) -> Any:
        got = await guarded(request)
        if not isinstance(got, tuple):
            return got
        ctx.store.restore_passage(exclusion_id)
        return RedirectResponse("/staff/exclusions", status_code=303)

    # ---- export and figures

    @app.get("/staff/export.csv", include_in_schema=False)
    def staff_export(request: Request, all: str = "") -> Any:  # noqa: A002 - query name
        who = signed_in(request)
        if not isinstance(who, tuple):
            return who
        out = io.StringIO()
        ctx.store.export_csv(out, reviewed_only=not all)
        name = "answers-all" if all else "answers-reviewed"
        stamp = time.strftime("%Y%m%d", time.gmtime())
        return Response(
            out.getvalue().encode("utf-8-sig"),  # the BOM makes spreadsheets read UTF-8
            media_type="text/csv; charset=utf-8",
            headers={
                **_headers(),
                "Content-Disposition": f'attachment; filename="{name}-{stamp}.csv"',
            },
        )

    @app.get("/staff/stats", include_in_schema=False)
    def staff_stats(request: Request, days: int = 30) -> Any:
        who = signed_in(request)
        if not isinstance(who, tuple):
            return who
        user, csrf = who
        days = min(max(days, 1), 365)
        st = ctx.store.stats(days)
        figures = [
            ("Answers", st.total),
            ("Answers a day (mean)", f"{st.total / days:.1f}"),
            ("Answered with quotes", st.answered),
            ("No answer in the articles", f"{st.no_answer} ({st.no_answer_rate:.0%})"),
            ("Emergency replies", st.emergency),
            ("Reviewed answers given again", st.reviewed_reuse),
            ("Rated by patients", st.rated),
            ("Rated unhelpful", f"{st.rated_down} ({st.unhelpful_rate:.0%} of rated)"),
            ("Reviewed by staff", st.staff_reviewed),
            ("Judged wrong by staff", st.staff_wrong),
            (
                "Median time to answer",
                f"{st.median_latency_ms:.0f} ms" if st.median_latency_ms is not None else "—",
            ),
        ]
        rows = "".join(f"<tr><td>{e(k)}</td><td>{e(v)}</td></tr>" for k, v in figures)
        arts = "".join(
            f"<tr><td>{e(a['title'] or a['article'])}</td><td>{a['count']}</td></tr>"
            for a in st.top_articles
        )
        qs = "".join(
            f'<tr><td class="q">{e(q["question"][:200])}</td><td>{q["count"]}</td></tr>'
            for q in st.top_questions
        )
        choose = " · ".join(
            f'<a href="/staff/stats?days={d}">{d} days</a>' for d in (7, 30, 90, 365)
        )
        body = (
            f"<h1>Figures, last {days} days (UTC)</h1><p>{choose}</p>"
            f'<div class="card">{bar_chart_svg(st.per_day)}</div>'
            f'<table class="figures">{rows}</table>'
            "<h2>Most cited articles (topics)</h2><table><tr><th>Article</th><th>Quoted in"
            f" answers</th></tr>{arts or '<tr><td colspan=2>—</td></tr>'}</table>"
            "<h2>Most asked questions</h2><table><tr><th>Question</th><th>Times</th></tr>"
            f"{qs or '<tr><td colspan=2>—</td></tr>'}</table>"
        )
        return _page("Figures", body, user, csrf)
