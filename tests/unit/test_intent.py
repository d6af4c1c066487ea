"""Reading what a question asks for (chatbot/retrieval/intent.py) and whether it follows up."""

from __future__ import annotations

import pytest

from chatbot.retrieval.intent import about_clinic, as_oneself, asking_sentence, is_broad
from chatbot.retrieval.query import is_follow_up, retrieval_query
from chatbot.types import Turn


@pytest.mark.parametrize(
    "question",
    [
        "What are the treatments for restless legs syndrome?",
        "how is rls diagnosed",
        "Which medications can make it worse?",
        "Could you explain how restless legs are generally treated?",
        "I'm 52 and my legs crawl every night. What can I do about it?",
    ],
)
def test_a_question_for_a_facet_is_broad(question):
    assert is_broad(question, topic_words=2, facet_closeness=0.0, topic_floor=0.45)


@pytest.mark.parametrize(
    "question",
    [
        "Can low iron cause restless legs?",
        "Is restless legs syndrome inherited?",
        "Why are restless legs worse at night?",
        "What is restless legs syndrome?",
        "How much people in the world have the restless legs syndrome?",
        "Stress can make the restless legs more bad and worse at night?",
    ],
)
def test_a_yes_no_why_or_definition_question_is_narrow(question):
    assert not is_broad(question, topic_words=4, facet_closeness=0.9, topic_floor=0.45)


def test_a_bare_topic_is_broad_when_it_names_a_facet():
    assert is_broad("rls pregnancy", 1, facet_closeness=0.6, topic_floor=0.45)
    assert not is_broad("restless legs magnesium", 1, facet_closeness=0.3, topic_floor=0.45)


def test_the_sentence_that_asks_is_found_in_a_story():
    story = "It's 2am again. My legs crawl and I pace the hall. What helps at night?"
    assert asking_sentence(story) == "What helps at night?"
    assert asking_sentence("rls and coffee") == "rls and coffee"


def test_someone_elses_question_is_the_same_question():
    assert as_oneself("my 8 year old complains of leg pain at night") == (
        "a child complains of leg pain at night"
    )
    assert as_oneself("My husband kicks all night") == "someone kicks all night"
    heredity = "my mum had it too, will I get it?"
    assert as_oneself(heredity) == heredity  # a question about heredity keeps the relative


def test_questions_about_the_clinic_are_told_apart():
    assert about_clinic("How do I book an appointment with your clinic?")
    assert not about_clinic("How is restless legs diagnosed?")


def test_a_complete_new_question_stands_alone_and_a_follow_up_does_not():
    history = [Turn("user", "why do my legs twitch at night"), Turn("assistant", "...")]
    assert retrieval_query("is rls dangerous", history) == "is rls dangerous"
    assert not is_follow_up("Can peripheral neuropathy cause restless legs syndrome?")
    assert is_follow_up("and in pregnancy?")
    assert is_follow_up("will it go away once the baby is born?")
    assert is_follow_up("pregnancy")
    assert not is_follow_up("Does drinking coffee in the afternoon matter at all for sleep")
