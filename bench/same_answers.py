"""Are the answers still the same? Every answer object for the project's question and safety
sets, recorded once and compared after a change, byte for byte.

Each set's lines go through ``cli.ask.ask_batch`` (what ``chatbot ask --batch`` runs) on one
bot built as the CLI builds it, with the review store in a fresh temporary folder (so no
earlier log or staff decision changes an answer). The per-answer fields that differ on every
run (``id``, ``timings``) are dropped; everything else, floats included, must match.

Run: `.venv/bin/python bench/same_answers.py --record` (writes bench/out/answers/*.jsonl), then
after a change `.venv/bin/python bench/same_answers.py` (compares; exit 1 and the first
differences when any answer changed). `--sets a.jsonl b.jsonl` limits it to some sets.
Held-back sets are compared like the others but their answers are never printed.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SETS = [
    "questions.jsonl",
    "questions_holdout.jsonl",
    "questions_blind2.jsonl",
    "questions_q1.jsonl",
    "questions_q2.jsonl",
    "questions_final1.jsonl",
    "safety_set.jsonl",
    "safety_wave1.jsonl",
    "safety_wave2.jsonl",
    "safety_final1.jsonl",
]
HELD_BACK = {"questions_final1.jsonl", "safety_final1.jsonl"}
OUT = ROOT / "bench" / "out" / "answers"
VOLATILE = ("id", "timings")


def stable(line: str) -> str:
    """One answer line without the fields that change on every run, keys in a fixed order."""
    obj = json.loads(line)
    for key in VOLATILE:
        obj.pop(key, None)
    return json.dumps(obj, ensure_ascii=False, sort_keys=True)


def answer_sets(names: list[str]) -> dict[str, list[str]]:
    from chatbot.cli.ask import ask_batch
    from chatbot.config import load_settings
    from chatbot.pipeline import build_bot

    bot = build_bot(load_settings())
    out: dict[str, list[str]] = {}
    for name in names:
        lines = (ROOT / "tests" / name).read_text().splitlines()
        buffer = io.StringIO()
        ask_batch(bot, lines, buffer)
        out[name] = [stable(line) for line in buffer.getvalue().splitlines()]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", action="store_true", help="record the reference answers")
    parser.add_argument("--sets", nargs="*", default=SETS, help="set files in tests/")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data:
        os.environ["CHATBOT_DATA_DIR"] = data
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        t = time.perf_counter()
        got = answer_sets(args.sets)
        seconds = time.perf_counter() - t
    total = sum(len(v) for v in got.values())
    if args.record:
        OUT.mkdir(parents=True, exist_ok=True)
        for name, lines in got.items():
            (OUT / name).write_text("\n".join(lines) + "\n")
        print(f"recorded {total} answers of {len(got)} sets in {OUT} ({seconds:.0f} s)")
        return 0
    changed = 0
    for name, lines in got.items():
        reference = (OUT / name).read_text().splitlines()
        diffs = [i for i, (a, b) in enumerate(zip(reference, lines, strict=False)) if a != b]
        if len(reference) != len(lines):
            diffs.append(min(len(reference), len(lines)))
        changed += len(diffs)
        print(f"{name}: {len(lines)} answers, {len(diffs)} changed")
        if diffs and name not in HELD_BACK:
            i = diffs[0]
            print(f"  first change, line {i + 1}:")
            print(f"    was: {reference[i][:600] if i < len(reference) else '(none)'}")
            print(f"    now: {lines[i][:600] if i < len(lines) else '(none)'}")
    verdict = "the same" if not changed else f"{changed} answers changed"
    print(f"{total} answers of {len(got)} sets: {verdict} ({seconds:.0f} s)")
    return 0 if not changed else 1


if __name__ == "__main__":
    raise SystemExit(main())
