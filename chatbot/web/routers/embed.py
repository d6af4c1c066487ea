"""The website widget: ``/widget.js`` (the one script a clinic page loads) and ``/embed/``.

``/embed/`` is the compact chat page that the widget's panel frames. Which sites may frame it
is decided in security.py (``CHATBOT_ALLOWED_ORIGINS``). The small script added to its head
lets the panel and the framed page talk across origins: Escape pressed inside the chat closes
the panel, and opening the panel puts the cursor in the question box. Messages carry no data
(only a type: ready, close, focus).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chatbot.web.middleware import EMBED_PATH

WIDGET_JS = Path(__file__).resolve().parent.parent / "static" / "widget.js"

# Runs in the framed chat page. Only a parent window's "focus" is obeyed; "close" says nothing
# about the conversation, so it may be posted to whatever origin the parent has.
EMBED_HEAD = """<script>
(function () {
  if (window.parent === window || window.__clinicChatBridge) return;
  window.__clinicChatBridge = true;
  addEventListener("keydown", function (e) {
    if (e.key === "Escape") parent.postMessage({type: "clinic-chat:close"}, "*");
  }, true);
  addEventListener("message", function (e) {
    if (e.source !== parent || !e.data || e.data.type !== "clinic-chat:focus") return;
    var tries = 0;
    (function focusBox() {
      var box = document.querySelector("textarea");
      if (box) box.focus();
      else if (tries++ < 100) setTimeout(focusBox, 100);
    })();
  });
  // Gradio adds this script after the page's load event: say when it can take messages.
  parent.postMessage({type: "clinic-chat:ready"}, "*");
})();
</script>"""


def install(app: Any, ctx: Any) -> None:
    """Serve /widget.js and mount the compact chat at /embed (before the chat at /)."""
    import gradio as gr
    from fastapi.responses import Response

    from chatbot.web import chat

    script = WIDGET_JS.read_bytes()

    @app.get("/widget.js", include_in_schema=False)
    def widget_js() -> Response:
        return Response(
            script,
            media_type="text/javascript; charset=utf-8",
            # Short: a clinic sees a new version within minutes; long enough to spare requests.
            headers={"Cache-Control": "public, max-age=600"},
        )

    # The chat page's own theme and styles (chat.py), plus the bridge to the widget's panel.
    options = chat.mount_options(compact=True)
    options["head"] = (options.get("head") or "") + EMBED_HEAD
    gr.mount_gradio_app(
        app, chat.create_chat(ctx.bot, ctx.store, compact=True), path=EMBED_PATH, **options
    )
