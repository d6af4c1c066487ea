"""The app factory: one FastAPI app with the HTTP API, the widget, the staff pages and the Gradio
chat at ``/``, behind the security middleware. ``build`` gets the bot from the pipeline's
composition root; nothing here answers questions itself.

``serve`` runs it in one process, or with ``CHATBOT_WORKERS=N`` in N uvicorn worker processes
on one port: each worker calls the CLI's ``worker_app`` (the factory uvicorn imports), which
reads the settings from the environment and builds its own bot through ``build_bot``.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from chatbot.config import Settings
from chatbot.pipeline import Bot, build_bot
from chatbot.web import heap
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
    # FastAPI's built-in OpenTelemetry stays off whatever the environment says: a host that sets
    # FASTAPI_OTEL_AUTO_CONFIGURE or installs a global provider would otherwise export every
    # request's spans, logs and metrics (patients' requests) to a collector we never chose.
    no_telemetry = {"tracing": False, "metrics": False, "logs": False, "auto_configure": False}
    app = FastAPI(
        title="Restless Legs chatbot API",
        version="1",
        docs_url=None,
        redoc_url=None,
        telemetry=no_telemetry,  # type: ignore[arg-type]
    )
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


@contextlib.contextmanager
def _index_lock(index_dir: Path) -> Iterator[None]:
    """One process at a time checks (and, when stale, builds) the index and sets up the app:
    workers that start together would otherwise each build it. A lock file beside the index
    (``flock``, released when the process exits, even by a crash)."""
    import fcntl

    index_dir.parent.mkdir(parents=True, exist_ok=True)
    with (index_dir.parent / f".{index_dir.name}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build(settings: Settings) -> Any:
    """Load (building on first run) the index and return the app, tuned for many patients."""
    # The app too: what a first start writes into the data folder (the staff session secret,
    # the ONNX export) is then written by the first worker and read by the others.
    with _index_lock(Path(settings.paths.index_dir)):
        app = create_app(build_bot(settings, rebuild=True, serving=True))
    heap.settle()  # what is built now lives as long as the process: out of the collector's way
    return app


def serve(
    settings: Settings, host: str, port: int, factory: str = "chatbot.cli.ask:worker_app"
) -> None:
    """Serve on ``host:port``: in this process, or in ``settings.web.workers`` processes that
    each call ``factory`` (an import string; the CLI's reads the settings from the environment,
    which the workers inherit, and calls ``build``)."""
    import uvicorn

    workers = settings.web.workers
    if workers == 1:
        app = build(settings)
        print(f"Serving on http://{host}:{port}/", flush=True)
        # uvicorn's own proxy handling would believe X-Forwarded-For from 127.0.0.1 whatever the
        # settings say; ClientAddressMiddleware reads it, from CHATBOT_TRUSTED_PROXIES only.
        uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=False)
        return
    # Each worker is a fresh interpreter that imports the factory and builds its own bot; the
    # parent only holds the socket and restarts a worker that dies (what uvicorn.run does with
    # workers > 1, with our own listening socket: see _listen).
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(
        factory,
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level="warning",
        proxy_headers=False,
    )
    sock = _listen(host, port)
    print(f"Serving on http://{host}:{port}/ with {workers} workers", flush=True)
    try:
        Multiprocess(config, sockets=[sock]).run()
    finally:
        sock.close()


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket the workers share, made as TCP explicitly. uvicorn's own
    (``Config.bind_socket``) has protocol 0, so asyncio does not set TCP_NODELAY on the
    connections it accepts, and Nagle's algorithm holding a response's last bytes for the
    client's delayed ACK added ~40 ms to every answer on a keep-alive connection (measured:
    one client p50 60 ms with two workers against 24 ms with one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock
