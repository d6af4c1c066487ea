"""The staff area at ``/staff``: server-rendered pages (Jinja2 templates in
``web/templates/staff/``) behind a sign-in, no JavaScript.

This router: signing in and out, the list of logged answers (filters, bulk verdicts), one answer
(each citation beside its article context and whether it still stands in the current version,
verdicts, exclusions), excluded passages, the CSV exports, the figures, the content gaps and
the audit log. ``staff_library`` adds the articles and re-indexing, ``staff_admin`` approved
answers and accounts. Shared parts (templates, headers, the dependencies that check the session,
the role and the CSRF token) are in ``web/staff_base.py``; sign-in in ``web/auth.py``.
"""

from __future__ import annotations

import io
import secrets
import time
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from chatbot.library.articles import Library
from chatbot.review.db import StoreError, UnknownAnswerError
from chatbot.review.log import AnswerFilter
from chatbot.safety.kinds import KINDS
from chatbot.text.spans import overlaps_any, relocate
from chatbot.web.auth import SESSION_HOURS, LoginLimiter, StaffAuth, client_key, minutes
from chatbot.web.limits import LimitsStore
from chatbot.web.staff_base import (
    LOGIN_COOKIE,
    LOOPBACK,
    MAX_PAGE,
    PAGE_SIZE,
    SESSION_COOKIE,
    PageError,
    Poster,
    Staff,
    StaffBodyLimit,
    StaffState,
    State,
    Viewer,
    audit,
    bar_chart_svg,
    context_of,
    headers,
    int_param,
    maybe_staff,
    message,
    render,
    same_origin,
    set_cookie,
)

__all__ = [
    "LOGIN_COOKIE",
    "SESSION_COOKIE",
    "SESSION_HOURS",
    "StaffAuth",
    "bar_chart_svg",
    "context_of",
    "register",
    "router",
]

router = APIRouter(prefix="/staff", include_in_schema=False)
CHANNELS = ("chat", "widget", "api", "cli", "batch", "eval")
SAFETY_KINDS = KINDS  # the safety filter's kinds: triage's own list


def register(app: Any, ctx: Any) -> StaffState:
    """Add the staff area to ``app`` (a FastAPI app) for ``ctx`` (bot, settings, store)."""
    from chatbot.library.extract import MAX_FILE_BYTES
    from chatbot.web.reindex import Reindexer
    from chatbot.web.routers import staff_admin, staff_library

    auth = StaffAuth(ctx.settings, store=lambda: ctx.store)
    # The rate limit's store (CHATBOT_LIMITS_URL), so every worker shares one brake.
    limits = getattr(app.state, "limits", None) or LimitsStore(ctx.settings.web.limits_url)
    state = StaffState(ctx=ctx, auth=auth, limiter=LoginLimiter(store=limits))

    def reindexed(by: str, ok: bool, text: str) -> None:
        if ctx.store is not None:
            ctx.store.record(
                by or "?", "reindex_done" if ok else "reindex_failed", "index", result=text
            )

    state.reindexer = Reindexer(ctx.bot, on_done=reindexed)
    app.state.staff = state

    async def page_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageError)
        return exc.response

    app.add_exception_handler(PageError, page_error)
    app.add_middleware(StaffBodyLimit, upload_limit=MAX_FILE_BYTES)
    app.include_router(router)
    app.include_router(staff_library.router)
    app.include_router(staff_admin.router)
    return state


# -- signing in and out -----------------------------------------------------------------------


def login_page(request: Request, state: StaffState, error: str = "", status: int = 200) -> Any:
    nonce = secrets.token_urlsafe(16)
    plain = request.url.scheme != "https" and request.url.hostname not in LOOPBACK
    resp = render(
        "login.html",
        None,
        status,
        error=error,
        plain_http=plain,
        login_csrf=state.auth.csrf(nonce, "login"),
    )
    set_cookie(resp, LOGIN_COOKIE, nonce, 3600)
    return resp


