"""The emergency check's readable rules: run on every message before anything else.

Every decision can be read, tested and explained to clinic staff, and it needs no model (the
trained layers beside it are in ``triage``). It reads the message sentence by sentence, with the
rules of ``rules.toml``, of two kinds:

* **symptoms** said in the message ("my chest is crushing", "cant breath", "face drooping",
  "swollen hot calf", "throat is swelling", "numb between my legs and I can't pee"): these fire
  wherever they appear;
* **events** for named conditions (stroke, heart attack, seizure, blood clot, overdose,
  anaphylaxis, sepsis): these fire only when the message says it is happening ("I think I'm
  having a stroke", "my husband is having a seizure"), never for a topic question ("can a stroke
  cause RLS?", "do anti-seizure medicines make RLS worse?").

A match is an emergency unless the sentence says otherwise; then it is a **safety-net** hit (the
patient gets the answer under a reminder line, never nothing): its own clause negates it ("no
chest pain", "I'm not suicidal"), the sentence places it in the past or says it is over ("I had
chest pain two years ago", "it's gone now"), makes it hypothetical ("what should I do if my face
ever droops?"), asks about it in general ("can ropinirole cause chest pain?", unless the message
says it is happening now) or is figurative ("can't breathe from laughing lol").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from chatbot.safety.hygiene import OVERLONG_FACTOR, plain_text
from chatbot.safety.kinds import kind_of
from chatbot.safety.normalise import normalise, sentences
from chatbot.safety.rules import rulebook

# Negation cues, looked for in the few words before a match, inside its own clause.
_NEGATION = re.compile(
    r"\b(?:no|not|never|without|denies|deny|nor|don't|doesn't|didn't|isn't|aren't|wasn't|weren't"
    r"|haven't|hasn't|hadn't|won't|wouldn't|none|zero|free of|nearly|almost)\b"
)
# Uncertainty is not negation: "not sure if i'm having a stroke" is still a stroke.
_UNCERTAIN = re.compile(
    r"\b(?:not sure|don't know|do not know|no idea|not certain|can't tell|cannot tell|unsure"
    r"|not kidding|no joke|not joking|not lying"
    # A "not" that is itself a sign: "not normal indigestion", "hand not working".
    r"|not (?:normal|usual|like (?:my|his|her|their) usual|working|wrking|right|moving|making sense"
    r"|responding|answering|himself|herself|themselves|myself))\b"
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


_ONSET = re.compile(
    r"\b(?:after|since|following) (?:\w+ ){0,6}?(?:last \w+|yesterday|"
    r"(?:(?:\d+|a|an|one|two|three|few|some|several|many) )?(?:days?|weeks?|months?|years?) ago)"
)


def in_the_past(sentence: str) -> bool:
    """Does the sentence place what it says in the past, or say it is over ("two years ago",
    "it's gone now", "the hospital said it wasn't my heart"), with nothing saying *now*?"""
    cues = rulebook().cues
    sentence = _ONSET.sub(" ", sentence)  # "after surgery last week": when it began, not over
    past = cues["past"].search(sentence) or cues["resolved"].search(sentence)
    return bool(past) and not cues["present"].search(cues["resolved"].sub(" ", sentence))


# Whose symptom it is: a person named just before the match ("my chest hurts", "i have chest
# pain", "her face is drooping") makes a question about it a question about now.
_PERSONAL = re.compile(
    r"\b(?:i|i'm|i've|i'd|me|my|mine|myself|he|he's|his|him|she|she's|her|they're|their|we|"
    r"we're|our|us)\b"
)


def _personal(sentence: str, start: int, end: int) -> bool:
    before = " ".join(_clause_before(sentence, start).split()[-4:])
    return bool(_PERSONAL.search(before) or _PERSONAL.search(sentence[start:end]))


def _why_not_now(sentence: str, start: int, end: int, happening_now: bool) -> str:
    """Why a match at ``start:end`` is a reminder rather than an emergency, or "" for none."""
    cues = rulebook().cues
    whole = end <= start  # a rule of signs that come together (lookaheads): the whole message
    if whole:
        start, end = 0, len(sentence)
    if in_the_past(sentence):
        return "past"
    if whole and not happening_now and cues["resolved"].search(sentence):
        return "past"  # "...had surgery on my back for it and I've recovered. Now I get RLS"
    if cues["hypothetical"].search(sentence[:end]):
        return "hypothetical"
    topic = cues["topic_question"].search(sentence)
    if (
        topic
        and not happening_now
        and (end == len(sentence) or not _personal(sentence, start, end))
    ):
        return "question"
    if cues["figurative"].search(sentence):
        return "figurative"
    return ""


@dataclass(frozen=True)
class EmergencyMatch:
    """What the rules found: its category, the words, the rule's name, and for a safety-net hit
    why it is not taken for an emergency now ("negated", "past", "hypothetical", "question",
    "figurative"; "" for an emergency)."""

    category: str
    matched: str
    rule: str = ""
    why: str = ""

    @property
    def kind(self) -> str:
        """The answer object's ``safety.kind`` ("chest_pain", "poisoning"...)."""
        return kind_of(self.category)


