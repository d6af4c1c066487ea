"""What a patient sees of an answer's safety information: numbers to call as ``tel:`` links.

The answer object may carry ``safety`` = ``{"tier": "emergency" | "safety_net", "kind": ...,
"contacts": [{"label", "number", "tel"}]}`` (the shared extension of CONTRACT.md). Where it is
missing (an older answer, a reused reviewed answer) the numbers come from the bot's settings
(``Bot.emergency_number``, ``Bot.crisis_line``: "911", "112 or 999", "Samaritans on 116 123"),
so an emergency card always has a working link when a number is configured and says "call your
local emergency number" when none is. The chat (render.py) and the widget (the same contacts,
handed to widget.js by embed.py) show the same numbers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from chatbot import messages

EMERGENCY_LABEL = "Emergency services"
CRISIS_LABEL = "Crisis line"
NO_NUMBER = "Call your local emergency number now."
_TEL = re.compile(r"^\+?[0-9]{2,15}$")
# A phone number inside a sentence: digits, optionally grouped by spaces or dashes
# ("116 123", "0800 111 0 111", "9-8-8"); a lone digit is not a number to call.
_NUMBER = re.compile(r"(?<![\w+])\+?\d(?:[ \-]?\d){1,14}(?!\w)")


def safety_of(answer: Any) -> dict[str, Any] | None:
    """The answer's ``safety`` field (an Answer or its dict), or None when it has none."""
    value = answer.get("safety") if isinstance(answer, Mapping) else getattr(answer, "safety", None)
    return value if isinstance(value, Mapping) and value.get("tier") else None  # type: ignore[return-value]


def tier_of(answer: Any) -> str | None:
    """ "emergency" (also for an emergency answer without the field), "safety_net" or None."""
    safety = safety_of(answer)
    if safety is not None:
        return str(safety.get("tier"))
    status = answer.get("status") if isinstance(answer, Mapping) else getattr(answer, "status", "")
    return "emergency" if status == "emergency" else None


def numbers_in(text: str) -> list[str]:
    """The phone numbers written in ``text``, in order, without repeats (by their digits)."""
    seen: set[str] = set()
    out: list[str] = []
    for m in _NUMBER.finditer(text or ""):
        number = m.group(0).strip()
        tel = _tel(number)
        if tel and tel not in seen:
            seen.add(tel)
            out.append(number)
    return out


def _tel(number: str) -> str:
    digits = re.sub(r"[^\d+]", "", number)
    return digits if _TEL.match(digits) else ""


def fallback_contacts(
    emergency_number: str, crisis_line: str = "", suicide: bool = False
) -> list[dict[str, str]]:
    """Contacts from the bot's settings: each emergency number ("112 or 999" is two), then,
    for thoughts of suicide or self-harm, the crisis line's number(s)."""
    out = [
        {"label": EMERGENCY_LABEL, "number": n, "tel": _tel(n)}
        for n in numbers_in(emergency_number)
    ]
    if suicide and crisis_line:
        name = re.split(r"\s+(?:on|\()", crisis_line, maxsplit=1)[0].strip(" ,") or CRISIS_LABEL
        known = {c["tel"] for c in out}
        out += [
            {"label": name, "number": n, "tel": _tel(n)}
            for n in numbers_in(crisis_line)
            if _tel(n) not in known
        ]
    return out


def contacts_for(answer: Any, emergency_number: str, crisis_line: str) -> list[dict[str, str]]:
    """The numbers to show with ``answer``: its own ``safety.contacts`` when they hold a
    callable number, else (for an emergency) the configured ones."""
    safety = safety_of(answer) or {}
    given = []
    for c in safety.get("contacts") or []:
        if not isinstance(c, Mapping):
            continue
        tel = _tel(str(c.get("tel") or c.get("number") or ""))
        if tel:
            number = str(c.get("number") or tel)
            given.append({"label": str(c.get("label") or ""), "number": number, "tel": tel})
    if given or tier_of(answer) != "emergency":
        return given
    reason = answer.get("reason") if isinstance(answer, Mapping) else getattr(answer, "reason", "")
    suicide = safety.get("kind") == "suicide" or reason == messages.SUICIDE_CATEGORY
    return fallback_contacts(emergency_number, crisis_line, suicide)


def calls_html(contacts: list[dict[str, str]], inert: Any) -> str:
    """The contacts as a list of large ``tel:`` links ("Call 911"), or the generic advice."""
    if not contacts:
        return f'<p class="call-none"><strong>{inert(NO_NUMBER)}</strong></p>'
    items = []
    for c in contacts:
        label = f' <span class="call-label">{inert(c["label"])}</span>' if c.get("label") else ""
        items.append(
            f'<li><a class="call" href="tel:{c["tel"]}">Call {inert(c["number"])}</a>{label}</li>'
        )
    return f'<ul class="calls" aria-label="Numbers to call">{"".join(items)}</ul>'
