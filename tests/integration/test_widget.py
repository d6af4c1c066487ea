"""The widget's files in process: /widget.js, the /embed page and the example clinic page."""

from __future__ import annotations

import json
import re

from helpers import ROOT

from chatbot.web.routers.embed import MARK, WIDGET_JS, widget_config

BUDGET_GZIP = 10_000  # bytes a clinic page loads before the chat is opened (issue 16)


def _code(js: str) -> str:
    """The script without its comments (the header names an example host)."""
    return re.sub(r"/\*.*?\*/", "", js, flags=re.S)


def _config(js: str) -> dict:
    return json.loads(js.split(MARK)[1])


def test_widget_js_is_served_gzipped_small_and_cacheable(client):
    r = client.get("/widget.js", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    assert "max-age" in r.headers["cache-control"]
    assert r.headers["content-encoding"] == "gzip" and "Accept-Encoding" in r.headers["vary"]
    wire = int(r.headers["content-length"])
    print(f"\nwidget.js: {len(r.content)} bytes, {wire} gzipped")
    assert wire <= BUDGET_GZIP
    # A client that takes no gzip gets the same script as is (httpx unpacks the other).
    plain = client.get("/widget.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == r.content


def test_widget_js_carries_the_bots_disclaimer_and_numbers(client):
    bot = client.app.state.ctx.bot
    config = _config(client.get("/widget.js").text)
    assert config == json.loads(json.dumps(widget_config(bot)))
    assert config["disclaimer"] == bot.disclaimer
    assert config["maxChars"] == bot.settings.safety.max_question_chars
    # The file on disk is the same script with a placeholder configuration.
    source = WIDGET_JS.read_text(encoding="utf-8")
    assert source.count(MARK) == 2
    served = client.get("/widget.js").text
    assert served.split(MARK)[0] == source.split(MARK)[0]
    assert served.split(MARK)[2] == source.split(MARK)[2]


def test_a_configured_number_reaches_the_widget_and_markup_cannot_break_out():
    from helpers import StandInBot, stand_in_answer

    from chatbot.web.routers.embed import widget_script

    bot = StandInBot(stand_in_answer())
    bot.emergency_number, bot.crisis_line = "112 or 999", "Samaritans on 116 123"
    bot.disclaimer = "Not a clinician </script><script>alert(1)</script>"
    js = widget_script(bot).decode()
    config = _config(js)
    assert [c["tel"] for c in config["emergency"]] == ["112", "999"]
    assert [c["tel"] for c in config["suicide"]] == ["112", "999", "116123"]
    assert "</script>" not in js.split(MARK)[1] and config["disclaimer"] == bot.disclaimer


def test_widget_js_names_no_other_host_and_shows_text_only(client):
    code = _code(client.get("/widget.js").text)
    # Its only requests are to the chat server, built from the script's own URL.
    assert not re.search(r"https?://", code)
    for api in ("XMLHttpRequest", "import(", "sendBeacon", "WebSocket", "eval(", "cookie"):
        assert api not in code, api
    assert "localStorage" not in code  # the conversation lasts the visit (sessionStorage)
    assert re.findall(r"fetch\(([^,]+),", code) == ["app + path"]
    assert 'credentials: "omit"' in code
    # Options and answers are shown as text, never parsed as HTML.
    assert "innerHTML" not in code and "insertAdjacentHTML" not in code
    assert "textContent = attrs[k]" in code


def test_the_api_logs_widget_questions_as_such(tmp_path, real_settings, real_embedder, real_bot):
    from fastapi.testclient import TestClient

    from chatbot.pipeline import Bot
    from chatbot.review.store import Store
    from chatbot.web.app import create_app

    store = Store(tmp_path / "s.sqlite3")
    bot = Bot(real_settings, real_bot.index, real_embedder, log=store)
    with TestClient(create_app(bot, store)) as c:
        ids = {}
        for channel in ("widget", None):
            body = {"question": "Can iron help?", "conversation": "visit-1"}
            if channel:
                body["channel"] = channel
            ids[channel] = c.post("/api/ask", json=body).json()["id"]
        bad = c.post("/api/ask", json={"question": "Can iron help?", "channel": "staff"})
    assert store.get_answer(ids["widget"])["channel"] == "widget"
    assert store.get_answer(ids[None])["channel"] == "api"
    assert bad.status_code == 422  # only the two channels a browser may claim


def test_embed_page_is_the_compact_chat(client):
    r = client.get("/embed/")
    assert r.status_code == 200 and "<html" in r.text.lower()
    config = client.get("/embed/config").json()
    assert config.get("analytics_enabled") is False


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
