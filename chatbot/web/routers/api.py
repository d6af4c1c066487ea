"""The HTTP API of CONTRACT.md: /api/ask, /api/feedback, /healthz, and its docs at /docs.

Every error is JSON ``{"error": "<what is wrong and what to do>"}`` with a fitting status code;
a client never sees a traceback. The docs page is Swagger UI served from this app (the
``swagger-ui-bundle-v2`` package), never from a CDN: FastAPI's own /docs loads its script, style
and icon from other hosts, so server.py switches it off.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from chatbot import messages
from chatbot.errors import BadInputError
from chatbot.safety.emergency import overlong_emergency
from chatbot.safety.hygiene import OVERLONG_FACTOR
from chatbot.types import Turn
from chatbot.web import heap
from chatbot.web.deps import Ctx

log = logging.getLogger(__name__)

API_DESCRIPTION = (
    "Answers questions on Restless Legs Syndrome **only from the clinic's articles**, with "
    "cited passages (`quote` is the article's exact text at `start:end`) and a medical "
    "disclaimer on every answer. Not a clinician: in an emergency, call your local emergency "
    'number. Errors are JSON `{"error": "..."}`; `429` carries `Retry-After`.'
)
MAX_HISTORY = 50  # turns; only the last few matter for a follow-up, the rest is logged
MAX_TURN_CHARS = 20_000  # an earlier bot answer with its sources can be long


class HistoryItem(BaseModel):
    role: Literal["user", "assistant"]
    content: str = Field(..., max_length=MAX_TURN_CHARS)


class AskRequest(BaseModel):
    question: str = Field(
        ...,
        description="the patient's message (at most CHATBOT_MAX_QUESTION_CHARS characters)",
        examples=["Why are my legs worse at night?"],
    )
    history: list[HistoryItem] = Field(
        default_factory=list,
        max_length=MAX_HISTORY,
        description="earlier turns of the conversation, oldest first",
    )
    conversation: str | None = Field(
        None, max_length=200, description="an id grouping one conversation's turns"
    )
    channel: Literal["api", "widget"] = Field(
        "api", description='where it was asked, for the review log ("widget": the website widget)'
    )


class FeedbackRequest(BaseModel):
    id: str = Field(..., max_length=200, description="the answer id")
    rating: Literal["up", "down"]
    comment: str = Field("", max_length=2000)


class Citation(BaseModel):
    id: int
    article: str
    title: str
    quote: str
    start: int
    end: int
    score: float
    date: str = ""
    caution: str = Field(
        "",
        description="Shown beside the quote when it holds a claim the clinic's staff listed as"
        " dubious (their reason); empty otherwise.",
    )


class AnswerOut(BaseModel):
    """The answer object of CONTRACT.md (further fields may be present)."""

    status: Literal["answered", "no_answer", "emergency"]
    answer: str
    citations: list[Citation]
    disclaimer: str
    id: str


class ErrorOut(BaseModel):
    error: str


class Health(BaseModel):
    status: Literal["ok"]
    articles: int
    chunks: int
    index: str
    store: Literal["ok", "failing", "none"] = Field(
        "none", description="the review store: ok, failing (answers are given but not logged)"
    )
    store_failures: int = 0
    store_error: str | None = None
    worker: int = Field(
        0, description="the id of the server process that answered (CHATBOT_WORKERS > 1)"
    )
    query_embedding: dict[str, Any] | None = Field(
        None,
        description="this process's query embedder when serving: cache hits and misses, model "
        "calls, and how many calls embedded how many texts at once (batch_sizes)",
    )
    limits: Literal["ok", "failing"] = Field(
        "ok",
        description="the store of the rate limit and the sign-in brake (CHATBOT_LIMITS_URL): "
        "failing means patients are answered but each process counts on its own",
    )
    limits_store: Literal["memory", "redis"] = "memory"
    limits_failures: int = Field(0, description="counts made without the shared store")
    limits_error: str | None = None
    heap: dict[str, Any] | None = Field(
        None,
        description="this process's garbage collector: objects frozen out of its way when the "
        "app was built (web/heap.py), its thresholds, and its collections so far by generation",
    )


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {
        400: "bad input (empty, not text, malformed JSON)",
        404: "unknown answer id",
        413: "question or body too large",
        422: "the JSON does not have the expected fields",
        429: "rate limited; see the Retry-After header",
        500: "unexpected error",
        503: "feedback is not stored on this server",
    }
    return {c: {"model": ErrorOut, "description": text[c]} for c in codes}


router = APIRouter(tags=["api"])


@router.get("/healthz", response_model=Health, summary="Health and index in use")
def healthz(ctx: Ctx, request: Request) -> dict[str, Any]:
    """Liveness, the index in use (its manifest hash changes when the index is rebuilt), the
    review store's state ("failing": patients are answered but nothing is logged) and the
    limits store's ("failing": patients are answered, each process counting on its own)."""
    bot = ctx.bot
    limits = getattr(request.app.state, "limits", None)
    return {
        "status": "ok",
        "articles": len(bot.index.articles),
        "chunks": len(bot.index.chunks),
        "index": bot.index.hash,
        "worker": os.getpid(),
        "query_embedding": bot.embedder.stats() if hasattr(bot.embedder, "stats") else None,
        **(bot.log.health() if bot.log is not None else {"store": "none"}),
        **(limits.health() if limits is not None else {}),
        "heap": heap.health(),
    }


