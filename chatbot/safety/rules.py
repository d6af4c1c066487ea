"""The safety rules as named records, loaded once from ``rules.toml`` (readable data, not code).

Each emergency rule says what it matches (``pattern``), what in the same sentence rules it out
(``unless``), whether it is only about a person (``about_a_person``: dropped when the clause
is about the legs or a simile: "my legs feel like they're having a seizure") and whether it reads
the whole message rather than each sentence (``scope = "message"``: signs that come together,
such as a bad back with numbness between the legs). The ``[cues]`` say when a sentence is about
the past, a hypothetical or a general question (the safety-net tier) and are features of the
trained classifier too. Each
personal-advice rule may need a medicine named in the message, or the message to speak of
oneself. ``<<NAME>>`` in a pattern stands for a fragment; ``<<PILLS>>`` is made here from the
vocabulary's tablet words and medicine names, so one list of medicines serves every check.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

RULES_FILE = Path(__file__).with_name("rules.toml")
_PLACEHOLDER = re.compile(r"<<([A-Z_]+)>>")


@dataclass(frozen=True)
class EmergencyRule:
    """One rule of the emergency check."""

    name: str
    category: str
    pattern: re.Pattern[str]
    unless: re.Pattern[str] | None = None
    about_a_person: bool = False
    whole_message: bool = False
    always_now: bool = False  # never a reminder for a past, hypothetical or general framing


@dataclass(frozen=True)
class AdviceRule:
    """One rule of the personal-advice check (a dose, a medicine change, a diagnosis)."""

    name: str
    pattern: re.Pattern[str]
    needs_medicine: bool = False
    needs_self: bool = False


@dataclass(frozen=True)
class RuleBook:
    """Everything ``rules.toml`` holds, compiled."""

    emergency: tuple[EmergencyRule, ...]
    personal_advice: tuple[AdviceRule, ...]
    medicine: re.Pattern[str]  # any medicine, dose or supplement, by word, name or stem
    fragments: dict[str, str]
    cues: dict[str, re.Pattern[str]]  # past, resolved, present, hypothetical, topic_question...


def _alternatives(value: Any) -> str:
    return "|".join(value) if isinstance(value, list) else str(value)


@lru_cache(maxsize=1)
def rulebook(path: Path = RULES_FILE) -> RuleBook:
    """The rules in ``path``, compiled (once a process)."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    vocab = data["vocabulary"]
    fragments = {k: str(v) for k, v in data["fragments"].items()}
    fragments["PILLS"] = "(?:" + "|".join(vocab["pill_words"] + vocab["medicine_names"]) + ")"

    def compile_(value: Any) -> re.Pattern[str]:
        text = _PLACEHOLDER.sub(lambda m: fragments[m.group(1)], _alternatives(value))
        return re.compile(text)

    def cue(value: Any) -> re.Pattern[str]:
        # Whole words (or a whole emoji): each alternative stands apart from its neighbours.
        text = _PLACEHOLDER.sub(lambda m: fragments[m.group(1)], _alternatives(value))
        return re.compile(r"(?<!\w)(?:" + text + r")(?!\w)")

    medicine = "|".join(vocab["medicine_words"] + vocab["medicine_names"] + vocab["medicine_stems"])
    return RuleBook(
        emergency=tuple(
            EmergencyRule(
                name=r["name"],
                category=r["category"],
                pattern=compile_(r["any_of"]),
                unless=compile_(r["unless"]) if "unless" in r else None,
                about_a_person=bool(r.get("about_a_person", False)),
                whole_message=r.get("scope", "sentence") == "message",
                always_now=bool(r.get("always_now", False)),
            )
            for r in data["emergency"]
        ),
        personal_advice=tuple(
            AdviceRule(
                name=r["name"],
                pattern=compile_(r["any_of"]),
                needs_medicine=bool(r.get("needs_medicine", False)),
                needs_self=bool(r.get("needs_self", False)),
            )
            for r in data["personal_advice"]
        ),
        medicine=re.compile(rf"\b(?:{medicine})\b"),
        fragments=fragments,
        cues={name: cue(value) for name, value in data["cues"].items()},
    )
