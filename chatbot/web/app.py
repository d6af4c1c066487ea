"""The app factory: one FastAPI app with the HTTP API, the widget, the staff pages and the Gradio
chat at ``/``, behind the security middleware. ``build`` gets the bot from the pipeline's
composition root; nothing here answers questions itself."""

from __future__ import annotations

import os
from typing import Any

from chatbot.config import Settings
from chatbot.pipeline import Bot, build_bot
from chatbot.web.deps import AppContext

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def create_app(bot: Bot, store: Any = None) -> Any:
    """The ASGI app serving every route of CONTRACT.md for ``bot``.

    Args:
        bot: The bot that answers.
        store: The review store for the staff pages and feedback (default: the bot's own).
    """
    import gradio as gr
    from fastapi import FastAPI

    from chatbot.web import chat, middleware
    from chatbot.web.routers import api, articles, embed, staff

    ctx = AppContext(bot=bot, settings=bot.settings, given_store=store)
    # FastAPI's own /docs and /redoc load Swagger/ReDoc from a CDN; api.py serves local docs.
    app = FastAPI(title="Restless Legs chatbot API", version="1", docs_url=None, redoc_url=None)
    app.state.ctx = ctx
    middleware.install(
        app, ctx.settings
    )  # framing policy, CORS, closed routes, body and rate limits
    api.install(app)
    embed.install(app, ctx)
    staff.register(app, ctx)
    articles.install(app)
    return gr.mount_gradio_app(
        app, chat.create_chat(bot, ctx.store), path="/", **chat.mount_options()
    )


def build(settings: Settings) -> Any:
    """Load (building on first run) the index and return the app, tuned for many patients."""
    return create_app(build_bot(settings, rebuild=True, serving=True))


def serve(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    app = build(settings)
    print(f"Serving on http://{host}:{port}/", flush=True)
    # uvicorn's own proxy handling would believe X-Forwarded-For from 127.0.0.1 whatever the
    # settings say; ClientAddressMiddleware reads it, from CHATBOT_TRUSTED_PROXIES only.
    uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=False)
