"""The command line as a user runs it: real processes, real model, real index."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT, check_invariants


def _env(**env: str) -> dict[str, str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CHATBOT_")}
    full_env.update(env)
    full_env["HF_HUB_OFFLINE"] = "1"
    return full_env


def run(
    args: list[str], index: Path | None, stdin: str = "", **env: str
) -> subprocess.CompletedProcess:
    full_env = _env(**env)
    if index is not None:
        full_env["CHATBOT_INDEX_DIR"] = str(index)
    return subprocess.run(
        [sys.executable, "-m", "chatbot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=full_env,
        timeout=300,
    )


def assert_clean_error(proc: subprocess.CompletedProcess, code: int, text: str) -> None:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    assert text in proc.stderr


def test_ask_json_prints_a_valid_answer_object(real_index_dir, tmp_path):
    proc = run(
        ["ask", "What causes restless legs?", "--json"],
        real_index_dir,
        CHATBOT_DATA_DIR=str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    obj = json.loads(proc.stdout)
    check_invariants(obj)
    assert obj["status"] == "answered"


def test_ask_plain_shows_sources_and_disclaimer(real_index_dir, tmp_path):
    proc = run(["ask", "Why is it worse at night?"], real_index_dir, CHATBOT_DATA_DIR=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "Sources:" in proc.stdout and "[1]" in proc.stdout
    assert "not a clinician" in proc.stdout


def test_batch_answers_every_line_in_order(real_index_dir, tmp_path):
    lines = [
        {"id": "a", "question": "What causes restless legs?", "extra": 1},
        {"question": "my friend took too many pills and won't wake up"},
        {"question": "What's the capital of Australia?"},
    ]
    proc = run(
        ["ask", "--batch"],
        real_index_dir,
        "\n".join(json.dumps(x) for x in lines) + "\n",
        CHATBOT_DATA_DIR=str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [o["status"] for o in out] == ["answered", "emergency", "no_answer"]
    for obj in out:
        check_invariants(obj)


def test_batch_bad_line_is_reported_and_others_kept(real_index_dir, tmp_path):
    stdin = (
        json.dumps({"question": "What causes restless legs?"})
        + "\n"
        + json.dumps({"question": ""})
        + "\n"
    )
    proc = run(["ask", "--batch"], real_index_dir, stdin, CHATBOT_DATA_DIR=str(tmp_path))
    assert_clean_error(proc, 1, "1 of 2 lines")
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert out[0]["status"] == "answered" and "empty" in out[1]["error"]


def test_batch_answers_around_a_line_that_is_not_json(real_index_dir, tmp_path):
    stdin = "not json\n" + json.dumps({"question": "What causes restless legs?"}) + "\n{}\n"
    proc = run(["ask", "--batch"], real_index_dir, stdin, CHATBOT_DATA_DIR=str(tmp_path))
    assert_clean_error(proc, 1, "2 of 3 lines")
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert out[0] == {"error": "not JSON (Expecting value)", "line": 1}
    assert out[1]["status"] == "answered"
    assert out[2]["line"] == 3 and "question" in out[2]["error"]


def test_batch_streams_each_answer_before_reading_the_next_line(real_index_dir, tmp_path):
    """A co-process: write a question, wait for its answer, then write the next."""
    import select
    import subprocess

    proc = subprocess.Popen(
        [sys.executable, "-m", "chatbot", "ask", "--batch", "--index", str(real_index_dir)],
        cwd=ROOT,
        env=_env(CHATBOT_DATA_DIR=str(tmp_path)),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    try:
        answers = []
        for question in ("What causes restless legs?", "is it worse at night?"):
            proc.stdin.write(json.dumps({"question": question}) + "\n")
            proc.stdin.flush()  # and the pipe stays open: the batch must answer this line now
            ready, _, _ = select.select([proc.stdout], [], [], 180)
            assert ready, "no answer while the input was still open"
            answers.append(json.loads(proc.stdout.readline()))
        assert [a["status"] for a in answers] == ["answered", "answered"]
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()


@pytest.mark.parametrize(
    "question, text", [("", "empty"), ("   \n\t", "empty"), ("x" * 50_000, "too long")]
)
def test_bad_questions_get_one_clean_line(real_index_dir, question, text):
    proc = run(["ask", question], real_index_dir)
    assert_clean_error(proc, 1, text)
    assert len(proc.stderr.strip().splitlines()) == 1


def test_missing_index_is_a_clear_error(tmp_path):
    proc = run(["ask", "What causes restless legs?"], tmp_path / "no-index")
    assert_clean_error(proc, 1, "python -m chatbot ingest")


def test_corrupt_index_is_a_clear_error(index_copy):
    (index_copy / "chunks.faiss").write_bytes(b"garbage")
    proc = run(["ask", "What causes restless legs?"], index_copy)
    assert_clean_error(proc, 1, "damaged")


@pytest.mark.parametrize("args", [[], ["ask"], ["frobnicate"], ["ask", "q", "--batch"]])
def test_usage_errors_exit_2(args):
    proc = run(args, None)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "usage" in proc.stderr.lower()


def test_ingest_builds_an_index(tmp_path):
    target = tmp_path / "idx"
    proc = run(["ingest", "--index", str(target)], None)
    assert proc.returncode == 0, proc.stderr
    assert "indexed 5 articles" in proc.stdout
    assert (target / "manifest.json").exists()


def test_a_reader_that_goes_away_is_not_an_error(real_index_dir, tmp_path):
    """`chatbot ask ... | head -c 10`: no error line, no traceback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATBOT_")}
    env.update(
        HF_HUB_OFFLINE="1", CHATBOT_INDEX_DIR=str(real_index_dir), CHATBOT_DATA_DIR=str(tmp_path)
    )
    lines = "".join(
        json.dumps({"question": "What causes restless legs?"}) + "\n" for _ in range(300)
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "chatbot", "ask", "--batch"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=env,
    )
    proc.stdin.write(lines.encode())
    proc.stdin.close()
    assert proc.stdout.read(10)
    proc.stdout.close()
    proc.wait(timeout=300)
    err = proc.stderr.read().decode()
    assert "Traceback" not in err and "error" not in err.lower(), err


def test_a_bad_setting_is_one_clear_error_line(tmp_path):
    proc = run(["ask", "iron?"], None, CHATBOT_PORT="abc", CHATBOT_DATA_DIR=str(tmp_path))
    assert_clean_error(proc, 1, "CHATBOT_PORT: Input should be a valid integer")
    assert len(proc.stderr.strip().splitlines()) == 1
