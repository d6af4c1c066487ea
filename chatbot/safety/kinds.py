"""The kinds of emergency, as the answer object's ``safety.kind`` names them, and the rules'
categories (the words of ``rules.toml`` and of ``Answer.reason``) each belongs to."""

from __future__ import annotations

from typing import Literal

Tier = Literal["emergency", "safety_net"]

KINDS = (
    "chest_pain",
    "breathing",
    "stroke",
    "suicide",
    "clot",
    "poisoning",
    "anaphylaxis",
    "sepsis",
    "cauda_equina",
    "bleeding",
    "collapse_seizure",
    "other",
)

# The rules' category (what ``Answer.reason`` says for an emergency) -> its kind.
CATEGORY_KIND = {
    "chest pain": "chest_pain",
    "trouble breathing": "breathing",
    "stroke signs": "stroke",
    "suicide or self-harm": "suicide",
    "possible blood clot": "clot",
    "overdose or poisoning": "poisoning",
    "severe allergic reaction": "anaphylaxis",
    "sepsis signs": "sepsis",
    "cauda equina signs": "cauda_equina",
    "heavy bleeding": "bleeding",
    "collapse or unconsciousness": "collapse_seizure",
    "seizure": "collapse_seizure",
}
# A kind -> the category its reply and ``reason`` name (the first one listed above).
KIND_CATEGORY = {kind: cat for cat, kind in reversed(list(CATEGORY_KIND.items()))}
KIND_CATEGORY["other"] = "possible emergency"


def kind_of(category: str) -> str:
    """The kind of a rules category ("other" for one it does not know)."""
    return CATEGORY_KIND.get(category, "other")
