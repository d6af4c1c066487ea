"""Approved answers with the real model: given to paraphrases, never to a near-opposite, and not
once a quote changed or is excluded; content gaps and "most asked" grouped by meaning."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import BODIES, ROOT, TinyWorld, check_spans

from chatbot import messages
from chatbot.review.approved import MATCH_COSINE, unknown_words
from chatbot.review.store import Store
from chatbot.types import Answer, Turn

pytestmark = pytest.mark.slow

GENETIC = [
    "Research suggests that genetics may contribute to the development of RLS.",
    "Studies have identified specific genetic variants associated with an increased risk of "
    "developing the condition.",
]


def span(article: str, quote: str) -> tuple[str, int, int]:
    start = BODIES[article].body.index(quote)
    return article, start, start + len(quote)


@pytest.fixture
def bot(real_settings, real_embedder, tmp_path: Path, store_location: Path | str):
    """The real bot with its own store, on SQLite, then on PostgreSQL."""
    from chatbot.pipeline import Bot, open_index

    settings = real_settings.replace(data_dir=tmp_path / "data")
    store = Store(store_location)
    return Bot(settings, open_index(settings, real_embedder, rebuild=False), real_embedder, store)


@pytest.fixture
def world(tmp_path: Path, store_location: Path | str) -> TinyWorld:
    return TinyWorld(tmp_path, store_location)


def test_an_approved_answer_is_given_to_paraphrases_and_not_to_a_near_opposite(bot):
    store = bot.store
    approved = store.create_approved(
        [span("cause-of-rls", q) for q in GENETIC],
        ["Is restless legs syndrome genetic?", "Does RLS run in families?"],
        bot.index.articles,
        "alice",
    )
    for paraphrase in ("is rls hereditary", "can i inherit restless legs from my mum"):
        answer = bot.ask(paraphrase)
        assert answer.reviewed and answer.approved == approved, paraphrase
        assert [c.quote for c in answer.citations] == GENETIC
        assert answer.answer.startswith(messages.ANSWER_INTRO)
        check_spans(answer, bot)
        assert store.get_answer(answer.id)["approved_id"] == approved
    for other in ("is restless legs contagious?", "is restless legs syndrome curable?"):
        answer = bot.ask(other)
        assert answer.approved is None and not answer.reviewed, other
    assert store.times_given(approved) == 2
    # A follow-up is read with its context, never matched alone.
    follow = bot.ask("is it hereditary?", [Turn("user", "what causes restless legs?")])
    assert follow.approved is None

    # An excluded quote stops it; lifting the exclusion brings it back.
    ex = store.exclude_passage(*span("cause-of-rls", GENETIC[0]), GENETIC[0], "checking")
    assert bot.ask("is rls hereditary").approved is None
    item = store.get_approved(approved)
    assert "overlaps an excluded passage" in store.approved_problems(item, bot.index.articles)[0]
    store.restore_passage(ex)
    assert bot.ask("is rls hereditary").approved == approved
    store.retire_approved(approved)
    assert bot.ask("is rls hereditary").approved is None


def test_an_approved_answer_stops_when_its_quote_changes_in_the_article(world: TinyWorld):
    bot = world.bot()
    quote = "Iron deficiency is linked to restless legs."
    aid = "iron-and-legs"
    start = bot.index.articles[aid].body.index(quote)
    approved = bot.store.create_approved(
        [(aid, start, start + len(quote))], ["Is low iron behind my legs?"], bot.index.articles
    )
    assert bot.ask("Is low iron behind my legs?").approved == approved
    world.edit(aid, lambda body: body.replace(quote, "Iron deficiency is sometimes linked to RLS."))
    bot = world.bot()
    assert bot.ask("Is low iron behind my legs?").approved is None
    problems = bot.store.approved_problems(bot.store.get_approved(approved), bot.index.articles)
    assert problems and "no longer in iron-and-legs" in problems[0]


def test_a_quote_must_be_an_exact_span_and_an_example_is_needed(bot):
    from chatbot.review.db import StoreError

    with pytest.raises(StoreError, match="at least one example"):
        bot.store.create_approved([span("cause-of-rls", GENETIC[0])], ["  "], bot.index.articles)
    with pytest.raises(StoreError, match="not a passage"):
        bot.store.create_approved(
            [("cause-of-rls", 0, 1 + 0)],
            ["x?"],
            {
                "cause-of-rls": BODIES["cause-of-rls"].__class__(
                    **{**BODIES["cause-of-rls"].__dict__, "body": " x"}
                )
            },
        )
    with pytest.raises(StoreError, match="pick at least one passage"):
        bot.store.create_approved([], ["x?"], bot.index.articles)


def test_the_threshold_and_the_guard_hold_on_the_paraphrase_set(real_embedder):
    """The figures of bench/approved_threshold.py at the chosen threshold: no near-opposite
    and no other topic's question gets an answer; paraphrases stay above a floor (dev)."""
    items = [json.loads(line) for line in (ROOT / "tests" / "approved_pairs.jsonl").open()]
    for split, floor in (("dev", 0.30), ("test", 0.20)):
        matched = {"pos": 0, "near": 0, "other": 0}
        total = dict.fromkeys(matched, 0)
        for t in (t for t in items if t["split"] == split):
            ex = real_embedder.encode(t["examples"])
            others = [q for o in items if o is not t for q in o["positives"]]
            for kind, qs in (("pos", t["positives"]), ("near", t["negatives"]), ("other", others)):
                cos = np.max(real_embedder.encode(qs) @ ex.T, axis=1)
                for q, c in zip(qs, cos, strict=True):
                    total[kind] += 1
                    ok = c >= MATCH_COSINE and not unknown_words(q, t["examples"])
                    matched[kind] += int(ok)
        assert matched["near"] == 0 and matched["other"] == 0, (split, matched)
        assert matched["pos"] >= floor * total["pos"], (split, matched, total)


def test_content_gaps_and_most_asked_group_by_meaning(real_embedder, tmp_path):
    store = Store(tmp_path / "chatbot.sqlite3")

    def log(question: str, status: str = "no_answer", history=(), reason="not_in_articles"):
        answer = Answer(status, "x", [], "d", reason=reason)  # type: ignore[arg-type]
        store.log_answer(question, answer, list(history), "api")

    for q in (
        "What is the best diet for diabetes?",
        "which diet is good for diabetes",
        "diabetes diet advice please",
    ):
        log(q)
    log("How do I renew my passport?")
    log("can I take 600 mg of iron", reason="personal_advice")
    gaps = store.content_gaps(30, embed=real_embedder.encode)
    assert gaps[0]["count"] == 3 and gaps[0]["variants"] == 3
    assert "passport" in gaps[1]["question"] and gaps[1]["count"] == 1
    assert all("600 mg" not in g["question"] for g in gaps)  # personal advice is no gap

    for q in (
        "Why are my legs worse at night?",
        "why do my legs get worse at night",
        "Why are my legs worse at night?",
    ):
        log(q, "answered", reason="")
    log("what about tea?", "answered", [Turn("user", "does coffee make rls worse?")], "")
    top = store.stats(30, embed=real_embedder.encode).top_questions
    night = next(t for t in top if "night" in t["question"])
    assert night["count"] == 3 and night["variants"] == 2
    assert all("tea" not in t["question"] for t in top)  # a follow-up is not a question alone
