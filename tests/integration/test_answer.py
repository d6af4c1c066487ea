"""Evidence selection and composition: readable exact spans, lists with lead-ins, the gate."""

from __future__ import annotations

import pytest
from helpers import check_invariants

from chatbot import messages
from chatbot.config import AnswerWeights
from chatbot.pipeline import Bot
from chatbot.text.sentences import list_blocks
from chatbot.types import Turn

NEAR_DUPLICATE = AnswerWeights().near_duplicate

LEAD = (
    "It is necessary to exclude the use of substances and medicines that can increase the "
    "manifestations of restless leg syndrome:"
)


def test_list_blocks_find_items_and_their_lead_in():
    body = (
        "Intro line.\nCommon causes include:\n\n  • Anemia\n  • Kidney disease\n"
        "After.\n- a;\n- b.\n"
    )
    blocks = list_blocks(body)
    assert len(blocks) == 2
    first, second = blocks
    assert body[first.lead[0] : first.lead[1]] == "Common causes include:"
    assert [body[s:e] for s, e in first.items] == ["Anemia", "Kidney disease"]
    assert second.lead is None  # "After." does not introduce a list
    assert [body[s:e] for s, e in second.items] == ["a;", "b."]


def _bot(real_bot, **changes):
    settings = real_bot.settings.replace(**changes)
    return Bot(settings, real_bot.index, real_bot.embedder)


def test_a_list_item_comes_with_its_lead_in(real_bot):
    answer = real_bot.ask("is lithium bad for restless legs?")
    check_invariants(answer.to_dict())
    quotes = [c.quote for c in answer.citations]
    assert "Lithium preparations." in quotes
    assert LEAD in quotes and quotes.index(LEAD) < quotes.index("Lithium preparations.")


def test_a_short_list_is_quoted_whole_after_its_lead_in(real_bot):
    answer = real_bot.ask("what groups of drugs are used for restless legs")
    quotes = [c.quote for c in answer.citations]
    lead = "In cases of severe discomfort, one has to choose drugs from four main groups:"
    # The lead-in may share its citation with the sentence before it on the same line.
    at = next(i for i, q in enumerate(quotes) if q.endswith(lead))
    assert quotes[at + 1 : at + 5] == [
        "dopaminergics;",
        "anticonvulsants;",
        "opioids;",
        "benzodiazepine.",
    ]
    lines = [ln for ln in answer.answer.splitlines() if ln.lstrip().startswith("- ")]
    assert lines[at].startswith("- ") and all(
        ln.startswith("  - ") for ln in lines[at + 1 : at + 5]
    )


def test_no_two_quotes_say_the_same_thing(real_bot):
    for question in (
        "does low iron cause restless legs",
        "can pregnancy cause rls",
        "what are the symptoms of restless legs",
    ):
        answer = real_bot.ask(question)
        vecs = real_bot.index.sentence_vectors
        recs = {(s.article_id, s.start): i for i, s in enumerate(real_bot.index.sentences)}
        rows = [
            recs[(c.article, c.start)] for c in answer.citations if (c.article, c.start) in recs
        ]
        for i, a in enumerate(rows):
            for b in rows[i + 1 :]:
                assert float(vecs[a] @ vecs[b]) <= NEAR_DUPLICATE, question
        assert len({c.quote for c in answer.citations}) == len(answer.citations)


def test_the_best_quote_comes_first_and_list_items_sit_under_their_lead_in(real_bot):
    answer = real_bot.ask("what causes restless legs syndrome")
    lines = [ln for ln in answer.answer.splitlines() if ln.lstrip().startswith("- ")]
    assert len(lines) == len(answer.citations)
    # Bullets (not nested items) in order of their best quote's score.
    heads = [c for c, ln in zip(answer.citations, lines, strict=True) if ln.startswith("- ")]
    assert heads[0].score == max(c.score for c in answer.citations)
    # Every nested item belongs to the list whose lead-in is the bullet above it.
    for i, line in enumerate(lines):
        if line.startswith("  - "):
            lead = next(j for j in range(i, -1, -1) if lines[j].startswith("- "))
            item, head = answer.citations[i], answer.citations[lead]
            assert head.quote.endswith(":") and item.article == head.article
            assert head.end <= item.start


