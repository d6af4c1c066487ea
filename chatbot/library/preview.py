"""How an article will be split and quoted, before it is published: the passages the search
will find (chunks, as the index builds them) and the sentences an answer may quote."""

from __future__ import annotations

from dataclasses import dataclass

from chatbot.chunking import chunk_article
from chatbot.text.sentences import split_sentences
from chatbot.types import Article


@dataclass(frozen=True)
class Quotable:
    start: int
    end: int
    text: str
    heading: bool  # a heading gives context but is never quoted alone


@dataclass(frozen=True)
class Passage:
    index: int
    heading: str
    tokens: int
    sentences: tuple[Quotable, ...]


@dataclass(frozen=True)
class Preview:
    article: Article
    passages: tuple[Passage, ...]
    sentences: int  # quotable sentences (headings left out)
    words: int
    warnings: tuple[str, ...]


def preview(article: Article, chunk_tokens: int = 128, overlap_tokens: int = 32) -> Preview:
    """Split ``article`` as the index will (same settings as ``Settings.chunking``)."""
    segments = split_sentences(article.body)
    chunks = chunk_article(article, chunk_tokens, overlap_tokens)
    passages = []
    for c in chunks:
        inside = tuple(
            Quotable(s.start, s.end, s.text, s.heading)
            for s in segments
            if c.start <= s.start and s.end <= c.end
        )
        passages.append(Passage(c.index, c.heading, c.tokens, inside))
    quotable = [s for s in segments if not s.heading]
    warnings = []
    if not quotable:
        warnings.append("No sentence could be quoted: every line reads as a heading.")
    long_ones = [s for s in quotable if len(s.text) > 600]
    if long_ones:
        warnings.append(
            f"{len(long_ones)} sentence(s) are over 600 characters (a paragraph without "
            "full stops?): answers would quote them whole."
        )
    return Preview(
        article=article,
        passages=tuple(passages),
        sentences=len(quotable),
        words=len(article.body.split()),
        warnings=tuple(warnings),
    )
