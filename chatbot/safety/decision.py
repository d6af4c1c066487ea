"""How the layers' readings become a tier: one function, used by triage and by the trainer's
cross-validated report, so the report measures what patients get."""

from __future__ import annotations

from chatbot.safety.emergency import EmergencyMatch
from chatbot.safety.kinds import Tier
from chatbot.safety.model import Scores


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
    Then the rules' safety-net hit, then a weak learned alarm → safety net; else nothing.
    """
    if scores is not None:
        layer = ""
        support = thresholds.get("support", float("-inf"))
        if scores.p_emergency > thresholds["emergency"] and scores.knn >= support:
            layer = "classifier"
        elif scores.knn > thresholds["knn"]:
            layer = "exemplars"
        if (
            layer
            and net is not None
            and (net.why in ("negated", "past") or net.kind == scores.kind)
        ):
            layer = ""
        if layer:
            return "emergency", scores.kind, layer
    if net is not None:
        return "safety_net", net.kind, "rules-net"
    if scores is not None and scores.p_flag > thresholds["net"]:
        return "safety_net", scores.kind, "weak"
    return None, "", ""
