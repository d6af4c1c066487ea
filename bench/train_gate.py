"""Fit the learned gate (``chatbot/retrieval/gate.py``) and judge it by leave-one-set-out.

Every labelled question of the training sets (answer items: covered; abstain items: not) is
asked through ``Bot.ask``, the app's own path; the gate's features are what the retriever
measured for it (``Retriever.last_reading``). Questions the gate never decides (an emergency, a
request for personal advice) are left out. Then:

* **Leave one set out**: for each set, a logistic regression fitted on the other sets, its
  operating point chosen on *their* cross-validated predictions (an inner leave-one-set-out) as
  the highest threshold that still answers ``TARGET`` of their covered questions, applied to the
  held-out set. Those are the figures that count (printed per set).
* **The stored gate**: fitted on every set, its threshold chosen on the leave-one-set-out
  predictions of all sets, written to ``chatbot/retrieval/data/gate.json`` and the exemplar bank
  (each question's vector and label) to ``gate_bank.npz``.

The exemplar features (the nearest covered / uncovered questions by meaning) of a training
question are read against the *other* sets only, as a new question will be.

    .venv/bin/python bench/train_gate.py [--check] [--json]

``--check`` fits and reports without writing the model. Never add a held-back set
(``tests/questions_final1.jsonl``) to ``SETS``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

from chatbot.retrieval.gate import (  # noqa: E402
    FEATURES,
    TRAINER_VERSION,
    GateModel,
    exemplar_features,
)

TESTS = ROOT / "tests"
# The labelled sets the gate learns from, by name (a set is one group for cross-validation).
SETS = {
    "project": TESTS / "questions.jsonl",
    "holdout": TESTS / "questions_holdout.jsonl",
    "blind2": TESTS / "questions_blind2.jsonl",
    "q1": TESTS / "questions_q1.jsonl",
    "q2": TESTS / "questions_q2.jsonl",
    "q3": TESTS / "questions_q3.jsonl",
    "q4": TESTS / "questions_q4.jsonl",
    # Staff's examples (covered questions in patients' dramatic words, near-topic questions the
    # articles do not cover; a "should not have answered" verdict becomes one): grow it here.
    "examples": ROOT / "chatbot" / "retrieval" / "data" / "gate_examples.jsonl",
    # Blind authors' scope banks: covered questions, and near-topic ones the articles do not
    # cover, worded alike (t8 and t9 also hold requests for personal advice: not the gate's).
    "t8": TESTS / "scope_t8.jsonl",
    "t9": TESTS / "scope_t9.jsonl",
    "t10": TESTS / "scope_t10.jsonl",
}
TARGET = 0.97  # the share of covered questions the operating point must answer
C = 1.0  # the logistic regression's inverse regularisation (features standardised)


def data_key(paths: list[Path], corpus_dir: Path) -> str:
    """The key of what the gate is fitted on: the sets, the corpus and the trainer version."""
    h = hashlib.sha256(f"trainer {TRAINER_VERSION}".encode())
    for p in [*paths, *sorted(corpus_dir.glob("*.md"))]:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def load_labelled(path: Path) -> list[tuple[str, str, str, list[tuple[str, str]]]]:
    """A set's (id, question, expected behaviour, history) items; a scope bank's lines (a
    ``label`` of answer / abstain / advice, no gold quotes) are read the same way."""
    from chatbot.evaluation import load_questions

    lines = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    if lines and "label" in lines[0] and "expected_behaviour" not in lines[0]:
        return [(line["id"], line["question"], line["label"], []) for line in lines]
    return [(i.id, i.question, i.expected, list(i.history)) for i in load_questions(path)]


def collect(bot: Any) -> list[dict[str, Any]]:
    """One row per labelled question the gate decides: its set, id, label, features, vector."""
    from chatbot.safety.advice import is_personal_advice
    from chatbot.types import Turn

    rows = []
    for name, path in SETS.items():
        for iid, question, expected, turns in load_labelled(path):
            if expected not in ("answer", "abstain"):
                continue
            history = [Turn(role, content) for role, content in turns]
            bot.retriever._last.reading = None
            answer = bot.ask(question, history, channel="eval")
            reading = bot.retriever.last_reading()
            if answer.status == "emergency" or reading is None or is_personal_advice(question):
                continue
            rows.append(
                {
                    "set": name,
                    "id": iid,
                    "question": question,
                    "label": int(expected == "answer"),
                    "measured": reading.measured,
                    "vector": np.asarray(reading.vector, dtype=np.float32),
                }
            )
    return rows


def matrix(rows: list[dict[str, Any]], bank_rows: list[dict[str, Any]]) -> np.ndarray:
    """Features of ``rows``; the exemplar ones against ``bank_rows`` of other sets only."""
    bank = np.array([r["vector"] for r in bank_rows]) if bank_rows else np.zeros((0, 1))
    labels = np.array([r["label"] for r in bank_rows])
    sets = np.array([r["set"] for r in bank_rows])
    out = []
    for r in rows:
        keep = sets != r["set"]
        ex = exemplar_features(r["vector"], bank[keep], labels[keep])
        values = {**r["measured"], **ex}
        out.append([values[f] for f in FEATURES])
    return np.array(out, dtype=float)


def fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    lr = LogisticRegression(C=C, max_iter=5000)
    lr.fit((x - mean) / scale, y)
    return mean, scale, lr.coef_[0], float(lr.intercept_[0])


def predict(model: tuple[np.ndarray, np.ndarray, np.ndarray, float], x: np.ndarray) -> np.ndarray:
    mean, scale, coef, b = model
    return np.asarray(1.0 / (1.0 + np.exp(-(((x - mean) / scale) @ coef + b))))


def operating_point(p: np.ndarray, y: np.ndarray, target: float = TARGET) -> float:
    """The highest threshold under which at least ``target`` of the covered questions pass."""
    covered = np.sort(p[y == 1])
    if not len(covered):
        return 0.5
    k = int(np.floor((1.0 - target) * len(covered) + 1e-9))  # how many may fall under it
    return float(covered[k]) - 1e-9


def loso(rows: list[dict[str, Any]], names: list[str]) -> np.ndarray:
    """Leave-one-set-out probabilities of ``rows`` (over the sets ``names``)."""
    p = np.zeros(len(rows))
    for held in names:
        train = [r for r in rows if r["set"] != held]
        test_i = [i for i, r in enumerate(rows) if r["set"] == held]
        if not test_i or not train:
            continue
        model = fit(matrix(train, train), np.array([r["label"] for r in train]))
        p[test_i] = predict(model, matrix([rows[i] for i in test_i], train))
    return p


def rates(p: np.ndarray, y: np.ndarray, t: float) -> tuple[float, float]:
    answered = float((p[y == 1] >= t).mean()) if (y == 1).any() else float("nan")
    abstained = float((p[y == 0] < t).mean()) if (y == 0).any() else float("nan")
    return answered, abstained


def cross_validate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Each set's figures with the gate fitted, and its threshold chosen, without it."""
    names = list(dict.fromkeys(r["set"] for r in rows))
    y = np.array([r["label"] for r in rows])
    out: dict[str, Any] = {}
    all_p = np.zeros(len(rows))
    all_t = np.zeros(len(rows))
    for held in names:
        train = [r for r in rows if r["set"] != held]
        ty = np.array([r["label"] for r in train])
        inner = loso(train, [n for n in names if n != held])
        t = operating_point(inner, ty)
        model = fit(matrix(train, train), ty)
        idx = [i for i, r in enumerate(rows) if r["set"] == held]
        p = predict(model, matrix([rows[i] for i in idx], train))
        all_p[idx], all_t[idx] = p, t
        answered, abstained = rates(p, y[idx], t)
        out[held] = {
            "covered": int(y[idx].sum()),
            "uncovered": int((1 - y[idx]).sum()),
            "answered": round(answered, 4),
            "abstained": round(abstained, 4),
            "threshold": round(t, 4),
            "refused": [rows[i]["id"] for i, pi in zip(idx, p, strict=True) if y[i] and pi < t],
            "let_through": [
                rows[i]["id"] for i, pi in zip(idx, p, strict=True) if not y[i] and pi >= t
            ],
        }
    passed = all_p >= all_t
    out["all"] = {
        "answered": round(float(passed[y == 1].mean()), 4),
        "abstained": round(float((~passed[y == 0]).mean()), 4),
    }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="report only; write nothing")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--features", type=Path, help="read/write the collected rows here")
    args = parser.parse_args(argv)

    from chatbot.config import load_settings
    from chatbot.pipeline import build_bot

    settings = load_settings()
    if args.features and args.features.exists():
        raw = json.loads(args.features.read_text("utf-8"))
        rows = [{**r, "vector": np.array(r["vector"], dtype=np.float32)} for r in raw["rows"]]
        model_name = raw["model"]
    else:
        bot = build_bot(settings, log=False)
        rows = collect(bot)
        model_name = bot.embedder.name
        if args.features:
            dump = [{**r, "vector": [float(v) for v in r["vector"]]} for r in rows]
            args.features.write_text(json.dumps({"model": model_name, "rows": dump}), "utf-8")
    cv = cross_validate(rows)
    names = list(dict.fromkeys(r["set"] for r in rows))
    y = np.array([r["label"] for r in rows])
    threshold = operating_point(loso(rows, names), y)
    mean, scale, coef, b = fit(matrix(rows, rows), y)
    key = data_key(list(SETS.values()), Path(settings.paths.corpus_dir))
    report = {
        "target_answered": TARGET,
        "C": C,
        "rows": len(rows),
        "cross_validated": {
            k: {kk: vv for kk, vv in v.items() if kk not in ("refused", "let_through")}
            for k, v in cv.items()
        },
    }
    from chatbot.corpus import load_corpus

    articles = tuple(sorted(a.id for a in load_corpus(Path(settings.paths.corpus_dir))))
    gate = GateModel(
        FEATURES,
        mean,
        scale,
        coef,
        b,
        threshold,
        model_name,
        key,
        TRAINER_VERSION,
        np.array([r["vector"] for r in rows], dtype=np.float32),
        y.astype(int),
        report,
        articles,
    )
    if not args.check:
        gate.save()
    if args.json:
        print(json.dumps({"cv": cv, "threshold": threshold, "key": key}, indent=1))
        return 0
    print(f"{len(rows)} questions the gate decides; features: {len(FEATURES)}")
    print(f"{'set':<10} {'covered':>7} {'uncov.':>7} {'answered':>9} {'abstained':>10} threshold")
    for name in [*names, "all"]:
        v = cv[name]
        if name == "all":
            print(f"{'all':<10} {'':>7} {'':>7} {v['answered']:>9.1%} {v['abstained']:>10.1%}")
            continue
        print(
            f"{name:<10} {v['covered']:>7} {v['uncovered']:>7} {v['answered']:>9.1%} "
            f"{v['abstained']:>10.1%} {v['threshold']:.3f}"
        )
    for name in names:
        v = cv[name]
        if v["refused"] or v["let_through"]:
            print(f"  {name}: refused {v['refused']}; let through {v['let_through']}")
    print(
        f"stored gate: threshold {threshold:.4f}, key {key}"
        + (" (not written)" if args.check else "")
    )
    for f, c in sorted(zip(FEATURES, coef, strict=True), key=lambda t: -abs(t[1])):
        print(f"  {f:<16} {c:+.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
