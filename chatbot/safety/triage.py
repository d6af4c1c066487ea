"""Triage: every message read by layered detectors, any of which can raise the alarm.

1. **The rules** (``emergency.read_rules``, ``rules.toml``) read the text alone, before anything
   that could fail or wait: what they take for an emergency is one (an emergency told over two
   messages too: the last user turn is read with this one), unless the learned layers find a
   lone match very unlikely ("bleeding hell, 3am again": ``decision.vetoed``, a threshold learned
   from the rules' own true catches); then it gets the safety-net line, never nothing. A rule
   marked ``always_now``, a failed reading, or no learned layers: the rules' match stands.
2. **The learned layers** (``model``: an exemplar bank and a small classifier) read the embedding
   of the message's own triage texts (``features.triage_texts``: the normalised message, and the
   tail of a long one), the form they were trained on. They ride along in the retriever's model
   call: ``RideAlong`` adds them to its next ``encode`` (one batch; served, one micro-batch of the
   ``QueryEmbedder``) unless the retriever embeds the same text already (the model lower-cases, so
   a plain message costs nothing more). The retriever's own form of a message is not the same
   text: its typo mending reads words the articles never use as words they do ("slurring" as
   "stirring", "fainting" as "finding") and it spells "RLS" out; read on that form, the layers
   missed "my RLS makes me want to kill myself" (cosine 0.52 to the trained form). Triage never
   adds a model call of its own. The sentence head reads the text alone: each sentence, and the
   last user turn with this one.

Two tiers. **Emergency** (the emergency-only reply): the rules match, or a learned layer is
confident. **Safety net** (the normal answer under one bold line): the rules matched but the
sentence negates it, puts it in the past, makes it hypothetical or asks about it in general, or a
learned layer fires weakly. A hit is never silently dropped; a plain near-miss gets neither.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from chatbot import messages
from chatbot.embedding import Embedder, texts_with
from chatbot.safety.contacts import CountryLines
from chatbot.safety.decision import always_now_rules, decide, line_reaches, vetoed
from chatbot.safety.emergency import (
    EmergencyMatch,
    detect_emergency,
    detect_emergency_followup,
    read_rules,
)
from chatbot.safety.features import (
    char_features,
    cue_features,
    text_design,
    text_units,
    triage_texts,
)
from chatbot.safety.kinds import KIND_CATEGORY, Tier, kind_of
from chatbot.safety.model import Scores, TriageModel
from chatbot.safety.normalise import normalise
from chatbot.safety.rules import rulebook

log = logging.getLogger("chatbot.safety")

POISONING, SUICIDE = "poisoning", "suicide"


@dataclass(frozen=True)
class Verdict:
    """What triage decided for one message.

    Attributes:
        tier: "emergency", "safety_net", or None (neither).
        kind: One of ``kinds.KINDS`` ("" for none).
        also: Other kinds whose line the reply adds (poisoning, suicide).
        layer: Which layer decided: "rules", "follow-up", "classifier", "exemplars",
            "sentences" (the sentence head), "rules-net" (a match the sentence's cues turned
            into a reminder), "rules-veto" (a match the learned layers overruled: a reminder),
            "weak" (a weak learned alarm), "weak-sentence" (one sentence weakly alarming), "" for
            none.
        matched: The rules' words, if a rule decided.
        scores: The learned layers' reading (None when they did not run).
        reading: What the retrieval reading passed to ``assess`` returned (None if not run).
    """

    tier: Tier | None = None
    kind: str = ""
    also: frozenset[str] = frozenset()
    layer: str = ""
    matched: str = ""
    scores: Scores | None = None
    reading: Any = field(default=None, compare=False, repr=False)

    @property
    def category(self) -> str:
        """The reply's category (and ``Answer.reason`` for an emergency)."""
        return KIND_CATEGORY.get(self.kind, KIND_CATEGORY["other"]) if self.kind else ""


def _swallowed(text: str) -> bool:
    """Does the message say something was swallowed, taken or drunk (then poison help too)?"""
    return bool(text) and bool(rulebook().cues["swallowed"].search(normalise(text)))


def _self_harm(text: str) -> bool:
    """Does the message speak of a method or of not caring whether one lives (then the crisis
    line too)?"""
    return bool(text) and bool(rulebook().cues["self_harm"].search(normalise(text)))


_ALSO_CATEGORIES = {POISONING: KIND_CATEGORY[POISONING], SUICIDE: KIND_CATEGORY[SUICIDE]}


