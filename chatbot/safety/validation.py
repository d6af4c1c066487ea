"""Leave-one-set-out cross-validation of triage: train on every bank but one, measure on it.

The banks in ``chatbot/safety/data/`` were written in waves by different authors; a model scored
on a wave it was trained on says little about the next wave. Here each bank is held out in turn:
the layers are trained (thresholds and all, as ``ingest`` does) on the others, and the held-out
messages go through ``Triage.assess`` as a patient's would (the rules, a second turn read with the
first, the learned layers), reported with ``scoring.tier_report``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from chatbot.safety.contacts import country_lines
from chatbot.safety.emergency import read_rules
from chatbot.safety.model import TriageModel, TriageTargets
from chatbot.safety.scoring import tier_report
from chatbot.safety.training import (
    TrainingData,
    choose_thresholds,
    cross_validate,
    fit_layers,
    vetoable_rules,
)
from chatbot.safety.triage import Triage


def bank_of(example_id: str) -> str:
    """The bank (training file) an example comes from."""
    return example_id.split(":", 1)[0]


def subset(data: TrainingData, keep: np.ndarray) -> TrainingData:
    """The examples where ``keep`` is true."""
    idx = np.flatnonzero(keep)
    return TrainingData(
        [data.examples[i] for i in idx],
        [data.vectors[i] for i in idx],
        [data.cues[i] for i in idx],
        data.tier[idx],
        data.kind[idx],
        data.near_miss[idx],
        [data.chars[i] for i in idx],
        [data.units[i] for i in idx],
    )


def verdicts(model: TriageModel | None, data: TrainingData, country: str = "US") -> list[dict]:
    """Each example of ``data`` through ``Triage.assess`` as the answer object's
    status / answer / safety (the vectors of its triage texts given, as served they ride along
    in the retriever's model call)."""
    triage = Triage(model, _NoEmbedder(), country_lines(country))
    out = []
    for ex, vectors in zip(data.examples, data.vectors, strict=True):

        def read(v: np.ndarray = vectors) -> np.ndarray:
            triage.embedder.give(v)
            return v[0]

        verdict = triage.assess(ex.text, ex.previous, read)
        emergency = verdict.tier == "emergency"
        text = triage.emergency_text(verdict) if emergency else "..."
        if verdict.tier == "safety_net":
            text = triage.net_line(verdict)
        out.append(
            {
                "status": "emergency" if emergency else "answered",
                "answer": text,
                "safety": triage.safety_field(verdict),
            }
        )
    return out


def report(data: TrainingData, answers: list[dict]) -> dict[str, Any]:
    """``tier_report`` over the examples that have a tier."""
    return tier_report(
        (ex.id, ex.tier if ex.tier != "unknown" else "", ex.kind, a)
        for ex, a in zip(data.examples, answers, strict=True)
    )


def leave_one_set_out(
    data: TrainingData, targets: TriageTargets, banks: Iterable[str] | None = None
) -> dict[str, dict[str, Any]]:
    """For each bank (default: every one with emergencies), the tier figures of a model trained
    without it."""
    names = [bank_of(ex.id) for ex in data.examples]
    with_emergencies = {n for n, t in zip(names, data.tier, strict=True) if t == "emergency"}
    wanted = list(banks) if banks is not None else list(dict.fromkeys(names))
    # A bank without emergencies is left out before a model is trained without it.
    return sweep(data, [targets], [b for b in wanted if b in with_emergencies])[0]


def sweep(
    data: TrainingData, grid: Sequence[TriageTargets], banks: Iterable[str] | None = None
) -> list[dict[str, dict[str, Any]]]:
    """Leave one bank out for each setting of the budgets in ``grid`` (they differ in budgets
    only: the folds, regularisation and neighbours of the first are used): per setting, per bank
    (default: every one), the tier figures of a model trained without it, and
    ``ordinary_emergency_rate`` (its ordinary questions given the emergency-only reply). The
    layers are trained once a bank; each setting only chooses its thresholds."""
    names = np.array([bank_of(ex.id) for ex in data.examples])
    wanted = list(banks) if banks is not None else list(dict.fromkeys(names))
    out: list[dict[str, dict[str, Any]]] = [{} for _ in grid]
    for bank in wanted:
        held = names == bank
        train, test = subset(data, ~held), subset(data, held)
        oof = cross_validate(train, grid[0])
        readings = [read_rules(ex.text) for ex in train.examples]
        layers = fit_layers(train, grid[0], {}, {})
        vetoable = vetoable_rules(train, readings)
        ordinary = [ex.tier != "emergency" and not ex.near_miss for ex in test.examples]
        for figures, targets in zip(out, grid, strict=True):
            thresholds, _ = choose_thresholds(train, oof, readings, targets, vetoable)
            answers = verdicts(replace(layers, thresholds=thresholds, vetoable=vetoable), test)
            r = report(test, answers)
            pairs = zip(answers, ordinary, strict=True)
            alarms = [a["status"] == "emergency" for a, o in pairs if o]
            r["ordinary"] = len(alarms)
            r["ordinary_emergency_rate"] = sum(alarms) / len(alarms) if alarms else None
            figures[bank] = r
    return out


class _NoEmbedder:
    """Stands for the retriever's embedder: every vector is given, none is computed."""

    name, dim = "given", 0

    def encode(self, texts: list[str]) -> np.ndarray:
        raise RuntimeError("validation gives every vector")

    def count_word_pieces(self, text: str) -> int:
        return len(text.split())
