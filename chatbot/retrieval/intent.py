"""What a question asks for, beyond its words: how broad it is, which facets it asks about,
whether it is about the clinic itself, and whom it is about.

* *Breadth*: a question that asks for a facet ("what are the treatments", "what causes it",
  "how is it diagnosed", "rls pregnancy") is *broad*: its answer covers the facet, grouped
  under headings. A yes/no question ("can low iron cause it?", "is it inherited?"), a "why",
  "when", "how much" or "what is RLS?" is *narrow*: its direct answer first, and little else.
  Read from the question's grammar (the sentence that asks, in a message with a story around
  it) and, for a bare topic ("restless legs magnesium"), from how close it is to a facet.
* *Facets*: the question's cosine to each facet of the articles' structure (``structure``).
* *About the clinic*: a question about the clinic itself (booking, its doctors) may be
  answered by what the clinic says of itself; every other question is medical, and the
  clinic's promotion is never quoted for it.
* *Someone else*: "my son", "my 8 year old", "my husband" ask the same question as "I" do; the
  relation is read as the person it is ("my son" is a child), not as a word of heredity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

_SENTENCES = re.compile(r"(?<=[.?!])\s+|\n+")
_LEAD_FILLER = re.compile(
    r"^(?:(?:so|ok|okay|and|but|also|well|hi|hello|please|thanks|thank you|hey)\b[\s,.!]*)+",
    re.IGNORECASE,
)
_YES_NO = re.compile(
    r"^(is|are|am|was|were|can|could|do|does|did|will|would|should|shall|has|have|had|may|"
    r"might|must|isn'?t|aren'?t|can'?t|don'?t|doesn'?t|won'?t)\b",
    re.IGNORECASE,
)
_POLITE = re.compile(
    r"^(?:(?:can|could|would|will) you (?:please )?|i (?:would|should|'d) (?:like|be grateful)"
    r"[^.?!]*?(?:if you could |to know |to ask )?)(?:tell me|explain|describe|list|say)?\s*",
    re.IGNORECASE,
)
_WH = re.compile(r"\b(what|which|how|who|why|when|where)\b", re.IGNORECASE)
_NARROW_WH = re.compile(
    r"^(why|when|where|how (much|many|long|often|old|soon|fast is|common)|at what|"
    r"who (discovered|described|first))\b",
    re.IGNORECASE,
)
# "what is RLS?", "what's willis-ekbom disease": a definition, a narrow question.
_DEFINITION = re.compile(
    r"^(what|who)(?:'s| is| are)\s+(?:the\s+)?(restless\s+legs?(\s+syndrome)?|rls|"
    r"willis[- ]ekbom(\s+disease)?|it|this)\W*$",
    re.IGNORECASE,
)
_ABOUT_CLINIC = re.compile(
    r"\b(your|the) (clinic|practice|team|doctors|specialists)\b|\b(appointment|book(ing)?|"
    r"opening hours|consultation|truffles)\b",
    re.IGNORECASE,
)
# "my son", "my 8 year old", "our daughter", "my husband": the person the question is about.
_CHILD = (
    r"son|daughter|kid|kids|child|children|boy|girl|toddler|teen|teenager|baby|"
    r"\d{1,2}[- ]?(?:yr|year)s?[- ]?old|grandson|granddaughter"
)
_ADULT = (
    r"husband|wife|partner|boyfriend|girlfriend|mum|mom|mother|dad|father|"
    r"grandmother|grandfather|grandma|grandpa|nan|friend|sister|brother|aunt|uncle|"
    r"patient|client|neighbou?r"
)
_AGE = r"\d{1,2}[- ]?(?:yr|year)s?[- ]?old"
_PERSON = re.compile(
    rf"\b(?:my|our|his|her)\s+(?:(?:little|elderly|old|young|{_AGE})\s+)?"
    rf"(?P<who>{_CHILD}|{_ADULT})(?:'s)?\b",
    re.IGNORECASE,
)
_HEREDITY = re.compile(
    r"\b(genetic|gene|inherit\w*|hereditary|runs? in|family|families|pass(ed)? (it )?on|"
    r"get it too|have it too|had it too|as well)\b",
    re.IGNORECASE,
)
_CHILD_WORD = re.compile(rf"^(?:{_CHILD})$", re.IGNORECASE)


@dataclass(frozen=True)
class Intent:
    """What a question asks for (see the module docstring)."""

    broad: bool
    facets: np.ndarray | None = None  # cosine to each facet, in ``structure.FACETS`` order
    about_clinic: bool = False


def asking_sentence(message: str) -> str:
    """The sentence of a message that asks: the last one with a question mark, else the last
    one with a question word, else the whole message."""
    parts = [p.strip() for p in _SENTENCES.split(message) if p.strip()]
    if not parts:
        return message.strip()
    asked = [p for p in parts if "?" in p]
    if asked:
        return asked[-1]
    worded = [p for p in parts if _WH.search(p)]
    return worded[-1] if worded else parts[-1]


def is_broad(message: str, topic_words: int, facet_closeness: float, topic_floor: float) -> bool:
    """Whether a message asks for a facet (see the module docstring).

    Args:
        message: The patient's message.
        topic_words: The question's words of substance beyond the articles' subject.
        facet_closeness: The question's best cosine to a facet (read past the subject).
        topic_floor: A bare topic at least this close to a facet is broad.
    """
    sentence = _LEAD_FILLER.sub("", asking_sentence(message)).strip()
    sentence = _POLITE.sub("", sentence)  # "could you explain how ..." asks "how ..."
    if _YES_NO.match(sentence):
        return False
    wh = _WH.search(sentence)
    if wh is not None:
        clause = sentence[wh.start() :]
        return not (_NARROW_WH.match(clause) or _DEFINITION.match(clause))
    if "?" in sentence and topic_words > 3:
        return False  # a statement asked as a question: "stress can make it worse?"
    return facet_closeness >= topic_floor


def about_clinic(message: str) -> bool:
    """A question about the clinic itself (booking, its doctors, its hours)."""
    return bool(_ABOUT_CLINIC.search(message))


def as_oneself(message: str) -> str:
    """``message`` with the person it is about read as the person: "my 8 year old complains of
    leg pain" → "a child complains of leg pain"; "my husband kicks all night" → "he kicks
    all night". Left as it is when the question is about heredity ("my mum had it too")."""
    if _HEREDITY.search(message):
        return message

    def person(m: re.Match[str]) -> str:
        who = m.group("who")
        age = re.search(r"\d{1,2}[- ]?(?:yr|year)", m.group(0))
        return "a child" if _CHILD_WORD.match(who) or age else "someone"

    return _PERSON.sub(person, message)