def test_out_of_scope_questions_abstain_and_point_to_the_clinic(real_bot):
    for question in (
        "What's a good exercise plan to lose 10 kg before summer?",
        "how do I treat a sprained ankle",
        "give me a recipe for lentil soup",
    ):
        answer = real_bot.ask(question)
        assert answer.status == "no_answer" and answer.citations == [], question
        assert answer.reason == "not_in_articles"
        assert real_bot.settings.clinic.clinic_contact in answer.answer
        assert answer.confidence < real_bot.settings.answer.min_relevance


def test_the_threshold_decides_and_confidence_is_reported(real_bot):
    question = "What's a good exercise plan to lose 10 kg before summer?"
    lenient = _bot(real_bot, min_relevance=0.0).ask(question)
    strict = _bot(real_bot, min_relevance=1.01).ask("What causes restless legs?")
    assert lenient.status == "answered" and lenient.citations
    assert strict.status == "no_answer" and strict.confidence > 0.5
    assert lenient.to_dict()["confidence"] == lenient.confidence


def test_a_follow_up_is_answered_in_the_context_of_the_earlier_turn(real_bot):
    history = [Turn("user", "What causes restless legs?"), Turn("assistant", "...")]
    answer = real_bot.ask("and in pregnancy?", history)
    assert answer.status == "answered"
    assert any("pregnan" in c.quote.lower() for c in answer.citations)
    night = real_bot.ask(
        "why are they worse at night",
        [Turn("user", "what are the symptoms of rls"), Turn("assistant", "...")],
    )
    assert any("night" in c.quote.lower() for c in night.citations)


def test_medicine_quotes_keep_the_medication_caution(real_bot):
    answer = real_bot.ask("is codeine addictive if you take it for rls")
    assert answer.status == "answered"
    assert answer.answer.rstrip().endswith(messages.MEDICATION_CAUTION)


@pytest.mark.parametrize(
    "question",
    [
        "does cofee make it wors",
        "what are the symptoms? my legs feel fizzy, like ants under my skin",
        "my 8 yr old complains of growing pains, can that be restless legs?",
    ],
)
def test_lay_words_and_typos_still_get_cited_answers(real_bot, question):
    answer = real_bot.ask(question)
    check_invariants(answer.to_dict())
    assert answer.citations, question


# ------------------------------------------------------------------------------------------------
# Issue 15: coverage over the articles' structure, no marketing, no false refusals


def _facts_of(bot, citation):
    for pos, s in enumerate(bot.index.sentences):
        if s.article_id == citation.article and s.start <= citation.start < s.end:
            return bot.retriever.facts[pos]
    raise AssertionError(citation)


def test_the_model_tells_the_clinics_selling_from_its_facts(real_bot):
    by_text = {
        s.text: f for s, f in zip(real_bot.index.sentences, real_bot.retriever.facts, strict=True)
    }
    selling = (
        "Our team of expert doctors specializes in diagnosing and treating various venous "
        "disorders, including restless leg syndrome (RLS)."
    )
    assert by_text[selling].promotion
    telling = next(t for t in by_text if t.startswith("Truffles Vein Specialists can provide"))
    assert by_text[telling].clinic and not by_text[telling].promotion


@pytest.mark.parametrize(
    "question",
    ["how do they diagnose restless legs", "what are the treatments", "can iron help my legs"],
)
def test_a_medical_answer_never_quotes_the_clinics_promotion(real_bot, question):
    answer = real_bot.ask(question)
    assert answer.status == "answered", question
    check_invariants(answer.to_dict())
    assert not any(_facts_of(real_bot, c).promotion for c in answer.citations), question
    assert not _facts_of(real_bot, answer.citations[0]).clinic, question


