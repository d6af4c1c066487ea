"""How the layers' readings become a tier: one function, used by triage and by the trainer's
cross-validated report, so the report measures what patients get."""

from __future__ import annotations

from functools import lru_cache

from chatbot.safety.emergency import EmergencyMatch
from chatbot.safety.kinds import Tier
from chatbot.safety.model import DENIED, Scores
from chatbot.safety.rules import rulebook


def decide(
    net: EmergencyMatch | None, scores: Scores | None, thresholds: dict[str, float]
) -> tuple[Tier | None, str, str]:
    """(tier, kind, layer) for a message the rules did not take for an emergency.

    Args:
        net: The rules' safety-net hit (a match negated, past, hypothetical...), or None.
        scores: The learned layers' reading, or None (the rules alone).
        thresholds: The model's thresholds ("emergency", "knn", "net").

    The classifier confident (for a message within the exemplar bank's reach, the "support"
    floor) or the exemplar bank confident → emergency, unless the rules saw a red flag
    denied or in the past ("I'm not suicidal, just exhausted"), or this same one asked about in
    general: what the embedding cannot tell apart from an emergency, the reminder line covers.
    A red flag denied or past is an emergency all the same when the classifier is surer than
    the "override" threshold (learned: "sudden chest pain ... long drive yesterday"); one asked
    about ("is it normal that it spurts?") when it is surer than "asked" (learned the same way
    from the near-misses that ask).
    A line detector (suicide, poisoning: ``Scores.lines``) above its emergency threshold is a
    layer too. Then the rules' safety-net hit, then a line detector above its safety-net
    threshold (the line names the crisis line / poison help), then a weak learned alarm (the
    red-flag classifier over "net", or the sentence head over "sentence_net") → safety net;
    else nothing.
    """
    if scores is not None:
        layer, kind = "", scores.kind
        support = thresholds.get("support", float("-inf"))
        if scores.p_emergency > thresholds["emergency"] and scores.knn >= support:
            layer = "classifier"
        elif scores.knn > thresholds["knn"]:
            layer = "exemplars"
        elif scores.p_sentence > thresholds.get("sentence", float("inf")):
            layer = "sentences"
        elif line := line_read(scores, thresholds):
            layer, kind = "lines", line
        if layer and net is not None:
            if net.why in DENIED:
                # Denied or past by the rules' cues: only a score above "override" outweighs it.
                if scores.p_emergency <= thresholds.get("override", float("inf")):
                    layer = ""
            elif (
                net.kind == kind
                and scores.p_emergency <= thresholds.get("asked", float("inf"))
                and scores.p_sentence <= thresholds.get("asked_sentence", float("inf"))
            ):
                # The same red flag asked about ("is it normal that ..."): only a score above
                # "asked" (learned from such near-misses) makes it an emergency, or the sentence
                # head above "asked_sentence" (learned the same way): one sentence says it is
                # happening now ("is it normal to feel breathless? ... my breathing has gone
                # slow and shallow"), which the whole message's question hides.
                layer = ""
        if layer:
            return "emergency", kind, layer
    if net is not None:
        return "safety_net", net.kind, "rules-net"
    if scores is not None and (line := line_read(scores, thresholds, "_net")):
        return "safety_net", line, "weak"  # its line names the crisis line / poison help
    if scores is not None and scores.p_flag > thresholds["net"]:
        return "safety_net", scores.kind, "weak"
    if scores is not None and scores.p_sentence > thresholds.get("sentence_net", float("inf")):
        return "safety_net", scores.kind, "weak-sentence"  # one sentence alarming, not the whole
    return None, "", ""


def line_read(scores: Scores, thresholds: dict[str, float], level: str = "") -> str:
    """The kind (suicide, poisoning) whose line detector is above its threshold (``level`` ""
    for the emergency tier, "_net" for the safety-net line), the surest first; "" for none."""
    over = [
        (p, kind)
        for kind, p in scores.lines.items()
        if p > thresholds.get(f"{kind}{level}", float("inf"))
        and line_reaches(scores, kind, thresholds)
    ]
    return max(over)[1] if over else ""


def line_reaches(scores: Scores, kind: str, thresholds: dict[str, float]) -> bool:
    """Is the message within the exemplar bank's reach for ``kind``'s line detector (its own
    learned floor, "{kind}_support")? Far from every example it is confidently wrong ("how long
    does the covid vaccine protect you" read as suicide)."""
    return scores.knn >= thresholds.get(f"{kind}_support", float("-inf"))


def vetoed(
    match: EmergencyMatch,
    scores: Scores | None,
    thresholds: dict[str, float],
    vetoable: frozenset[str] | None = None,
) -> bool:
    """Do the learned layers overrule a match of the rules (then: the safety-net line)?

    Only for a rule not marked ``always_now`` and, when ``vetoable`` is given, one of those
    rules (the model's: those with a false alarm in its banks), and only when the classifier's
    score is below the "veto" threshold: the score of the rules' least likely true catches
    (cross-validated, ``TriageTargets.veto_rate``), as for "bleeding hell, 3am again" or
    "overdosed on coffee"; and only when the sentence head would not raise the alarm itself (its
    "sentence" threshold):
    a message whose whole reads calm but one sentence does not (a crushing chest pain told in
    the middle of a long iron question, "is it normal to twitch in their sleep? ... foam at his
    mouth and I can't wake him") keeps the rules' emergency.
    """
    if scores is None or "veto" not in thresholds:
        return False
    if match.rule in always_now_rules() or (vetoable is not None and match.rule not in vetoable):
        return False
    return scores.p_emergency < thresholds["veto"] and scores.p_sentence <= thresholds.get(
        "sentence", float("inf")
    )


@lru_cache(maxsize=1)
def always_now_rules() -> frozenset[str]:
    """The rules the learned layers never overrule (``always_now`` in rules.toml)."""
    return frozenset(r.name for r in rulebook().emergency if r.always_now)
