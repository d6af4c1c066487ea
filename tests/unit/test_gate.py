"""The learned gate (``chatbot/retrieval/gate.py``): the stored model, its number, its data."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from chatbot.retrieval.gate import (
    ANCHOR,
    FEATURES,
    MEASURED,
    MODEL_FILE,
    TRAINER_VERSION,
    GateModel,
    GateReading,
    exemplar_features,
    stored_gate,
)

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import train_gate  # noqa: E402


def _model(threshold: float = 0.7) -> GateModel:
    n = len(FEATURES)
    coef = np.zeros(n)
    coef[FEATURES.index("coverage")] = 2.0
    bank = np.eye(2, 4, dtype=np.float32)
    return GateModel(
        FEATURES,
        np.zeros(n),
        np.ones(n),
        coef,
        -1.0,
        threshold,
        "m",
        "k",
        TRAINER_VERSION,
        bank,
        np.array([1, 0]),
    )


def test_the_stored_gate_is_fitted_on_the_current_sets_and_corpus():
    """A set, the staff's examples or an article changed without ``bench/train_gate.py`` run
    again: the stored gate is stale, and this says so."""
    data = json.loads(MODEL_FILE.read_text("utf-8"))
    assert data["trainer"] == TRAINER_VERSION and tuple(data["features"]) == FEATURES
    paths = list(train_gate.SETS.values())
    assert data["key"] == train_gate.data_key(paths, ROOT / "corpus"), "run bench/train_gate.py"
    # the held-back final sets are never learned from
    assert all("final" not in p.name for p in paths)
    assert stored_gate(data["model"]) is not None and stored_gate("another-model") is None
    cv = data["report"]["cross_validated"]
    assert {"project", "holdout", "blind2", "q1", "q2", "q3", "examples", "all"} <= set(cv)


def test_the_number_moves_the_operating_point_to_the_anchor():
    gate = _model(threshold=0.7)
    for coverage in (0.0, 0.3, 0.6, 0.8, 1.0):
        reading = GateReading(dict.fromkeys(MEASURED, 0.0) | {"coverage": coverage})
        p = gate.probability(reading)
        assert (gate.relevance(reading) >= ANCHOR) == (p >= 0.7)
        assert 0.0 <= gate.relevance(reading) <= 1.0
    low = GateReading(dict.fromkeys(MEASURED, 0.0) | {"coverage": 0.1})
    high = GateReading(dict.fromkeys(MEASURED, 0.0) | {"coverage": 0.9})
    assert gate.relevance(low) < gate.relevance(high)


def test_exemplars_leave_the_same_question_out():
    bank = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], dtype=np.float32)
    labels = np.array([1, 0, 1])
    ex = exemplar_features(np.array([1.0, 0.0]), bank, labels, k=1)
    assert ex["near_covered"] == pytest.approx(0.6)  # itself (cosine 1.0) left out
    assert ex["near_uncovered"] == pytest.approx(0.0)
    assert exemplar_features(None, bank, labels)["near_margin"] == 0.0


def test_save_and_load_round_trip_and_a_bad_file_is_refused(tmp_path):
    gate = _model()
    gate.save(tmp_path / "g.json", tmp_path / "b.npz")
    again = GateModel.load(tmp_path / "g.json", tmp_path / "b.npz")
    assert again is not None and again.features == gate.features
    reading = GateReading(dict.fromkeys(MEASURED, 0.5), np.array([1, 0, 0, 0], dtype=np.float32))
    assert again.relevance(reading) == pytest.approx(gate.relevance(reading), abs=1e-3)
    (tmp_path / "bad.json").write_text("{not json", "utf-8")
    assert GateModel.load(tmp_path / "bad.json") is None
    (tmp_path / "old.json").write_text(json.dumps({"trainer": -1}), "utf-8")
    assert GateModel.load(tmp_path / "old.json") is None
    assert GateModel.load(tmp_path / "missing.json") is None


def test_the_operating_point_answers_the_target_share():
    p = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95])
    y = np.ones(10, dtype=int)
    t = train_gate.operating_point(p, y, target=0.9)
    assert (p >= t).mean() >= 0.9 and (p >= t).mean() < 1.0


def test_the_gate_steps_aside_when_the_articles_changed():
    """Staff added an article in the library: an "uncovered" example may be covered now."""
    data = json.loads(MODEL_FILE.read_text("utf-8"))
    corpus = {p.stem for p in (ROOT / "corpus").glob("*.md") if p.stem != "README"}
    assert set(data["articles"]) == corpus
    gate = _model()
    gate.articles = ("a", "b")
    assert gate.fits({"a": 1, "b": 2}) and not gate.fits({"a": 1, "b": 2, "new": 3})