def test_a_broad_question_gets_grouped_bullets_under_fixed_headings(real_bot):
    answer = real_bot.ask("What are the treatments for restless legs syndrome?")
    headings = {f"**{h}**" for h in messages.FACET_HEADINGS.values()} | {
        f"**{messages.OTHER_HEADING}**"
    }
    shown = [ln for ln in answer.answer.splitlines() if ln.startswith("**")]
    assert len(shown) >= 2 and set(shown) <= headings
    assert len(answer.citations) >= 4


@pytest.mark.parametrize(
    "question",
    [
        "What are the treatments for restless legs syndrome?",
        "what medicines make restless legs worse",
        "What causes restless legs syndrome?",
        "Can low iron cause restless legs?",
        "how can i get to sleep with restless legs, what can i do at home",
    ],
)
def test_no_answer_is_longer_than_the_cap_and_a_narrow_one_is_short(real_bot, question):
    from chatbot.evaluation import answer_words

    w = real_bot.settings.answer.weights
    answer = real_bot.ask(question)
    assert answer_words(answer.answer) <= w.max_words, question
    if question.startswith("Can low iron"):
        assert answer_words(answer.answer) <= w.narrow_words + 40


def _candidates(bot, question):
    """The question's vector, side readings and scored candidate sentences, as ``Bot.ask`` reads
    them (no exclusions)."""
    qvec, side = bot.retriever.read(question)
    passages = bot.retriever.search(question, qvec, 8)
    cands = bot.retriever.candidate_sentences(passages, qvec, [], query=question, side=side)
    return qvec, side, cands


def test_the_words_around_the_quotes_count_towards_the_cap(real_bot):
    """A personal-advice lead (or a safety-net line) goes above the quotes: compose leaves room."""
    from chatbot.answer import compose, select_sentences
    from chatbot.answer.select import words
    from chatbot.config import AnswerWeights

    bot = real_bot
    question = "What are the treatments for restless legs syndrome?"
    qvec, side, cands = _candidates(bot, question)
    intent = bot.retriever.intent(question, qvec, side)
    w = AnswerWeights(max_words=120)
    chosen = select_sentences(cands, bot.index, 12, 0.0, w, intent, bot.retriever.facts)
    counts = []
    for reserve in (0, 40):
        answer = compose(chosen, bot.index, "d", "c", 1.0, intent, bot.retriever.facts, w, reserve)
        counts.append(words(answer.answer))
        assert counts[-1] <= 120 - reserve and answer.citations
    assert counts[0] > 120 - 40  # the room left was needed: bullets went
    advice = bot.ask("how much ropinirole should i take for my restless legs, what are the options")
    assert words(advice.answer) <= bot.settings.answer.weights.max_words


def test_a_lone_list_over_the_cap_loses_its_weakest_items(real_bot):
    """The cap holds for an answer of one bullet too: a lead-in with its whole list."""
    from chatbot.answer import compose
    from chatbot.answer.select import words

    bot = real_bot
    question = "which medicines make restless legs worse"
    qvec, side, cands = _candidates(bot, question)
    lead = next(c for c in cands if c.record.text == LEAD)
    facts = bot.retriever.facts
    items = [c for c in cands if facts[c.position].lead == lead.position]
    assert len(items) >= 4
    whole = compose([lead, *items], bot.index, "d", "c", 1.0, None, facts)
    cap = words(whole.answer) - 10
    answer = compose(
        [lead, *items], bot.index, "d", "c", 1.0, None, facts, AnswerWeights(max_words=cap)
    )
    assert words(answer.answer) <= cap
    quotes = [c.quote for c in answer.citations]
    assert quotes[0] == LEAD and 1 <= len(quotes) - 1 < len(items)


