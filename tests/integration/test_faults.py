"""Faults a small clinic server meets, with real processes: kills, damaged files, busy index.

- an ingest killed (SIGKILL) half way leaves the previous index loadable and answering;
- a damaged or truncated index file gives one clear error, and the app rebuilds it on start;
- the review store survives a writer killed mid-way: it opens, passes integrity_check, and
  every row the writer saw committed is there;
- the app keeps answering (200) while an ingest rebuilds the index it was loaded from.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest
from helpers import CORPUS, ROOT, LiveServer, check_invariants, live_server_env, write_article

QUESTION = "What causes restless legs?"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATBOT_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", **extra)
    return env


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def _ask_over_http(url: str, question: str = QUESTION) -> tuple[int, dict]:
    req = urllib.request.Request(
        url + "/api/ask",
        data=json.dumps({"question": question}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, {"error": exc.read().decode("utf-8", "replace")}


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"the process ended before {path.name} appeared: {out[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"{path.name} never appeared")
        time.sleep(0.02)


def _corpus_with_new_article(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    write_article(
        corpus,
        "new-article",
        "A new article",
        "Walking\n\nA short evening walk can ease the urge to move the legs.\n",
    )
    return corpus


# --- an ingest killed half way ----------------------------------------------------------------

# The real CLI ingest, stopped inside the index write: after the chunk index is on disk in the
# temporary build folder, np.save (the sentence vectors) writes half a file, signals, and waits
# to be killed. Everything else is the production code path.
KILLED_MID_WRITE = textwrap.dedent("""
    import sys, time
    import numpy as np
    import chatbot.index as index
    signal_file = sys.argv[1]
    real_save = np.save
    def half_then_hang(path, arr, *a, **kw):
        real_save(path, arr[: len(arr) // 2], *a, **kw)
        open(signal_file, "w").close()
        time.sleep(600)
    index.np.save = half_then_hang
    from chatbot.cli import main
    sys.exit(main(["ingest", "--corpus", sys.argv[2], "--index", sys.argv[3]]))
""")


def test_ingest_killed_mid_write_leaves_previous_index_loadable(
    index_copy, tmp_path, real_embedder, real_settings
):
    from chatbot.config import Settings
    from chatbot.pipeline import Bot, open_index

    before = _snapshot(index_copy)
    signal_file = tmp_path / "half-written"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            KILLED_MID_WRITE,
            str(signal_file),
            str(_corpus_with_new_article(tmp_path)),
            str(index_copy),
        ],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    _wait_for(signal_file, proc)
    # The half-built folder is really there when the kill lands.
    assert list(tmp_path.glob(".index-build-*"))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    assert _snapshot(index_copy) == before
    settings = Settings(index_dir=index_copy, corpus_dir=CORPUS, data_dir=tmp_path / "data")
    bot = Bot(settings, open_index(settings, real_embedder, rebuild=False), real_embedder)
    answer = bot.ask(QUESTION)
    assert answer.status == "answered"
    check_invariants(answer.to_dict())


def test_ingest_killed_while_embedding_leaves_previous_index(index_copy, tmp_path):
    """The plain `python -m chatbot ingest`, killed at a moment only its output tells us."""
    before = _snapshot(index_copy)
    corpus = _corpus_with_new_article(tmp_path)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "chatbot",
            "ingest",
            "--corpus",
            str(corpus),
            "--index",
            str(index_copy),
        ],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Kill once faiss is imported: build_index imports it just before chunking and embedding.
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.rstrip().endswith(" faiss"):
            break
    else:
        pytest.fail(f"ingest ended before building (exit {proc.wait()})")
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert _snapshot(index_copy) == before

    # A later ingest finishes and the leftovers of the killed one do not disturb it.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "chatbot",
            "ingest",
            "--corpus",
            str(corpus),
            "--index",
            str(index_copy),
        ],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads((index_copy / "manifest.json").read_text())["articles"] == 6


# --- damaged index files ----------------------------------------------------------------------


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garble(path: Path) -> None:
    path.write_bytes(os.urandom(path.stat().st_size))


@pytest.mark.parametrize(
    ("victim", "damage"),
    [
        ("chunks.faiss", _truncate),
        ("chunks.faiss", _garble),
        ("sentences.json", _truncate),
        ("chunks.json", _garble),
        ("sentences.npy", _truncate),
        ("manifest.json", _truncate),
    ],
    ids=[
        "faiss-truncated",
        "faiss-garbage",
        "sentences-truncated",
        "chunks-garbage",
        "vectors-truncated",
        "manifest-truncated",
    ],
)
def test_damaged_index_is_a_clear_error_then_rebuilt(
    index_copy, tmp_path, real_embedder, victim, damage, monkeypatch, capsys
):
    from chatbot import cli, embedding
    from chatbot.config import Settings
    from chatbot.errors import IndexCorruptError
    from chatbot.pipeline import Bot, open_index

    damage(index_copy / victim)
    # The CLI's own path (main() turns errors into one line), with the session's loaded model.
    monkeypatch.setattr(embedding, "SentenceTransformerEmbedder", lambda: real_embedder)
    assert cli.main(["ask", QUESTION, "--index", str(index_copy)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:")
    assert "python -m chatbot ingest" in lines[0]
    assert "damaged" in lines[0] or "unreadable" in lines[0] or "inconsistent" in lines[0]

    settings = Settings(index_dir=index_copy, corpus_dir=CORPUS, data_dir=tmp_path / "data")
    with pytest.raises(IndexCorruptError):
        open_index(settings, real_embedder, rebuild=False)
    index = open_index(settings, real_embedder, rebuild=True)  # what the app does on start
    assert json.loads((index_copy / "manifest.json").read_text())["hash"] == index.hash
    answer = Bot(settings, index, real_embedder).ask(QUESTION)
    assert answer.status == "answered"
    check_invariants(answer.to_dict())


def test_served_app_rebuilds_a_damaged_index_on_start(index_copy, tmp_path):
    _truncate(index_copy / "chunks.faiss")
    server = LiveServer(live_server_env(index_copy, tmp_path / "data"))
    try:
        server.wait()
        status, body = _ask_over_http(server.url)
        assert status == 200, body
        check_invariants(body)
        assert body["status"] == "answered"
    finally:
        server.stop()
    # The rebuilt index is whole: it loads without a rebuild.
    proc = subprocess.run(
        [sys.executable, "-m", "chatbot", "ask", QUESTION, "--json", "--index", str(index_copy)],
        cwd=ROOT,
        env=_env(CHATBOT_DATA_DIR=str(tmp_path / "data2")),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr


# --- the review store and a killed writer -----------------------------------------------------

# Writes answers through the real Store as fast as it can; prints each id once its INSERT has
# returned (autocommit: committed), then is killed at some arbitrary point.
STORE_WRITER = textwrap.dedent("""
    import sys
    from chatbot.types import Answer, Citation
    from chatbot.review.store import Store
    store = Store(sys.argv[1])
    n = 0
    while True:
        n += 1
        cite = Citation(1, "cause-of-rls", "T", "quote " * 20, 0, 120, 0.7)
        answer = Answer("answered", f"answer {n} [1] " + "x" * 500, [cite], "disclaimer")
        store.log_answer(f"question {n}", answer, [], "api", conversation=f"c{n % 7}")
        print(answer.id, flush=True)
""")


def test_review_store_survives_a_killed_writer(tmp_path):
    from chatbot.review.store import Store

    db = tmp_path / "data" / "chatbot.sqlite3"
    proc = subprocess.Popen(
        [sys.executable, "-c", STORE_WRITER, str(db)],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    committed: list[str] = []
    for line in proc.stdout:
        committed.append(line.strip())
        if len(committed) >= 300:
            break
    proc.send_signal(signal.SIGKILL)  # mid-way through a later INSERT, most likely
    proc.wait(timeout=30)
    # Ids printed before the kill landed were committed too; read what is left in the pipe
    # (a line cut by the kill is not an id and is left out).
    committed += [w for w in proc.stdout.read().split() if len(w) == 32]
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""

    raw = sqlite3.connect(db)
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = {row[0] for row in raw.execute("SELECT id FROM answers")}
    raw.close()
    assert set(committed) <= stored
    assert len(stored) - len(committed) <= 1  # at most the row being written at the kill

    store = Store(db)  # opens, migrations fine, reads back and takes new rows
    assert store.get_answer(committed[-1]) is not None
    assert store.record_feedback(committed[0], "up", "still here")


# --- answering while an ingest runs -----------------------------------------------------------


def test_app_answers_while_an_ingest_rebuilds_its_index(index_copy, tmp_path):
    server = LiveServer(live_server_env(index_copy, tmp_path / "data"))
    try:
        server.wait()
        ingest = subprocess.Popen(
            [sys.executable, "-m", "chatbot", "ingest", "--index", str(index_copy)],
            cwd=ROOT,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        statuses: list[int] = []
        while ingest.poll() is None:
            status, body = _ask_over_http(server.url)
            statuses.append(status)
            assert status == 200, body
            check_invariants(body)
            time.sleep(0.2)  # a patient's pace; the ingest shares the two cores
        out = ingest.stdout.read() if ingest.stdout else ""
        assert ingest.returncode == 0, out
        assert "indexed 5 articles" in out
        for _ in range(3):  # and after the swap
            status, body = _ask_over_http(server.url)
            statuses.append(status)
            assert status == 200, body
        assert len(statuses) >= 10  # the ingest took long enough for many questions
        with urllib.request.urlopen(server.url + "/healthz", timeout=10) as resp:
            assert json.loads(resp.read())["status"] == "ok"
    finally:
        server.stop()
