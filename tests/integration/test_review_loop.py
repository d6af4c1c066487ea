"""The loop back from staff to patients: exclusions and reviewed answers, across re-ingests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import CORPUS, TinyWorld, check_spans

from chatbot.config import Settings
from chatbot.pipeline import Bot, disclaimer_of, open_index
from chatbot.review.store import Store
from chatbot.types import Turn

IRON = "Iron deficiency is linked to restless legs."


@pytest.fixture
def world(tmp_path: Path, store_location: Path | str) -> TinyWorld:
    """The tiny world with its store on SQLite, then on PostgreSQL."""
    return TinyWorld(tmp_path, store_location)


NIGHT = "Symptoms are often worse at night."


def quotes(answer) -> list[str]:
    return [c.quote for c in answer.citations]


IRON_QUESTIONS = [
    "Why is iron deficiency linked to restless legs?",
    "iron deficiency restless legs",
    "Does low iron cause restless legs?",
    "What is linked to restless legs?",
]


def test_an_excluded_passage_never_comes_back_even_after_a_reingest(world: TinyWorld):
    bot = world.bot()
    first = bot.ask(IRON_QUESTIONS[0])
    assert IRON in " ".join(quotes(first))
    cid = next(c.id for c in first.citations if IRON in c.quote)
    bot.store.exclude_citation(first.id, cid, "staff: overstated", "ann")

    for q in IRON_QUESTIONS:
        again = bot.ask(q)
        assert all(IRON not in quote for quote in quotes(again)), q
        check_spans(again, bot)

    # Re-ingest: the article gains a paragraph at the top (every offset shifts) and the same
    # sentence is copied into another article. A new process, a new index, the same store.
    world.edit(
        "iron-and-legs", lambda body: "Update\n\nA new first paragraph was added here.\n\n" + body
    )
    world.edit("pregnancy-note", lambda body: body + "\nAlso: " + IRON + "\n")
    bot = world.bot()
    assert bot.index.articles["iron-and-legs"].body.index(IRON) != first.citations[0].start
    seen_other = False
    for q in IRON_QUESTIONS + ["pregnancy restless legs", "worse at night"]:
        again = bot.ask(q)
        assert all(IRON not in quote for quote in quotes(again)), q
        check_spans(again, bot)
        seen_other = seen_other or bool(again.citations)
    assert seen_other, "the rest of the articles is still quoted"

    # Lifting the exclusion lets it be quoted again.
    exclusion = bot.store.exclusions()[0]["id"]
    assert bot.store.restore_passage(exclusion)
    assert IRON in " ".join(quotes(bot.ask(IRON_QUESTIONS[0])))


def test_a_correct_answer_is_given_again_marked_reviewed(world: TinyWorld):
    bot = world.bot()
    first = bot.ask("Are symptoms worse at night?")
    assert first.status == "answered" and not first.reviewed
    bot.store.set_verdict(first.id, "correct", "checked", "ann")

    again = bot.ask("  are SYMPTOMS worse at night ")
    assert again.reviewed is True
    assert again.id != first.id and again.answer == first.answer
    assert quotes(again) == quotes(first)
    assert again.disclaimer == disclaimer_of(world.settings)
    check_spans(again, bot)
    assert again.to_dict()["reviewed"] is True
    assert bot.store.get_answer(again.id)["reviewed"] == 1

    # Another question, a follow-up read with its context, personal advice: answered afresh.
    assert not bot.ask("Are symptoms better at night?").reviewed
    # (A complete new question after another topic stands alone, and may get it: issue 15.)
    history = [Turn("user", "What are the symptoms?"), Turn("assistant", "...")]
    assert not bot.ask("are they worse at night as well?", history).reviewed
    # An emergency is never replaced by a reviewed answer.
    bot.store.set_verdict(bot.ask("I have chest pain and can't breathe").id, "correct")
    assert bot.ask("I have chest pain and can't breathe").status == "emergency"

    # After a re-ingest that moves the quotes, the reviewed answer is re-located, still valid.
    world.edit("iron-and-legs", lambda body: "Preface\n\nSome words first.\n\n" + body)
    bot = world.bot()
    moved = bot.ask("Are symptoms worse at night?")
    assert moved.reviewed and quotes(moved) == quotes(first)
    assert moved.citations[0].start != first.citations[0].start
    check_spans(moved, bot)

    # Once one of its passages is excluded, it is never offered again.
    bot.store.exclude_citation(first.id, first.citations[0].id, "wrong")
    fresh = bot.ask("Are symptoms worse at night?")
    assert not fresh.reviewed
    assert first.citations[0].quote not in quotes(fresh)


def test_a_reviewed_answer_carries_the_caution_of_a_claim_listed_after_it_was_approved(
    world: TinyWorld,
):
    bot = world.bot()
    first = bot.ask("Are symptoms worse at night?")
    assert NIGHT in quotes(first) and not any(c.caution for c in first.citations)
    bot.store.set_verdict(first.id, "correct")
    # Staff then list the quoted sentence as dubious, with their reason: from the next start the
    # answer given again (still the approved one) shows it beside that quote.
    (world.corpus / "README.md").write_text(
        '## Dubious claims\n\n- "often worse at night" — not for everyone.\n', encoding="utf-8"
    )
    again = world.bot().ask("are symptoms worse at night?")
    assert again.reviewed and quotes(again) == quotes(first)
    cautions = {c.quote: c.caution for c in again.citations}
    assert cautions[NIGHT] == "The clinic's staff question this passage: not for everyone."
    assert all(not why for quote, why in cautions.items() if quote != NIGHT)
    # Taken off the list: no caution, the approval unchanged.
    (world.corpus / "README.md").write_text("## Dubious claims\n\n", encoding="utf-8")
    after = world.bot().ask("are symptoms worse at night?")
    assert after.reviewed and not any(c.caution for c in after.citations)


def test_a_reviewed_answer_whose_quote_was_edited_away_is_not_reused(world: TinyWorld):
    bot = world.bot()
    first = bot.ask("Are symptoms worse at night?")
    bot.store.set_verdict(first.id, "correct")
    world.edit("iron-and-legs", lambda body: body.replace(NIGHT, "Symptoms are worse at dusk."))
    bot = world.bot()
    again = bot.ask("Are symptoms worse at night?")
    assert not again.reviewed
    check_spans(again, bot)


@pytest.mark.parametrize("verdict", ["wrong", "citation_does_not_support"])
def test_answers_staff_did_not_approve_are_not_reused(world: TinyWorld, verdict: str):
    bot = world.bot()
    first = bot.ask("Are symptoms worse at night?")
    if verdict == "wrong":
        bot.store.set_verdict(first.id, "wrong", "no")
    else:
        bot.store.set_verdict(first.id, "correct")
        bot.store.set_citation_verdict(first.id, first.citations[0].id, "does_not_support")
    assert not bot.ask("Are symptoms worse at night?").reviewed


@pytest.mark.slow
def test_real_corpus_wrong_passage_excluded_across_reingest(tmp_path: Path, real_embedder):
    """The known error (Ekbom "from Switzerland") staff exclude stays out, real model and index."""
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", data_dir=tmp_path / "d")
    store = Store(tmp_path / "d" / "chatbot.sqlite3")
    question = "Who first described restless legs syndrome?"

    def ask(q: str):
        bot = Bot(
            settings, open_index(settings, real_embedder, rebuild=True), real_embedder, log=store
        )
        return bot, bot.ask(q)

    bot, first = ask(question)
    wrong = [c for c in first.citations if "Switzerland" in c.quote]
    assert wrong, f"expected the Ekbom sentence to be quoted: {quotes(first)}"
    store.exclude_citation(first.id, wrong[0].id, "Ekbom was Swedish, not Swiss", "staff")

    path = corpus / "rls-symptoms-treatment.md"
    head, sep, body = path.read_text("utf-8").partition("\n---\n")
    path.write_text(head + sep + "A note added by the clinic in 2025.\n\n" + body, "utf-8")
    for q in (question, "Which neurologist described RLS?", "history of restless legs syndrome"):
        bot, again = ask(q)
        assert all("Switzerland" not in quote for quote in quotes(again)), q
        check_spans(again, bot)


def test_personal_advice_is_never_answered_from_a_reviewed_answer(world: TinyWorld):
    """Even a (hand-made) approved answer cannot turn a request for personal advice around."""
    from chatbot.types import Answer, Citation

    bot = world.bot()
    body = bot.index.articles["iron-and-legs"].body
    start = body.index(NIGHT)
    cite = Citation(1, "iron-and-legs", "Iron and legs", NIGHT, start, start + len(NIGHT), 0.9)
    question = "Should I stop taking my pramipexole?"
    approved = Answer("answered", f"Here:\n\n- {NIGHT} [1]", [cite], "d")
    bot.store.log_answer(question, approved, [], "api")
    bot.store.set_verdict(approved.id, "correct")
    # The store would offer it (same question, valid quote) ...
    assert bot.store.reviewed_answer(question, bot.index.articles, "d") is not None
    # ... but the bot answers a request for personal advice afresh.
    again = bot.ask(question)
    assert not again.reviewed and again.reason == "personal_advice"


@pytest.mark.parametrize("how", ["copy_wrong", "copy_citation_does_not_support"])
def test_staff_judging_a_reused_copy_stops_the_reuse(world: TinyWorld, how: str):
    bot = world.bot()
    first = bot.ask("Are symptoms worse at night?")
    bot.store.set_verdict(first.id, "correct")
    copy = bot.ask("Are symptoms worse at night?")
    assert copy.reviewed
    if how == "copy_wrong":
        bot.store.set_verdict(copy.id, "wrong", "changed our mind")
    else:
        bot.store.set_citation_verdict(copy.id, copy.citations[0].id, "does_not_support")
    assert not bot.ask("Are symptoms worse at night?").reviewed
    # Marking it correct again (the latest word) brings it back, unless a citation is disputed.
    bot.store.set_verdict(first.id, "correct", "checked again")
    assert bot.ask("Are symptoms worse at night?").reviewed is (how == "copy_wrong")
