"""The learned layers of triage, trained on the message banks in ``chatbot/safety/data/``.

Over the embedding of a message (``features.triage_texts``, the same model the index uses):

* a **semantic layer**: an exemplar bank of emergency messages (several hundred, in lay words,
  typos, carers' voices, non-native English, a few other languages) and of near-misses; a
  message scores by how much closer its nearest emergency exemplars are than its nearest
  near-misses (``knn``);
* a **classifier**: logistic regression on the embedding and the rules' cues (``features``),
  emergency vs not (``p_emergency``), a second one for "names a red flag" (emergency or
  safety-net vs a plain near-miss: ``p_flag``) and a third for the kind.

Thresholds are chosen by cross-validation on the banks (each message scored by a model that never
saw it) from the budgets in ``TriageTargets``, the one place they are set. Training is
deterministic (fixed folds, lbfgs); the model is rebuilt by ``ingest`` or at first start, stored
beside the index (``triage.npz`` + ``triage.json``) and reused while its key (data, cues,
targets, embedding model) matches.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chatbot.embedding import MODEL_NAME, Embedder
from chatbot.safety.features import (
    CHAR_FEATURES,
    CHAR_NGRAMS,
    CHAR_SCALE,
    LONG_WORDS,
    TAIL_WORDS,
    char_features,
    cue_features,
    triage_texts,
)
from chatbot.safety.rules import RULES_FILE, rulebook

DATA_DIR = Path(__file__).with_name("data")
TRAINING_FILES = (
    "train_t1.jsonl",
    "train_t2.jsonl",
    "train_t3.jsonl",
    "safety_set.jsonl",
    "questions_dev.jsonl",
    "wave1.jsonl",
    "wave2.jsonl",
    "wave3.jsonl",
    # Ordinary questions of the two answer dev waves (q1, q2): plain messages are most of what
    # the classifier sees, and too few of them let it take odd ones for emergencies.
    "answers_dev.jsonl",
)
# The rules' reasons for a reminder that the classifier overrides only above "override".
DENIED = ("negated", "past")
MODEL_FILE, MANIFEST_FILE = "triage.npz", "triage.json"
TRAINER_VERSION = 3  # 2: the support floor; 3: character n-grams, the second turn
# The learned layers run only over the embedding model they were validated with; another (the
# unit tests' fake) leaves triage to the rules.
VALIDATED_MODELS = (MODEL_NAME,)

log = logging.getLogger("chatbot.safety")


@dataclass(frozen=True)
class TriageTargets:
    """The budgets the thresholds are chosen from (cross-validated on the banks), in one place.

    emergency_false_rate: share of the near-misses the rules leave alone that the classifier may
        take for an emergency (the emergency-only reply); the threshold is the highest score
        that keeps to it, so recall is as high as that budget allows.
    knn_false_rate: the same for the exemplar bank.
    ordinary_false_rate: the same over ordinary questions (about RLS, doses, other topics): the
        stricter of the two budgets sets each threshold.
    net_false_rate: share of plain near-misses ("none") that may get the safety-net line from the
        red-flag classifier; ordinary_net_rate: the same for ordinary questions (the stricter
        sets the threshold).
    also_kind: probability of poisoning / suicide from which an emergency also names poison help /
        the crisis line (whatever its main kind).
    support_quantile: the classifier raises the alarm only for a message inside the exemplar
        bank's reach: its exemplar score (nearest emergencies minus nearest others) at least this
        quantile of the scores of the emergencies it catches (cross-validated). Far from every
        example a linear model is confidently wrong ("will it go away once the baby is born" read
        as anaphylaxis at 0.91).
    veto_rate: the learned layers arbitrate the rules' own matches: a match (of a rule not marked
        ``always_now``) whose classifier score is below the ``veto_rate`` quantile of the scores
        of the emergencies the rules catch (cross-validated) gets the safety-net line instead of
        the emergency-only reply ("bleeding hell, 3am again", "overdosed on coffee"): at most
        this share of the rules' true catches is moved to the reminder tier, never dropped.
    override_rate: the other way round: a red flag the rules read as denied or past ("long drive
        yesterday") is an emergency all the same when the classifier's score is above what
        lets this share of such near-misses through.
    """

    folds: int = 5
    regularisation: float = 2.0  # logistic regression's C
    neighbours: int = 3
    emergency_false_rate: float = 0.01
    knn_false_rate: float = 0.005
    ordinary_false_rate: float = 0.005
    net_false_rate: float = 0.10
    ordinary_net_rate: float = 0.03
    also_kind: float = 0.10
    support_quantile: float = 0.02
    veto_rate: float = 0.01
    override_rate: float = 0.02


@dataclass(frozen=True)
class Example:
    """One training message: its text, tier (emergency / safety_net / none / unknown), kind, and
    whether it is a near-miss written to sound alarming (the thresholds are set on those)."""

    id: str
    text: str
    tier: str
    kind: str
    near_miss: bool = False
    previous: str = ""  # the user's last turn before it (a second-turn message), or ""


def load_examples(directory: Path = DATA_DIR) -> list[Example]:
    """The training banks (JSON Lines, ``tests/SAFETY_FORMAT.md``), in file order."""
    out = []
    for name in TRAINING_FILES:
        for line in (directory / name).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            tier = row.get("expected_tier") or (
                "emergency" if row.get("expected_behaviour") == "emergency" else "unknown"
            )
            kind = row.get("kind") or "none"
            near = row.get("category") == "near_miss"
            turns = row.get("history") or []
            previous = next((t["content"] for t in reversed(turns) if t["role"] == "user"), "")
            out.append(Example(f"{name}:{row['id']}", row["question"], tier, kind, near, previous))
    return out


def model_key(examples: list[Example], embedder: Embedder, targets: TriageTargets) -> str:
    """What decides the trained model: a change of any of these retrains it."""
    digest = hashlib.sha256()
    parts: list[Any] = [TRAINER_VERSION, asdict(targets), embedder.name, embedder.dim]
    parts += [LONG_WORDS, TAIL_WORDS, CHAR_NGRAMS, CHAR_FEATURES, CHAR_SCALE]
    parts += [RULES_FILE.read_text(encoding="utf-8")]
    digest.update(json.dumps(parts, sort_keys=True).encode())
    for ex in examples:
        digest.update(
            json.dumps([ex.id, ex.text, ex.tier, ex.kind, ex.near_miss, ex.previous]).encode()
        )
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Scores:
    """The learned layers' reading of one message."""

    p_emergency: float
    knn: float
    p_flag: float
    kinds: dict[str, float]  # kind -> probability, for the message read as an emergency

    @property
    def kind(self) -> str:
        return max(self.kinds, key=lambda k: self.kinds[k]) if self.kinds else "other"


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class TriageModel:
    """The trained layers: weights, exemplar banks, thresholds, and how they were chosen."""

    key: str
    emergency_w: np.ndarray
    emergency_b: float
    flag_w: np.ndarray
    flag_b: float
    kind_w: np.ndarray  # (kinds, dim)
    kind_b: np.ndarray
    kind_names: list[str]
    bank: np.ndarray  # emergency exemplars (rows: unit vectors)
    others: np.ndarray  # near-miss exemplars
    thresholds: dict[str, float]
    neighbours: int = 3
    report: dict[str, Any] = field(default_factory=dict)

    def score(self, vectors: np.ndarray, cues: np.ndarray, chars: Any = None) -> Scores:
        """Score one message from the vectors of its texts (``triage_texts``), their cues and
        their character n-grams (``features.char_features``; computed here when not given)."""
        x = np.hstack([vectors, cues])
        p_e = self._linear(x, chars, self.emergency_w, self.emergency_b)
        p_f = self._linear(x, chars, self.flag_w, self.flag_b)
        k = self.neighbours
        near_e = np.sort(vectors @ self.bank.T, axis=1)[:, -k:].mean(axis=1)
        near_n = np.sort(vectors @ self.others.T, axis=1)[:, -k:].mean(axis=1)
        best = int(np.argmax(p_e))
        logits = self.kind_w @ vectors[best] + self.kind_b
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        kinds = {name: float(p) for name, p in zip(self.kind_names, probs, strict=True)}
        return Scores(float(p_e.max()), float((near_e - near_n).max()), float(p_f.max()), kinds)

    @staticmethod
    def _linear(x: np.ndarray, chars: Any, w: np.ndarray, b: float) -> np.ndarray:
        dense = x.shape[1]
        z = x @ w[:dense] + b
        if len(w) > dense:
            if chars is None:
                raise ValueError("the model reads character n-grams: give them")
            z = z + np.asarray(chars @ w[dense:]).ravel()
        return _sigmoid(z)

    # -- storage -----------------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        """Write ``triage.npz`` and ``triage.json`` into ``directory`` (each atomically)."""
        directory = Path(directory)
        arrays = {
            "emergency_w": self.emergency_w,
            "flag_w": self.flag_w,
            "kind_w": self.kind_w,
            "kind_b": self.kind_b,
            "bank": self.bank,
            "others": self.others,
        }
        meta = {
            "key": self.key,
            "emergency_b": self.emergency_b,
            "flag_b": self.flag_b,
            "kind_names": self.kind_names,
            "thresholds": self.thresholds,
            "neighbours": self.neighbours,
            "report": self.report,
        }
        _atomic(directory / MODEL_FILE, lambda f: np.savez(f, **arrays))  # type: ignore[arg-type]
        _atomic(directory / MANIFEST_FILE, lambda f: f.write(json.dumps(meta, indent=2).encode()))

    @classmethod
    def load(cls, directory: Path, key: str) -> TriageModel | None:
        """The model stored in ``directory`` if it is there, whole, and has this key."""
        directory = Path(directory)
        try:
            meta = json.loads((directory / MANIFEST_FILE).read_text(encoding="utf-8"))
            if meta.get("key") != key:
                return None
            with np.load(directory / MODEL_FILE, allow_pickle=False) as data:
                arrays = {name: np.asarray(data[name], dtype=np.float32) for name in data.files}
            model = cls(
                key=key,
                emergency_b=float(meta["emergency_b"]),
                flag_b=float(meta["flag_b"]),
                kind_names=list(meta["kind_names"]),
                thresholds={k: float(v) for k, v in meta["thresholds"].items()},
                neighbours=int(meta["neighbours"]),
                report=dict(meta.get("report") or {}),
                **arrays,
            )
            dim = model.bank.shape[1]
            if model.emergency_w.shape != model.flag_w.shape or model.kind_w.shape[1] != dim:
                raise ValueError("weights do not match the exemplar bank")
            return model
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("triage model in %s is unreadable (%s); retraining it", directory, exc)
            return None


def _atomic(path: Path, write: Any) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------------------------------------
# Training


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

    def __post_init__(self) -> None:
        if not self.chars:
            self.chars = [char_features(triage_texts(ex.text)) for ex in self.examples]

    @property
    def message(self) -> np.ndarray:
        return np.stack([v[0] for v in self.vectors])

    @property
    def features(self) -> Any:
        from scipy import sparse

        dense = np.hstack([self.message, np.stack([c[0] for c in self.cues])])
        return _design(dense, sparse.vstack([c[0] for c in self.chars]))

    def unit(self, i: int) -> Any:
        """Example ``i``'s texts as rows of the classifiers' input."""
        return _design(np.hstack([self.vectors[i], self.cues[i]]), self.chars[i])


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
    """Each example's (p_emergency, knn, p_flag) from layers trained without its fold."""
    x, msg = data.features, data.message
    emergency, known, flag = data.tier == "emergency", data.tier != "unknown", data.tier != "none"
    fold = np.array([_fold(ex.id, targets.folds) for ex in data.examples])
    k, c = targets.neighbours, targets.regularisation
    oof = np.zeros((len(data.examples), 3))
    for f in range(targets.folds):
        tr = fold != f
        e_clf = _fit(x[tr], emergency[tr], c)
        f_clf = _fit(x[tr & known], flag[tr & known], c)
        bank, others = msg[tr & emergency], msg[tr & ~emergency]
        for i in np.flatnonzero(~tr):
            v = data.vectors[i]
            xi = data.unit(i)
            near_e = np.sort(v @ bank.T, axis=1)[:, -k:].mean(axis=1)
            near_n = np.sort(v @ others.T, axis=1)[:, -k:].mean(axis=1)
            oof[i] = (
                e_clf.predict_proba(xi)[:, 1].max(),
                (near_e - near_n).max(),
                f_clf.predict_proba(xi)[:, 1].max(),
            )
    return oof


def train(
    examples: list[Example], embedder: Embedder, targets: TriageTargets | None = None
) -> TriageModel:
    """Train the learned layers on ``examples`` and choose their thresholds (deterministic)."""
    return fit(embed_examples(examples, embedder), targets or TriageTargets())


def fit(data: TrainingData, targets: TriageTargets) -> TriageModel:
    """Choose the thresholds by cross-validation, then fit the layers on every example."""
    from chatbot.safety.emergency import read_rules

    oof = cross_validate(data, targets)
    tier, emergency = data.tier, data.tier == "emergency"
    rules = np.array([read_rules(ex.text).emergency is not None for ex in data.examples])
    near = data.near_miss & ~emergency
    free = near & ~rules  # near-misses the rules leave alone
    plain = near & (tier == "none")
    ordinary = ~emergency & ~near & ~rules
    thresholds = {
        "emergency": max(
            _above(oof[free, 0], targets.emergency_false_rate),
            _above(oof[ordinary, 0], targets.ordinary_false_rate),
        ),
        "knn": max(
            _above(oof[free, 1], targets.knn_false_rate),
            _above(oof[ordinary, 1], targets.ordinary_false_rate),
        ),
        "net": max(
            _above(oof[plain, 2], targets.net_false_rate),
            _above(oof[ordinary, 2], targets.ordinary_net_rate),
        ),
    }
    readings = [read_rules(ex.text) for ex in data.examples]
    always = {r.name for r in rulebook().emergency if r.always_now}
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
        scores = Scores(float(oof[i, 0]), float(oof[i, 1]), float(oof[i, 2]), kinds={})
        if reading.emergency is not None:
            veto = vetoed(reading.emergency, scores, thresholds)
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
    x, msg = data.features, data.message
    known = tier != "unknown"
    c = targets.regularisation
    e_clf = _fit(x, emergency, c)
    f_clf = _fit(x[known], (tier != "none")[known], c)
    k_clf = _fit(msg[emergency], data.kind[emergency], c, balanced=False)
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
        neighbours=targets.neighbours,
        report=report,
    )


