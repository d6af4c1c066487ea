"""Training the learned layers of triage (``model``): the banks embedded, the layers cross-validated
(each example scored by layers that never saw it), the thresholds chosen from the budgets in
``model.TriageTargets``, then the layers fitted on every example. Deterministic: fixed folds
(by each example's id), lbfgs, no randomness.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from chatbot.embedding import Embedder
from chatbot.safety.features import (
    char_features,
    cue_features,
    text_design,
    text_units,
    triage_texts,
)
from chatbot.safety.model import (
    DENIED,
    LINE_KINDS,
    Example,
    Scores,
    TriageModel,
    TriageTargets,
)
from chatbot.safety.rules import rulebook


def _fold(example_id: str, folds: int) -> int:
    return int(hashlib.md5(example_id.encode()).hexdigest(), 16) % folds


def _fit(x: np.ndarray, y: np.ndarray, c: float, balanced: bool = True) -> Any:
    from sklearn.linear_model import LogisticRegression

    weight = "balanced" if balanced else None
    return LogisticRegression(C=c, max_iter=5000, class_weight=weight).fit(x, y)


def _above(scores: np.ndarray, false_rate: float) -> float:
    """The threshold (fire when a score is above it) that lets ``false_rate`` of ``scores``
    through: their (1 - false_rate) quantile."""
    return float(np.quantile(scores, 1.0 - false_rate)) if len(scores) else 1.0


def _within(
    scores: np.ndarray,
    alarming: np.ndarray,
    rate: float,
    ordinary: np.ndarray,
    ordinary_rate: float,
) -> float:
    """The threshold that keeps both budgets: at most ``rate`` of the ``alarming`` rows (the
    near-misses) and ``ordinary_rate`` of the ``ordinary`` ones above it (the stricter wins)."""
    return max(_above(scores[alarming], rate), _above(scores[ordinary], ordinary_rate))


@dataclass
class TrainingData:
    """The banks embedded: each example's texts' vectors and cues, and its labels."""

    examples: list[Example]
    vectors: list[np.ndarray]  # per example: (texts, dim)
    cues: list[np.ndarray]  # per example: (texts, cues)
    tier: np.ndarray
    kind: np.ndarray
    near_miss: np.ndarray
    chars: list[Any] = field(default_factory=list)  # per example: sparse (texts, CHAR_FEATURES)
    units: list[Any] = field(default_factory=list)  # per example: the sentence head's input

    def __post_init__(self) -> None:
        if not self.chars:
            self.chars = [char_features(triage_texts(ex.text)) for ex in self.examples]
        if not self.units:
            self.units = [text_design(text_units(ex.text, ex.previous)) for ex in self.examples]

    @property
    def message(self) -> np.ndarray:
        return np.stack([v[0] for v in self.vectors])

    @property
    def features(self) -> Any:
        from scipy import sparse

        dense = np.hstack([self.message, np.stack([c[0] for c in self.cues])])
        return _design(dense, sparse.vstack([c[0] for c in self.chars]))


def _design(dense: np.ndarray, chars: Any) -> Any:
    """The classifiers' input: the dense block (embedding, cues), then the character n-grams."""
    from scipy import sparse

    return sparse.hstack([sparse.csr_matrix(dense), chars], format="csr")


def embed_examples(examples: list[Example], embedder: Embedder) -> TrainingData:
    """Embed every example's triage texts in one call."""
    texts = [triage_texts(ex.text) for ex in examples]
    unique = list(dict.fromkeys(t for group in texts for t in group))
    vecs = np.asarray(embedder.encode(unique), dtype=np.float32)
    row = {t: i for i, t in enumerate(unique)}
    return TrainingData(
        examples,
        [vecs[[row[t] for t in group]] for group in texts],
        [np.stack([cue_features(t) for t in group]) for group in texts],
        np.array([ex.tier for ex in examples]),
        np.array([ex.kind for ex in examples]),
        np.array([ex.near_miss for ex in examples]),
    )


