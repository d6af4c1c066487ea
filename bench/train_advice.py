"""Fit the learned personal-advice check (``chatbot/safety/advice.py``) and judge it by
leave-one-set-out, beside the hand-written patterns it reads as one of its features.

A message asks for personal advice when it asks the bot to decide for this person what only
their own doctor can: a dose, starting / stopping / switching / combining their medicine,
whether their own result or case means something. The check is a logistic regression over the
message's vector (what triage embeds: ``features.triage_texts(message)[0]``, the same vector
the served path already has) and the patterns' verdict (``personal_advice_match``), fitted here
with scikit-learn and applied in the app with numpy. Its coefficients, the operating point and
the key of the data live in one named place, ``chatbot/safety/data/advice.json``.

The sets (each one group for cross-validation; grow them here):
* ``t8``: a blind author's scope bank (tests/scope_t8.jsonl): "advice" items positive, covered
  and near-topic questions negative;
* ``safety``: the safety set's dosing / medication-change / diagnosis / injection items positive,
  its general questions negative;
* ``dev``: the project's dev question sets: ``pers-`` items positive, every other answer or
  abstain item without history negative.

Leave one set out: each set's messages scored by a model fitted on the other sets; the operating
point is the highest threshold at which those held-out predictions, pooled, catch ``RECALL`` of
the advice requests; each set's figures at it are printed beside the patterns' (the threshold
saw every set's held-out predictions, so they are a little kind to the model). The stored model
is fitted on all sets, with that threshold.

    .venv/bin/python bench/train_advice.py [--check]

Never add a held-back set (tests/questions_final*.jsonl, tests/safety_final*.jsonl).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from common import ROOT  # noqa: E402  (puts the project on sys.path and keeps it offline)

TESTS = ROOT / "tests"
DEV = ["questions", "questions_holdout", "questions_blind2", "questions_q1", "questions_q2"]
DEV += ["questions_q3", "questions_q4", "questions_q5"]
PERSONAL = {"medication_change", "dosing", "diagnosis"}
RECALL = 0.75  # the share of advice requests the operating point must catch
C = 1.0  # the logistic regression's inverse regularisation
TRAINER_VERSION = 1


def examples() -> list[tuple[str, str, int]]:
    """(set, message, 1 for a request for personal advice else 0)."""
    return [(s, q, y) for s, q, y, _ in labelled()]


def labelled() -> list[tuple[str, str, int, bool]]:
    """(set, message, 1 for a request for personal advice else 0, a covered question?)."""
    out = []
    for bank in ("t8", "t9"):
        for line in (TESTS / f"scope_{bank}.jsonl").open(encoding="utf-8"):
            row = json.loads(line)
            label = row["label"]
            out.append((bank, row["question"], int(label == "advice"), label == "answer"))
    for line in (TESTS / "safety_set.jsonl").open(encoding="utf-8"):
        row = json.loads(line)
        if row.get("category") in PERSONAL:
            out.append(("safety", row["question"], 1, False))
        elif row.get("category") == "general":
            out.append(("safety", row["question"], 0, row.get("expected_behaviour") == "answer"))
    for name in DEV:
        for line in (TESTS / f"{name}.jsonl").open(encoding="utf-8"):
            row = json.loads(line)
            if row.get("history"):
                continue
            expected = row.get("expected_behaviour")
            if row["id"].startswith("pers-"):
                out.append(("dev", row["question"], 1, False))
            elif expected in ("answer", "abstain"):
                out.append(("dev", row["question"], 0, expected == "answer"))
    return out


def data_key(rows: list[tuple[str, str, int]]) -> str:
    h = hashlib.sha256(f"trainer {TRAINER_VERSION}".encode())
    for s, q, y in rows:
        h.update(f"{s}\t{q}\t{y}\n".encode())
    return h.hexdigest()[:16]


def design(texts: list[str]) -> np.ndarray:
    from chatbot.embedding import SentenceTransformerEmbedder
    from chatbot.safety.advice import advice_features
    from chatbot.safety.features import triage_texts

    model = SentenceTransformerEmbedder()
    vectors = model.encode([triage_texts(t)[0] for t in texts])
    return np.stack([advice_features(t, v) for t, v in zip(texts, vectors, strict=True)])


def fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=C, max_iter=5000, class_weight="balanced")
    lr.fit(x, y)
    return lr.coef_[0], float(lr.intercept_[0])


def prob(x: np.ndarray, coef: np.ndarray, intercept: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(x @ coef + intercept)))


def operating_point(p: np.ndarray, y: np.ndarray) -> float:
    """The highest threshold that still catches ``RECALL`` of the advice requests."""
    pos = np.sort(p[y == 1])
    return float(pos[int(np.floor((1 - RECALL) * len(pos)))]) if len(pos) else 0.5


def loso(x: np.ndarray, y: np.ndarray, sets: np.ndarray) -> np.ndarray:
    """Each row's probability from a model fitted without its set."""
    out = np.zeros(len(y))
    for s in sorted(set(sets)):
        coef, b = fit(x[sets != s], y[sets != s])
        out[sets == s] = prob(x[sets == s], coef, b)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report; write no model")
    args = parser.parse_args()
    from chatbot.safety.advice import ADVICE_FILE, is_personal_advice

    rows = examples()
    covered = np.array([c for *_, c in labelled()])
    sets = np.array([s for s, _, _ in rows])
    texts = [q for _, q, _ in rows]
    y = np.array([lab for _, _, lab in rows])
    x = design(texts)
    patterns = np.array([is_personal_advice(t) for t in texts])
    p = loso(x, y, sets)
    threshold = operating_point(p, y)
    learned = p >= threshold
    print(f"{len(rows)} messages, {int(y.sum())} requests for personal advice")
    print(
        "set       advice  other  covered   patterns: caught  covered refused"
        "   learned (LOSO): caught  covered refused"
    )
    for s in [*sorted(set(sets)), "all"]:
        m = np.ones(len(y), bool) if s == "all" else sets == s
        pos, neg, cov = m & (y == 1), m & (y == 0), m & covered
        print(
            f"{s:8} {pos.sum():7} {neg.sum():6} {cov.sum():8}   {patterns[pos].mean():16.1%} "
            f"{patterns[cov].mean():16.1%}   {learned[pos].mean():22.1%} "
            f"{learned[cov].mean():16.1%}"
        )
    coef, b = fit(x, y)
    model = {
        "trainer_version": TRAINER_VERSION,
        "embedder": "all-MiniLM-L6-v2",
        "data_key": data_key(rows),
        "threshold": round(threshold, 6),
        "intercept": b,
        "coef": [round(float(c), 6) for c in coef],
    }
    print(f"stored model: threshold {threshold:.4f}, key {model['data_key']}", end="")
    if args.check:
        print(" (not written)")
        return
    ADVICE_FILE.write_text(json.dumps(model, indent=1) + "\n", encoding="utf-8")
    print(f" -> {ADVICE_FILE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
