"""The widget's files in process: /widget.js, the /embed page and the example clinic page."""

from __future__ import annotations

import re

from helpers import ROOT


def _code(js: str) -> str:
    """The script without its comments (the header names an example host)."""
    return re.sub(r"/\*.*?\*/", "", js, flags=re.S)


def test_widget_js_is_served_small_and_cacheable(client):
    r = client.get("/widget.js")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    assert "max-age" in r.headers["cache-control"]
    assert len(r.content) < 8_000
    assert r.content == (ROOT / "chatbot" / "web" / "static" / "widget.js").read_bytes()


def test_widget_js_fetches_nothing_and_names_no_other_host(client):
    code = _code(client.get("/widget.js").text)
    # Its only request is the panel's iframe, built from the script's own URL.
    assert not re.search(r"https?://", code)
    for api in (
        "fetch(",
        "XMLHttpRequest",
        "import(",
        "sendBeacon",
        "WebSocket",
        "eval(",
        "cookie",
    ):
        assert api not in code, api
    assert "localStorage" not in code and "sessionStorage" not in code
    # Options are shown as text, never parsed as HTML.
    assert "textContent = d." in code and "innerHTML = d." not in code
    # Messages from the frame are trusted only from the chat's own origin.
    assert "e.origin !== origin" in code and "e.source !== frame.contentWindow" in code


def test_embed_page_is_the_compact_chat_with_the_panel_bridge(client):
    r = client.get("/embed/")
    assert r.status_code == 200 and "<html" in r.text.lower()
    config = client.get("/embed/config").json()
    assert "clinic-chat:close" in config["head"] and "clinic-chat:ready" in config["head"]
    assert config.get("analytics_enabled") is False
    # The full chat at / is not changed by the widget's mount.
    assert "clinic-chat:close" not in client.get("/config").json().get("head", "")


def test_example_page_has_the_one_tag_snippet():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "serve_clinic", ROOT / "examples" / "serve_clinic.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    html = module.clinic_page(
        "https://chat.clinic.example", greeting='"><script>x</script>'
    ).decode()
    tags = re.findall(r"<script[^>]*>", html)
    assert len(tags) == 1 and 'src="https://chat.clinic.example/widget.js"' in tags[0]
    # An attribute value cannot break out of the tag.
    assert "<script>x" not in html
