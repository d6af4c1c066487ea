"""The library without a model: files become article text (page furniture left out), bad files
are refused with a clear message, and every change to an article is a new version on disk."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import (
    BODIES,
    CORPUS,
    HTML_FURNITURE,
    HTML_QUOTE,
    LIBRARY_HTML,
    PDF_FURNITURE,
    PDF_QUOTE,
    make_docx,
    make_pdf,
    make_scan_pdf,
    tree_state,
)

from chatbot.corpus import format_article, load_corpus
from chatbot.library.articles import Library, LibraryError, slug
from chatbot.library.extract import MAX_FILE_BYTES, ExtractionError, extract, from_pasted
from chatbot.library.preview import preview
from chatbot.text.sentences import split_sentences


def test_an_html_page_gives_its_main_text_and_metadata_without_the_furniture():
    out = extract(LIBRARY_HTML.encode(), "sleep.html")
    assert out.kind == "html"
    assert out.title == "Sleep hygiene for restless legs"
    assert out.date == "2024-03-05" and out.publisher == "Truffles Vein Specialists"
    assert HTML_QUOTE in out.body
    for furniture in HTML_FURNITURE:
        assert furniture not in out.body, furniture
    # Paragraphs apart, list items one a line: each is quotable on its own.
    texts = [s.text for s in split_sentences(out.body)]
    assert HTML_QUOTE in texts and "Keep the bedroom cool and dark." in texts
    assert "- Keep the bedroom cool and dark.\n- Avoid screens" in out.body


def test_a_pdf_gives_its_text_layer_without_running_headers_and_page_numbers(tmp_path):
    out = extract(make_pdf(tmp_path / "cramps.pdf").read_bytes(), "cramps.pdf")
    assert out.kind == "pdf" and out.title == "Leg cramps versus restless legs"
    assert PDF_QUOTE in [s.text for s in split_sentences(out.body)]
    for furniture in PDF_FURNITURE:
        assert furniture not in out.body, furniture
    assert "Cramps or restless legs?\n\n" in out.body  # a heading stays its own line


def test_a_word_document_gives_its_body_without_header_and_footer(tmp_path):
    out = extract(make_docx(tmp_path / "travel.docx").read_bytes(), "travel.docx")
    assert out.kind == "docx" and out.title == "Travelling with restless legs"
    assert "Book an aisle seat so you can walk up and down the cabin." in out.body
    assert "- Flex your ankles every half hour.\n- Drink water rather than alcohol." in out.body
    assert "Clinic leaflet 12" not in out.body and "Page 1" not in out.body


def test_markdown_and_plain_text():
    md = (
        "# Iron and RLS\n\nLow **iron** can make [restless legs](http://x.example) worse."
        "\n\n* one\n* two\n"
    )
    out = extract(md.encode(), "iron.md")
    assert out.title == "Iron and RLS"
    assert "Low iron can make restless legs worse." in out.body and "- one\n- two" in out.body
    text = extract(b"Line one of the article, long enough.\r\n\r\n\r\nLine two.", "a.txt")
    assert text.body == "Line one of the article, long enough.\n\nLine two.\n"
    assert from_pasted("  Some pasted text about restless legs at night.  ").body.startswith("Some")


@pytest.mark.parametrize(
    "name, data, says",
    [
        ("empty.txt", b"", "is empty"),
        ("blank.md", b"   \n\n  ", "is empty"),
        ("noise.txt", bytes(range(256)) * 40, "binary file"),
        ("photo.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "not supported"),
        ("old.doc", b"\xd0\xcf\x11\xe0" + b"\x00" * 64, "not supported"),
        ("fake.pdf", b"this is not a pdf at all, only text pretending", "not a valid PDF"),
        ("broken.pdf", b"%PDF-1.4\n" + b"\x00garbage" * 20, "not a readable PDF"),
        ("fake.docx", b"PK\x03\x04" + b"\x00" * 64, "not a readable Word document"),
        ("archive.zip", b"PK\x03\x04" + b"\x00" * 64, "ZIP archive"),
        ("tiny.txt", b"RLS.", "no text to quote"),
    ],
)
def test_bad_files_are_refused_with_a_clear_message(name, data, says):
    with pytest.raises(ExtractionError, match=says):
        extract(data, name)


def test_a_scanned_pdf_and_a_huge_file_are_refused(tmp_path):
    with pytest.raises(ExtractionError, match="no text layer .*OCR"):
        extract(make_scan_pdf(tmp_path / "scan.pdf").read_bytes(), "scan.pdf")
    with pytest.raises(ExtractionError, match="over the limit of 10 MB"):
        extract(b"a" * (MAX_FILE_BYTES + 1), "huge.txt")


@pytest.fixture
def library(tmp_path: Path) -> Library:
    folder = tmp_path / "corpus"
    shutil.copytree(CORPUS, folder)
    return Library(folder)


def test_adding_editing_and_retiring_keep_every_version(library: Library):
    before = {a.id: a.body for a in library.articles()}
    art = library.add(extract(LIBRARY_HTML.encode(), "sleep.html"), "alice", date="2024-03-06")
    assert art.id == slug(art.title) == "sleep-hygiene-for-restless-legs"
    assert (library.root / f"{art.id}.md").exists() and art.date == "2024-03-06"
    assert [v.number for v in library.history(art.id)] == [1]

    edited = library.edit(
        art.id,
        "bob",
        body=art.body.replace("cool and dark", "cool"),
        reviewed_by="Dr Ann Lee",
        next_review="2025-06-01",
    )
    assert edited.version == 2 and "cool and dark" not in edited.body
    history = library.history(art.id)
    assert [(v.number, v.saved_by) for v in history] == [(1, "alice"), (2, "bob")]
    assert "cool and dark" in history[0].article.body  # the old text is kept word for word
    assert history[1].change.startswith("edited text")
    with pytest.raises(LibraryError, match="nothing changed"):
        library.edit(art.id, "bob", body=edited.body)
    with pytest.raises(LibraryError, match="YYYY-MM-DD"):
        library.edit(art.id, "bob", next_review="next June")
    with pytest.raises(LibraryError, match="http"):
        library.edit(art.id, "bob", source_url="javascript:alert(1)")

    retired = library.retire(art.id, "alice")
    assert retired.version == 3 and library.get(art.id) is None
    assert library.get_any(art.id) == (library.retired()[0], False)
    assert [v.number for v in library.history(art.id)] == [1, 2, 3]
    # The clinic's five articles were never touched; the bot reads what the library wrote.
    assert {a.id: a.body for a in library.articles()} == before
    assert {a.id for a in load_corpus(library.root)} == set(before)


def test_editing_an_original_article_keeps_its_first_version_and_the_body_byte_identical(
    library: Library,
):
    original = BODIES["cause-of-rls"]
    raw = (library.root / "cause-of-rls.md").read_bytes()
    assert format_article(original).encode() == raw  # the file format round-trips
    edited = library.edit("cause-of-rls", "alice", reviewed_by="Dr Ann Lee")
    assert edited.body == original.body and edited.version == 2
    first = library.version("cause-of-rls", 1)
    assert first is not None and first.body == original.body and first.reviewed_by == ""
    assert library.history("cause-of-rls")[0].saved is None  # from before history was kept
    assert library.version_at("cause-of-rls", 0.0) == 1


def test_a_refused_change_changes_nothing(library: Library):
    state = tree_state(library.root)
    for call in (
        lambda: library.add(from_pasted("x" * 60), "a"),  # no title
        lambda: library.add(from_pasted("x" * 60), "a", title="T", date="yesterday"),
        lambda: library.add(from_pasted("x" * 60), "a", title="T", id="cause-of-rls"),
        lambda: library.edit("no-such-article", "a", title="T"),
        lambda: library.edit("cause-of-rls", "a", body="   "),
        lambda: library.retire("no-such-article", "a"),
    ):
        with pytest.raises(LibraryError):
            call()
    assert tree_state(library.root) == state


def test_the_preview_shows_passages_and_quotable_sentences():
    art = BODIES["cause-of-rls"]
    pv = preview(art)
    assert pv.passages and pv.sentences > 10
    quoted = [s.text for p in pv.passages for s in p.sentences if not s.heading]
    assert all(art.body[s.start : s.end] == s.text for p in pv.passages for s in p.sentences)
    assert "Genetic Predisposition" in [s.text for p in pv.passages for s in p.sentences]
    assert any("genetic variants" in q for q in quoted)
