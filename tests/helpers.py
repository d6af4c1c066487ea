"""What the tests share that is not a fixture: paths, a tiny corpus, a served app, the contract's
invariants, stand-ins for the bot and the store, and a browser page that records its requests.

Imported as ``helpers`` (pyproject's pytest ``pythonpath`` puts tests/ on the path); the
benchmarks in bench/ use ``LiveServer`` too.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from chatbot import messages
from chatbot.config import Settings
from chatbot.corpus import load_corpus
from chatbot.pipeline import Bot, disclaimer_of
from chatbot.types import Answer, Article, Citation

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
# The clinic's original files, as given (../shared/seeds), kept with the corpus so any checkout
# can check the articles against them.
SEEDS = CORPUS / "sources"
BODIES = {a.id: a for a in load_corpus(CORPUS)}

TINY_ARTICLES = {
    "iron-and-legs": (
        "Iron and legs",
        "Iron\n\nIron deficiency is linked to restless legs. "
        "Iron helps the brain make dopamine.\n\n"
        "Sleep\n\nSymptoms are often worse at night. Walking around relieves the urge to move.\n",
    ),
    "pregnancy-note": (
        "Pregnancy note",
        "Pregnancy\n\nRestless legs are common in the third trimester of pregnancy. "
        "They usually go away after the baby is born.\n",
    ),
}


def write_article(
    directory: Path, slug: str, title: str, body: str, date: str = "2024-01-01"
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{slug}.md").write_text(
        f"---\nid: {slug}\ntitle: {title}\ndate: {date}\npublisher: Test clinic\n"
        f"source_file: {slug}.txt\nnote: test article\n---\n{body}",
        encoding="utf-8",
    )


def check_invariants(obj: dict) -> None:
    assert obj["status"] in ("answered", "no_answer", "emergency")
    assert isinstance(obj["answer"], str) and obj["answer"].strip()
    assert obj["disclaimer"].strip()
    assert obj["id"]
    ids = [c["id"] for c in obj["citations"]]
    assert len(ids) == len(set(ids))
    for c in obj["citations"]:
        art = BODIES[c["article"]]
        assert c["title"] == art.title
        assert art.body[c["start"] : c["end"]] == c["quote"], "quote is not an exact span"
        assert isinstance(c["score"], float)
    markers = {int(m) for m in re.findall(r"\[(\d+)\]", obj["answer"])}
    assert markers == set(ids), "markers and citations differ"
    if obj["status"] == "emergency":
        assert obj["citations"] == []
    safety = obj.get("safety")
    assert safety is None or (
        safety["tier"] in ("emergency", "safety_net") and isinstance(safety["contacts"], list)
    )
    if "safety" in obj:  # the answer object's triage field (issue 13)
        assert (obj["status"] == "emergency") == (
            safety is not None and safety["tier"] == "emergency"
        )
    body = obj["answer"]
    if safety is not None and safety["tier"] == "safety_net":
        # A safety-net answer starts with one bold line of fixed wording (messages.py).
        head, _, body = body.partition("\n\n")
        assert head.startswith("**") and head.endswith("**") and "\n" not in head, head
    if obj["status"] in ("no_answer", "emergency"):
        # Nothing but the bot's fixed wording and cited quotes: no made-up medical content.
        text = body
        for c in obj["citations"]:
            text = text.replace(c["quote"], "")
        text = re.sub(r"\[\d+\]|^\s*- ", "", text, flags=re.M)
        allowed = [
            messages.no_answer_text(".*?"),
            messages.personal_advice_text(".*?"),
            messages.PERSONAL_ADVICE_GENERAL,
            messages.MEDICATION_CAUTION,
        ]
        for line in filter(str.strip, text.splitlines()):
            fixed = obj["status"] == "emergency" or any(
                re.fullmatch(re.escape(a).replace(re.escape(".*?"), ".*?"), line.strip())
                for a in allowed
            )
            assert fixed, f"unexpected text in a {obj['status']} answer: {line!r}"
    # Every factual line ends with its citation markers.
    if obj["status"] == "answered":
        for line in obj["answer"].splitlines():
            if line.startswith("- "):
                assert re.search(r"(\[\d+\])+$", line), line


# ---------------------------------------------------------------------------------------------
# A served app

STAFF_PASSWORD = "correct horse battery staple"  # test-only credential for the live server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def live_server_env(index_dir: Path, data_dir: Path, **extra: str) -> dict[str, str]:
    """Environment for a served app: real index, private data dir, offline, no analytics."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATBOT_")}
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        GRADIO_ANALYTICS_ENABLED="False",
        CHATBOT_INDEX_DIR=str(index_dir),
        CHATBOT_DATA_DIR=str(data_dir),
    )
    env.update(LIVE_SERVER_EXTRA_ENV)
    env.update(extra)
    return env