_LOADED: dict[str, TriageModel] = {}


def _stored(directory: Path, key: str) -> bool:
    try:
        meta = json.loads((directory / MANIFEST_FILE).read_text(encoding="utf-8"))
        return meta.get("key") == key and (directory / MODEL_FILE).exists()
    except (OSError, ValueError):
        return False


def triage_model(
    directory: Path | None, embedder: Embedder, targets: TriageTargets | None = None
) -> TriageModel | None:
    """The trained layers for ``embedder``: from memory, from ``directory`` (beside the index), or
    trained now and saved there. None for an embedding model they were not validated with."""
    if embedder.name not in VALIDATED_MODELS:
        return None
    targets = targets or TriageTargets()
    examples = load_examples()
    key = model_key(examples, embedder, targets)
    if key in _LOADED:
        model = _LOADED[key]
    else:
        stored = TriageModel.load(directory, key) if directory is not None else None
        if stored is not None:
            model = stored
        else:
            log.info("training the triage model (%d messages)", len(examples))
            model = train(examples, embedder, targets)
            model.key = key
        _LOADED[key] = model
    if directory is not None and not _stored(Path(directory), key):
        try:
            model.save(Path(directory))
        except OSError as exc:  # a read-only index folder: keep it in memory
            log.warning("could not save the triage model in %s (%s)", directory, exc)
    return model
