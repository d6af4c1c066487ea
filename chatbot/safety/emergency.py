"""The emergency check: run on every message before anything else (see ``pipeline.Bot.ask``).

It is rule-based on purpose: every decision can be read, tested and explained to clinic staff,
and it needs no model. It reads the message sentence by sentence, with the rules of
``rules.toml``, of two kinds:

* **symptoms** said in the message ("my chest is crushing", "cant breath", "face drooping",
  "swollen hot calf", "throat is swelling"): these fire wherever they appear, also inside a
  question ("can RLS cause chest pain?"), because a patient who asks that at night may have it;
* **events** for named conditions (stroke, heart attack, seizure, blood clot, overdose,
  anaphylaxis): these fire only when the message says it is happening ("I think I'm having a
  stroke", "my husband is having a seizure"), never for a topic question ("can a stroke cause
  RLS?", "do anti-seizure medicines make RLS worse?").

A match is dropped when its own clause negates it ("no chest pain", "I'm not suicidal") or when the
sentence places it firmly in the past ("I had chest pain two years ago"). Anything about suicide or
self-harm counts, even as a general question: the reply then leads with the crisis line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from chatbot.messages import SUICIDE_CATEGORY as SUICIDE
from chatbot.safety.hygiene import OVERLONG_FACTOR, plain_text
from chatbot.safety.normalise import normalise, sentences
from chatbot.safety.rules import rulebook

# Emergencies happen now: these move a sentence into the past or mark it as resolved.
_HISTORY = re.compile(
    r"\b(?:(?:\d+|a|an|one|two|three|four|five|six|few|several|many|couple of)"
    r" (?:years?|yrs?|months?|decades?) ago"
    r"|last (?:year|summer|winter|spring|fall|autumn)|in (?:19|20)\d\d"
    r"|when i was (?:young|little|a (?:kid|child|teen\w*))"
    r"|as a (?:child|kid|teen\w*)|used to|years back|for (?:many |several |a few )?years"
    r"|since (?:childhood|birth|i was)"
    r"|(?:was|were|came back|came out|turned out|all) (?:fine|normal|clear|negative|ok|okay)"
    r"|ruled out)\b"
)
_PRESENT = re.compile(
    r"\b(?:now|right now|again|currently|tonight|today|this (?:morning|evening|afternoon)"
    r"|at the moment|still|just|suddenly)\b"
)
# Negation cues, looked for in the few words before a match, inside its own clause.
_NEGATION = re.compile(
    r"\b(?:no|not|never|without|denies|deny|nor|don't|doesn't|didn't|isn't|aren't|wasn't|weren't"
    r"|haven't|hasn't|hadn't|won't|wouldn't|none|zero|free of|nearly|almost)\b"
)
# Uncertainty is not negation: "not sure if i'm having a stroke" is still a stroke.
_UNCERTAIN = re.compile(
    r"\b(?:not sure|don't know|do not know|no idea|not certain|can't tell|cannot tell|unsure"
    r"|not kidding|no joke|not joking|not lying)\b"
)
_CLAUSE_BREAK = re.compile(
    r",|\b(?:but|and|although|though|however|yet|so|because|cause|cos|now|then|while|plus)\b"
)
_SIMILE = re.compile(r"\b(?:like|as if|as though)\b[^,]*$")


def _clause_before(sentence: str, start: int) -> str:
    return _CLAUSE_BREAK.split(sentence[:start])[-1]


def _negated(sentence: str, start: int) -> bool:
    """Is the match at ``start`` negated in its own clause ("no chest pain", "i'm not suicidal")?"""
    clause = _UNCERTAIN.sub(" ", _clause_before(sentence, start))
    return bool(_NEGATION.search(" ".join(clause.split()[-5:])))


def _not_about_a_person(sentence: str, start: int, end: int) -> bool:
    """Is the matched clause about the legs, or a simile ("my legs feel like they're having a
    seizure")?"""
    before = _clause_before(sentence, start)
    limb = rulebook().fragments["LIMB"]
    return bool(re.search(limb, before + sentence[start:end]) or _SIMILE.search(before))


@dataclass(frozen=True)
class EmergencyMatch:
    """Why a message was taken for an emergency: its category, the words, the rule's name."""

    category: str
    matched: str
    rule: str = ""


EMERGENCY_CATEGORIES = tuple(dict.fromkeys(r.category for r in rulebook().emergency))


def detect_emergency(text: str) -> EmergencyMatch | None:
    """Return the emergency the message describes (the first found), or None.

    Args:
        text: The user's message (raw or cleaned; it is normalised here).

    Returns:
        The category (one of ``EMERGENCY_CATEGORIES``) and the words that matched, or None.
    """
    once = normalise(text, r"\1")
    variants = [normalise(text)] + ([once] if once != normalise(text) else [])
    for sentence in (s for v in variants for s in sentences(v)):
        historical = bool(_HISTORY.search(sentence)) and not _PRESENT.search(sentence)
        for rule in rulebook().emergency:
            if rule.unless is not None and rule.unless.search(sentence):
                continue
            # A past event is not an emergency now; thoughts of suicide always count.
            if historical and rule.category != SUICIDE:
                continue
            for m in rule.pattern.finditer(sentence):
                if _negated(sentence, m.start()):
                    continue
                if rule.about_a_person and _not_about_a_person(sentence, m.start(), m.end()):
                    continue
                return EmergencyMatch(rule.category, m.group(0), rule.name)
    return None


def detect_emergency_followup(text: str, previous: str) -> EmergencyMatch | None:
    """An emergency told over two messages: "my calf has been swollen since the flight", then
    "now it's red, hot and really painful". ``previous`` is the user's last message; when that
    was an emergency already, the reply to it has been given and it is not read again."""
    previous = previous[-4000:]  # history comes from the client; read only its end
    if not previous.strip() or detect_emergency(previous) is not None:
        return None
    return detect_emergency(f"{previous.rstrip(' .!?;')}, {text}")


def overlong_emergency(raw: object, max_chars: int) -> tuple[str, EmergencyMatch] | None:
    """Read a message refused as too long for an emergency all the same.

    A patient who pastes a long story that ends in "and now I can't breathe" must get the
    emergency reply, not "too long". Messages up to four times the limit are read.

    Returns:
        (the first ``max_chars`` characters, cleaned, for the log; the match), or None.
    """
    if isinstance(raw, bytes | bytearray):
        raw = bytes(raw).decode("utf-8", errors="replace")
    if not isinstance(raw, str) or len(raw) > max_chars * OVERLONG_FACTOR:
        return None
    text = plain_text(raw) or ""
    match = detect_emergency(text)
    return None if match is None else (text[:max_chars], match)
