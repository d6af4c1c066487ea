"""The website widget: ``/widget.js`` (the one script a clinic page loads) and ``/embed/``.

``widget.js`` is a small native chat (static/widget.js) that talks to ``/api/ask`` from the
clinic's pages; which sites may call the API is decided in middleware.py
(``CHATBOT_ALLOWED_ORIGINS``). The server fills in what the widget must show before its first
question, so opening it costs no request: the disclaimer, the example questions, the question
length limit and the numbers to call for an emergency answer that carries none of its own. It is
sent gzipped to every browser that accepts it.

``/embed/`` stays for sites that prefer to frame the compact Gradio chat in an iframe of their own.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from chatbot import messages
from chatbot.web.middleware import EMBED_PATH
from chatbot.web.safety_view import fallback_contacts

WIDGET_JS = Path(__file__).resolve().parent.parent / "static" / "widget.js"
MARK = "/*CONFIG*/"


def widget_config(bot: Any) -> dict[str, Any]:
    """What the widget needs to know before it asks anything."""
    from chatbot.web.chat import EXAMPLES, PRIVACY

    number = getattr(bot, "emergency_number", "")
    crisis = getattr(bot, "crisis_line", "")
    return {
        "disclaimer": bot.disclaimer,
        "privacy": PRIVACY,
        "examples": list(EXAMPLES[:2]),
        "maxChars": bot.settings.safety.max_question_chars,
        "emergency": fallback_contacts(number, crisis, suicide=False),
        "suicide": fallback_contacts(number, crisis, suicide=True),
        "suicideReason": messages.SUICIDE_CATEGORY,
        "cautionMark": messages.CAUTION_MARK,
    }


def widget_script(bot: Any) -> bytes:
    """static/widget.js with ``bot``'s configuration in place of its placeholder."""
    source = WIDGET_JS.read_text(encoding="utf-8")
    head, _, rest = source.partition(MARK)
    _, _, tail = rest.partition(MARK)
    # JSON is JavaScript; "<\/" keeps a "</script>" in a setting from meaning anything.
    config = json.dumps(widget_config(bot), ensure_ascii=True).replace("</", "<\\/")
    return (head + MARK + config + MARK + tail).encode("utf-8")


def install(app: Any, ctx: Any) -> None:
    """Serve /widget.js and mount the compact chat at /embed (before the chat at /)."""
    import gradio as gr

    from chatbot.web import chat

    script = widget_script(ctx.bot)
    packed = gzip.compress(script, compresslevel=9, mtime=0)

    @app.get("/widget.js", include_in_schema=False)
    def widget_js(request: Request) -> Response:
        headers = {
            # Short: a clinic sees a new version within minutes; long enough to spare requests.
            "Cache-Control": "public, max-age=600",
            "Vary": "Accept-Encoding",
        }
        body = script
        if "gzip" in request.headers.get("accept-encoding", "").lower():
            body = packed
            headers["Content-Encoding"] = "gzip"
        return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)

    gr.mount_gradio_app(
        app,
        chat.create_chat(ctx.bot, ctx.store, compact=True),
        path=EMBED_PATH,
        **chat.mount_options(compact=True),
    )