def _also_said(kind: str, text: str) -> frozenset[str]:
    """The poisoning / suicide lines the message's own words call for, beside its kind: their
    cues, or a rule of theirs that matches too, even one its cues turn into a reminder ("hard to
    rouse" came first, "her tramadol and the codeine" too; "is there a way to make it stop
    forever? ... the rope")."""
    also = set()
    if kind != POISONING and _swallowed(text):
        also.add(POISONING)
    if kind != SUICIDE and _self_harm(text):
        also.add(SUICIDE)
    wanted = frozenset(c for k, c in _ALSO_CATEGORIES.items() if k != kind and k not in also)
    if text and wanted:
        reading = read_rules(text, wanted)
        for match in (reading.emergency, reading.net):
            if match is not None:
                also.add(kind_of(match.category))
    return frozenset(also)


class RideAlong:
    """An ``Embedder`` that adds this thread's pending triage texts to its next ``encode`` call,
    so the message is embedded for triage in the same model call as the retrieval readings; a
    pending text the call embeds already (in the model's own form: ``texts_with``) is not
    embedded twice. Everything else passes through to the wrapped embedder."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self._local = threading.local()

    def carry(self, texts: list[str]) -> None:
        self._local.pending, self._local.got = list(texts), None

    def give(self, vectors: np.ndarray) -> None:
        """The carried texts' vectors from a caller that has them already (cross-validation, the
        tests' and benches' batches): the next ``take`` returns them, no model call."""
        self._local.pending, self._local.got = None, vectors

    def take(self) -> np.ndarray | None:
        """The vectors of the carried texts (None if no call came), and forget them."""
        got = getattr(self._local, "got", None)
        self._local.pending, self._local.got = None, None
        return got

    def encode(self, texts: list[str]) -> np.ndarray:
        pending = getattr(self._local, "pending", None)
        if not pending:
            return self.inner.encode(texts)
        self._local.pending = None
        every, rows = texts_with(self.name, texts, pending)
        vecs = self.inner.encode(every)
        self._local.got = vecs[rows]
        return vecs[: len(texts)]

    def count_word_pieces(self, text: str) -> int:
        return self.inner.count_word_pieces(text)

    def __getattr__(self, name: str) -> Any:  # stats(), encode_one() of the serving wrapper
        return getattr(self.inner, name)


class Triage:
    """The layered check (see the module docstring).

    Args:
        model: The learned layers, or None for the rules alone.
        embedder: The embedder the retriever uses (wrapped here; pass ``embedder`` on to the
            retriever so the triage texts ride along with its readings).
        lines: The numbers to name (``contacts.country_lines``).
        also_kind: Probability from which poisoning / suicide lines are added.
    """

    def __init__(
        self,
        model: TriageModel | None,
        embedder: Embedder,
        lines: CountryLines,
        also_kind: float = 0.10,
    ) -> None:
        self.model = model
        self.embedder = RideAlong(embedder)
        self.lines = lines
        self.also_kind = also_kind

    # -- deciding ----------------------------------------------------------------------------

    def assess(
        self,
        text: str,
        previous: str = "",
        read: Callable[[], Any] | None = None,
    ) -> Verdict:
        """Triage one (cleaned) message.

        Args:
            text: The message.
            previous: The user's last message (an emergency told over two messages).
            read: The retrieval reading, run when the rules find no emergency; its result comes
                back as ``Verdict.reading``. Errors it raises pass through: without the model
                there is no answer either. The triage texts ride along in its model call
                (``RideAlong``); a reading that makes none leaves triage to embed them itself.
        """
        rules = read_rules(text)
        hit = rules.emergency
        if hit is not None and (
            self.model is None or read is None or hit.rule in always_now_rules()
        ):
            return self._from_rule(hit, "rules", "emergency", text)
        if hit is None and (follow := detect_emergency_followup(text, previous)) is not None:
            return self._from_rule(follow, "follow-up", "emergency", f"{previous} {text}")
        reading, vectors = None, None
        texts = triage_texts(text)
        if read is not None:
            if self.model is not None:
                self.embedder.carry(texts)
            try:
                reading = read()
            except Exception:
                if hit is None:
                    raise
                # A match of the rules is an emergency whatever else fails.
                log.exception("triage: the reading failed; the rules' match stands")
                return self._from_rule(hit, "rules", "emergency", text)
            finally:
                vectors = self.embedder.take()
        scores = self._scores(texts, vectors, text, previous) if self.model is not None else None
        if hit is not None:
            return self._arbitrated(hit, scores, text, reading)
        verdict = self._decide(rules.net, scores, text)
        return Verdict(
            verdict.tier,
            verdict.kind,
            verdict.also,
            verdict.layer,
            verdict.matched,
            scores,
            reading,
        )

    def _scores(
        self, texts: list[str], vectors: np.ndarray | None, text: str, previous: str
    ) -> Scores | None:
        assert self.model is not None
        try:
            if vectors is None or len(vectors) != len(texts):
                vectors = self.embedder.inner.encode(texts)
            cues = np.stack([cue_features(t) for t in texts])
            chars = char_features(texts)
            # A last turn that was an emergency already had its reply (``detect_emergency_
            # followup`` says when it counts again): the head reads this message alone then.
            earlier = previous if previous and detect_emergency(previous[-4000:]) is None else ""
            units = text_design(text_units(text, earlier))
            vectors = np.asarray(vectors, dtype=np.float32)
            return replace(self.model.score(vectors, cues, chars, units), vector=vectors[0])
        except Exception as exc:  # the rules' verdict stands
            log.error("triage: the learned layers failed (%s); the rules decide alone", exc)
            return None

    def _arbitrated(
        self, hit: EmergencyMatch, scores: Scores | None, text: str, reading: Any
    ) -> Verdict:
        """A match of the rules, with the learned layers' reading: the emergency, or the
        safety-net line when they overrule it (``decision.vetoed``)."""
        thresholds = self.model.thresholds if self.model is not None else {}
        veto = vetoed(hit, scores, thresholds, self.model.vetoable if self.model else None)
        tier: Tier = "safety_net" if veto else "emergency"
        base = self._from_rule(hit, "rules-veto" if veto else "rules", tier, text)
        also = base.also | (self._also(scores, base.kind) if scores is not None else frozenset())
        return Verdict(tier, base.kind, also, base.layer, base.matched, scores, reading)

    def _decide(self, net: EmergencyMatch | None, scores: Scores | None, text: str) -> Verdict:
        thresholds = self.model.thresholds if self.model is not None else {}
        tier, kind, layer = decide(net, scores, thresholds)
        if tier is None:
            return Verdict()
        if layer == "rules-net" and net is not None:
            verdict = self._from_rule(net, layer, "safety_net", text)
            also = verdict.also | (self._also(scores, kind) if scores is not None else frozenset())
            return Verdict("safety_net", kind, also, layer, verdict.matched)
        also = (self._also(scores, kind) if scores is not None else frozenset()) | _also_said(
            kind, text
        )
        return Verdict(tier, kind, also, layer)

    def _also(self, scores: Scores, kind: str) -> frozenset[str]:
        """The lines the learned layers call for beside ``kind``: the kind classifier's
        probability of poisoning / suicide, or their line detector above its safety-net
        threshold (at any tier: a suicide signal always names the crisis line)."""
        thresholds = self.model.thresholds if self.model is not None else {}
        return frozenset(
            k
            for k in (POISONING, SUICIDE)
            if k != kind
            and (
                scores.kinds.get(k, 0.0) >= self.also_kind
                or (
                    scores.lines.get(k, 0.0) > thresholds.get(f"{k}_net", float("inf"))
                    and line_reaches(scores, k, thresholds)
                )
            )
        )

    def from_rules(self, match: EmergencyMatch) -> Verdict:
        """The emergency verdict for a match of the rules (a message too long to answer)."""
        return self._from_rule(match, "rules", "emergency", match.matched)

    def _from_rule(self, match: EmergencyMatch, layer: str, tier: Tier, text: str = "") -> Verdict:
        kind = kind_of(match.category)
        also = _also_said(kind, text)
        return Verdict(tier, kind, also, layer, match.matched)

    # -- what the patient is told -------------------------------------------------------------

    def contacts(self, verdict: Verdict) -> list[dict[str, str]]:
        """The numbers the answer object lists for ``tel:`` links: the emergency number, and the
        crisis line or poison help when the kind calls for them."""
        lines = self.lines
        out = [line.contact("emergency") for line in lines.emergency]
        kinds = {verdict.kind, *verdict.also}
        if SUICIDE in kinds and lines.crisis is not None:
            out.append(lines.crisis.contact("crisis"))
        if POISONING in kinds and lines.poison is not None:
            out.append(lines.poison.contact("poison"))
        return out

    def safety_field(self, verdict: Verdict) -> dict[str, Any] | None:
        """The answer object's ``safety`` field (None when neither tier)."""
        if verdict.tier is None:
            return None
        return {"tier": verdict.tier, "kind": verdict.kind, "contacts": self.contacts(verdict)}

    def _spoken(self) -> tuple[str, str, str]:
        lines = self.lines
        crisis = lines.crisis.spoken if lines.crisis else ""
        poison = lines.poison.spoken if lines.poison else ""
        return lines.emergency_number, crisis, poison

    def emergency_text(self, verdict: Verdict) -> str:
        """The emergency-only reply for ``verdict``."""
        number, crisis, poison = self._spoken()
        also = frozenset(KIND_CATEGORY[k] for k in verdict.also)
        return messages.emergency_text(number, crisis, verdict.category, poison, also)

    def net_line(self, verdict: Verdict) -> str:
        """The bold line above a safety-net answer."""
        number, crisis, poison = self._spoken()
        also = frozenset(KIND_CATEGORY[k] for k in verdict.also)
        return messages.safety_net_line(number, crisis, verdict.category, poison, also)