def _staff_login_env() -> dict[str, str]:
    from chatbot.review.passwords import hash_password

    return {"CHATBOT_STAFF_PASSWORD_HASH": hash_password(STAFF_PASSWORD)}


# Every served app of the tests: a staff login (user "staff", password STAFF_PASSWORD) and a
# rate limit far above what many tests send from one address (tests of the limit set their own).
LIVE_SERVER_EXTRA_ENV: dict[str, str] = {
    "CHATBOT_RATE_LIMIT_PER_MINUTE": "100000",
    **_staff_login_env(),
}


class LiveServer:
    """A ``python -m chatbot serve`` process on a free loopback port.

    Args:
        env: Its environment (``live_server_env``).
        port: The port (default: a free one).
        log: Where its output goes (default: ``server.log`` in its data folder).
        command: Another server to run instead (``--host`` and ``--port`` are appended), e.g.
            bench/baseline_server.py.
    """

    def __init__(
        self,
        env: dict[str, str],
        port: int | None = None,
        log: Path | None = None,
        command: list[str] | None = None,
    ):
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.url = f"http://{self.host}:{self.port}"
        self.log = log or Path(env["CHATBOT_DATA_DIR"]) / "server.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            (command or [sys.executable, "-m", "chatbot", "serve"])
            + ["--host", self.host, "--port", str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )

    def wait(self, timeout: float = 180) -> LiveServer:
        """Until /healthz answers 200 (the index loaded or built)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"server did not start: {self.log.read_text()[-2000:]}")

    def post(self, path: str, body: dict[str, Any], timeout: float = 60) -> tuple[int, dict]:
        """POST JSON; (status, JSON body), also for an error status."""
        return post_json(self.url + path, body, timeout)

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "/healthz", timeout=10) as resp:
            return json.loads(resp.read())

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> LiveServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def post_json(url: str, body: dict[str, Any], timeout: float = 60) -> tuple[int, dict]:
    """POST JSON to ``url``; (status, JSON body), also for an error status."""
    req = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw or b"{}")
        except ValueError:
            return exc.code, {"error": raw.decode("utf-8", "replace")}


# ---------------------------------------------------------------------------------------------
# Stand-ins and small worlds

STAND_IN_BODY = "Sleep\nSymptoms are often worse at night. Walking helps.\nIron\nIron matters.\n"


class StandInBot:
    """Answers from a script; records what the chat passed in."""

    def __init__(self, reply: Any) -> None:
        self.settings = Settings()
        self.disclaimer = disclaimer_of(self.settings)
        article = Article("a", "Night", "2024-01-01", "p", "s", "", STAND_IN_BODY)
        self.index = SimpleNamespace(articles={"a": article})
        self.reply = reply
        self.calls: list[dict[str, Any]] = []

    def ask(self, question, history=(), channel="api", conversation=None) -> Answer:
        self.calls.append(
            {
                "question": question,
                "history": list(history),
                "channel": channel,
                "conversation": conversation,
            }
        )
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply


class StandInStore:
    def __init__(self, known: bool = True) -> None:
        self.known = known
        self.rows: list[tuple[str, str, str]] = []

    def record_feedback(self, answer_id: str, rating: str, comment: str = "") -> bool:
        if not self.known:
            return False
        self.rows.append((answer_id, rating, comment))
        return True


def stand_in_answer() -> Answer:
    """An answer of two quotes from ``STAND_IN_BODY``."""
    q1 = "Symptoms are often worse at night."
    q2 = "Iron matters."
    s1, s2 = STAND_IN_BODY.index(q1), STAND_IN_BODY.index(q2)
    return Answer(
        status="answered",
        answer=f"Here is what the articles say:\n\n- {q1} [1]\n- {q2} [2]",
        citations=[
            Citation(1, "a", "Night", q1, s1, s1 + len(q1), 0.9, "2024-01-01"),
            Citation(2, "a", "Night", q2, s2, s2 + len(q2), 0.8, "2024-01-01"),
        ],
        disclaimer="d",
    )


def check_spans(answer, bot: Bot) -> None:
    """The contract's invariants against the bot's *current* articles."""
    import re

    for c in answer.citations:
        assert bot.index.articles[c.article].body[c.start : c.end] == c.quote
    markers = {int(m) for m in re.findall(r"\[(\d+)\]", answer.answer)}
    assert markers == {c.id for c in answer.citations}


def api_client(real_bot, tmp_path=None, client=("203.0.113.7", 50000), **settings):
    """A TestClient for a whole app (``create_app``) over ``real_bot``'s index with the given
    settings (flat names), and a review store in ``tmp_path`` when given. Each call is a new
    app: its own middleware, rate limiter and limits store."""
    from fastapi.testclient import TestClient

    from chatbot.web.app import create_app

    store = None
    if tmp_path is not None:
        from chatbot.review.store import Store

        store = Store(tmp_path / "review.sqlite3")
    s = real_bot.settings.replace(**settings)
    bot = Bot(s, real_bot.index, real_bot.embedder, log=store)
    return TestClient(create_app(bot, store), raise_server_exceptions=False, client=client)


def staff_client(world: TinyWorld, **settings):
    """(TestClient, bot) for the staff area alone over ``world`` (a new app each call, with its
    own sign-in brake), on https as in production behind TLS (the cookies are Secure)."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from chatbot.web.routers import staff

    bot = world.bot()
    cfg = world.settings.replace(**settings)
    bot.settings = cfg
    app = FastAPI()
    staff.register(app, SimpleNamespace(bot=bot, settings=cfg, store=bot.store))
    return TestClient(app, base_url="https://testserver"), bot


