"""How the approved-answer match was chosen: on tests/approved_pairs.jsonl (14 topics, each with
two example questions, paraphrases and near-opposites; dev and test halves), how many
paraphrases, near-opposites and other topics' questions would get a topic's answer, by the
cosine alone and with the key-word guard, as the threshold varies.

    .venv/bin/python bench/approved_threshold.py

The threshold (``review.approved.MATCH_COSINE``) is the highest one with the best dev
paraphrase rate and no dev near-opposite or other-topic match; test is reported apart.
Examples only (an approved answer's quotes widen what it knows, so real recall is higher).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from chatbot.embedding import SentenceTransformerEmbedder  # noqa: E402
from chatbot.review.approved import MATCH_COSINE, unknown_words  # noqa: E402

THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8)


def main() -> None:
    emb = SentenceTransformerEmbedder()
    items = [json.loads(line) for line in (ROOT / "tests" / "approved_pairs.jsonl").open()]
    rows = []  # (split, kind, cosine, guard passes)
    for t in items:
        ex = emb.encode(t["examples"])
        others = [q for o in items if o is not t for q in o["positives"] + o["examples"]]
        for kind, qs in (("pos", t["positives"]), ("near", t["negatives"]), ("other", others)):
            cos = np.max(emb.encode(qs) @ ex.T, axis=1)
            for q, c in zip(qs, cos, strict=True):
                rows.append((t["split"], kind, float(c), not unknown_words(q, t["examples"])))
    for split in ("dev", "test"):
        n = {
            k: sum(1 for r in rows if r[0] == split and r[1] == k) for k in ("pos", "near", "other")
        }
        print(
            f"\n{split}: {n['pos']} paraphrases, {n['near']} near-opposites, "
            f"{n['other']} other topics' questions"
        )
        print("threshold  | cosine alone: para  near  other | with the guard: para  near  other")
        for th in THRESHOLDS:
            alone = {
                k: sum(1 for r in rows if r[0] == split and r[1] == k and r[2] >= th) for k in n
            }
            guard = {
                k: sum(1 for r in rows if r[0] == split and r[1] == k and r[2] >= th and r[3])
                for k in n
            }
            mark = "  <- MATCH_COSINE" if abs(th - MATCH_COSINE) < 1e-9 else ""
            print(
                f"{th:9.2f}  | {alone['pos']:>17} {alone['near']:>5} {alone['other']:>6} | "
                f"{guard['pos']:>19} {guard['near']:>5} {guard['other']:>6}{mark}"
            )


if __name__ == "__main__":
    main()