@router.post(
    "/api/ask",
    summary="Answer a question from the clinic's articles",
    response_model=AnswerOut,
    responses=_errors(400, 413, 422, 429, 500),
)
def ask(req: AskRequest, ctx: Ctx) -> Any:
    """Answer one question from the clinic's articles, with cited passages and the disclaimer.

    `status` is `answered`, `no_answer` (the articles don't cover it, or it asks for
    personal advice) or `emergency` (call emergency services first). Every `[n]` in
    `answer` has a citation whose `quote` is the article's exact text at `start:end`.
    """
    max_chars = ctx.settings.safety.max_question_chars
    # Measured as the bot measures it (whitespace runs count once), so 413 and the
    # bot's own check agree.
    length = len(" ".join(req.question.split()))
    question = req.question
    if length > max_chars:
        # Too long to answer is not too long to be an emergency: the bot gives that reply.
        question = readable_part(req.question, max_chars)
        if overlong_emergency(question, max_chars) is None:
            number = getattr(ctx.bot, "emergency_number", "")
            return JSONResponse(
                {
                    "error": f"the question is too long ({length} characters; at most "
                    f"{max_chars}); please ask it in a few sentences. "
                    + messages.urgent_help(number)
                },
                status_code=413,
            )
    try:
        answer = ctx.bot.ask(
            question,
            [Turn(h.role, h.content) for h in req.history],
            channel=req.channel,
            conversation=req.conversation,
        )
    except BadInputError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    # The full answer object (reason, timings, dates...), not only the documented subset.
    return AnswerResponse(answer.fields_dict())


class AnswerResponse(JSONResponse):
    """An answer as JSON, encoded by orjson: the bytes of ``JSONResponse(answer.to_dict())``
    (compact, UTF-8, the same keys in the same order, floats written the way Python reads them
    back the same) for ~5 us of CPU instead of ~65 (``to_dict``'s copies and the json module).
    A float subclass (numpy's float64) is written as its float, as the json module does."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=_plain_float)


def _plain_float(value: Any) -> float:
    if isinstance(value, float):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def readable_part(message: str, max_chars: int) -> str:
    """What of an over-long message is read for an emergency: all of it up to
    ``OVERLONG_FACTOR`` times the limit, else its start and its end (where a patient who pastes
    a long story says what is happening now)."""
    most = max_chars * OVERLONG_FACTOR
    if len(message) <= most:
        return message
    half = most // 2 - 1
    return f"{message[:half]}\n{message[-half:]}"


@router.post("/api/feedback", summary="Rate an answer", responses=_errors(404, 413, 422, 429, 503))
def feedback(req: FeedbackRequest, ctx: Ctx) -> Any:
    """Record a patient's thumbs up or down (and an optional comment) for one answer."""
    if ctx.store is None:
        return JSONResponse({"error": "feedback is not stored on this server"}, status_code=503)
    try:
        known = ctx.store.record_feedback(req.id, req.rating, req.comment)
    except Exception:  # a full disk or a locked store: say so, never a traceback
        log.exception("feedback could not be stored")
        return JSONResponse(
            {"error": "your feedback could not be saved just now; please try again later"},
            status_code=503,
        )
    if not known:
        return JSONResponse({"error": "unknown answer id"}, status_code=404)
    return {"status": "ok"}