@router.post("/login")
async def staff_login(
    request: Request,
    state: State,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Any:
    auth = state.auth
    if not auth.enabled:
        return render("off.html", None, 503, problem=auth.problem)
    address = client_key(request)
    account = username.strip()[:100]
    wait = state.limiter.blocked_for(account, address)
    if wait > 0:
        return login_page(
            request, state, f"Too many failed sign-ins. Try again in {minutes(wait)} minutes.", 429
        )
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if not same_origin(request) or not auth.check_csrf(nonce, csrf, "login"):
        return login_page(
            request,
            state,
            "The sign-in form expired or cookies are blocked; please try again.",
            400,
        )
    role = await auth.login(account, password)
    if role is None:
        state.limiter.failed(account, address)
        return login_page(request, state, "Wrong user name or password.", 401)
    state.limiter.succeeded(account, address)
    resp = RedirectResponse("/staff", status_code=303)
    set_cookie(resp, SESSION_COOKIE, auth.issue(account), SESSION_HOURS * 3600)
    resp.delete_cookie(LOGIN_COOKIE, path="/staff")
    if state.store is not None:
        state.store.record(account, "sign_in", f"account:{account}", role=role)
    return resp


@router.post("/logout")
def staff_logout(staff: Poster, state: State) -> Any:
    state.auth.sign_out(staff.session)  # a copy of the cookie stops working too
    audit(state, staff, "sign_out", f"account:{staff.user}")
    resp = RedirectResponse("/staff", status_code=303)
    resp.delete_cookie(SESSION_COOKIE, path="/staff", secure=True, httponly=True, samesite="strict")
    return resp


# -- the list -----------------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
def staff_list(
    request: Request,
    state: State,
    staff: Annotated[Staff | None, Depends(maybe_staff)],
    status: str = "",
    feedback: str = "",
    verdict: str = "",
    since: str = "",
    until: str = "",
    q: str = "",
    channel: str = "",
    safety: str = "",
    kind: str = "",
    page: str = "1",
    saved: str = "",
) -> Any:
    if staff is None:
        return login_page(request, state)
    number = int_param(page, "page", 1, MAX_PAGE)
    flt = AnswerFilter(
        status=status,
        feedback=feedback,
        verdict=verdict,
        since=since,
        until=until,
        text=q[:200],
        channel=channel[:20],
        safety_tier=safety[:20],
        safety_kind=kind[:40],
        limit=PAGE_SIZE,
        offset=(number - 1) * PAGE_SIZE,
    )
    error = ""
    try:
        rows, total = state.store.list_answers(flt)
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
        "safety": safety,
        "kind": kind,
    }
    kept = {k: v for k, v in params.items() if v}
    return render(
        "answers.html",
        staff,
        f=flt,
        q=q,
        rows=rows,
        total=total,
        error=error,
        saved={"bulk": "Verdict saved for the picked answers."}.get(saved, ""),
        channels=[(c, c) for c in CHANNELS],
        kinds=[(k, k.replace("_", " ")) for k in SAFETY_KINDS],
        newer=f"/staff?{urlencode({**kept, 'page': number - 1})}" if number > 1 else "",
        older=f"/staff?{urlencode({**kept, 'page': number + 1})}"
        if number * PAGE_SIZE < total
        else "",
    )


@router.post("/bulk-verdict")
async def staff_bulk_verdict(request: Request, staff: Poster, state: State) -> Any:
    form = await request.form()
    ids = [str(i) for i in form.getlist("ids")][: PAGE_SIZE * 4]
    verdict, note = str(form.get("verdict", "")), str(form.get("note", ""))
    if not ids:
        return message("Nothing picked", "Tick the answers to judge first.", staff, 400, "/staff")
    try:
        for answer_id in ids:
            state.store.set_verdict(answer_id, verdict, note, staff.user)
    except StoreError as exc:
        return message(
            "Not saved",
            str(exc),
            staff,
            404 if isinstance(exc, UnknownAnswerError) else 400,
            "/staff",
        )
    for answer_id in ids:
        audit(state, staff, "verdict", f"answer:{answer_id}", verdict=verdict, bulk=len(ids))
    return RedirectResponse("/staff?saved=bulk", status_code=303)