def test_examples_are_quoted_with_what_they_are_examples_of(real_bot):
    """ "Some examples include codeine, ..." names examples of the sentence before it (narcotic
    medicines, which may be addicting): never quoted without it."""
    examples, before = "Some examples include codeine", "Narcotic medications such as"
    quoted = 0
    for question in (
        "what are the treatments for restless legs?",
        "which painkillers are used for restless legs",
        "is codeine used for rls",
    ):
        quotes = [c.quote for c in real_bot.ask(question).citations]
        if any(examples in q for q in quotes):
            quoted += 1
            assert any(q.startswith(before) for q in quotes), (question, quotes)
    assert quoted  # the examples are quoted for at least one of these questions


def test_a_dubious_claim_never_leads(real_bot):
    for question in ("what causes restless legs in children", "why do kids get restless legs"):
        answer = real_bot.ask(question)
        assert answer.citations, question
        assert not _facts_of(real_bot, answer.citations[0]).dubious, question


def test_every_quote_of_a_listed_claim_shows_staffs_reason_and_no_other_quote_does(real_bot):
    """corpus/README.md lists the articles' dubious claims with staff's reasons; an answer that
    still quotes one (further down, when it answers the question) carries the reason beside it."""
    from chatbot.structure import read_inputs

    inputs = read_inputs(real_bot.settings.paths.corpus_dir)
    questions = (
        "is mirapex good for rls? can u take it long term",
        "can restless legs lead to something serious like ulcers?",
        "is willis ekbom disease the same thing as restless legs",
        "what causes restless legs?",
        "does iron help restless legs",
    )
    flagged = 0
    for question in questions:
        for c in real_bot.ask(question).citations:
            # Every sentence the quote holds (a quote may run over several).
            held = [
                real_bot.retriever.facts[pos]
                for pos, s in enumerate(real_bot.index.sentences)
                if s.article_id == c.article and s.start < c.end and c.start < s.end
            ]
            listed = [f for f in held if f.dubious]
            if listed:
                flagged += 1
                assert c.caution.startswith("The clinic's staff question this passage"), c
                for fact in listed:  # staff's own words, as written in corpus/README.md
                    assert fact.caution and fact.caution in c.caution
                    assert fact.caution in inputs.reasons
            else:
                assert c.caution == "", c
    assert flagged  # at least one of these answers quotes a listed claim


def test_a_dubious_claim_does_not_ride_along_beside_a_quote(real_bot):
    # "...caused by a lack of attention from parents" (corpus/README.md, dubious) sits between
    # the growing-pains sentence and "Other experts believe...": it earned the bonus of a
    # sentence beside a quote (merged into one quote as its context) and came along for a
    # parent's question. It earns none now, and neither is a sentence leaning on it quoted.
    claim = "lack of attention from parents"
    questions = (
        "my 8 year old complains of leg pain at night, could it be restless legs?",
        "what causes restless legs in children",
    )
    # (Weighed on its own it may still be quoted further down, as for "is it growing pains or
    # restless legs in my 6 year old", as corpus/README.md says.)
    for question in questions:
        answer = real_bot.ask(question)
        assert answer.citations, question  # answered, or general quotes after the advice note
        assert any("growing pains" in c.quote for c in answer.citations), question
        assert not any(claim in c.quote for c in answer.citations), question


@pytest.mark.parametrize(
    "question",
    [
        "My husband kicks all night and can't keep his legs still. What makes it worse?",
        "ok so it's 2am and I'm lying here for the third night in a row with this creepy "
        "crawly feeling in my legs, my partner is asleep and I'm pacing the hall. What can I do "
        "to calm my legs down at night?",
    ],
)
def test_a_carer_or_a_story_around_a_covered_question_is_answered(real_bot, question):
    answer = real_bot.ask(question)
    assert answer.status == "answered", question


def test_a_complete_new_question_does_not_inherit_the_earlier_topic(real_bot):
    history = [
        Turn("user", "what can i do to stop my legs twitching at night"),
        Turn("assistant", "..."),
    ]
    answer = real_bot.ask("is rls dangerous", history)
    assert answer.citations
    assert "twitch" not in answer.citations[0].quote.lower()
