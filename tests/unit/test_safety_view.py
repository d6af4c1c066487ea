"""The numbers a patient can tap: from the answer's ``safety`` field, else from the settings."""

from __future__ import annotations

import pytest

from chatbot import messages
from chatbot.safety.contacts import COUNTRY_CONTACTS
from chatbot.types import Answer
from chatbot.web.render import inert
from chatbot.web.safety_view import (
    calls_html,
    contacts_for,
    fallback_contacts,
    numbers_in,
    safety_of,
    tier_of,
)


def _answer(status: str = "emergency", safety=None, reason: str = "chest pain") -> Answer:
    a = Answer(status=status, answer="**Call now.**", citations=[], disclaimer="d", reason=reason)
    a.safety = safety
    return a


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("911", ["911"]),
        ("112 or 999", ["112", "999"]),
        ("15 or 112", ["15", "112"]),
        ("Samaritans on 116 123", ["116 123"]),
        ("TelefonSeelsorge on 0800 111 0 111", ["0800 111 0 111"]),
        ("the 988 Suicide & Crisis Lifeline (call or text 988)", ["988"]),
        ("the 9-8-8 Suicide Crisis Helpline (call or text 988)", ["9-8-8"]),
        ("113 Zelfmoordpreventie on 113 or 0800 0113", ["113", "0800 0113"]),
        ("+44 20 7946 0000", ["+44 20 7946 0000"]),
        ("your local emergency number", []),
    ],
)
def test_numbers_in_text(text, numbers):
    assert numbers_in(text) == numbers


@pytest.mark.parametrize("country", sorted(COUNTRY_CONTACTS))
def test_every_configured_country_gets_callable_links(country):
    number, crisis = COUNTRY_CONTACTS[country]
    plain = fallback_contacts(number, crisis)
    assert plain and all(c["tel"].isdigit() for c in plain)
    assert {c["label"] for c in plain} == {"Emergency services"}
    suicide = fallback_contacts(number, crisis, suicide=True)
    assert len(suicide) > len(plain)  # the crisis line's number as well
    assert suicide[: len(plain)] == plain


def test_the_answers_own_contacts_win_and_bad_ones_are_dropped():
    safety = {
        "tier": "emergency",
        "kind": "chest_pain",
        "contacts": [
            {"label": "Ambulance", "number": "000", "tel": "000"},
            {"label": "bad", "number": "x", "tel": "javascript:alert(1)"},
            "not a contact",
            {"label": "Poison line", "number": "13 11 26"},
        ],
    }
    got = contacts_for(_answer(safety=safety), "911", "")
    assert got == [
        {"label": "Ambulance", "number": "000", "tel": "000"},
        {"label": "Poison line", "number": "13 11 26", "tel": "131126"},
    ]


def test_without_the_field_an_emergency_falls_back_to_the_settings():
    assert contacts_for(_answer(), "112 or 999", "Samaritans on 116 123") == [
        {"label": "Emergency services", "number": "112", "tel": "112"},
        {"label": "Emergency services", "number": "999", "tel": "999"},
    ]
    crisis = "Samaritans on 116 123"
    suicide = contacts_for(_answer(reason=messages.SUICIDE_CATEGORY), "999", crisis)
    assert suicide[-1] == {"label": "Samaritans", "number": "116 123", "tel": "116123"}
    # The field without contacts (e.g. a kind the safety helper has no number for) falls back too.
    kind = {"tier": "emergency", "kind": "suicide", "contacts": []}
    assert contacts_for(_answer(safety=kind), "999", "Samaritans on 116 123") == suicide
    assert contacts_for(_answer(), "", "") == []


def test_an_ordinary_answer_has_no_numbers_and_a_dict_answer_works_too():
    assert contacts_for(_answer("answered", reason=""), "911", "") == []
    as_dict = {"status": "answered", "safety": {"tier": "safety_net", "kind": "clot"}}
    assert tier_of(as_dict) == "safety_net" and safety_of(as_dict)["kind"] == "clot"
    assert tier_of({"status": "emergency"}) == "emergency"
    assert tier_of({"status": "answered", "safety": None}) is None


def test_calls_html_is_links_with_inert_labels_or_plain_advice():
    out = calls_html([{"label": "<b>Crisis</b>", "number": "116 123", "tel": "116123"}], inert)
    assert '<a class="call" href="tel:116123">Call 116 123</a>' in out
    assert "<b>" not in out
    assert "tel:" not in calls_html([], inert)
