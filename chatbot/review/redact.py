"""Take personal identifiers out of text before it is stored (data minimisation).

Patients type what they type: e-mail addresses, phone numbers, dates of birth, addresses,
insurance numbers. None of it is needed to review an answer, so the review store only ever sees
the redacted text. The patterns err on the side of redacting: a lost date is cheaper than a
stored one. Medical content (doses, durations, ages, years, vitamin names) is left alone.
"""

from __future__ import annotations

import re

EMAIL = "[email]"
URL = "[link]"
PHONE = "[phone]"
DATE = "[date]"
BIRTH = "[date of birth]"
ADDRESS = "[address]"
POSTCODE = "[postcode]"
ID_NUMBER = "[id number]"
NAME = "[name]"

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
_YEAR = r"(?:19|20)\d{2}"
_NUMERIC_DATE = r"\d{1,4}[./-]\d{1,2}[./-]\d{2,4}"
_TEXT_DATE = rf"(?:{_DAY}\s+(?:of\s+)?{_MONTH},?\s+{_YEAR}|{_MONTH}\s+{_DAY},?\s+{_YEAR})"
_ANY_DATE = (
    rf"(?:{_NUMERIC_DATE}|{_TEXT_DATE}|{_MONTH}\s+{_DAY}|{_DAY}\s+(?:of\s+)?{_MONTH}"
    rf"|{_MONTH}\s+{_YEAR}|{_YEAR})"
)
_STREET_TYPES = (
    r"(?i:street|st|avenue|ave|road|rd|lane|ln|drive|dr|boulevard|blvd|court|ct|way|place|pl|"
    r"terrace|close|crescent|square|sq|highway|hwy|parkway|pkwy|circle|cir)"
)
_CAPITALISED = r"[A-ZÀ-Ý][\w'.-]*"
_NAME_LEAD = r"(?i:my\s+name\s+is|my\s+name's|i\s+am\s+called|name\s*:|signed,?)\s+"

# Order matters: the specific patterns run before the broad number patterns.
_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b[\w.+%-]+@[\w-]+(?:\.[\w-]+)+\b"), EMAIL),
    (re.compile(r"\b(?:https?://|www\.)[^\s<>\"']+", re.IGNORECASE), URL),
    (
        re.compile(
            r"\b(?:born(?:\s+(?:on|in))?|d\.?o\.?b\.?|date\s+of\s+birth|birth\s*day|birthdate)"
            rf"\s*(?:is|was|:|-)?\s*{_ANY_DATE}\b",
            re.IGNORECASE,
        ),
        BIRTH,
    ),
    (re.compile(r"\b\d{3}-\d{2}-\d{4}\b"), ID_NUMBER),  # US SSN, before dates
    (re.compile(rf"\b{_TEXT_DATE}\b", re.IGNORECASE), DATE),
    (re.compile(rf"(?<![\w.]){_NUMERIC_DATE}(?![\w.])"), DATE),
    (
        re.compile(
            r"\b(?:insurance|policy|member(?:ship)?|patient|nhs|medicare|medicaid|ssn|"
            r"social\s+security|passport|licen[cs]e|mrn|record|account|case|customer)"
            r"\s*(?:number|no\.?|num|nr\.?|#|id)?\s*(?:is|:|-)?\s*#?\s*"
            r"(?:[A-Z]{1,4}[- ]?)?\d(?:[ -]?\d){4,}\b",
            re.IGNORECASE,
        ),
        ID_NUMBER,
    ),
    (
        re.compile(
            rf"\b\d{{1,5}}[a-zA-Z]?\s+(?:{_CAPITALISED}\s+){{1,3}}{_STREET_TYPES}\b\.?"
            r"(?:,?\s+(?i:apt|apartment|unit|flat|suite)\.?\s*#?\w+)?"
        ),
        ADDRESS,
    ),
    (
        re.compile(
            r"\b[A-Za-zÀ-ÿ]+(?:strasse|straße|weg|gasse|platz|allee)\s+\d{1,5}[a-z]?\b",
            re.IGNORECASE,
        ),
        ADDRESS,
    ),
    (
        re.compile(
            r"\b(?:zip(?:\s*code)?|post(?:al)?\s*code)\s*(?:is|:)?\s*(?=[A-Z ]*\d)[A-Z0-9]"
            r"[A-Z0-9 -]{2,8}[A-Z0-9]\b",
            re.IGNORECASE,
        ),
        POSTCODE,
    ),
    (re.compile(r"\b[A-Z]{2}\s+\d{5}(?:-\d{4})?\b"), POSTCODE),  # US state + ZIP
    (re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s+\d[A-Z]{2}\b"), POSTCODE),  # UK postcode
    (re.compile(r"(?<![\w.])\+?\(?\d[\d ().-]{5,}\d(?![\w])"), PHONE),
    # Long identifiers mixing capitals and digits (insurance cards, record numbers).
    (re.compile(r"\b(?=[A-Z0-9]*\d[A-Z0-9]*\d)(?=[A-Z0-9]*[A-Z])[A-Z0-9]{7,}\b"), ID_NUMBER),
    (re.compile(rf"\b{_NAME_LEAD}{_CAPITALISED}(?:\s+{_CAPITALISED}){{0,3}}"), NAME),
]

_PLACEHOLDERS = {EMAIL, URL, PHONE, DATE, BIRTH, ADDRESS, POSTCODE, ID_NUMBER, NAME}
# What every rule but the name's needs somewhere in the text: a digit (dates, numbers, phones,
# addresses, postcodes), an "@" (e-mail) or a link's start. Most messages have none of them:
# the name's rule alone can change those (one search instead of fifteen).
_NEEDS_MORE = re.compile(r"\d|@|https?://|www\.", re.IGNORECASE)
_NAME_RULE = next(pattern for pattern, placeholder in _RULES if placeholder == NAME)


def _phone_or_keep(match: re.Match[str]) -> str:
    digits = sum(ch.isdigit() for ch in match.group(0))
    return PHONE if digits >= 7 else match.group(0)


def _name(match: re.Match[str]) -> str:
    text = match.group(0)
    # Keep the lead-in ("my name is") so the sentence still reads; drop the name itself.
    lead = re.match(_NAME_LEAD, text)
    return f"{lead.group(0) if lead else ''}{NAME}"


def redact(text: str) -> str:
    """``text`` with personal identifiers replaced by placeholders like ``[email]``.

    Args:
        text: Any user-written text (a question, an earlier turn, a feedback comment).

    Returns:
        The same text with e-mail addresses, links, phone numbers, dates (of birth), postal
        addresses and postcodes, ID / insurance numbers and self-introduced names replaced.
    """
    if not text:
        return text
    if _NEEDS_MORE.search(text) is None:
        return _NAME_RULE.sub(_name, text)
    return _every_rule(text)


def _every_rule(text: str) -> str:
    for pattern, placeholder in _RULES:
        if placeholder == PHONE:
            text = pattern.sub(_phone_or_keep, text)
        elif placeholder == NAME:
            text = pattern.sub(_name, text)
        else:
            text = pattern.sub(placeholder, text)
    return text


def placeholders() -> set[str]:
    """Every placeholder ``redact`` may insert."""
    return set(_PLACEHOLDERS)
