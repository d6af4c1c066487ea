"""Approved answers (any staff account) and staff accounts (admins) in the staff area."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from chatbot.errors import ChatbotError
from chatbot.review.accounts import ROLES
from chatbot.review.approved import MATCH_COSINE
from chatbot.review.db import StoreError
from chatbot.text.normalise import fold
from chatbot.text.sentences import split_sentences
from chatbot.web.staff_base import (
    Admin,
    AdminPost,
    Poster,
    Staff,
    StaffState,
    State,
    Viewer,
    audit,
    int_param,
    message,
    render,
)

router = APIRouter(prefix="/staff", include_in_schema=False)
SAVED = {
    "created": "Approved answer saved: patients asking this in other words now get it.",
    "examples": "Example questions saved.",
    "retired": "Approved answer retired: it is no longer given.",
}


# -- approved answers -------------------------------------------------------------------------


@router.get("/approved", response_class=HTMLResponse)
def approved_list(staff: Viewer, state: State, saved: str = "") -> Any:
    store, articles = state.store, state.ctx.bot.index.articles
    excluded = store.excluded_spans(articles)
    items = store.approved_list(include_retired=True)
    for item in items:
        item["problems"] = (
            store.approved_problems(item, articles, excluded) if item["active"] else []
        )
        item["given"] = store.times_given(item["id"])
    return render(
        "approved.html", staff, items=items, saved=SAVED.get(saved, ""), threshold=MATCH_COSINE
    )


def _compose_page(
    state: StaffState,
    staff: Staff,
    source_id: str = "",
    q: str = "",
    picked: dict[tuple[str, int, int], int] | None = None,
    examples: str = "",
    error: str = "",
    status: int = 200,
) -> Any:
    source = state.store.get_answer(source_id) if source_id else None
    if picked is None:
        picked = {}
        if source is not None:
            for n, c in enumerate(source["citations"], start=1):
                picked[(c["article"], int(c["start"]), int(c["end"]))] = n
    if not examples and source is not None:
        examples = source["question"]
    words = fold(q).split()
    groups = []
    for art in state.ctx.bot.index.articles.values():
        sentences = []
        for s in split_sentences(art.body):
            key = (art.id, s.start, s.end)
            if s.heading and key not in picked:
                continue
            if words and key not in picked and not all(w in fold(s.text) for w in words):
                continue
            sentences.append(
                {"start": s.start, "end": s.end, "text": s.text, "order": picked.get(key)}
            )
        # Quotes picked from an answer that are not whole sentences of the article any more
        # (a merged line, say) are shown too, so they can be kept.
        for (aid, start, end), order in picked.items():
            if (
                aid == art.id
                and not any(s["start"] == start and s["end"] == end for s in sentences)
                and end <= len(art.body)
            ):
                sentences.append(
                    {"start": start, "end": end, "text": art.body[start:end], "order": order}
                )
        sentences.sort(key=lambda s: (s["order"] is None, s["order"] or 0, s["start"]))
        n_picked = sum(1 for s in sentences if s["order"])
        if sentences:
            groups.append(
                {
                    "id": art.id,
                    "title": art.title,
                    "sentences": sentences,
                    "picked": n_picked,
                    "open": bool(n_picked or words),
                }
            )
    groups.sort(key=lambda g: -g["picked"])
    return render(
        "approved_new.html",
        staff,
        status,
        groups=groups,
        source=source,
        q=q,
        examples=examples,
        error=error,
    )


@router.get("/approved/new", response_class=HTMLResponse)
def approved_new(
    staff: Viewer,
    state: State,
    q: str = "",
    source: Annotated[str, Query(alias="from", max_length=64)] = "",
) -> Any:
    return _compose_page(state, staff, source, q[:200])


@router.post("/approved")
async def approved_create(request: Request, staff: Poster, state: State) -> Any:
    form = await request.form()
    picked: dict[tuple[str, int, int], int] = {}
    for value in form.getlist("pick"):
        try:
            aid, start, end = str(value).rsplit(":", 2)
            key = (aid, int(start), int(end))
        except ValueError:
            continue
        order = str(form.get(f"order:{value}", "")).strip()
        picked[key] = int(order) if order.isdigit() and 0 < int(order) < 100 else 99
    examples_text = str(form.get("examples", ""))
    source = str(form.get("source", "")) or None
    ranked = sorted(picked, key=lambda k: (picked[k], k[0], k[1]))
    try:
        new_id = state.store.create_approved(
            ranked, examples_text.splitlines(), state.ctx.bot.index.articles, staff.user, source
        )
    except StoreError as exc:
        return _compose_page(
            state,
            staff,
            source or "",
            "",
            {k: i + 1 for i, k in enumerate(ranked)},
            examples_text,
            f"Not saved: {exc}.",
            400,
        )
    audit(
        state,
        staff,
        "approved_created",
        f"approved:{new_id}",
        quotes=len(ranked),
        from_answer=source or "",
    )
    if source:
        audit(state, staff, "approved_from_answer", f"answer:{source}", approved=new_id)
    return RedirectResponse(f"/staff/approved?saved=created#approved-{new_id}", status_code=303)


@router.post("/approved/{approved_id}/examples")
def approved_examples(
    approved_id: str, staff: Poster, state: State, examples: Annotated[str, Form()] = ""
) -> Any:
    n = int_param(approved_id, "the approved answer")
    try:
        state.store.set_examples(n, examples.splitlines())
    except StoreError as exc:
        return message("Not saved", f"{exc}.", staff, 400, "/staff/approved")
    audit(state, staff, "approved_examples", f"approved:{n}", examples=len(examples.split("\n")))
    return RedirectResponse(f"/staff/approved?saved=examples#approved-{n}", status_code=303)


@router.post("/approved/{approved_id}/retire")
def approved_retire(approved_id: str, staff: Poster, state: State) -> Any:
    n = int_param(approved_id, "the approved answer")
    if state.store.retire_approved(n):
        audit(state, staff, "approved_retired", f"approved:{n}")
    return RedirectResponse("/staff/approved?saved=retired", status_code=303)


# -- accounts ---------------------------------------------------------------------------------


def _users_page(
    state: StaffState, staff: Staff, saved: str = "", error: str = "", status: int = 200
) -> Any:
    return render(
        "users.html",
        staff,
        status,
        users=state.store.users(),
        roles=ROLES,
        saved=saved,
        error=error,
        bootstrap=state.auth.username if state.auth.password_hash else "",
    )


@router.get("/users", response_class=HTMLResponse)
def users_list(staff: Admin, state: State, saved: str = "") -> Any:
    return _users_page(state, staff, {"1": "Saved."}.get(saved, ""))


@router.post("/users")
def users_add(
    staff: AdminPost,
    state: State,
    name: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Any:
    try:
        state.store.add_user(name, role, password, created_by=staff.user)
    except ChatbotError as exc:
        return _users_page(state, staff, error=f"Not added: {exc}.", status=400)
    audit(state, staff, "account_added", f"account:{name.strip()}", role=role)
    return RedirectResponse("/staff/users?saved=1", status_code=303)


@router.post("/users/{name}/role")
def users_role(name: str, staff: AdminPost, state: State, role: Annotated[str, Form()] = "") -> Any:
    try:
        state.store.set_role(name, role)
    except StoreError as exc:
        return _users_page(state, staff, error=f"Not changed: {exc}.", status=400)
    audit(state, staff, "account_role", f"account:{name}", role=role)
    return RedirectResponse("/staff/users?saved=1", status_code=303)


@router.post("/users/{name}/active")
def users_active(
    name: str, staff: AdminPost, state: State, active: Annotated[str, Form()] = ""
) -> Any:
    if name == staff.user and active != "1":
        return _users_page(
            state, staff, error="You cannot switch off your own account.", status=400
        )
    try:
        state.store.set_active(name, active == "1")
    except StoreError as exc:
        return _users_page(state, staff, error=f"Not changed: {exc}.", status=400)
    audit(state, staff, "account_on" if active == "1" else "account_off", f"account:{name}")
    return RedirectResponse("/staff/users?saved=1", status_code=303)