def cross_validate(data: TrainingData, targets: TriageTargets) -> np.ndarray:
    """Each example's (p_emergency, knn, p_flag, p_sentence, then each line detector's score:
    ``LINE_KINDS``) from layers trained without its fold."""
    x, msg = data.features, data.message
    emergency, known, flag = data.tier == "emergency", data.tier != "unknown", data.tier != "none"
    fold = np.array([_fold(ex.id, targets.folds) for ex in data.examples])
    k, c = targets.neighbours, targets.regularisation
    oof = np.zeros((len(data.examples), 4 + len(LINE_KINDS)))
    for f in range(targets.folds):
        tr = fold != f
        s_clf = _fit_sentences(data, tr, c)
        e_clf = _fit(x[tr], emergency[tr], c)
        f_clf = _fit(x[tr & known], flag[tr & known], c)
        l_clfs = [_fit(x[tr], (emergency & (data.kind == k))[tr], c) for k in LINE_KINDS]
        bank, others = msg[tr & emergency], msg[tr & ~emergency]
        held = np.flatnonzero(~tr)
        if not len(held):
            continue
        # Every held-out example's texts stacked: each layer reads them in one call, and each
        # example takes its most alarming text (``TriageModel.score`` does the same per message).
        starts = _starts([data.vectors[i].shape[0] for i in held])
        v = np.vstack([data.vectors[i] for i in held])
        xi = _design(
            np.hstack([v, np.vstack([data.cues[i] for i in held])]),
            _vstack([data.chars[i] for i in held]),
        )
        near_e = np.sort(v @ bank.T, axis=1)[:, -k:].mean(axis=1)
        near_n = np.sort(v @ others.T, axis=1)[:, -k:].mean(axis=1)
        unit_starts = _starts([data.units[i].shape[0] for i in held])
        units = _vstack([data.units[i] for i in held])
        oof[held, 0] = np.maximum.reduceat(e_clf.predict_proba(xi)[:, 1], starts)
        oof[held, 1] = np.maximum.reduceat(near_e - near_n, starts)
        oof[held, 2] = np.maximum.reduceat(f_clf.predict_proba(xi)[:, 1], starts)
        oof[held, 3] = np.maximum.reduceat(s_clf.predict_proba(units)[:, 1], unit_starts)
        for j, l_clf in enumerate(l_clfs):
            oof[held, 4 + j] = np.maximum.reduceat(l_clf.predict_proba(xi)[:, 1], starts)
    return oof


def _starts(sizes: list[int]) -> np.ndarray:
    """Where each group of rows starts, for ``np.maximum.reduceat``."""
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)


def _vstack(blocks: list[Any]) -> Any:
    from scipy import sparse

    return sparse.vstack(blocks, format="csr")


def _fit_sentences(data: TrainingData, rows: np.ndarray, c: float) -> Any:
    """The sentence head on the examples where ``rows``: each message (its label), each sentence
    of a message that is no emergency and its second turn read with the first (none is), and an
    emergency's second turn read with the first (one)."""
    from scipy import sparse

    parts, labels = [], []
    for i in np.flatnonzero(rows):
        units, emergency = data.units[i], bool(data.tier[i] == "emergency")
        parts.append(units[0])
        labels.append(emergency)
        if not emergency and units.shape[0] > 1:  # its sentences, and a second turn
            parts.append(units[1:])
            labels += [False] * (units.shape[0] - 1)
        elif emergency and data.examples[i].previous:
            parts.append(units[-1])
            labels.append(True)
    return _fit(sparse.vstack(parts, format="csr"), np.array(labels), c)


def train(examples: list[Example], embedder: Embedder, targets: TriageTargets) -> TriageModel:
    """Train the learned layers on ``examples`` and choose their thresholds (deterministic)."""
    return fit(embed_examples(examples, embedder), targets)


def fit(data: TrainingData, targets: TriageTargets) -> TriageModel:
    """Choose the thresholds by cross-validation, then fit the layers on every example."""
    from chatbot.safety.emergency import read_rules

    oof = cross_validate(data, targets)
    readings = [read_rules(ex.text) for ex in data.examples]
    vetoable = vetoable_rules(data, readings)
    thresholds, report = choose_thresholds(data, oof, readings, targets, vetoable)
    return replace(fit_layers(data, targets, thresholds, report), vetoable=vetoable)


