"""The learned layers of triage, trained on the message banks in ``chatbot/safety/data/``.

Over the embedding of a message (``features.triage_texts``, the same model the index uses):

* a **semantic layer**: an exemplar bank of emergency messages (several hundred, in lay words,
  typos, carers' voices, non-native English, a few other languages) and of near-misses; a
  message scores by how much closer its nearest emergency exemplars are than its nearest
  near-misses (``knn``);
* a **classifier**: logistic regression on the embedding, the rules' cues and the text's hashed
  character n-grams (``features``; typos, "lol", "hell"), emergency vs not (``p_emergency``), a
  second one for "names a red flag" (emergency or safety-net vs a plain near-miss: ``p_flag``)
  and a third for the kind (on the same input: a method named in a message about legs);
* **line detectors** for suicide and poisoning (logistic regression on the same input, that kind
  of emergency vs everything else: ``Scores.lines``): sure, an emergency; weakly, the safety-net
  line of their kind; at any tier, their line (the crisis line, poison help) in the reply;
* a **sentence head**: logistic regression on the cues and n-grams alone, read over each
  sentence of the message and over the second turn with the first (``p_sentence``: an emergency
  buried in a long ordinary message, or told over two; no embedding, so no extra model call).

The classifier also arbitrates the rules (``decision``): a match it finds very unlikely gets the
safety-net line ("veto"), a red flag the rules' cues call past or denied is an emergency when it
is sure ("override").

Training is in ``training``; thresholds are chosen by cross-validation on the banks (each
message scored by a model that never saw it) from the budgets in ``TriageTargets``, the one place
they are set. Training is
deterministic (fixed folds, lbfgs); the model is rebuilt by ``ingest`` or at first start, stored
beside the index (``triage.npz`` + ``triage.json``) and reused while its key (data, cues,
targets, embedding model) matches. A copy is kept in the user's model cache, named by that key
and the trainer's own source, so a rebuilt or new index folder reuses it instead of training
again (``triage_model``'s ``cache_dir``).
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
)
from chatbot.safety.rules import RULES_FILE

DATA_DIR = Path(__file__).with_name("data")
TRAINING_FILES = (
    "train_t1.jsonl",
    "train_t2.jsonl",
    "train_t3.jsonl",
    "train_t4.jsonl",
    "train_t5.jsonl",
    "train_t6.jsonl",
    "train_t7.jsonl",
    "safety_set.jsonl",
    "questions_dev.jsonl",
    "wave1.jsonl",
    "wave2.jsonl",
    "wave3.jsonl",
    "wave4.jsonl",
    "wave5.jsonl",
    "wave6.jsonl",
    # Ordinary questions of the two answer dev waves (q1, q2): plain messages are most of what
    # the classifier sees, and too few of them let it take odd ones for emergencies.
    "answers_dev.jsonl",
)
# The kinds whose own line (the crisis line, poison help) a reply names whenever a learned line
# detector reads them, at any tier (``Scores.lines``).
LINE_KINDS = ("suicide", "poisoning")
# The rules' reasons for a reminder that the classifier overrides only above "override".
DENIED = ("negated", "past")
MODEL_FILE, MANIFEST_FILE = "triage.npz", "triage.json"
# 2: the support floor; 3: n-grams, the sentence head, arbitration; 4: the kind classifier reads
# the cues and n-grams too, the "asked" threshold, the line detectors; 5: "sentence_net";
# 6: the sentence head in the veto (its "sentence" threshold) and "asked_sentence"; 7: only
# the rules with a false alarm in the banks are vetoed (``TriageModel.vetoable``)
TRAINER_VERSION = 7
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
    sentence_false_rate: the same for the sentence head (its most alarming sentence), over
        near-misses and ordinary questions alike.
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
        Only a rule with a false alarm in the banks is arbitrated (``TriageModel.vetoable``): a
        rule that has only ever matched emergencies there ("worst headache of my life") keeps
        its emergency however calm the rest of the message reads, until the banks hold a
        message it matched that was not one.
    override_rate: the other way round: a red flag the rules read as denied or past ("long drive
        yesterday") is an emergency all the same when the classifier's score is above what
        lets this share of such near-misses through. The same budget sets "asked": a red flag
        the rules read as asked about in general ("is it normal that it spurts?") is an
        emergency when the classifier is surer than what lets this share of such near-misses
        through.

    The line detectors (``LINE_KINDS``) take their thresholds from the same budgets: the
    emergency tier from ``emergency_false_rate`` / ``ordinary_false_rate``, the safety-net line
    (and their line added to another kind's alarm) from ``net_false_rate`` / ``ordinary_net_rate``.
    """

    folds: int = 5
    regularisation: float = 2.0  # logistic regression's C
    neighbours: int = 3
    emergency_false_rate: float = 0.01
    sentence_false_rate: float = 0.002
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
    p_sentence: float = 0.0  # the sentence head: its most alarming unit (``text_units``)
    # The line detectors: kind (suicide, poisoning) -> probability that the message is an
    # emergency of that kind (its most alarming text), read at any tier for the line it needs.
    lines: dict[str, float] = field(default_factory=dict)
    # The message's vector (``triage_texts(message)[0]``): the personal-advice check reads it.
    vector: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def kind(self) -> str:
        return max(self.kinds, key=lambda k: self.kinds[k]) if self.kinds else "other"


