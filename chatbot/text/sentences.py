"""Sentence segmentation and list structure, with exact character spans into an article body."""

from __future__ import annotations

import re
from dataclasses import dataclass

# A sentence ends at . ! ? (optionally followed by a closing quote or bracket) before
# whitespace and an upper-case letter, digit or opening quote. Abbreviations in these
# articles are rare; the few that matter are protected below.
_SENT_END = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[A-Z0-9\"'(“])")
_ABBREV = re.compile(r"(?:\b(?:e\.g|i\.e|etc|Dr|Mr|Mrs|Ms|vs|approx|St)\.)$")
_BULLET = re.compile(r"^\s*(?:[-•*–]|\d+[.)])\s+")


@dataclass(frozen=True)
class Segment:
    """A sentence (or list item, or heading) of an article body.

    Attributes:
        start: Offset of the first character in the body.
        end: Offset one past the last character.
        text: ``body[start:end]``.
        heading: True for a line that reads as a section heading, not a statement.
    """

    start: int
    end: int
    text: str
    heading: bool


def _is_heading(line: str) -> bool:
    stripped = line.strip()
    bullet = _BULLET.match(line)
    if not stripped or (bullet and not bullet.group(0).strip()[0].isdigit()):
        return False
    if stripped[-1] in ".;!,":
        return False
    words = len(stripped.split())
    if stripped.endswith(":"):
        # "Primary RLS:" is a heading; "Common causes include:" introduces a list.
        return words <= 3
    # Short lines without final punctuation are headings ("Iron Deficiency", "1. Genetics").
    return words <= 12


def split_sentences(body: str) -> list[Segment]:
    """Split ``body`` into sentences; every ``Segment.text == body[start:end]``.

    Lines are hard boundaries (headings and list items are one line each); inside a line,
    sentences split after terminal punctuation. Leading bullets are kept out of the span so a
    quote reads as the item's words.
    """
    out: list[Segment] = []
    pos = 0
    lines = body.split("\n")
    for line in lines:
        line_start = pos
        pos += len(line) + 1
        if not line.strip():
            continue
        heading = _is_heading(line)
        bullet = _BULLET.match(line)
        offset = bullet.end() if bullet and not heading else len(line) - len(line.lstrip())
        segment = line[offset:].rstrip()
        if not segment:
            continue
        seg_start = line_start + offset
        if heading:
            out.append(Segment(seg_start, seg_start + len(segment), segment, True))
            continue
        cursor = 0
        for match in _SENT_END.finditer(segment):
            candidate = segment[cursor : match.start()]
            if _ABBREV.search(candidate):
                continue
            piece_end = match.start() + len(match.group(0)) - len(match.group(0).lstrip("\"')]"))
            text = segment[cursor:piece_end].strip()
            if text:
                s = (
                    seg_start
                    + cursor
                    + (len(segment[cursor:piece_end]) - len(segment[cursor:piece_end].lstrip()))
                )
                out.append(Segment(s, s + len(text), text, False))
            cursor = match.end()
        tail = segment[cursor:].strip()
        if tail:
            s = seg_start + cursor + (len(segment[cursor:]) - len(segment[cursor:].lstrip()))
            out.append(Segment(s, s + len(tail), tail, False))
    return out


@dataclass(frozen=True)
class ListBlock:
    """A bulleted list and the line that introduces it ("Common causes include:").

    Attributes:
        lead: (start, end) of the introducing sentence, or None when the list has none.
        items: (start, end) of each item's words (bullet left out), in body order.
    """

    lead: tuple[int, int] | None
    items: tuple[tuple[int, int], ...]

    @property
    def start(self) -> int:
        return self.lead[0] if self.lead else self.items[0][0]

    @property
    def end(self) -> int:
        return self.items[-1][1]


def list_blocks(body: str) -> list[ListBlock]:
    """The bulleted lists of ``body``, each with its lead-in line when that ends with a colon.

    A list item quoted alone ("diabetes;") does not say what it is a list of; its lead-in
    ("Secondary causes of restless leg syndrome:") does. Blank lines inside a list are allowed.
    """
    blocks: list[ListBlock] = []
    items: list[tuple[int, int]] = []
    lead: tuple[int, int] | None = None
    last_text: tuple[int, int] | None = None  # the last non-blank, non-bullet line's words
    pos = 0

    def close() -> None:
        nonlocal items, lead
        if items:
            blocks.append(ListBlock(lead, tuple(items)))
        items, lead = [], None

    for line in body.split("\n"):
        line_start = pos
        pos += len(line) + 1
        if not line.strip():
            continue
        bullet = _BULLET.match(line)
        if bullet and not bullet.group(0).strip()[0].isdigit():
            if not items:
                lead = None
                if last_text is not None and body[last_text[0] : last_text[1]].endswith(":"):
                    # The lead-in is the last sentence of the introducing line.
                    sentences = split_sentences(body[last_text[0] : last_text[1]])
                    s = sentences[-1] if sentences else None
                    if s is not None:
                        lead = (last_text[0] + s.start, last_text[0] + s.end)
            words = line[bullet.end() :].rstrip()
            if words:
                items.append((line_start + bullet.end(), line_start + bullet.end() + len(words)))
            continue
        close()
        stripped = line.strip()
        offset = len(line) - len(line.lstrip())
        last_text = (line_start + offset, line_start + offset + len(stripped))
    close()
    return blocks