def vetoable_rules(data: TrainingData, readings: list[Any]) -> frozenset[str]:
    """The rules the veto may overrule: each that matched, as an emergency, a message of the
    banks that was not one ("overdosed on coffee", "my kids collapsed in giggles"). A rule that
    has only ever matched emergencies has given the veto nothing to learn from, so a calm rest of
    the message ("probably nothing but ... worst headache of my life ... can I take aspirin?")
    does not overrule it. The set grows with the banks."""
    return frozenset(
        r.emergency.rule
        for r, tier in zip(readings, data.tier, strict=True)
        if r.emergency is not None and tier != "emergency"
    )


def choose_thresholds(
    data: TrainingData,
    oof: np.ndarray,
    readings: list[Any],
    targets: TriageTargets,
    vetoable: frozenset[str],
) -> tuple[dict[str, float], dict[str, Any]]:
    """The thresholds the budgets of ``targets`` give over the cross-validated scores ``oof``
    (``cross_validate``) and the rules' ``readings`` of each example (``vetoable``: the rules the
    veto may overrule, ``vetoable_rules`` of the same), and the cross-validated report of what
    they do. Cheap: a sweep of the budgets reuses one ``cross_validate``."""
    tier, emergency = data.tier, data.tier == "emergency"
    rules = np.array([r.emergency is not None for r in readings])
    lines = dict(zip(LINE_KINDS, oof[:, 4:].T, strict=True))
    near = data.near_miss & ~emergency
    free = near & ~rules  # near-misses the rules leave alone
    plain = near & (tier == "none")
    ordinary = ~emergency & ~near & ~rules
    t = targets
    thresholds = {
        "emergency": _within(
            oof[:, 0], free, t.emergency_false_rate, ordinary, t.ordinary_false_rate
        ),
        "knn": _within(oof[:, 1], free, t.knn_false_rate, ordinary, t.ordinary_false_rate),
        "sentence": _within(
            oof[:, 3],
            free,
            t.sentence_false_rate,
            ordinary,
            min(t.sentence_false_rate, t.ordinary_false_rate),
        ),
        "net": _within(oof[:, 2], plain, t.net_false_rate, ordinary, t.ordinary_net_rate),
        # The sentence head firing weakly (one sentence reads as an emergency, the whole message
        # not: "tired of it all and might not be around much longer. does magnesium help?"):
        # the safety-net line, within the same budgets as the red-flag classifier's.
        "sentence_net": _within(oof[:, 3], plain, t.net_false_rate, ordinary, t.ordinary_net_rate),
    }
    for name, line in lines.items():
        # The line detectors: the emergency tier within the classifier's budgets, the
        # safety-net line (naming the crisis line / poison help) within the red-flag ones.
        thresholds[name] = _within(
            line, free, t.emergency_false_rate, ordinary, t.ordinary_false_rate
        )
        thresholds[f"{name}_net"] = _within(
            line, plain, t.net_false_rate, ordinary, t.ordinary_net_rate
        )
        # Believed only within the exemplar bank's reach, as the classifier ("support"): the
        # floor of the emergencies of its kind it reads (cross-validated).
        reached = emergency & (data.kind == name) & (line > thresholds[f"{name}_net"])
        thresholds[f"{name}_support"] = (
            float(np.quantile(oof[reached, 1], targets.support_quantile))
            if reached.any()
            else float("-inf")
        )
    always = {r.name for r in rulebook().emergency if r.always_now}
    # The threshold is read off every arbitrable rule's true catches, as before ``vetoable``
    # narrowed whom it applies to: so it vetoes fewer, never more.
    arbitrable = np.array(
        [r.emergency is not None and r.emergency.rule not in always for r in readings]
    )
    caught_by_rules = oof[arbitrable & emergency, 0]
    thresholds["veto"] = (
        float(np.quantile(caught_by_rules, targets.veto_rate)) if len(caught_by_rules) else 0.0
    )
    denied = np.array(
        [r.emergency is None and r.net is not None and r.net.why in DENIED for r in readings]
    )
    thresholds["override"] = max(
        thresholds["emergency"], _above(oof[denied & near, 0], targets.override_rate)
    )
    asked = np.array(
        [r.emergency is None and r.net is not None and r.net.why not in DENIED for r in readings]
    )
    thresholds["asked"] = max(
        thresholds["emergency"], _above(oof[asked & near, 0], targets.override_rate)
    )
    thresholds["asked_sentence"] = max(
        thresholds["sentence"], _above(oof[asked & near, 3], targets.override_rate)
    )
    caught_by_classifier = emergency & ~rules & (oof[:, 0] > thresholds["emergency"])
    thresholds["support"] = (
        float(np.quantile(oof[caught_by_classifier, 1], targets.support_quantile))
        if caught_by_classifier.any()
        else float("-inf")
    )
    from chatbot.safety.decision import decide, vetoed

    tiers = []
    for i, reading in enumerate(readings):
        # The kind is not cross-validated.
        p_e, knn, p_f, p_s = (float(v) for v in oof[i, :4])
        line_scores = {name: float(line[i]) for name, line in lines.items()}
        scores = Scores(p_e, knn, p_f, kinds={}, p_sentence=p_s, lines=line_scores)
        if reading.emergency is not None:
            veto = vetoed(reading.emergency, scores, thresholds, vetoable)
            tiers.append("safety_net" if veto else "emergency")
            continue
        tiers.append(decide(reading.net, scores, thresholds)[0] or "none")
    got = np.array(tiers)
    caught, netted = got == "emergency", got == "safety_net"
    report = {
        "examples": int(len(data.examples)),
        "emergencies": int(emergency.sum()),
        "cross_validated": {
            "rules_recall": float(rules[emergency].mean()),
            "recall": float(caught[emergency].mean()),
            "caught_either_tier": float((caught | netted)[emergency].mean()),
            "near_miss_emergency_rate": float(caught[near].mean()),
            "ordinary_question_emergency_rate": float(caught[ordinary].mean()),
            "safety_net_rate": float(netted[near & (tier == "safety_net")].mean()),
            "plain_near_miss_net_rate": float(netted[plain].mean()),
            "ordinary_question_net_rate": float(netted[ordinary].mean()),
        },
    }
    return thresholds, report