def _row(chars: Any, i: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Row ``i`` of a CSR matrix as (columns, values), without building a matrix."""
    if chars is None:
        return None
    lo, hi = chars.indptr[i], chars.indptr[i + 1]
    return chars.indices[lo:hi], chars.data[lo:hi]


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
    kind_w: np.ndarray  # (kinds, dim + cues + CHAR_FEATURES)
    kind_b: np.ndarray
    kind_names: list[str]
    bank: np.ndarray  # emergency exemplars (rows: unit vectors)
    others: np.ndarray  # near-miss exemplars
    thresholds: dict[str, float]
    sentence_w: np.ndarray  # the sentence head: (cues + CHAR_FEATURES,)
    sentence_b: float
    line_w: np.ndarray  # the line detectors: (len(LINE_KINDS), dim + cues + CHAR_FEATURES)
    line_b: np.ndarray
    neighbours: int = 3
    report: dict[str, Any] = field(default_factory=dict)
    # The rules the veto may overrule: those that matched a message of the banks that was not an
    # emergency (``training.vetoable_rules``); None: every rule not marked ``always_now``.
    vetoable: frozenset[str] | None = None
    _kind_grams: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)

    def score(
        self, vectors: np.ndarray, cues: np.ndarray, chars: Any = None, units: Any = None
    ) -> Scores:
        """Score one message from the vectors of its texts (``triage_texts``), their cues and
        their character n-grams (``features.char_features`` of the same texts), and the sentence
        head's input (``features.text_design`` of ``text_units``; none: it reads nothing)."""
        x = np.hstack([vectors, cues])
        p_e = self._linear(x, chars, self.emergency_w, self.emergency_b)
        p_f = self._linear(x, chars, self.flag_w, self.flag_b)
        k = self.neighbours
        near_e = np.sort(vectors @ self.bank.T, axis=1)[:, -k:].mean(axis=1)
        near_n = np.sort(vectors @ self.others.T, axis=1)[:, -k:].mean(axis=1)
        best = int(np.argmax(p_e))
        logits = self._kind_logits(x[best], _row(chars, best))
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        kinds = {name: float(p) for name, p in zip(self.kind_names, probs, strict=True)}
        p_s = 0.0
        if units is not None:
            p_s = float(
                _sigmoid(np.asarray(units @ self.sentence_w).ravel() + self.sentence_b).max()
            )
        knn = float((near_e - near_n).max())
        lines = {
            name: float(self._linear(x, chars, self.line_w[j], float(self.line_b[j])).max())
            for j, name in enumerate(LINE_KINDS)
        }
        return Scores(float(p_e.max()), knn, float(p_f.max()), kinds, p_s, lines)

    def _kind_logits(
        self, dense: np.ndarray, chars: tuple[np.ndarray, np.ndarray] | None
    ) -> np.ndarray:
        """The kind classifier's logits for one text: its embedding and cues, and its n-grams
        as (columns, values) (a method named in a message about legs: "the rope", "the beam")."""
        width = len(dense)
        logits = self.kind_w[:, :width] @ dense + self.kind_b
        if self.kind_w.shape[1] > width:
            if chars is None:
                raise ValueError("the model reads character n-grams: give them")
            if self._kind_grams is None:  # (CHAR_FEATURES, kinds), rows gathered per n-gram
                self._kind_grams = np.ascontiguousarray(self.kind_w[:, width:].T)
            columns, values = chars
            logits = logits + values @ self._kind_grams[columns]
        return np.asarray(logits)

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
            "sentence_w": self.sentence_w,
            "line_w": self.line_w,
            "line_b": self.line_b,
        }
        meta = {
            "key": self.key,
            "emergency_b": self.emergency_b,
            "flag_b": self.flag_b,
            "sentence_b": self.sentence_b,
            "kind_names": self.kind_names,
            "thresholds": self.thresholds,
            "neighbours": self.neighbours,
            "report": self.report,
            "vetoable": sorted(self.vetoable) if self.vetoable is not None else None,
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
                sentence_b=float(meta["sentence_b"]),
                kind_names=list(meta["kind_names"]),
                thresholds={k: float(v) for k, v in meta["thresholds"].items()},
                neighbours=int(meta["neighbours"]),
                report=dict(meta.get("report") or {}),
                vetoable=(
                    frozenset(str(r) for r in meta["vetoable"])
                    if meta.get("vetoable") is not None
                    else None
                ),
                **arrays,
            )
            width = model.emergency_w.shape[0]
            if (
                model.flag_w.shape != (width,)
                or model.kind_w.shape[1] != width
                or model.line_w.shape != (len(LINE_KINDS), width)
            ):
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


