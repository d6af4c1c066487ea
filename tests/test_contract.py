"""Every invariant of CONTRACT.md's answer object, on the real model, index and corpus."""

from __future__ import annotations

import re

import pytest
from conftest import CORPUS

from chatbot import messages
from chatbot.corpus import load_corpus

BODIES = {a.id: a for a in load_corpus(CORPUS)}

QUESTIONS = [
    "What causes restless legs?",
    "Why would low iron give me restless legs?",
    "is it normal that it's worse in the evening",
    "Are sleeping pills like benzodiazepines safe to take for RLS long term?",
    "can pregnancy cause rls",
    "what medicines make restless legs worse",
    "What's the capital of Australia?",
    "How many milligrams of pramipexole should I take tonight?",
    "my dad collapsed and isn't responding, what do I do",
    "<script>alert(1)</script> what helps restless legs?",
]


def check_invariants(obj: dict) -> None:
    assert obj["status"] in ("answered", "no_answer", "emergency")
    assert isinstance(obj["answer"], str) and obj["answer"].strip()
    assert obj["disclaimer"].strip()
    assert obj["id"]
    ids = [c["id"] for c in obj["citations"]]
    assert len(ids) == len(set(ids))
    for c in obj["citations"]:
        art = BODIES[c["article"]]
        assert c["title"] == art.title
        assert art.body[c["start"] : c["end"]] == c["quote"], "quote is not an exact span"
        assert isinstance(c["score"], float)
    markers = {int(m) for m in re.findall(r"\[(\d+)\]", obj["answer"])}
    assert markers == set(ids), "markers and citations differ"
    if obj["status"] == "emergency":
        assert obj["citations"] == []
    if obj["status"] in ("no_answer", "emergency"):
        # Nothing but the bot's fixed wording and cited quotes: no made-up medical content.
        text = obj["answer"]
        for c in obj["citations"]:
            text = text.replace(c["quote"], "")
        text = re.sub(r"\[\d+\]|^- ", "", text, flags=re.M)
        allowed = [
            messages.no_answer_text(".*?"),
            messages.personal_advice_text(".*?"),
            messages.PERSONAL_ADVICE_GENERAL,
            messages.MEDICATION_CAUTION,
        ]
        for line in filter(str.strip, text.splitlines()):
            fixed = obj["status"] == "emergency" or any(
                re.fullmatch(re.escape(a).replace(re.escape(".*?"), ".*?"), line.strip())
                for a in allowed
            )
            assert fixed, f"unexpected text in a {obj['status']} answer: {line!r}"
    # Every factual line ends with its citation markers.
    if obj["status"] == "answered":
        for line in obj["answer"].splitlines():
            if line.startswith("- "):
                assert re.search(r"(\[\d+\])+$", line), line


@pytest.mark.parametrize("question", QUESTIONS)
def test_answer_object_invariants(real_bot, question):
    check_invariants(real_bot.ask(question).to_dict())


def test_answerable_question_is_answered_with_citations(real_bot):
    answer = real_bot.ask("Why would low iron give me restless legs?")
    assert answer.status == "answered"
    assert any("iron" in c.quote.lower() for c in answer.citations)


def test_out_of_scope_question_abstains_and_points_to_clinic(real_bot):
    answer = real_bot.ask("What's the capital of Australia?")
    assert answer.status == "no_answer" and answer.citations == []
    assert real_bot.settings.clinic_contact in answer.answer


def test_emergency_comes_first(real_bot):
    answer = real_bot.ask("my dad collapsed and isn't responding, what do I do")
    assert answer.status == "emergency"
    assert "emergency" in answer.answer.lower() and answer.citations == []
