"""The HTTP API of CONTRACT.md: /api/ask, /api/feedback, /healthz."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from chatbot.bot import Turn
from chatbot.errors import BadInputError


class HistoryItem(BaseModel):
    role: Literal["user", "assistant"]
    content: str


class AskRequest(BaseModel):
    question: str = Field(..., description="the patient's message")
    history: list[HistoryItem] = Field(default_factory=list)
    conversation: str | None = Field(None, description="an id grouping one conversation's turns")


class FeedbackRequest(BaseModel):
    id: str = Field(..., description="the answer id")
    rating: Literal["up", "down"]
    comment: str = Field("", max_length=2000)


def register(app: Any, ctx: Any) -> None:
    from fastapi.responses import JSONResponse

    bot = ctx.bot

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {
            "status": "ok",
            "articles": len(bot.index.articles),
            "chunks": len(bot.index.chunks),
            "index": bot.index.hash,
        }

    @app.post("/api/ask")
    def ask(req: AskRequest) -> Any:
        try:
            answer = bot.ask(
                req.question,
                [Turn(h.role, h.content) for h in req.history],
                channel="api",
                conversation=req.conversation,
            )
        except BadInputError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return answer.to_dict()

    @app.post("/api/feedback")
    def feedback(req: FeedbackRequest) -> Any:
        if ctx.store is None:
            return JSONResponse({"error": "feedback is not stored on this server"}, status_code=503)
        if not ctx.store.record_feedback(req.id, req.rating, req.comment):
            return JSONResponse({"error": "unknown answer id"}, status_code=404)
        return {"status": "ok"}