def csrf_of(html_text: str) -> str:
    """The CSRF token of a staff page's form."""
    m = re.search(r'name="csrf" value="([^"]+)"', html_text)
    assert m, "no CSRF token in the form"
    return m.group(1)


def staff_login(client, username: str = "staff", password: str = STAFF_PASSWORD):
    """One sign-in through the form (its page first, for the CSRF token); the response."""
    page = client.get("/staff")
    return client.post(
        "/staff/login",
        data={"username": username, "password": password, "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )


class TinyWorld:
    """A tiny corpus, an index built with the fake embedder, and a store that outlives bots.

    ``store_at``: a PostgreSQL URL (``store_location``'s) puts the store there, for the bots and
    the settings (``CHATBOT_DATABASE_URL``) alike; by default it is the SQLite file in data/.
    """

    def __init__(self, root: Path, store_at: Path | str | None = None) -> None:
        self.root = root
        self.corpus = root / "corpus"
        for slug, (title, body) in TINY_ARTICLES.items():
            write_article(self.corpus, slug, title, body)
        self.store_path: Path | str = store_at or root / "data" / "chatbot.sqlite3"
        on_postgres = isinstance(self.store_path, str)
        self.settings = Settings(
            corpus_dir=self.corpus,
            index_dir=root / "index",
            data_dir=root / "data",
            min_relevance=0.2,
            database_url=self.store_path if on_postgres else "",
        )

    def bot(self) -> Bot:
        """A fresh bot (as after a restart); rebuilds the index when the corpus changed."""
        from chatbot.embedding import FakeEmbedder
        from chatbot.pipeline import open_index
        from chatbot.review.store import Store

        emb = FakeEmbedder()
        return Bot(
            self.settings,
            open_index(self.settings, emb, rebuild=True),
            emb,
            log=Store(self.store_path),
        )

    def edit(self, slug: str, transform) -> None:
        title = TINY_ARTICLES[slug][0]
        current = (self.corpus / f"{slug}.md").read_text("utf-8").split("---\n", 2)[2]
        write_article(self.corpus, slug, title, transform(current))


@contextlib.contextmanager
def pg_schema(server_url: str, monkeypatch: Any) -> Iterator[str]:
    """A fresh schema in the tests' PostgreSQL, as a URL whose search_path is that schema (so a
    store opened on it starts empty at version 0); every store this process opens meanwhile is
    closed afterwards and the schema dropped."""
    import uuid

    import psycopg

    from chatbot.review import backend

    name = "t_" + uuid.uuid4().hex[:16]
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    opened: list[Any] = []
    real_init = backend.PostgresBackend.__init__

    def tracked(self: Any, url: str) -> None:
        real_init(self, url)
        opened.append(self)

    monkeypatch.setattr(backend.PostgresBackend, "__init__", tracked)
    sep = "&" if "?" in server_url else "?"
    try:
        yield f"{server_url}{sep}options=-csearch_path%3D{name}"
    finally:
        monkeypatch.setattr(backend.PostgresBackend, "__init__", real_init)
        for opened_backend in opened:
            opened_backend.close()
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {name} CASCADE")


# ---------------------------------------------------------------------------------------------
# A real browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


class RecordedPage:
    """A page plus every URL it requested (to prove no third-party host is contacted)."""

    def __init__(self, page) -> None:
        self.page = page
        self.requests: list[str] = []
        page.on("request", lambda req: self.requests.append(req.url))

    def foreign_hosts(self, *allowed_hosts: str) -> set[str]:
        from urllib.parse import urlparse

        hosts = {urlparse(u).hostname for u in self.requests if u.startswith("http")}
        return {h for h in hosts if h not in allowed_hosts}


# ---------------------------------------------------------------------------------------------
# Files for the library: a web page with its furniture, a PDF with a running header and page
# numbers, a Word document with a header and footer, a scan without text, a binary file.

LIBRARY_HTML = """<!doctype html><html><head>
<title>Sleep and RLS | Truffles Vein Specialists</title>
<meta property="og:site_name" content="Truffles Vein Specialists">
<meta name="date" content="2024-03-05"></head>
<body><nav><ul><li><a href="/">Home</a></li><li><a href="/about">About us</a></li>
<li><a href="/book">Book a consultation</a></li></ul></nav>
<div class="cookie-banner">We use cookies to improve your experience. Accept all cookies?</div>
<main><article><h1>Sleep hygiene for restless legs</h1>
<p>Good sleep hygiene can ease restless legs. Going to bed at the same time every night helps
the body keep a steady rhythm.</p>
<h2>Warm baths and stretching</h2>
<p>A warm bath before bed relaxes the muscles of the legs. Some patients find that gentle
stretching in the evening reduces the urge to move.</p>
<ul><li>Keep the bedroom cool and dark.</li><li>Avoid screens for an hour before bed.</li></ul>
<p>Walking in the late afternoon is often recommended by sleep specialists for people with
restless legs.</p></article></main>
<aside>Related posts: Ten tips for healthy veins</aside>
<footer>Copyright 2024 Truffles Vein Specialists. All rights reserved. Privacy policy | Terms
</footer></body></html>"""
HTML_FURNITURE = ("Book a consultation", "cookies", "Related posts", "All rights reserved")
HTML_QUOTE = "A warm bath before bed relaxes the muscles of the legs."
PDF_QUOTE = "A leg cramp is a sudden painful tightening of a muscle, usually in the calf."
PDF_FURNITURE = ("Clinic newsletter - spring edition", "Page 1 of 2", "Page 2 of 2")


def make_pdf(path: Path) -> Path:
    """Two pages of text with a running header and "Page n of 2" footers."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title("Leg cramps versus restless legs")
    texts = [
        (
            "Cramps or restless legs?",
            PDF_QUOTE + " Unlike restless legs, a cramp makes the muscle hard and sore, and "
            "stretching the calf relieves it within minutes. Restless legs cause an urge to move "
            "rather than pain.",
        ),
        (
            "When to see a doctor",
            "Quinine tonic water is no longer advised for night cramps because of its side "
            "effects. Cramps that wake you every night deserve a visit to your doctor, who may "
            "check your magnesium and kidney function.",
        ),
    ]
    for n, (heading, text) in enumerate(texts, start=1):
        pdf.add_page()
        pdf.set_font("helvetica", size=9)
        pdf.cell(0, 8, PDF_FURNITURE[0], new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("helvetica", "B", 14)
        pdf.cell(0, 10, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("helvetica", size=11)
        pdf.multi_cell(0, 6, text)
        pdf.set_y(-15)
        pdf.set_font("helvetica", size=8)
        pdf.cell(0, 10, f"Page {n} of 2", align="C")
    pdf.output(str(path))
    return path


def make_scan_pdf(path: Path) -> Path:
    """A PDF page with only a picture on it (no text layer), as a scanner makes."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.rect(10, 10, 120, 160, style="F")
    pdf.output(str(path))
    return path


def make_docx(path: Path) -> Path:
    import docx

    d = docx.Document()
    d.add_paragraph("Travelling with restless legs", style="Title")
    d.sections[0].header.paragraphs[0].text = "Clinic leaflet 12"
    d.sections[0].footer.paragraphs[0].text = "Page 1"
    d.add_heading("Long flights", level=1)
    d.add_paragraph(
        "Sitting still for hours on a plane often brings on restless legs. Book an aisle seat "
        "so you can walk up and down the cabin."
    )
    d.add_paragraph("Flex your ankles every half hour.", style="List Bullet")
    d.add_paragraph("Drink water rather than alcohol.", style="List Bullet")
    d.save(str(path))
    return path


def tree_state(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (to show that nothing changed)."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


# Browser tests: an in-process server, axe-core, and what the patient sees of chat and widget


class ThreadServer:
    """uvicorn serving ``app`` on a free loopback port from a daemon thread."""

    def __init__(self, app: Any) -> None:
        import threading

        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the in-process chat server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


AXE = ROOT / ".venv" / "axe" / "node_modules" / "axe-core"
AXE_JS = AXE / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
CHAT_INPUT = "Your question about restless legs"
# The sizes the layout must hold at: small and common phones, a tablet, a desktop.
SCREENS = [(320, 568), (360, 740), (768, 1024), (1280, 800)]


def run_axe(p) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.x A/AA violations on the page as it is now (open shadow roots too)."""
    assert AXE_JS.exists(), f"{AXE_JS} is missing: `make axe` installs axe-core from npm"
    if not p.evaluate("typeof axe !== 'undefined'"):
        p.add_script_tag(path=str(AXE_JS))
    result = p.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_TAGS
    )
    return result["violations"]


def axe_problems(violations: list[dict[str, Any]]) -> list[str]:
    return [
        f"{v['impact']} {v['id']}: {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        f" {[(n['html'][:160], n.get('failureSummary', '')) for n in v['nodes']][:2]}"
        for v in violations
    ]


def settle(p) -> None:
    """Until the page has drawn twice: layout and scrolling done (no sleep)."""
    p.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def chat_wait(p, count: int) -> Any:
    """Wait until ``count`` answers of the chat are complete; return the last one."""
    done = "#conversation .answer-done, #conversation .answer-error"
    p.wait_for_function(
        "([sel, n]) => document.querySelectorAll(sel).length >= n"
        " && !document.querySelector('#conversation .answer-pending')",
        arg=[done, count],
        timeout=90_000,
    )
    return p.locator(done).last


def chat_ask(p, question: str) -> Any:
    """Ask in the chat and wait for the complete answer; return it.

    The question box submits with ``trigger_mode="once"``: Gradio ignores an Enter while the
    previous answer's event is still finishing. That event's last message (which empties the
    box) can arrive after its answer is drawn, later still on a loaded machine, and so after the
    next question was typed: the box is then empty with no new question row, and the question is
    typed again. The chat has taken the question when its row is drawn (the same message empties
    the box); pressing Enter while an event is pending is ignored, never a second question."""
    rows = "#conversation .user-row"
    asked = p.locator(rows).count()
    before = p.locator("#conversation .answer-done, #conversation .answer-error").count()
    box = p.get_by_label(CHAT_INPUT)
    box.fill(question)
    deadline = time.monotonic() + 90
    more_rows = "([sel, n]) => document.querySelectorAll(sel).length > n"
    while True:
        box.press("Enter")
        try:
            p.wait_for_function(more_rows, arg=[rows, asked], timeout=2_000)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
        # Read the box before the rows: the message that takes the question draws both.
        if box.input_value() != question and p.locator(rows).count() <= asked:
            box.fill(question)  # emptied by the previous answer's late last message
    return chat_wait(p, before + 1)


# What the patient sees: the question box, and where the latest answer starts in the view.
_VIEW_JS = """(kind) => {
  const rect = e => { const b = e.getBoundingClientRect();
    return {top: b.top, bottom: b.bottom, left: b.left, right: b.right, height: b.height}; };
  let doc = document, box, ask, view, last, panel = null;
  if (kind === 'chat') {
    box = doc.querySelector('#question textarea');
    ask = doc.querySelector('#question button');
    view = doc.querySelector('#conversation [role=log]');
    const rows = view.querySelectorAll('.message-row');
    last = rows.length ? rows[rows.length - 1] : null;
  } else {
    const root = doc.querySelector('[data-clinic-chat]').shadowRoot;
    box = root.querySelector('textarea'); ask = root.querySelector('form button');
    view = root.querySelector('.log'); panel = rect(root.querySelector('[role=dialog]'));
    const answers = view.querySelectorAll('.a');
    last = answers.length ? answers[answers.length - 1] : null;
  }
  return {vw: innerWidth, vh: innerHeight, box: rect(box), ask: rect(ask), view: rect(view),
    last: last && rect(last), panel,
    wide: document.documentElement.scrollWidth > document.documentElement.clientWidth};
}"""


def view_of(p, kind: str) -> dict[str, Any]:
    """Where the question box, the conversation and its latest answer are ('chat'/'widget')."""
    return p.evaluate(_VIEW_JS, kind)


def fit_problems(v: dict[str, Any]) -> list[str]:
    """What is wrong with the view ``view_of`` measured, as the issue defines it: the question
    box and its button fully in the window (and in the panel); the start of the latest answer
    in view with a third of the screen to read it (or all of it, when it is shorter)."""
    out = []
    frame = {"top": 0, "left": 0, "bottom": v["vh"], "right": v["vw"]}
    for name in ("box", "ask"):
        r = v[name]
        for outer, label in ((frame, "window"), (v["panel"], "panel")):
            if outer is None:
                continue
            inside = (
                r["top"] >= outer["top"] - 0.5
                and r["left"] >= outer["left"] - 0.5
                and r["bottom"] <= outer["bottom"] + 0.5
                and r["right"] <= outer["right"] + 0.5
            )
            if not inside or r["height"] < 20:
                out.append(f"the question {name} is clipped by the {label}: {r} in {outer}")
    if v["wide"]:
        out.append("the page scrolls sideways")
    last = v["last"]
    if last is not None:
        bottom = min(v["view"]["bottom"], v["box"]["top"], v["vh"])
        readable = min(last["bottom"], bottom) - last["top"]
        need = min(v["vh"] / 3, last["height"]) - 2
        if last["top"] < v["view"]["top"] - 1:
            out.append(f"the latest answer starts above the view ({last['top']} < {v['view']})")
        elif readable < need:
            out.append(f"only {readable:.0f} px of the latest answer in view (need {need:.0f})")
    return out
