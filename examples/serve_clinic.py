"""Serve examples/clinic.html as a clinic's own website on another origin.

    CHATBOT_ALLOWED_ORIGINS='["http://127.0.0.1:8000"]' python -m chatbot serve   # the chat
    python examples/serve_clinic.py --port 8000 --app http://127.0.0.1:7860    # the clinic

then open http://127.0.0.1:8000/ and press the chat button. The page's script tag points to the
app given by ``--app`` (the file itself says http://127.0.0.1:7860).
"""

from __future__ import annotations

import argparse
import threading
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PAGE = Path(__file__).resolve().parent / "clinic.html"
DEFAULT_APP = "http://127.0.0.1:7860"


def clinic_page(app_url: str = DEFAULT_APP, **attributes: str) -> bytes:
    """The example page with its widget tag pointing at ``app_url`` (plus extra data-attributes)."""
    html = PAGE.read_text(encoding="utf-8").replace(DEFAULT_APP, app_url.rstrip("/"))
    if attributes:
        extra = "".join(
            f' data-{k.replace("_", "-")}="{escape(v, quote=True)}"' for k, v in attributes.items()
        )
        html = html.replace('/widget.js" defer', f'/widget.js" defer{extra}', 1)
    return html.encode("utf-8")


def make_server(app_url: str, port: int = 0, host: str = "127.0.0.1", **attributes: str):
    """A started ThreadingHTTPServer serving the page at every path; ``.shutdown()`` stops it."""
    body = clinic_page(app_url, **attributes)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--app", default=DEFAULT_APP, help="the chat app's URL")
    args = parser.parse_args()
    server = make_server(args.app, args.port)
    print(f"Clinic page on http://127.0.0.1:{server.server_address[1]}/ (chat from {args.app})")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()


if __name__ == "__main__":
    main()