# -- one answer ---------------------------------------------------------------------------------


def _citation_state(
    c: dict[str, Any], state: StaffState, created: float, excluded: set[Any]
) -> dict[str, Any]:
    """A logged citation with where it is now: still standing (maybe moved), gone, retired."""
    articles = state.ctx.bot.index.articles
    library = Library(state.ctx.settings.paths.corpus_dir)
    art = articles.get(c["article"])
    span = relocate(art.body, c["quote"], int(c["start"]), int(c["end"])) if art else None
    out = dict(c, span=span, context=None, excluded=False)
    try:
        out["quoted_version"] = library.version_at(c["article"], created)
        found = library.get_any(c["article"])
    except Exception:  # a damaged file: the page still shows the logged quote
        found = None
    out["current_version"] = found[0].version if found else None
    if art is None:
        out["status"] = "retired" if found and not found[1] else "gone"
    elif span is None:
        out["status"] = "gone"
    else:
        out["status"] = "stands" if span == (c["start"], c["end"]) else "moved"
        out["context"] = context_of(art.body, *span)
        out["excluded"] = overlaps_any(c["article"], *span, excluded)
    return out


@router.get("/answer/{answer_id}", response_class=HTMLResponse)
def staff_answer(answer_id: str, staff: Viewer, state: State, saved: str = "") -> Any:
    row = state.store.get_answer(answer_id)
    if row is None:
        return message("Not found", "No logged answer has this id.", staff, 404, "/staff")
    excluded = state.store.excluded_spans(state.ctx.bot.index.articles)
    cites = []
    for c in row["citations"]:
        item = _citation_state(c, state, row["created"], excluded)
        item["verdict"] = row["citation_verdicts"].get(int(c["id"]))
        cites.append(item)
    latest = row["feedback"][-1]["rating"] if row["feedback"] else ""
    return render(
        "answer.html",
        staff,
        row=row,
        cites=cites,
        vote=latest,
        saved=saved,
        others=[t for t in row["conversation_turns"] if t["id"] != row["id"]],
        audit=state.store.audit(target=f"answer:{answer_id}", limit=100),
    )


def _not_saved(exc: StoreError, answer_id: str, staff: Staff) -> Any:
    if isinstance(exc, UnknownAnswerError):
        return message("Not found", str(exc), staff, 404)
    return message("Not saved", f"{exc}.", staff, 400, f"/staff/answer/{answer_id}")


