"""One FastAPI app: HTTP API, widget, staff page and /healthz, with the Gradio chat at ``/``.

Each front end lives in its own module with a ``register(app, ctx)`` function; this file only
puts them together in order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from chatbot.bot import Bot
from chatbot.config import Settings

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


@dataclass
class AppContext:
    """What the web modules share: the bot, its settings and the review store (or None)."""

    bot: Bot
    settings: Settings
    given_store: Any = None

    @property
    def store(self) -> Any:
        """The review store itself (staff pages, feedback); None while it cannot be opened."""
        if self.given_store is not None:
            return self.given_store
        log = self.bot.log
        return getattr(log, "store", log)


def create_app(bot: Bot, store: Any = None) -> Any:
    """The ASGI app serving every route of CONTRACT.md for ``bot``."""
    import gradio as gr
    from fastapi import FastAPI

    from chatbot.web import api, chat, security

    ctx = AppContext(bot=bot, settings=bot.settings, given_store=store)
    # FastAPI's own /docs and /redoc load Swagger/ReDoc from a CDN; api.py serves local docs.
    app = FastAPI(title="Restless Legs chatbot API", version="1", docs_url=None, redoc_url=None)
    security.install(app, ctx.settings)  # framing policy, CORS, body and rate limits
    api.register(app, ctx)
    for name in ("widget", "staff"):
        module = _optional(name)
        if module is not None:
            module.register(app, ctx)
    return gr.mount_gradio_app(
        app, chat.create_chat(bot, ctx.store), path="/", **chat.mount_options()
    )


def _optional(name: str) -> Any:
    import importlib

    try:
        return importlib.import_module(f"chatbot.web.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"chatbot.web.{name}":
            raise
        return None


def build(settings: Settings) -> Any:
    """Load (building on first run) the index and return the app."""
    from chatbot.cli import load_bot
    from chatbot.perf import tune_for_serving

    bot = load_bot(settings, rebuild=True)
    # Many patients at once share the model through one micro-batching worker (chatbot/perf.py).
    tune_for_serving(bot, settings.query_cache_size)
    return create_app(bot)


def serve(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    app = build(settings)
    print(f"Serving on http://{host}:{port}/", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
