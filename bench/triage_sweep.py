"""Sweep the budgets of ``TriageTargets`` by leave-one-bank-out cross-validation: for each
setting, each bank's figures from a model trained without it (``validation.sweep``: the layers
trained once a bank, each setting only chooses its thresholds).

Prints, per setting, each bank's emergency reply rate, near-misses given the emergency-only
reply and ordinary questions given it (answers_dev.jsonl held out: the ordinary questions), and
the worst bank of each; `--results` records the table in bench/RESULTS.md ("Triage budgets,
swept").

Run: `.venv/bin/python bench/triage_sweep.py --grid emergency_false_rate=0.01,0.02,0.03
--grid sentence_false_rate=0.002,0.01 [--tie knn_false_rate=emergency_false_rate*0.5]
[--cache /tmp/triage_banks.pkl] [--results]` (the grid is every combination).
"""

from __future__ import annotations

import argparse
import itertools
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import table, update_results  # noqa: E402
from triage_cv import embedded, pct  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2,...")
    parser.add_argument(
        "--tie",
        action="append",
        default=[],
        metavar="NAME=OTHER[*FACTOR]",
        help="NAME follows OTHER (times FACTOR)",
    )
    parser.add_argument("--bank", action="append", help="hold out only these banks")
    parser.add_argument("--cache", type=Path, help="keep the embedded banks in this pickle")
    parser.add_argument("--results", action="store_true", help="record in RESULTS.md")
    args = parser.parse_args()

    from chatbot.embedding import SentenceTransformerEmbedder
    from chatbot.safety.model import TriageTargets, load_examples
    from chatbot.safety.training import embed_examples
    from chatbot.safety.validation import sweep

    examples = load_examples()
    data = embedded(
        examples, args.cache, lambda: embed_examples(examples, SentenceTransformerEmbedder())
    )
    axes = [
        (n, [float(v) for v in vs.split(",")]) for n, vs in (g.split("=", 1) for g in args.grid)
    ]
    ties = [t.split("=", 1) for t in args.tie]
    base = TriageTargets()
    grid = []
    for values in itertools.product(*(vs for _, vs in axes)):
        setting = dict(zip([n for n, _ in axes], values, strict=True))
        for name, other in ties:
            other, _, factor = other.partition("*")
            setting[name] = setting.get(other, getattr(base, other)) * float(factor or 1)
        grid.append(setting)
    results = sweep(data, [replace(base, **s) for s in grid], args.bank)
    blocks = []
    for setting, figures in zip(grid, results, strict=True):
        rows = [
            [
                bank,
                pct(r["emergency_reply_rate"]),
                pct(r["caught_either_tier"]),
                pct(r["near_miss_emergency_only_rate"]),
                pct(r["ordinary_emergency_rate"]),
                pct(r["poison_help_named"]),
                pct(r["crisis_line_named"]),
            ]
            for bank, r in figures.items()
        ]
        with_em = [r for r in figures.values() if r["emergencies"]]
        caught = sum(round(r["emergency_reply_rate"] * r["emergencies"]) for r in with_em)
        total = sum(r["emergencies"] for r in with_em)
        near = [r["near_miss_emergency_only_rate"] or 0.0 for r in with_em]
        ordinary = [
            r["ordinary_emergency_rate"]
            for r in figures.values()
            if r["ordinary_emergency_rate"] is not None
        ]
        head = ["held-out bank", "emergency reply", "either tier", "near-miss em.-only"]
        head += ["ordinary em.-only", "poison help", "crisis line"]
        label = ", ".join(f"{k}={v:g}" for k, v in setting.items()) or "defaults"
        blocks.append(
            f"**{label}**: emergency reply {caught}/{total} ({caught / total * 100:.1f}%), "
            f"worst bank {min(r['emergency_reply_rate'] for r in with_em) * 100:.1f}%; "
            f"near-miss emergency-only worst bank {max(near) * 100:.1f}%; "
            f"ordinary questions emergency-only worst {max(ordinary, default=0) * 100:.1f}%\n\n"
            + table(head, rows)
        )
    body = "\n\n".join(blocks)
    print(body)
    if args.results:
        update_results("Triage budgets, swept", body)


if __name__ == "__main__":
    main()
