"""Triage cross-validated by bank: train on every bank of ``chatbot/safety/data/`` but one (as
``ingest`` trains, thresholds and all), measure on the held-out one through ``Triage.assess``.
A bank trained on says little about the next wave; this says what a new wave may expect.

Prints, per held-out bank: emergency reply rate, either tier, emergency-only reply on
near-misses, safety-net line on safety-net items, poison help, crisis line; and the failures with
``--failures``. Updates bench/RESULTS.md ("Triage, leave one bank out").

Run: `.venv/bin/python bench/triage_cv.py [--bank wave3.jsonl ...] [--failures]`
(`--cache FILE`: keep the embedded banks there; bench/triage_sweep.py sweeps the budgets).
"""

from __future__ import annotations

import argparse
import pickle
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import table, update_results  # noqa: E402


def pct(value: object) -> str:
    return "-" if value is None else f"{float(value) * 100:.1f}%"  # type: ignore[arg-type]


def embedded(examples: list, cache: Path | None, embed: Callable[[], Any]) -> Any:
    """The embedded banks, from ``cache`` when it holds these very examples (a sweep embeds
    once)."""
    if cache is not None and cache.exists():
        stored = pickle.loads(cache.read_bytes())
        if stored.examples == examples:
            return stored
    data = embed()
    if cache is not None:
        cache.write_bytes(pickle.dumps(data))
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bank", action="append", help="hold out only these banks")
    parser.add_argument("--failures", action="store_true", help="list each bank's failures")
    parser.add_argument("--no-results", action="store_true", help="do not update RESULTS.md")
    parser.add_argument("--cache", type=Path, help="keep the embedded banks in this pickle")
    args = parser.parse_args()

    from chatbot.embedding import SentenceTransformerEmbedder
    from chatbot.safety.model import TriageTargets, load_examples
    from chatbot.safety.training import embed_examples
    from chatbot.safety.validation import leave_one_set_out

    examples = load_examples()
    data = embedded(
        examples, args.cache, lambda: embed_examples(examples, SentenceTransformerEmbedder())
    )
    figures = leave_one_set_out(data, TriageTargets(), args.bank)
    rows = []
    for bank, r in figures.items():
        rows.append(
            [
                bank,
                f"{r['emergencies']} / {r['near_misses']}",
                pct(r["emergency_reply_rate"]),
                pct(r["caught_either_tier"]),
                pct(r["near_miss_emergency_only_rate"]),
                pct(r["safety_net_rate"]),
                pct(r["poison_help_named"]),
                pct(r["crisis_line_named"]),
            ]
        )
    head = [
        "held-out bank",
        "emerg. / near",
        "emergency reply",
        "either tier",
        "near-miss emergency-only",
        "net line on net items",
        "poison help",
        "crisis line",
    ]
    body = "\n".join(
        [
            f"{len(examples)} messages; each bank held out in turn (trained on the others).",
            "",
            table(head, rows),
        ]
    )
    print(body)
    if args.failures:
        for bank, r in figures.items():
            for key in (
                "missed",
                "false_emergencies",
                "poison_help_missing",
                "crisis_line_missing",
            ):
                if r[key]:
                    print(f"{bank} {key}: {', '.join(r[key])}")
    if not args.no_results and not args.bank:
        update_results("Triage, leave one bank out", body)


if __name__ == "__main__":
    main()