@router.api_route(
    "/api/{rest:path}",
    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
)
def unknown(rest: str) -> Any:
    # Without this the chat mounted at / would answer with its own 404 page.
    if rest in ("ask", "feedback"):
        return JSONResponse(
            {"error": f"use POST for /api/{rest}"}, status_code=405, headers={"Allow": "POST"}
        )
    return JSONResponse({"error": f"no such API route: /api/{rest} (see /docs)"}, status_code=404)


def install(app: Any) -> None:
    """Add the API routes, the JSON error handlers and the local docs page to ``app``."""
    _install_error_handlers(app)
    # FastAPI builds the schema on its first request, so this text reaches /docs.
    app.description = API_DESCRIPTION
    app.include_router(router)
    _register_docs(app)


def _install_error_handlers(app: Any) -> None:
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Any, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return JSONResponse(
                {
                    "error": "the request body is not valid JSON; send "
                    '{"question": "..."} with Content-Type: application/json'
                },
                status_code=400,
            )
        if any(e.get("loc") == ("body",) and e.get("type") == "missing" for e in errors):
            return JSONResponse(
                {"error": 'the request needs a JSON body, e.g. {"question": "..."}'},
                status_code=400,
            )
        if any(e.get("loc") == ("body",) for e in errors):
            ctype = request.headers.get("content-type", "")
            hint = "" if "json" in ctype else " with Content-Type: application/json"
            return JSONResponse(
                {"error": 'the body must be a JSON object like {"question": "..."}' + hint},
                status_code=422,
            )
        parts = []
        for e in errors[:5]:
            where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
            parts.append(f"{where}: {e.get('msg', 'invalid')}")
        return JSONResponse({"error": "; ".join(parts)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Any, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and "parsing the body" in str(exc.detail):
            # FastAPI's words for a body that is not even text (binary, a broken encoding).
            return JSONResponse(
                {"error": "the request body could not be read as JSON text (UTF-8)"},
                status_code=400,
            )
        return JSONResponse(
            {"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Any, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse(
            {"error": "something went wrong on our side; please try again later"},
            status_code=500,
        )


def _register_docs(app: Any) -> None:
    """Swagger UI at /docs from local files (the swagger-ui-bundle-v2 package)."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import FileResponse, JSONResponse

    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:  # the docs are optional; the JSON schema is always there
        swagger_ui_path = None

    files = {"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"}

    @app.get("/docs", include_in_schema=False)
    def docs() -> Any:
        if swagger_ui_path is None:
            return JSONResponse(
                {"error": "the docs page needs swagger-ui-bundle-v2; the schema is /openapi.json"},
                status_code=404,
            )
        return get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title=f"{app.title} – docs",
            swagger_js_url="/docs/static/swagger-ui-bundle.js",
            swagger_css_url="/docs/static/swagger-ui.css",
            swagger_favicon_url="/docs/static/favicon-32x32.png",
            # The validator badge would send the schema to a third-party service.
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get("/docs/static/{name}", include_in_schema=False)
    def docs_static(name: str) -> Any:
        if swagger_ui_path is None or name not in files:
            return JSONResponse({"error": "not found"}, status_code=404)
        return FileResponse(str(swagger_ui_path / name), headers={"Cache-Control": "max-age=86400"})
