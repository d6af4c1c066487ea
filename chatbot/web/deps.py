"""What the routers share, as FastAPI dependencies: the app's context (bot, settings, store)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from chatbot.config import Settings
from chatbot.pipeline import Bot


@dataclass
class AppContext:
    """The bot, its settings and the review store (or None), shared by every router."""

    bot: Bot
    settings: Settings
    given_store: Any = None

    @property
    def store(self) -> Any:
        """The review store itself (staff pages, feedback); None while it cannot be opened."""
        if self.given_store is not None:
            return self.given_store
        return self.bot.store


async def get_ctx(request: Request) -> AppContext:
    """The context ``create_app`` put on the app (``Depends(get_ctx)``). A coroutine, so
    FastAPI runs it on the event loop: a plain function would cost every request a round trip
    through the thread pool."""
    ctx: AppContext = request.app.state.ctx
    return ctx


Ctx = Annotated[AppContext, Depends(get_ctx)]  # a route's parameter ``ctx: Ctx``
