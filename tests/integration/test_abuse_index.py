"""Damaged index bytes and a crash mid-swap, with the real model and the real index: the damage
is caught when the index is loaded, before any answer comes from it; the CLI refuses it with
one line, the served app rebuilds it and answers; a swap killed between its two renames leaves
an index that loads.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import CORPUS, ROOT, LiveServer, check_invariants, live_server_env

QUESTION = "What causes restless legs?"


def _reseal(index: Path) -> None:
    """The manifest's checksums made to match the damaged files (a builder's bug, or a copy
    whose manifest was rewritten): only the content checks can catch what follows."""
    manifest = json.loads((index / "manifest.json").read_text())
    for name in manifest.get("files", ()):
        data = (index / name).read_bytes()
        manifest["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    (index / "manifest.json").write_text(json.dumps(manifest, indent=2))


def _flip_vector_bytes(index: Path) -> None:
    """Flip bits inside the sentence vectors: the file still parses, the answers would change."""
    path = index / "sentences.npy"
    data = bytearray(path.read_bytes())
    for at in range(len(data) // 2, len(data) // 2 + 64, 4):
        data[at] ^= 0x5A
    path.write_bytes(bytes(data))


def _shift_offsets(index: Path) -> None:
    rows = json.loads((index / "sentences.json").read_text())
    for row in rows:
        row["start"] += 3
        row["end"] += 3
    (index / "sentences.json").write_text(json.dumps(rows))
    _reseal(index)


def _nan_in_faiss(index: Path) -> None:
    import faiss

    stored = faiss.read_index(str(index / "chunks.faiss"))
    vectors = stored.reconstruct_n(0, stored.ntotal)
    vectors[0, 0] = np.nan
    fresh = faiss.IndexFlatIP(stored.d)
    fresh.add(vectors)
    faiss.write_index(fresh, str(index / "chunks.faiss"))
    _reseal(index)


DAMAGE = {
    "vector-bytes-flipped": (_flip_vector_bytes, "sentences.npy does not match its checksum"),
    "offsets-shifted-by-3": (_shift_offsets, "is not its article's text"),
    "nan-in-faiss": (_nan_in_faiss, "chunk vector holds NaN"),
}


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_damaged_index_is_refused_by_the_cli_in_one_line(
    index_copy, tmp_path, real_embedder, kind, monkeypatch, capsys
):
    from chatbot import cli, embedding

    damage, words = DAMAGE[kind]
    damage(index_copy)
    monkeypatch.setattr(embedding, "SentenceTransformerEmbedder", lambda: real_embedder)
    code = cli.main(["ask", QUESTION, "--json", "--index", str(index_copy)])
    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""  # no answer came from the damaged index
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert words in lines[0] and "python -m chatbot ingest" in lines[0]


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_damaged_index_is_rebuilt_before_the_app_answers(index_copy, tmp_path, kind, real_embedder):
    from chatbot.config import Settings
    from chatbot.pipeline import open_index

    damage, _ = DAMAGE[kind]
    damage(index_copy)
    server = LiveServer(live_server_env(index_copy, tmp_path / "data"))
    try:
        server.wait()
        for question in (QUESTION, "Is it worse at night?", "Can iron help?"):
            status, body = server.post("/api/ask", {"question": question})
            assert status == 200, body
            check_invariants(body)  # every quote is the article's text at its offsets
            assert body["status"] == "answered"
        assert "rebuilding it now" in server.log.read_text()  # the server log says why
    finally:
        server.stop()
    # What the app left on disk is whole: it loads with every check and no rebuild.
    settings = Settings(index_dir=index_copy, corpus_dir=CORPUS)
    open_index(settings, real_embedder, rebuild=False)


# --- a crash between the swap's two renames --------------------------------------------------

# The real CLI ingest on a corpus with one more article, killed between the swap's renames: the
# first rename (the old index out of the way) is done, the second (the new one in) never runs.
# The atomic exchange is switched off, so the two-rename path (other systems) is what runs.
KILLED_MID_SWAP = textwrap.dedent("""
    import os, sys, time
    signal_file, index_dir = sys.argv[1], os.path.abspath(sys.argv[3])
    try:
        import chatbot.index_files as files
        files.exchange = lambda a, b: False
    except ImportError:
        pass
    real_replace = os.replace
    def replace(src, dst):
        real_replace(src, dst)
        if os.path.abspath(src) == index_dir:  # the old index moved aside: the first rename
            open(signal_file, "w").close()
            time.sleep(600)
    os.replace = replace
    from chatbot.cli import main
    sys.exit(main(["ingest", "--corpus", sys.argv[2], "--index", sys.argv[3]]))
""")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATBOT_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", **extra)
    return env


def test_ingest_killed_between_the_renames_leaves_an_index(index_copy, tmp_path):
    import shutil

    from helpers import write_article

    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    write_article(corpus, "new-article", "A new article", "Walking\n\nA walk can ease it.\n")
    signal_file = tmp_path / "between-renames"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_MID_SWAP, str(signal_file), str(corpus), str(index_copy)],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 300
    while not signal_file.exists():
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        assert time.monotonic() < deadline, "the ingest never reached its swap"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not index_copy.exists()  # the moment the issue found: no index under its name

    # The CLI still answers (from the kept old index, built from the original corpus).
    ask = subprocess.run(
        [sys.executable, "-m", "chatbot", "ask", QUESTION, "--json", "--index", str(index_copy)],
        cwd=ROOT,
        env=_env(CHATBOT_DATA_DIR=str(tmp_path / "data")),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ask.returncode == 0, ask.stderr
    body = json.loads(ask.stdout)
    assert body["status"] == "answered"
    check_invariants(body)

    # The next ingest puts the old one back, then swaps the new one in.
    done = subprocess.run(
        [sys.executable, "-m", "chatbot", "ingest", "--corpus", str(corpus)]
        + ["--index", str(index_copy)],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads((index_copy / "manifest.json").read_text())["articles"] == 6
    assert not index_copy.with_name(".index-old").exists()
