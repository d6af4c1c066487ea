"""The gate: whether the articles cover a question at all, learned from labelled questions.

A small logistic regression (``bench/train_gate.py`` fits it with scikit-learn; here it is
applied with numpy, deterministically) over what the retriever already measures for a question
(``GateReading``): the best and top-3 sentence cosines and lexical matches, the coverage of the
question's words by the articles' lexicon and the meaning left without the words they never
use, the same for the sentence that asks in a story, the facet fit, the share of promotion in
the top sentences, and its nearest labelled questions by meaning (an exemplar bank of covered
and uncovered questions). Its coefficients, the feature scaling, the operating point and the
exemplar bank live in one named place, ``chatbot/retrieval/data/gate.json`` (+ ``gate_bank.npz``),
with the trainer's version and the key of the data it was fitted on (README, "Answer quality").

The gate's number is the model's probability that the question is covered, moved so the
operating point (chosen on cross-validated predictions for "answered >= 95%, abstain as high as
possible") sits at ``AnswerSettings.min_relevance``: the eval's trade-off still varies one
threshold. For an embedding model the gate was not fitted with (the tests' fake embedder), the
hand formula ``scoring.relevance`` is the fallback.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

TRAINER_VERSION = 2
# The gate's number at the operating point: ``AnswerSettings.min_relevance``'s default, so the
# default threshold is the fitted operating point and another threshold moves off it.
ANCHOR = 0.5
DATA_DIR = Path(__file__).resolve().parent / "data"
MODEL_FILE = DATA_DIR / "gate.json"
BANK_FILE = DATA_DIR / "gate_bank.npz"

# What the retriever measures for a question (``Retriever.candidate_sentences``), in order.
MEASURED = (
    "cos_best",  # the question's (or one of its sentences') best cosine to a sentence
    "cos_top3",  # the mean of its three best
    "rank_best",  # the best cosine read past the articles' subject
    "lex_best",  # the best IDF-weighted lexical match
    "lex_top3",
    "score_gap",  # the best ranking score less the fifth's: one clear answer or a flat field
    "coverage",  # 1 - the topic-weighted share of words the articles never use
    "semantic",  # the meaning left without those words
    "uncovered",  # how many such words (log1p)
    "uncovered_rare",  # the question's weight in rare unused words (a drug, a disease)...
    "uncovered_common",  # ...and in common ones (a story, a figure of speech)
    "ask_cos",  # the sentence that asks, alone (= the whole when it is the whole)
    "ask_lex",
    "ask_coverage",
    "ask_semantic",
    "facet_best",  # the best cosine to a medical facet, past the subject
    "promotion_top5",  # the share of the clinic's promotion among the five best sentences
    "words",  # the message's length (log1p of its words)
    "asks_amount",  # it asks for an amount, a level, a dose or a time...
    "amount_unsaid",  # ...and none of the five best sentences holds a number
    "unsaid_first",  # the question's weight in terms the first-ranked sentence never says
)
# From the exemplar bank: the nearest covered and uncovered labelled questions by meaning.
EXEMPLAR = ("near_covered", "near_uncovered", "near_margin")
FEATURES = MEASURED + EXEMPLAR

log = logging.getLogger("chatbot.retrieval")

# A question that asks for a number ("what ferritin level is too low", "how long do iron tablets
# take", "maximum dose"): answered only by a sentence that holds one.
AMOUNT = re.compile(
    r"\b(how (long|much|many|soon|often|quickly)|what (level|dose|dosage|amount|number|age)|"
    r"(maximum|minimum|max|min|safe|normal|daily) (dose|dosage|amount|level|range)|"
    r"dose|dosage|mg|milligrams?|level is|range|percent|per ?cent)\b",
    re.IGNORECASE,
)
DIGIT = re.compile(r"\d")


@dataclass
class GateReading:
    """What the gate reads of one question: ``MEASURED`` by name, and the message's vector
    (for the exemplar bank)."""

    measured: dict[str, float]
    vector: np.ndarray | None = None


# A bank question this close to the one asked is the same question: left out, so a question the
# gate was fitted on is read as a new one is (the trainer reads each against the other sets).
SAME_QUESTION = 0.98


def exemplar_features(
    vec: np.ndarray | None, bank: np.ndarray, labels: np.ndarray, k: int = 3
) -> dict[str, float]:
    """The mean cosine of the ``k`` nearest covered (label 1) and uncovered (0) questions of
    ``bank`` (the same question left out), and their difference."""
    if vec is None or not len(bank):
        return {"near_covered": 0.0, "near_uncovered": 0.0, "near_margin": 0.0}
    sims = bank @ vec
    keep = sims < SAME_QUESTION
    sims, labels = sims[keep], labels[keep]
    out = {}
    for name, lab in (("near_covered", 1), ("near_uncovered", 0)):
        s = np.sort(sims[labels == lab])[::-1][:k]
        out[name] = float(s.mean()) if len(s) else 0.0
    out["near_margin"] = out["near_covered"] - out["near_uncovered"]
    return out


@dataclass
class GateModel:
    """A fitted gate (see the module docstring)."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    threshold: float  # the operating point, a probability
    model: str  # the embedding model it was fitted with
    key: str = ""  # of the data it was fitted on (``bench/train_gate.py``)
    trainer: int = TRAINER_VERSION
    bank: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    bank_labels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    report: dict[str, object] = field(default_factory=dict)
    # The articles the labels were given against: with others (staff added one in the library)
    # an "uncovered" example may be covered now, so the gate steps aside until it is refitted.
    articles: tuple[str, ...] = ()

    def fits(self, articles: object) -> bool:
        """Whether the gate was fitted against exactly these article ids."""
        return not self.articles or set(self.articles) == set(articles)  # type: ignore[call-overload]

    def row(self, reading: GateReading) -> np.ndarray:
        values = dict(reading.measured)
        if any(f in EXEMPLAR for f in self.features):
            values.update(exemplar_features(reading.vector, self.bank, self.bank_labels))
        return np.array([values.get(f, 0.0) for f in self.features], dtype=float)

    def probability(self, reading: GateReading) -> float:
        z = float(((self.row(reading) - self.mean) / self.scale) @ self.coef + self.intercept)
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def relevance(self, reading: GateReading, at: float = ANCHOR) -> float:
        """The gate's number: the probability with the operating point moved to ``at``
        (``ANCHOR``), so ``relevance >= at`` exactly when ``probability >= threshold``."""
        p = self.probability(reading)
        logit = math.log(p / (1 - p)) if 0 < p < 1 else (50.0 if p >= 1 else -50.0)
        t = min(max(self.threshold, 1e-6), 1 - 1e-6)
        a = min(max(at, 1e-6), 1 - 1e-6)
        z = logit - math.log(t / (1 - t)) + math.log(a / (1 - a))
        return round(1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z)))), 4)

    def save(self, path: Path = MODEL_FILE, bank_path: Path = BANK_FILE) -> None:
        data = {
            "trainer": self.trainer,
            "key": self.key,
            "model": self.model,
            "features": list(self.features),
            "mean": [round(float(x), 8) for x in self.mean],
            "scale": [round(float(x), 8) for x in self.scale],
            "coef": [round(float(x), 8) for x in self.coef],
            "intercept": round(float(self.intercept), 8),
            "threshold": round(float(self.threshold), 6),
            "report": self.report,
            "articles": sorted(self.articles),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        np.savez_compressed(
            bank_path, vectors=self.bank.astype(np.float16), labels=self.bank_labels.astype(np.int8)
        )

    @classmethod
    def load(cls, path: Path = MODEL_FILE, bank_path: Path = BANK_FILE) -> GateModel | None:
        """The stored gate, or None (missing, unreadable or of another trainer version)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("trainer") != TRAINER_VERSION:
                log.warning("gate model %s is of trainer %s: not used", path, data.get("trainer"))
                return None
            bank = np.zeros((0, 0), dtype=np.float32)
            labels = np.zeros(0, dtype=int)
            if bank_path.exists():
                with np.load(bank_path) as z:
                    bank = z["vectors"].astype(np.float32)
                    labels = z["labels"].astype(int)
            return cls(
                tuple(data["features"]),
                np.array(data["mean"], dtype=float),
                np.array(data["scale"], dtype=float),
                np.array(data["coef"], dtype=float),
                float(data["intercept"]),
                float(data["threshold"]),
                str(data["model"]),
                str(data.get("key", "")),
                int(data["trainer"]),
                bank,
                labels,
                dict(data.get("report", {})),
                tuple(data.get("articles", ())),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("gate model %s cannot be read (%s): the hand formula gates", path, exc)
            return None


_LOADED: dict[str, GateModel | None] = {}
_LOCK = threading.Lock()


def stored_gate(model_name: str) -> GateModel | None:
    """The stored gate if it was fitted with ``model_name``'s vectors, else None (read once)."""
    with _LOCK:
        if "stored" not in _LOADED:
            _LOADED["stored"] = GateModel.load()
        gate = _LOADED["stored"]
    return gate if gate is not None and gate.model == model_name else None
