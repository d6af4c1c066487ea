"""``python -m chatbot review ...`` on a real store file and the real corpus (no model needed)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import CORPUS, ROOT, STAFF_PASSWORD

from chatbot.cli import main
from chatbot.config import Settings
from chatbot.corpus import load_corpus
from chatbot.review.store import open_store
from chatbot.types import Answer, Citation

ARTICLE = "rls-symptoms-treatment"
WRONG = "one fairly well-known neurologist from Switzerland - Karl Axel Ekbom"


@pytest.fixture
def logged():
    """A store under CHATBOT_DATA_DIR with one answer quoting the real corpus."""
    body = {a.id: a for a in load_corpus(CORPUS)}[ARTICLE].body
    start = body.index(WRONG)
    cite = Citation(1, ARTICLE, "t", WRONG, start, start + len(WRONG), 0.8)
    answer = Answer("answered", f"Here:\n\n- {WRONG} [1]", [cite], "d")
    store = open_store(Settings(corpus_dir=CORPUS))
    store.log_answer("Who described RLS? mail me: a@b.org", answer, [], "cli")
    return store, answer, body


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["review", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_show_verdict_cite_export(capsys, logged, tmp_path: Path):
    store, answer, body = logged
    code, out, _ = run(capsys, "list", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["total"] == 1 and data["answers"][0]["id"] == answer.id
    assert "a@b.org" not in out and "[email]" in out

    code, out, _ = run(capsys, "show", answer.id)
    assert code == 0 and ">>>" + WRONG + "<<<" in out and "Karl Axel Ekbom" in out

    assert run(capsys, "verdict", answer.id, "wrong", "--note", "Swedish")[0] == 0
    code, out, _ = run(
        capsys,
        "cite",
        answer.id,
        "1",
        "does-not-support",
        "--exclude",
        "--note",
        "Ekbom was Swedish",
    )
    assert code == 0 and "excluded" in out
    row = store.get_answer(answer.id)
    assert row["verdict"]["verdict"] == "wrong" and row["verdict"]["reviewer"].startswith("cli")
    assert row["citation_verdicts"][1]["verdict"] == "does_not_support"
    assert (ARTICLE, body.index(WRONG), body.index(WRONG) + len(WRONG)) in store.excluded_spans(
        {a.id: a for a in load_corpus(CORPUS)}
    )
    code, out, _ = run(capsys, "show", answer.id, "--json")
    assert json.loads(out)["citations"][0]["excluded"] is True

    target = tmp_path / "reviewed.csv"
    code, _, err = run(capsys, "export", "--out", str(target))
    assert code == 0 and "wrote 1 answers" in err
    rows = list(csv.DictReader(target.open(encoding="utf-8")))
    assert rows[0]["id"] == answer.id and rows[0]["verdict"] == "wrong"
    code, out, _ = run(capsys, "export")
    assert list(csv.DictReader(io.StringIO(out)))[0]["verdict_note"] == "Swedish"

    code, out, _ = run(capsys, "stats", "--json")
    assert code == 0 and json.loads(out)["total"] == 1


def test_exclude_by_quote_restore_and_errors(capsys, logged):
    store, _, _ = logged
    code, out, _ = run(
        capsys, "exclude", "--article", ARTICLE, "--quote", WRONG, "--reason", "wrong country"
    )
    assert code == 0
    code, out, _ = run(capsys, "exclusions", "--json")
    items = json.loads(out)
    assert items[0]["quote"] == WRONG and items[0]["found"][0]["article"] == ARTICLE
    assert run(capsys, "restore", str(items[0]["id"]))[0] == 0
    code, _, err = run(capsys, "restore", str(items[0]["id"]))
    assert code == 1 and "no active exclusion" in err
    code, _, err = run(capsys, "exclude", "--article", ARTICLE, "--quote", "not in there at all")
    assert code == 1 and "not in" in err
    code, _, err = run(capsys, "exclude", "--article", "nope", "--quote", "x")
    assert code == 1 and "no article" in err
    assert run(capsys, "exclude")[0] == 2
    code, _, err = run(capsys, "show", "nope")
    assert code == 1 and "no logged answer" in err
    code, _, err = run(capsys, "verdict", "nope", "correct")
    assert code == 1 and "no logged answer" in err
    code, _, err = run(capsys, "list", "--since", "last week")
    assert code == 1 and "date" in err


def test_purge_needs_days_and_deletes_old(capsys, logged):
    store, answer, _ = logged
    assert run(capsys, "purge")[0] == 2  # no retention set: refuse rather than guess
    store._conn().execute("UPDATE answers SET created = created - 40 * 86400")
    code, out, _ = run(capsys, "purge", "--days", "30")
    assert code == 0 and "deleted 1" in out
    assert store.get_answer(answer.id) is None


def test_hash_password_from_stdin_in_a_real_process():
    from chatbot.review.passwords import verify_password

    env = {k: v for k, v in os.environ.items()}
    proc = subprocess.run(
        [sys.executable, "-m", "chatbot", "review", "hash-password", "--stdin"],
        input=STAFF_PASSWORD + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    hashed = proc.stdout.strip()
    assert verify_password(STAFF_PASSWORD, hashed) and STAFF_PASSWORD not in proc.stdout
    assert "CHATBOT_STAFF_PASSWORD_HASH" in proc.stderr
    short = subprocess.run(
        [sys.executable, "-m", "chatbot", "review", "hash-password", "--stdin"],
        input="short\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert (
        short.returncode == 1 and "at least 12" in short.stderr and "Traceback" not in short.stderr
    )
