"""Hybrid retrieval: sentence scoring, typo mending, coverage, follow-ups, exclusions."""

from __future__ import annotations

import numpy as np
import pytest

from chatbot.corpus import load_corpus
from chatbot.embedding import FakeEmbedder
from chatbot.index import build_index, load_index
from chatbot.retrieval import Retriever, retrieval_query
from chatbot.retrieval.lexicon import topic_words
from chatbot.types import Turn


@pytest.fixture
def tiny_retriever(tiny_corpus, tmp_path, fake_embedder):
    articles = load_corpus(tiny_corpus)
    build_index(articles, fake_embedder, tmp_path / "index", 64, 16)
    return Retriever(load_index(tmp_path / "index", articles, fake_embedder, 64, 16), fake_embedder)


def _ask(retriever, question, excluded=frozenset()):
    qvec = retriever.embed_query(question)
    passages = retriever.search(question, qvec, 4)
    return retriever.candidate_sentences(passages, qvec, set(excluded), query=question)


# ------------------------------------------------------------------------------------------------
# Unit (fake embedder)


def test_every_citable_sentence_is_scored_best_first(tiny_retriever):
    cands = _ask(tiny_retriever, "iron dopamine")
    texts = [c.record.text for c in cands]
    assert texts[0] == "Iron helps the brain make dopamine."
    assert [c.score for c in cands] == sorted((c.score for c in cands), reverse=True)
    assert not any(c.record.heading for c in cands)
    assert len({c.relevance for c in cands}) == 1  # one relevance per question


def test_lexical_match_finds_a_word_the_embedding_blurs(tiny_retriever):
    cands = _ask(tiny_retriever, "third trimester")
    assert "third trimester" in cands[0].record.text
    assert cands[0].lexical == 1.0


def test_excluded_spans_are_never_offered(tiny_retriever):
    best = _ask(tiny_retriever, "iron dopamine")[0].record
    again = _ask(tiny_retriever, "iron dopamine", {(best.article_id, best.start, best.end)})
    assert all(
        (c.record.article_id, c.record.start) != (best.article_id, best.start) for c in again
    )


def test_words_the_articles_never_use_lower_the_relevance(tiny_retriever):
    covered = _ask(tiny_retriever, "iron dopamine")[0].relevance
    analysis = tiny_retriever.analyse("iron dopamine lentil soup recipe")
    assert set(analysis.uncovered) >= {"lentil", "soup"} and analysis.coverage < 1.0
    assert _ask(tiny_retriever, "iron dopamine lentil soup recipe")[0].relevance < covered


def test_large_corpus_path_scores_only_the_passages_sentences(tiny_retriever, monkeypatch):
    large = tiny_retriever.weights.model_copy(update={"exact_search_max": 0})
    monkeypatch.setattr(tiny_retriever, "weights", large)
    qvec = tiny_retriever.embed_query("iron dopamine")
    passages = tiny_retriever.search("iron dopamine", qvec, 1)
    cands = tiny_retriever.candidate_sentences(passages, qvec, set(), query="iron dopamine")
    chunk = passages[0].chunk
    assert cands and all(
        c.record.article_id == chunk.article_id and chunk.start <= c.record.start < chunk.end
        for c in cands
    )


def test_the_gate_reads_what_the_first_sentence_leaves_unsaid(tiny_retriever):
    r = tiny_retriever
    _ask(r, "iron dopamine")
    assert r.last_reading().measured["unsaid_first"] == 0.0
    row = next(
        i
        for i, pos in enumerate(r._citable)
        if r.index.sentences[pos].text == "Iron helps the brain make dopamine."
    )
    terms = r.analyse("dopamine trimester").terms
    weight = {next(iter(t.own)): r.lexicon.term_weight(t) for t in terms}
    share = r.lexicon.unsupported(terms, row)
    assert share == pytest.approx(weight["trimest"] / sum(weight.values()))
    assert 0.0 < share < 1.0
    # A term the heading says counts as said ("Iron" heads the sentence's section).
    assert r.lexicon.unsupported(r.analyse("iron brain").terms, row) == 0.0
    assert r.lexicon.unsupported((), row) == 0.0


def test_empty_queries_and_no_query_text_still_work(tiny_retriever):
    qvec = tiny_retriever.embed_query("?")
    assert tiny_retriever.candidate_sentences([], qvec, set())  # dense only
    assert np.isfinite([c.score for c in _ask(tiny_retriever, "!!")]).all()


def test_edit_distance_counts_a_swap_as_one():
    """The mending relies on rapidfuzz's optimal string alignment distance with a cut-off."""
    from rapidfuzz.distance import OSA

    assert OSA.distance("waht", "what", score_cutoff=2) == 1
    assert OSA.distance("pregancy", "pregnancy", score_cutoff=2) == 1
    assert OSA.distance("abc", "xyz", score_cutoff=1) == 2  # cut off above the limit


