"""The served path's shortcuts give what the long way gave: ``Answer.to_dict`` is the answer
object as ``dataclasses.asdict`` builds it (timings rounded), key for key, every container a
copy."""

from __future__ import annotations

import json
from collections import namedtuple
from dataclasses import asdict

from chatbot.types import Answer, Citation


def _answer() -> Answer:
    return Answer(
        status="answered",
        answer="Iron matters [1]. Sleep too [2].\n\n**Caf\u00e9** \u2013 \u201cquoted\u201d",
        citations=[
            Citation(1, "rls-causes", "The Cause", "Iron matters.", 10, 23, 0.7123456789),
            Citation(2, "rls-sleep", "Sleep", "Sleep too.", 5, 15, 0.5, date="2024-01-02"),
        ],
        disclaimer="Not medical advice.",
        reason="",
        timings={"embed_ms": 3.14159, "total_ms": 12.345678},
        confidence=0.61,
        safety={
            "tier": "safety_net",
            "kind": "poisoning",
            "contacts": [{"label": "Emergency", "number": "999", "tel": "tel:999", "role": "x"}],
        },
    )


def _reference(answer: Answer) -> dict:
    data = asdict(answer)
    data["timings"] = {k: round(v, 2) for k, v in answer.timings.items()}
    return data


def test_to_dict_is_asdict_with_rounded_timings_key_for_key():
    for answer in (_answer(), Answer("no_answer", "Sorry.", [], "Not medical advice.")):
        got, want = answer.to_dict(), _reference(answer)
        assert got == want
        assert list(got) == list(want)  # same key order, so the JSON reads the same
        assert [list(c) for c in got["citations"]] == [list(c) for c in want["citations"]]
        assert json.dumps(got) == json.dumps(want)


def test_to_dict_copies_every_container():
    answer = _answer()
    data = answer.to_dict()
    data["citations"][0]["quote"] = "changed"
    data["citations"].append({})
    data["safety"]["contacts"][0]["number"] = "000"
    data["safety"]["tier"] = "emergency"
    assert answer.citations[0].quote == "Iron matters." and len(answer.citations) == 2
    assert answer.safety["contacts"][0]["number"] == "999"
    assert answer.safety["tier"] == "safety_net"


def test_to_dict_converts_odd_values_as_asdict_does():
    pair = namedtuple("pair", "a b")
    answer = _answer()
    answer.safety = {"tier": "emergency", "kind": "x", "contacts": (pair(1, [2]), {"k": (3,)})}
    assert answer.to_dict() == _reference(answer)
    assert type(answer.to_dict()["safety"]["contacts"][0]) is pair
