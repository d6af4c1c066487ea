"""One FastAPI app: the HTTP API and /healthz, with the Gradio chat mounted at ``/``."""

from __future__ import annotations

import os
from typing import Any

from chatbot.bot import Bot, Turn
from chatbot.config import Settings
from chatbot.errors import BadInputError

from pydantic import BaseModel, Field

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


class HistoryItem(BaseModel):
    role: str
    content: str


class AskRequest(BaseModel):
    question: str = Field(..., description="the patient's message")
    history: list[HistoryItem] = Field(default_factory=list)


def create_app(bot: Bot) -> Any:
    """The ASGI app serving every route of CONTRACT.md for ``bot``."""
    import gradio as gr
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    from chatbot.web.chat import create_chat

    app = FastAPI(title="Restless Legs chatbot API", version="1")

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
            answer = bot.ask(req.question, [Turn(h.role, h.content) for h in req.history])
        except BadInputError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return answer.to_dict()

    return gr.mount_gradio_app(app, create_chat(bot), path="/")


def build(settings: Settings) -> Any:
    """Load (building on first run) the index and return the app."""
    from chatbot.cli import load_bot

    return create_app(load_bot(settings, rebuild=True))


def serve(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    app = build(settings)
    print(f"Serving on http://{host}:{port}/", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