def test_follow_ups_are_read_with_the_earlier_topic():
    history = [Turn("user", "What causes restless legs?"), Turn("assistant", "...")]
    assert retrieval_query("and in pregnancy?", history) == (
        "and in pregnancy? (causes restless legs)"
    )
    long = "Is there anything in the articles about how mesotherapy injections are done exactly?"
    assert retrieval_query(long, history) == long
    # A carer's follow-up is a whole sentence or two, about "her", "him", "those"...
    carer = [Turn("user", "My son is 15 and his legs twitch at night, he paces the hallway")]
    follow = "Thanks so much. Is there something he could try at bedtime to calm it down?"
    assert retrieval_query(follow, carer) == follow + " (son legs twitch night paces hallway)"
    # With the retriever's vocabulary, only the earlier words the articles use come along.
    assert retrieval_query(follow, carer, lambda w: w.lower() in {"son", "legs", "night"}) == (
        follow + " (son legs night)"
    )
    assert retrieval_query("and in pregnancy?", []) == "and in pregnancy?"
    assert topic_words("what are the symptoms of RLS?") == "symptoms RLS"


# ------------------------------------------------------------------------------------------------
# Integration (real model, real index)


def test_typos_are_mended_against_the_articles(real_bot):
    analysis = real_bot.retriever.analyse("can pregancy cause restles legs, is it herditary")
    assert analysis.text == "can pregnancy cause restless legs, is it hereditary"
    assert analysis.coverage == 1.0
    # Common English words are never "mended" into article words.
    assert real_bot.retriever.analyse("how can I get pregnant faster").text == (
        "how can I get pregnant faster"
    )
    # Four letters: only a word cut short is mended; a real word the articles lack is kept.
    assert real_bot.retriever.analyse("does cofee make it wors").text == (
        "does coffee make it worse"
    )
    assert real_bot.retriever.analyse("a wart on my foot").text == "a wart on my foot"


def test_a_drug_name_is_found_by_its_letters(real_bot):
    cands = _ask(real_bot.retriever, "lithium")
    assert cands[0].record.text == "Lithium preparations."


def test_out_of_scope_questions_score_below_in_scope_ones(real_bot):
    low = _ask(real_bot.retriever, "how do I treat a sprained ankle")[0].relevance
    high = _ask(real_bot.retriever, "how do I treat restless legs")[0].relevance
    assert low < real_bot.settings.answer.min_relevance <= high


def test_the_fake_embedder_never_mends(tiny_retriever):
    # Without a tokenizer that knows common words, nothing is "corrected" by guesswork.
    assert tiny_retriever.analyse("pregnacy legs").text == "pregnacy legs"
    assert isinstance(tiny_retriever.embedder, FakeEmbedder)


def test_patients_words_reach_the_articles_words(real_bot):
    r = real_bot.retriever
    # "ferritin" and "wine" are not in the articles; "iron" and "alcohol" are: covered.
    ferritin = r.analyse("my ferritin is low, could that be it")
    assert "ferritin" not in ferritin.uncovered
    assert any(t.group == "iron" for t in ferritin.terms)
    # A phrase is read by its stems, after typos are mended, and claims its words
    # ("run" is heredity here, not exercise).
    family = r.analyse("does rls run in famlies")
    assert [t.group for t in family.terms if t.group] == ["heredity"]
    # The sentence that says it the articles' way is found.
    top = [c.record.text for c in _ask(r, "is a glass of wine at night bad for restless legs")[:3]]
    assert any("alcohol" in t.lower() for t in top), top


def test_a_word_outside_the_articles_field_weighs_less_than_one_inside_it(real_bot):
    r = real_bot.retriever
    weights = r.reader._topicality(["apnea", "job"])
    assert weights["apnea"] > weights["job"] + 0.3
    story = r.analyse("does stress make rls worse? its been horrendous since my new job")
    topic = r.analyse("does stress make rls worse with sleep apnea and medicare")
    assert story.coverage > topic.coverage


def test_a_long_message_is_gated_by_its_best_sentence(real_bot):
    r = real_bot.retriever
    message = "does stress make rls worse?? its been horrendous since i started my new job"
    assert r.reader.message_parts(message)[0] == "does stress make restless legs syndrome worse"
    assert r.reader.message_parts("what causes rls") == []
    cands = _ask(r, message)
    assert cands[0].relevance >= real_bot.settings.answer.min_relevance
    assert any("Stress" in c.record.text for c in cands[:3])


def test_the_articles_subject_is_found_and_read_past_when_ranking(real_bot):
    r = real_bot.retriever
    assert r.lexicon.subject == {"restless", "leg", "syndrom", "rls"}  # in >= 30% of sentences
    assert r.reader.without_subject("is restless legs genetic? my mum had it too") == (
        "is genetic my mum had it too"
    )
    assert r.reader.without_subject("what is rls?") == ""  # nothing else to read
    # The specific sentence outranks the ones that merely name the condition.
    top = _ask(r, "is restless legs genetic? my mum had it too")[0].record.text
    assert any(w in top.lower() for w in ("hered", "genetic", "relatives", "family")), top


def test_sentences_that_advertise_the_clinic_do_not_lead_an_answer(real_bot):
    from chatbot.retrieval.retriever import _PROMOTION

    assert _PROMOTION.search("Our team of expert doctors specializes in diagnosing RLS.")
    assert not _PROMOTION.search("Iron deficiency has also been linked to RLS.")
    top = _ask(real_bot.retriever, "how is rls treated")[0].record.text
    assert not _PROMOTION.search(top), top


def test_a_follow_up_is_never_less_covered_for_its_context(real_bot):
    history = [Turn("user", "im 30 weeks pregnant and my legs go nuts every night, i pace")]
    question = "and will it go away once the baby is born or will i have it forever now"
    answer = real_bot.ask(question, history)
    assert answer.status == "answered", answer.answer
    assert any("baby" in c.quote or "pregnan" in c.quote for c in answer.citations)
