"""The redactor: identifiers out, medical content untouched."""

from __future__ import annotations

import pytest

from chatbot.review.redact import placeholders, redact

REDACTED = [
    ("Email me at jane.doe+rls@mail.example.org please", "jane.doe", "[email]"),
    ("call 555-123-4567 tonight", "555-123-4567", "[phone]"),
    ("my number is +44 20 7946 0958", "7946", "[phone]"),
    ("ring (030) 1234567", "1234567", "[phone]"),
    ("I was born on 12/03/1985 and my legs ache", "1985", "[date of birth]"),
    ("DOB: March 3rd, 1961", "1961", "[date of birth]"),
    ("born in 1985, female", "1985", "[date of birth]"),
    ("my appointment on 5 May 2021 went badly", "2021", "[date]"),
    ("seen on 2024-02-29", "2024-02-29", "[date]"),
    ("I live at 221B Baker Street, London", "Baker", "[address]"),
    ("send it to 42 Elm Road apt 3", "Elm", "[address]"),
    ("Anschrift Hauptstrasse 12", "Hauptstrasse", "[address]"),
    ("zip code 90210", "90210", "[postcode]"),
    ("Springfield, IL 62704", "62704", "[postcode]"),
    ("London NW1 6XE", "NW1 6XE", "[postcode]"),
    ("my insurance number is AB 123456789", "123456789", "[id number]"),
    ("SSN 123-45-6789", "6789", "[id number]"),
    ("member id X1234567", "X1234567", "[id number]"),
    ("card XK99812345 expired", "XK99812345", "[id number]"),
    ("see https://facebook.com/john.smith.77 for my story", "john.smith", "[link]"),
    ("www.example.org/users/maria", "maria", "[link]"),
    ("My name is John Smith and I have RLS", "Smith", "[name]"),
]


@pytest.mark.parametrize(("text", "secret", "placeholder"), REDACTED)
def test_identifiers_are_replaced(text: str, secret: str, placeholder: str):
    out = redact(text)
    assert secret not in out
    assert placeholder in out


KEPT = [
    "I take 300 mg gabapentin 3 times a day since 2019",
    "vitamin B12 and 0.25 mg pramipexole, ICD-10 G25.81",
    "In case 2 of my legs hurt, should I walk?",
    "take 2 pills in place of one",
    "since May 2020 it got worse",
    "first 3 days were fine; 1 in 10 people have it; 10000 steps a day",
    "my name is not important, why are my legs worse at night?",
    "Is a ferritin of 45 ng/mL low for RLS?",
    "Does Dr. Ekbom's work from 1945 still matter?",
    "<script>alert(1)</script> what helps restless legs?",
    "patient with iron deficiency and stage 3 kidney disease",
]


@pytest.mark.parametrize("text", KEPT)
def test_medical_content_is_kept(text: str):
    assert redact(text) == text


def test_several_identifiers_in_one_message():
    text = "Jane (jane@x.org, 555 234 5678, DOB 1/2/1970) asks: is iron safe?"
    out = redact(text)
    assert out == "Jane ([email], [phone], [date of birth]) asks: is iron safe?"


def test_empty_and_placeholders_are_stable():
    assert redact("") == ""
    for p in placeholders():
        assert redact(p) == p
    once = redact("mail a@b.co or call 555-123-4567")
    assert redact(once) == once


def test_a_message_with_no_digit_at_sign_or_link_gets_what_every_rule_gives_it():
    # ``redact`` runs the name's rule alone on such a message: the others all need one of them.
    import json
    from pathlib import Path

    from chatbot.review.redact import _every_rule

    tests = Path(__file__).resolve().parents[1]
    texts = [text for text, _, _ in REDACTED]
    texts += [
        "My name is Jane Doe and my legs ache",
        "signed, Tom",
        "name: Ann Lee",
        "i am called Bo",
    ]
    texts += ["WWW.EXAMPLE.ORG", "Http://x.example", "mail me @ home", "٣ nights", "no digits here"]
    for name in ("questions.jsonl", "safety_set.jsonl"):
        for line in (tests / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                texts.append(json.loads(line)["question"])
    assert len(texts) > 500
    for text in texts:
        assert redact(text) == _every_rule(text), text