def fit_layers(
    data: TrainingData,
    targets: TriageTargets,
    thresholds: dict[str, float],
    report: dict[str, Any],
) -> TriageModel:
    """The layers fitted on every example, with the given thresholds."""
    tier, emergency = data.tier, data.tier == "emergency"
    x, msg = data.features, data.message
    known = tier != "unknown"
    c = targets.regularisation
    e_clf = _fit(x, emergency, c)
    f_clf = _fit(x[known], (tier != "none")[known], c)
    k_clf = _fit(x[emergency], data.kind[emergency], c, balanced=False)
    s_clf = _fit_sentences(data, np.ones(len(data.examples), dtype=bool), c)
    l_clfs = [_fit(x, emergency & (data.kind == k), c) for k in LINE_KINDS]
    return TriageModel(
        key="",
        emergency_w=e_clf.coef_[0].astype(np.float32),
        emergency_b=float(e_clf.intercept_[0]),
        flag_w=f_clf.coef_[0].astype(np.float32),
        flag_b=float(f_clf.intercept_[0]),
        kind_w=k_clf.coef_.astype(np.float32),
        kind_b=k_clf.intercept_.astype(np.float32),
        kind_names=[str(n) for n in k_clf.classes_],
        bank=msg[emergency],
        others=msg[~emergency],
        thresholds=thresholds,
        sentence_w=s_clf.coef_[0].astype(np.float32),
        sentence_b=float(s_clf.intercept_[0]),
        line_w=np.stack([clf.coef_[0] for clf in l_clfs]).astype(np.float32),
        line_b=np.array([clf.intercept_[0] for clf in l_clfs], dtype=np.float32),
        neighbours=targets.neighbours,
        report=report,
    )
