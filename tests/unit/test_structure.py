"""The articles' structure at ingest (chatbot/structure.py), with the fake embedder: heading
paths, lists and lead-ins, the clinic's voice, staff's corrections, the facet map."""

from __future__ import annotations

from pathlib import Path

from helpers import write_article

from chatbot.answer.compose import with_cautions
from chatbot.corpus import load_corpus
from chatbot.embedding import FakeEmbedder
from chatbot.index import build_index, load_index
from chatbot.structure import (
    FACETS,
    apply_inputs,
    dubious_spans,
    facet_map,
    is_promotion,
    read_inputs,
)
from chatbot.types import Citation

BODY = (
    "Understanding the Causes\n\n"
    "1. Genetics\n\nGenes play a role in restless legs.\n\n"
    "2. Iron\n\nLow iron is linked to restless legs.\n\n"
    "What to avoid\n"
    "Substances that make it worse:\n"
    "- caffeine;\n"
    "- alcohol.\n\n"
    "Our clinic\n\n"
    "Our team of expert doctors offers the best care. Contact us to schedule a consultation.\n"
    "In childhood it is caused by a lack of attention from parents.\n"
)


def _index(tmp_path: Path, header_extra: str = ""):
    corpus = tmp_path / "corpus"
    write_article(corpus, "causes", "Causes", BODY)
    if header_extra:
        path = corpus / "causes.md"
        text = path.read_text("utf-8").replace("note: test article\n", f"note: x\n{header_extra}\n")
        path.write_text(text, "utf-8")
    emb = FakeEmbedder()
    build_index(load_corpus(corpus), emb, tmp_path / "index", 64, 16)
    return corpus, load_index(tmp_path / "index", load_corpus(corpus), emb, 64, 16)


def _facts(index, text):
    pos = next(i for i, s in enumerate(index.sentences) if s.text == text)
    return index.structure[pos], pos


def test_every_sentence_knows_its_heading_path_list_and_lead_in(tmp_path):
    _, index = _index(tmp_path)
    assert len(index.structure) == len(index.sentences)
    genes, _ = _facts(index, "Genes play a role in restless legs.")
    assert genes.headings == ("Understanding the Causes", "1. Genetics")
    caffeine, _ = _facts(index, "caffeine;")
    lead, lead_pos = _facts(index, "Substances that make it worse:")
    assert caffeine.lead == lead_pos and caffeine.block == lead.block >= 0
    assert caffeine.headings == ("What to avoid",)
    assert all(f.facet in FACETS for f in index.structure)


def test_the_clinics_voice_is_marked(tmp_path):
    # Whether it sells or tells is the model's call (tests/integration/test_answer.py); the
    # fake embedder can only show that the clinic's voice is found.
    _, index = _index(tmp_path)
    selling, _ = _facts(index, "Contact us to schedule a consultation.")
    assert selling.clinic
    fact, _ = _facts(index, "Low iron is linked to restless legs.")
    assert not fact.clinic and not fact.promotion
    assert is_promotion("Our team of expert doctors specializes in diagnosing RLS.")
    assert not is_promotion("Iron deficiency has long been associated with RLS.")


def test_staff_override_a_sections_facet_and_list_dubious_claims(tmp_path):
    corpus, index = _index(tmp_path, "facets: What to avoid=worse; 2. Iron=cause; nonsense")
    (corpus / "README.md").write_text(
        "# Articles\n\n## Dubious claims\n\n"
        '- "caused by a lack of attention from parents" — not supported.\n'
        "- no quote here\n\n## Other\n\n"
        '- "Genes play a role" — not in the dubious section, so not dubious.\n',
        encoding="utf-8",
    )
    inputs = read_inputs(corpus)
    assert inputs.overrides["causes"] == {"what to avoid": "worse", "2. iron": "cause"}
    assert len(inputs.problems) == 2  # the entry without "=" and the bullet without a quote
    facts = apply_inputs(index.structure, index.sentences, inputs)
    by_text = {s.text: f for s, f in zip(index.sentences, facts, strict=True)}
    assert by_text["caffeine;"].facet == "worse" and by_text["What to avoid"].facet == "worse"
    assert by_text["Low iron is linked to restless legs."].facet == "cause"
    assert by_text["In childhood it is caused by a lack of attention from parents."].dubious
    assert not by_text["Genes play a role in restless legs."].dubious
    lines = facet_map(facts, index.sentences)
    assert lines[0] == "causes" and any("What to avoid" in line for line in lines)
    assert any(line.strip().startswith("dubious:") for line in lines)


def test_staffs_reason_for_a_dubious_claim_becomes_the_caution_beside_its_quote(tmp_path):
    corpus, index = _index(tmp_path)
    (corpus / "README.md").write_text(
        "## Dubious claims\n\n"
        '- "caused by a lack of attention from parents" — not supported; the reasons in children'
        " are unclear.\n"
        '- "Genes play a role": <b>unproven</b>\n'
        '- "Low iron is linked"\n',
        encoding="utf-8",
    )
    inputs = read_inputs(corpus)
    assert inputs.reasons == (
        "not supported; the reasons in children are unclear.",
        "<b>unproven</b>",  # as staff wrote it: the chat and the widget show it as text
        "",
    )
    facts = apply_inputs(index.structure, index.sentences, inputs)
    by_text = {s.text: f for s, f in zip(index.sentences, facts, strict=True)}
    childhood = by_text["In childhood it is caused by a lack of attention from parents."]
    assert childhood.dubious and childhood.caution.startswith("not supported;")
    assert by_text["Low iron is linked to restless legs."].dubious
    assert by_text["Low iron is linked to restless legs."].caution == ""
    assert by_text["caffeine;"].caution == ""
    # Read when the bot starts, never stored: the index's files hold no caution.
    assert all("caution" not in f.to_json() for f in facts)

    spans = dubious_spans(facts, index.sentences)
    pos = {s.text: s for s in index.sentences}
    child = pos["In childhood it is caused by a lack of attention from parents."]
    iron = pos["Low iron is linked to restless legs."]
    night = pos["caffeine;"]

    def cite(i, rec, caution=""):
        return Citation(i, "causes", "Causes", rec.text, rec.start, rec.end, 0.5, "", caution)

    out = with_cautions(
        [cite(1, child), cite(2, iron), cite(3, night, caution="stale: listed no more")], spans
    )
    assert out[0].caution == (
        "The clinic's staff question this passage: not supported; the reasons in children are"
        " unclear."
    )
    assert out[1].caution == "The clinic's staff question this passage."  # listed, no reason
    assert out[2].caution == ""  # a caution follows the list: off it, none
    # A quote that only overlaps the claim (a longer span holding it) is flagged too.
    wide = Citation(4, "causes", "Causes", "x", child.start - 5, child.end, 0.5)
    assert with_cautions([wide], spans)[0].caution == out[0].caution


def test_a_corpus_without_corrections_reads_as_none(tmp_path):
    corpus, index = _index(tmp_path)
    inputs = read_inputs(corpus)
    assert inputs.overrides == {} and inputs.dubious == () and inputs.problems == ()
    assert apply_inputs(index.structure, index.sentences, inputs) == index.structure