@router.post("/answer/{answer_id}/verdict")
def staff_verdict(
    answer_id: str,
    staff: Poster,
    state: State,
    verdict: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Any:
    try:
        state.store.set_verdict(answer_id, verdict, note, staff.user)
    except StoreError as exc:
        return _not_saved(exc, answer_id, staff)
    audit(state, staff, "verdict", f"answer:{answer_id}", verdict=verdict, note=note[:200])
    return RedirectResponse(f"/staff/answer/{answer_id}?saved=1#verdict", status_code=303)


@router.post("/answer/{answer_id}/citation/{citation}")
def staff_citation(
    answer_id: str,
    citation: str,
    staff: Poster,
    state: State,
    verdict: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    exclude: Annotated[str, Form()] = "",
) -> Any:
    number = int_param(citation, "the citation number", 1, 1000)
    try:
        state.store.set_citation_verdict(answer_id, number, verdict, note, staff.user)
        audit(
            state,
            staff,
            "citation_verdict",
            f"answer:{answer_id}",
            citation=number,
            verdict=verdict,
        )
        if exclude == "1":
            reason = note.strip() or "marked wrong or unsafe by staff"
            ex = state.store.exclude_citation(answer_id, number, reason, staff.user)
            audit(state, staff, "exclude", f"answer:{answer_id}", citation=number, exclusion=ex)
    except StoreError as exc:
        return _not_saved(exc, answer_id, staff)
    return RedirectResponse(f"/staff/answer/{answer_id}?saved=1#citation-{number}", status_code=303)


# -- exclusions -------------------------------------------------------------------------------


@router.get("/exclusions", response_class=HTMLResponse)
def staff_exclusions(staff: Viewer, state: State) -> Any:
    items = state.store.exclusions(state.ctx.bot.index.articles)
    return render("exclusions.html", staff, items=items)


@router.post("/exclusions/{exclusion_id}/restore")
def staff_restore(exclusion_id: str, staff: Poster, state: State) -> Any:
    number = int_param(exclusion_id, "the exclusion id")
    if state.store.restore_passage(number):
        audit(state, staff, "restore", f"exclusion:{number}")
    return RedirectResponse("/staff/exclusions", status_code=303)


# -- exports, figures, gaps, audit ------------------------------------------------------------


def _csv(text: str, name: str) -> Response:
    stamp = time.strftime("%Y%m%d", time.gmtime())
    return Response(
        text.encode("utf-8-sig"),  # the BOM makes spreadsheets read UTF-8
        media_type="text/csv; charset=utf-8",
        headers={**headers(), "Content-Disposition": f'attachment; filename="{name}-{stamp}.csv"'},
    )


@router.get("/export.csv")
def staff_export(staff: Viewer, state: State, all: str = "") -> Any:  # noqa: A002 - query name
    out = io.StringIO()
    state.store.export_csv(out, reviewed_only=not all)
    return _csv(out.getvalue(), "answers-all" if all else "answers-reviewed")


@router.get("/audit.csv")
def staff_audit_csv(staff: Viewer, state: State) -> Any:
    out = io.StringIO()
    state.store.export_audit_csv(out)
    return _csv(out.getvalue(), "audit-log")


@router.get("/audit", response_class=HTMLResponse)
def staff_audit(staff: Viewer, state: State, actor: str = "") -> Any:
    rows = state.store.audit(actor=actor[:100], limit=500)
    names = {u["name"] for u in state.store.users()} | {r["actor"] for r in rows}
    if state.auth.username:
        names.add(state.auth.username)
    return render("audit.html", staff, rows=rows, actor=actor, actors=sorted(names))


def _days(value: str) -> int:
    return min(max(int_param(value, "days", 1, 100_000), 1), 365)


@router.get("/stats", response_class=HTMLResponse)
def staff_stats(staff: Viewer, state: State, days: str = "30") -> Any:
    n = _days(days)
    st = state.store.stats(n, embed=state.ctx.bot.embedder.encode)
    figures = [
        ("Answers", st.total),
        ("Answers a day (mean)", f"{st.total / n:.1f}"),
        ("Answered with quotes", st.answered),
        ("No answer in the articles", f"{st.no_answer} ({st.no_answer_rate:.0%})"),
        ("Emergency replies", st.emergency),
        ("Reviewed answers given again", st.reviewed_reuse),
        ("Rated by patients (one vote per rated answer)", st.rated),
        ("Rated unhelpful", f"{st.rated_down} ({st.unhelpful_rate:.0%} of rated)"),
        ("Reviewed by staff", st.staff_reviewed),
        ("Judged wrong by staff", st.staff_wrong),
        (
            "Median time to answer",
            f"{st.median_latency_ms:.0f} ms" if st.median_latency_ms is not None else "—",
        ),
    ]
    return render(
        "stats.html", staff, days=n, st=st, figures=figures, chart=bar_chart_svg(st.per_day)
    )


@router.get("/gaps", response_class=HTMLResponse)
def staff_gaps(staff: Viewer, state: State, days: str = "30") -> Any:
    n = _days(days)
    gaps = state.store.content_gaps(n, embed=state.ctx.bot.embedder.encode)
    return render("gaps.html", staff, days=n, gaps=gaps)