@dataclass(frozen=True)
class RuleReading:
    """The rules' reading of one message: the emergency they found, and the first match the
    sentence's cues turned into a safety-net hit (either may be None)."""

    emergency: EmergencyMatch | None = None
    net: EmergencyMatch | None = None


EMERGENCY_CATEGORIES = tuple(dict.fromkeys(r.category for r in rulebook().emergency))


def read_rules(text: str, only: frozenset[str] | None = None) -> RuleReading:
    """Read a message with the rules: the emergency it describes (the first found) and the
    first safety-net hit.

    Args:
        text: The user's message (raw or cleaned; it is normalised here).
        only: Read with the rules of these categories alone (default: every rule).
    """
    book = rulebook()
    full = normalise(text)
    once = normalise(text, r"\1")
    net: EmergencyMatch | None = None
    for variant in [full] + ([once] if once != full else []):
        happening_now = bool(book.cues["present_strong"].search(variant))
        units = [(s, False) for s in sentences(variant)] + [(variant, True)]
        for unit, whole in units:
            for rule in book.emergency:
                if rule.whole_message != whole or (only is not None and rule.category not in only):
                    continue
                if rule.unless is not None and rule.unless.search(unit):
                    continue
                for m in rule.pattern.finditer(unit):
                    if rule.about_a_person and _not_about_a_person(unit, m.start(), m.end()):
                        continue
                    why = "negated" if _negated(unit, m.start()) else ""
                    if not rule.always_now:
                        why = why or _why_not_now(unit, m.start(), m.end(), happening_now)
                    match = EmergencyMatch(rule.category, m.group(0), rule.name, why)
                    if not why:
                        return RuleReading(match, net)
                    net = net or match
    return RuleReading(None, net)


def detect_emergency(text: str) -> EmergencyMatch | None:
    """Return the emergency the message describes (the first found), or None.

    Args:
        text: The user's message (raw or cleaned; it is normalised here).

    Returns:
        The category (one of ``EMERGENCY_CATEGORIES``) and the words that matched, or None.
    """
    return read_rules(text).emergency


def detect_emergency_followup(text: str, previous: str) -> EmergencyMatch | None:
    """An emergency told over two messages: "my calf has been swollen since the flight", then
    "now it's red, hot and really painful". ``previous`` is the user's last message; when that
    was an emergency already, the reply to it has been given: it counts again only when this
    short message says it goes on or is worse ("it's worse, I can barely type")."""
    previous = previous[-4000:]  # history comes from the client; read only its end
    if not previous.strip():
        return None
    before = detect_emergency(previous)
    if before is not None:
        # Said again and worse ("I can barely type this out now"): the emergency stands.
        worse = rulebook().cues["worse"].search(normalise(text))
        return before if worse and len(text.split()) <= 40 else None
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
