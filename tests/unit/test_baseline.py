"""The naive baseline's splitter (bench/baseline.py): LangChain's recursive character splitting,
as exact spans of the article body."""

from __future__ import annotations

import sys

from helpers import BODIES, ROOT

sys.path.insert(0, str(ROOT / "bench"))

from baseline import CHUNK_CHARS, split_text  # noqa: E402


def test_chunks_are_exact_spans_of_at_most_the_size_and_overlap():
    for art in BODIES.values():
        spans = split_text(art.body)
        assert spans, art.id
        for s, e in spans:
            assert 0 <= s < e <= len(art.body) and e - s <= CHUNK_CHARS
            assert art.body[s:e] == art.body[s:e].strip()
        # Consecutive chunks are in order; they overlap, or only white space is between them.
        for (s1, e1), (s2, e2) in zip(spans, spans[1:], strict=False):
            assert s1 < s2 and e1 < e2
            assert s2 <= e1 or not art.body[e1:s2].strip()
        covered = set()
        for s, e in spans:
            covered.update(range(s, e))
        assert all(i in covered for i, ch in enumerate(art.body) if not ch.isspace())


def test_short_text_is_one_chunk():
    assert split_text("One paragraph.\n\nAnother one.") == [(0, 28)]
