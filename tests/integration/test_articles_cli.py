"""``python -m chatbot articles ...`` and ``review user`` / ``review audit`` as a person types
them: in a process of their own, on a copy of the corpus named by CHATBOT_CORPUS_DIR."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import (
    BODIES,
    CORPUS,
    HTML_QUOTE,
    LIBRARY_HTML,
    PDF_QUOTE,
    ROOT,
    SEEDS,
    make_pdf,
    make_scan_pdf,
    tree_state,
)

from chatbot.corpus import load_corpus


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    shutil.copytree(CORPUS, tmp_path / "corpus")
    out = {k: v for k, v in os.environ.items() if not k.startswith("CHATBOT_")}
    out.update(CHATBOT_CORPUS_DIR=str(tmp_path / "corpus"), CHATBOT_DATA_DIR=str(tmp_path / "d"))
    return out


def cli(env: dict[str, str], *argv: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "chatbot", *argv],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_articles_add_list_show_history_retire(env, tmp_path):
    corpus = Path(env["CHATBOT_CORPUS_DIR"])
    (tmp_path / "sleep.html").write_text(LIBRARY_HTML, "utf-8")
    r = cli(
        env,
        "articles",
        "add",
        str(tmp_path / "sleep.html"),
        "--source-url",
        "https://clinic.example/sleep",
        "--by",
        "alice",
    )
    assert r.returncode == 0, r.stderr
    assert "added sleep-hygiene-for-restless-legs" in r.stdout
    r = cli(
        env,
        "articles",
        "add",
        str(make_pdf(tmp_path / "cramps.pdf")),
        "--title",
        "Cramps or RLS?",
        "--date",
        "2024-02-01",
        "--publisher",
        "Clinic newsletter",
    )
    assert r.returncode == 0, r.stderr
    articles = {a.id: a for a in load_corpus(corpus)}
    assert HTML_QUOTE in articles["sleep-hygiene-for-restless-legs"].body
    assert articles["sleep-hygiene-for-restless-legs"].source_url == "https://clinic.example/sleep"
    cramps = articles["cramps-or-rls"]
    assert PDF_QUOTE in cramps.body and cramps.date == "2024-02-01"
    assert cramps.publisher == "Clinic newsletter"

    listed = json.loads(cli(env, "articles", "list", "--json").stdout)
    assert {a["id"] for a in listed} == set(BODIES) | {
        "sleep-hygiene-for-restless-legs",
        "cramps-or-rls",
    }
    shown = json.loads(cli(env, "articles", "show", "cramps-or-rls", "--json").stdout)
    assert shown["body"] == cramps.body and shown["version"] == 1

    r = cli(env, "articles", "retire", "cramps-or-rls", "--by", "bob")
    assert r.returncode == 0 and not (corpus / "cramps-or-rls.md").exists()
    history = json.loads(cli(env, "articles", "history", "cramps-or-rls", "--json").stdout)
    assert [(v["version"], v["change"]) for v in history] == [(1, "added"), (2, "retired")]
    assert history[0]["saved_by"].startswith("cli:") and history[1]["saved_by"] == "bob"
    assert "(retired)" in cli(env, "articles", "list", "--all").stdout
    # Every change is in the audit log, by who made it.
    audit = json.loads(cli(env, "review", "audit", "--json").stdout)
    assert ("alice", "article_added") in {(a["actor"], a["action"]) for a in audit}
    assert ("bob", "article_retired") in {(a["actor"], a["action"]) for a in audit}


@pytest.mark.parametrize(
    "name, data, says",
    [
        ("noise.txt", bytes(range(256)) * 40, "binary file"),
        ("empty.md", b"", "is empty"),
        ("photo.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "not supported"),
        ("scan.pdf", None, "no text layer"),
        ("huge.txt", b"a" * (10 * 1024 * 1024 + 1), "over the limit of 10 MB"),
    ],
)
def test_a_bad_file_is_refused_in_one_line_and_nothing_changes(env, tmp_path, name, data, says):
    path = tmp_path / name
    if data is None:
        make_scan_pdf(path)
    else:
        path.write_bytes(data)
    corpus = Path(env["CHATBOT_CORPUS_DIR"])
    before = tree_state(corpus)
    r = cli(env, "articles", "add", str(path), "--title", "Anything")
    assert r.returncode == 1 and says in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert tree_state(corpus) == before


def test_unknown_articles_and_bad_options_are_clear(env, tmp_path):
    r = cli(env, "articles", "show", "no-such-article")
    assert r.returncode == 1 and "no article 'no-such-article'" in r.stderr
    (tmp_path / "a.txt").write_text("Restless legs get worse in the evening for many people.")
    r = cli(env, "articles", "add", str(tmp_path / "a.txt"))
    assert r.returncode == 1 and "needs a title" in r.stderr
    r = cli(env, "articles", "add", str(tmp_path / "a.txt"), "--title", "T", "--date", "May")
    assert r.returncode == 1 and "YYYY-MM-DD" in r.stderr
    r = cli(env, "articles", "add", str(tmp_path / "missing.txt"))
    assert r.returncode == 1 and "cannot read" in r.stderr


def test_the_five_articles_bodies_stay_the_sources_words(env):
    """Edits go through versions; the clinic's five bodies on disk stay byte-identical."""
    for art in load_corpus(Path(env["CHATBOT_CORPUS_DIR"])):
        seed = (SEEDS / art.source_file).read_text("utf-8")
        assert art.body == BODIES[art.id].body
        assert all(line in seed for line in art.body.splitlines() if line.strip())


def test_review_user_add_reads_the_password_from_stdin(env):
    r = cli(
        env, "review", "user", "add", "alice", "--role", "editor", stdin="alice's long password\n"
    )
    assert r.returncode == 0, r.stderr
    r = cli(env, "review", "user", "add", "bob", "--role", "reviewer", stdin="short\n")
    assert r.returncode == 1 and "at least 12" in r.stderr
    r = cli(
        env, "review", "user", "add", "alice", "--role", "admin", stdin="another long password\n"
    )
    assert r.returncode == 1 and "already an account" in r.stderr
    users = json.loads(cli(env, "review", "user", "list", "--json").stdout)
    assert [(u["name"], u["role"]) for u in users] == [("alice", "editor")]
    assert cli(env, "review", "user", "role", "alice", "admin").returncode == 0
    assert cli(env, "review", "user", "off", "alice").returncode == 0
    users = json.loads(cli(env, "review", "user", "list", "--json").stdout)
    assert users[0]["role"] == "admin" and users[0]["active"] == 0
    from chatbot.review.store import Store

    store = Store(Path(env["CHATBOT_DATA_DIR"]) / "chatbot.sqlite3")
    assert store.get_user("alice")["password_hash"].startswith("scrypt$")
    audit = cli(env, "review", "audit").stdout
    assert "account_added" in audit and "account_role" in audit and "account_off" in audit
