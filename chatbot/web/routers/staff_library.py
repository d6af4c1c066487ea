"""The clinic's library in the staff area: add an article (upload or paste), preview how it
will be split and quoted, publish, edit its text and details, retire it, see its versions, and
re-index in the background. Editors and admins change articles; reviewers read them.

Everything is written through ``library.Library`` into ``corpus/`` (the same files the command
line writes). An upload is read into a draft (in the data folder) and shown as a preview; only
"Publish" changes the corpus. After a change the search index is rebuilt in the background.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse

from chatbot.errors import ChatbotError
from chatbot.library.articles import EDITABLE, Library, LibraryError
from chatbot.library.extract import MAX_FILE_BYTES, Extracted, ExtractionError, extract, from_pasted
from chatbot.library.preview import preview
from chatbot.types import Article
from chatbot.web.staff_base import (
    EditorPost,
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
DRAFT_HOURS = 24
SAVED = {
    "published": "Published. The search index is being rebuilt in the background.",
    "edited": "Saved as a new version. The search index is being rebuilt in the background.",
    "retired": "Retired. The search index is being rebuilt in the background.",
    "reindex": "Re-indexing started.",
    "running": "A re-index is already running.",
}


def _library(state: StaffState) -> Library:
    return Library(Path(state.ctx.settings.paths.corpus_dir))


def _drafts(state: StaffState) -> Path:
    return Path(state.ctx.settings.paths.data_dir) / "drafts"


def _reindex(state: StaffState, staff: Staff) -> bool:
    started = bool(state.reindexer.start(staff.user))
    if started:
        audit(state, staff, "reindex_started", "index")
    return started


def _articles_page(state: StaffState, staff: Staff, saved: str = "", status: int = 200) -> Any:
    library = _library(state)
    problem = ""
    try:
        articles, retired = library.articles(), library.retired()
    except ChatbotError as exc:  # a file edited by hand went wrong: say so, keep the page
        articles, retired, problem = [], [], str(exc)
    return render(
        "articles.html",
        staff,
        status,
        problem=problem,
        articles=articles,
        retired=retired,
        job=state.reindexer.status(),
        saved=SAVED.get(saved, ""),
        max_mb=MAX_FILE_BYTES // 1048576,
        today=date.today().isoformat(),
    )


@router.get("/articles", response_class=HTMLResponse)
def articles_list(staff: Viewer, state: State, saved: str = "") -> Any:
    return _articles_page(state, staff, saved)


# -- adding: read, preview, publish ----------------------------------------------------------


def _save_draft(state: StaffState, found: Extracted, source: str) -> str:
    folder = _drafts(state)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.json"):  # drafts nobody published go after a day
        if time.time() - old.stat().st_mtime > DRAFT_HOURS * 3600:
            old.unlink(missing_ok=True)
    token = secrets.token_urlsafe(16)
    data = {**asdict(found), "source": source}
    (folder / f"{token}.json").write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    return token


def _load_draft(state: StaffState, token: str) -> dict[str, Any] | None:
    if not token or not token.replace("-", "").replace("_", "").isalnum() or len(token) > 40:
        return None
    path = _drafts(state) / f"{token}.json"
    try:
        return dict(json.loads(path.read_text("utf-8")))
    except (OSError, ValueError):
        return None


def _preview_page(
    state: StaffState,
    staff: Staff,
    token: str,
    draft: dict[str, Any],
    meta: dict[str, str],
    error: str = "",
    status: int = 200,
) -> Any:
    c = state.ctx.settings.chunking
    art = Article("draft", meta.get("title") or "draft", "", "", "", "", draft["body"])
    return render(
        "article_preview.html",
        staff,
        status,
        pv=preview(art, c.chunk_tokens, c.overlap_tokens),
        draft=token,
        meta={k: meta.get(k, "") for k in EDITABLE},
        source=draft.get("source", "the text"),
        kind=draft.get("kind", "text"),
        note=draft.get("note", ""),
        error=error,
    )


@router.post("/articles/new", response_class=HTMLResponse)
async def articles_new(
    staff: EditorPost,
    state: State,
    file: UploadFile | None = None,
    text: Annotated[str, Form()] = "",
) -> Any:
    try:
        if file is not None and file.filename:
            data = await file.read(MAX_FILE_BYTES + 1)
            found = extract(data, file.filename)
            source = file.filename
        elif text.strip():
            found, source = from_pasted(text), "pasted text"
        else:
            raise ExtractionError("choose a file or paste the article's text")
    except ExtractionError as exc:
        audit(state, staff, "article_refused", "upload", reason=str(exc)[:200])
        return message(
            "Not added", f"{exc}. Nothing was changed.", staff, 400, "/staff/articles#add"
        )
    token = _save_draft(state, found, source)
    meta = {k: getattr(found, k, "") for k in EDITABLE}
    return _preview_page(state, staff, token, asdict(found) | {"source": source}, meta)


@router.post("/articles/publish")
async def articles_publish(request: Request, staff: EditorPost, state: State) -> Any:
    form = await request.form()
    token = str(form.get("draft", ""))
    draft = _load_draft(state, token)
    if draft is None:
        return message(
            "Draft gone",
            "This draft expired or was published already; add the article again.",
            staff,
            404,
            "/staff/articles#add",
        )
    meta = {k: str(form.get(k, "")) for k in EDITABLE}
    found = Extracted(body=draft["body"], kind=draft.get("kind", "text"))
    try:
        article = _library(state).add(
            found, staff.user, source_file=draft.get("source", ""), **meta
        )
    except (LibraryError, ChatbotError) as exc:
        return _preview_page(state, staff, token, draft, meta, f"Not published: {exc}.", 400)
    (_drafts(state) / f"{token}.json").unlink(missing_ok=True)
    audit(
        state,
        staff,
        "article_added",
        f"article:{article.id}",
        title=article.title,
        source=draft.get("source", ""),
    )
    _reindex(state, staff)
    return RedirectResponse(f"/staff/articles/{article.id}?saved=published", status_code=303)


# -- one article ------------------------------------------------------------------------------


def _article_page(
    state: StaffState,
    staff: Staff,
    article_id: str,
    saved: str = "",
    error: str = "",
    status: int = 200,
) -> Any:
    library = _library(state)
    found = library.get_any(article_id)
    if found is None:
        return message(
            "Not found", f"There is no article {article_id!r}.", staff, 404, "/staff/articles"
        )
    return render(
        "article.html",
        staff,
        status,
        a=found[0],
        in_service=found[1],
        history=library.history(article_id),
        audit=state.store.audit(target=f"article:{article_id}", limit=100),
        saved=SAVED.get(saved, ""),
        error=error,
    )


@router.get("/articles/{article_id}", response_class=HTMLResponse)
def article_show(article_id: str, staff: Viewer, state: State, saved: str = "") -> Any:
    return _article_page(state, staff, article_id, saved)


@router.get("/articles/{article_id}/versions/{number}", response_class=HTMLResponse)
def article_version(article_id: str, number: str, staff: Viewer, state: State) -> Any:
    n = int_param(number, "the version", 1, 1_000_000)
    art = _library(state).version(article_id, n)
    if art is None:
        return message(
            "Not found",
            f"{article_id} has no version {n}.",
            staff,
            404,
            f"/staff/articles/{article_id}",
        )
    return render("article_version.html", staff, a=art)


def _edited(state: StaffState, staff: Staff, article_id: str, **change: Any) -> Any:
    try:
        art = _library(state).edit(article_id, staff.user, **change)
    except (LibraryError, ChatbotError) as exc:
        return _article_page(state, staff, article_id, error=f"Not saved: {exc}.", status=400)
    audit(
        state,
        staff,
        "article_edited",
        f"article:{article_id}",
        version=art.version,
        what="text" if "body" in change else "details",
    )
    _reindex(state, staff)
    return RedirectResponse(f"/staff/articles/{article_id}?saved=edited", status_code=303)


@router.post("/articles/{article_id}/meta")
async def article_meta(article_id: str, request: Request, staff: EditorPost, state: State) -> Any:
    form = await request.form()
    return _edited(state, staff, article_id, **{k: str(form.get(k, "")) for k in EDITABLE})


@router.post("/articles/{article_id}/text")
def article_text(
    article_id: str, staff: EditorPost, state: State, body: Annotated[str, Form()] = ""
) -> Any:
    return _edited(state, staff, article_id, body=body)


@router.post("/articles/{article_id}/retire")
def article_retire(article_id: str, staff: EditorPost, state: State) -> Any:
    try:
        art = _library(state).retire(article_id, staff.user)
    except (LibraryError, ChatbotError) as exc:
        return _article_page(state, staff, article_id, error=f"Not retired: {exc}.", status=400)
    audit(state, staff, "article_retired", f"article:{article_id}", version=art.version)
    _reindex(state, staff)
    return RedirectResponse("/staff/articles?saved=retired", status_code=303)


# -- re-indexing ------------------------------------------------------------------------------


@router.post("/reindex")
def reindex(staff: EditorPost, state: State) -> Any:
    started = _reindex(state, staff)
    return RedirectResponse(
        f"/staff/articles?saved={'reindex' if started else 'running'}#reindex", status_code=303
    )


@router.get("/reindex.json")
def reindex_status(staff: Viewer, state: State) -> Any:
    return asdict(state.reindexer.status())
