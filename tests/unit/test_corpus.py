from __future__ import annotations

from pathlib import Path

import pytest
from helpers import CORPUS, SEEDS

from chatbot.corpus import corpus_hash, load_corpus, parse_article
from chatbot.errors import CorpusError


def test_five_articles_with_readable_metadata():
    articles = load_corpus(CORPUS)
    assert len(articles) == 5
    for art in articles:
        assert art.id == art.id.lower() and " " not in art.id
        assert art.title and art.publisher and art.source_file.endswith(".txt")
        assert art.date == "" or len(art.date) == 10
        assert art.note


def test_bodies_are_the_articles_own_words():
    for art in load_corpus(CORPUS):
        seed = (SEEDS / art.source_file).read_text(encoding="utf-8")
        assert art.body.strip() in seed, f"{art.id} body is not verbatim from {art.source_file}"


def test_page_furniture_left_out_and_said_so():
    art = {a.id: a for a in load_corpus(CORPUS)}["cause-of-rls"]
    assert "Fascinating read!" not in art.body
    assert "Fascinating read!" in art.note


def test_known_errors_are_kept_verbatim():
    art = {a.id: a for a in load_corpus(CORPUS)}["rls-symptoms-treatment"]
    assert "neurologist from Switzerland" in art.body


@pytest.mark.parametrize(
    "text, message",
    [
        ("no header", "must start"),
        ("---\nid: x\ntitle: T\n", "closing"),
        ("---\nid: other\ntitle: T\n---\nbody", "must equal"),
        ("---\nid: x\n---\nbody", "title"),
        ("---\nid: x\ntitle: T\n---\n   \n", "empty"),
    ],
)
def test_malformed_articles_are_refused_clearly(text: str, message: str):
    with pytest.raises(CorpusError, match=message):
        parse_article(text, "x")


def test_missing_or_empty_corpus(tmp_path: Path):
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "nope")
    with pytest.raises(CorpusError, match="no articles"):
        load_corpus(tmp_path)


def test_hash_changes_with_the_body(tiny_corpus: Path):
    before = corpus_hash(load_corpus(tiny_corpus))
    path = tiny_corpus / "pregnancy-note.md"
    path.write_text(path.read_text() + "One more sentence.\n")
    assert corpus_hash(load_corpus(tiny_corpus)) != before