def train(
    examples: list[Example], embedder: Embedder, targets: TriageTargets | None = None
) -> TriageModel:
    """Train the learned layers on ``examples`` and choose their thresholds (deterministic;
    ``training.train``)."""
    from chatbot.safety import training

    return training.train(examples, embedder, targets or TriageTargets())


_LOADED: dict[str, TriageModel] = {}


def _stored(directory: Path, key: str) -> bool:
    try:
        meta = json.loads((directory / MANIFEST_FILE).read_text(encoding="utf-8"))
        return meta.get("key") == key and (directory / MODEL_FILE).exists()
    except (OSError, ValueError):
        return False


def cached_folder(cache_dir: Path, key: str) -> Path:
    """Where the model of ``key`` is kept in ``cache_dir``: named by the key and a hash of the
    safety package's source, so a change to the trainer's code trains afresh."""
    digest = hashlib.sha256()
    for source in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(source.read_bytes())
    return Path(cache_dir) / f"triage-{key}-{digest.hexdigest()[:12]}"


def triage_model(
    directory: Path | None,
    embedder: Embedder,
    targets: TriageTargets | None = None,
    cache_dir: Path | None = None,
) -> TriageModel | None:
    """The trained layers for ``embedder``: from memory, from ``directory`` (beside the index),
    from ``cache_dir`` (the user's model cache), or trained now; saved in both folders. None for
    an embedding model they were not validated with."""
    if embedder.name not in VALIDATED_MODELS:
        return None
    targets = targets or TriageTargets()
    examples = load_examples()
    key = model_key(examples, embedder, targets)
    cached = cached_folder(cache_dir, key) if cache_dir is not None else None
    if key in _LOADED:
        model = _LOADED[key]
    else:
        stored = TriageModel.load(directory, key) if directory is not None else None
        if stored is None and cached is not None:
            stored = TriageModel.load(cached, key)
        if stored is not None:
            model = stored
        else:
            log.info("training the triage model (%d messages)", len(examples))
            model = train(examples, embedder, targets)
            model.key = key
        _LOADED[key] = model
    for folder in (directory, cached):
        if folder is not None and not _stored(Path(folder), key):
            try:
                if folder is cached:
                    folder.mkdir(parents=True, exist_ok=True)
                model.save(Path(folder))
            except OSError as exc:  # a read-only folder: keep it in memory
                log.warning("could not save the triage model in %s (%s)", folder, exc)
    return model
