"""A naive retrieval baseline, and the one command that scores it beside the bot.

The baseline is LangChain's usual setup, written out (no LangChain dependency): the articles
split by a recursive character splitter into chunks of about 1,000 characters with 200 of
overlap (paragraphs, then lines, then words), each chunk embedded by the bot's own model
(all-MiniLM-L6-v2), a flat FAISS index, and the top 3 chunks for the question pasted as the
answer, each with its citation. No gate, no safety layer, no follow-up reading: every message is
answered.

``NaiveBaseline.ask`` has ``Bot.ask``'s signature and returns the same answer object, so the
eval scores it with the same code, and a web app can serve it in the bot's place for a load test
(``NaiveBaseline.from_settings(settings)``).

Run (one command, the bot and the baseline on the same sets in the same run):

    .venv/bin/python bench/baseline.py --questions tests/questions.jsonl \
        --questions tests/questions_holdout.jsonl [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

from chatbot import messages  # noqa: E402
from chatbot.types import Answer, Article, Citation, Turn  # noqa: E402

CHUNK_CHARS = 1000
OVERLAP_CHARS = 200
TOP_K = 3
SEPARATORS = ("\n\n", "\n", " ", "")


@dataclass(frozen=True)
class Piece:
    """One baseline chunk: an exact span of an article's body."""

    article: str
    start: int
    end: int


def split_text(
    text: str, size: int = CHUNK_CHARS, overlap: int = OVERLAP_CHARS
) -> list[tuple[int, int]]:
    """Spans of ``text`` as LangChain's RecursiveCharacterTextSplitter cuts it (separators kept
    with the piece before them, whitespace trimmed at the edges, ``overlap`` characters of the
    previous chunk repeated), as (start, end) offsets into ``text``."""

    def pieces(start: int, end: int, seps: Sequence[str]) -> list[tuple[int, int]]:
        if end - start <= size:
            return [(start, end)]
        sep = next((s for s in seps if s == "" or s in text[start:end]), "")
        rest = seps[seps.index(sep) + 1 :] if sep in seps else ()
        if sep == "":
            return [(i, min(i + size, end)) for i in range(start, end, size)]
        out: list[tuple[int, int]] = []
        cursor = start
        while cursor < end:
            at = text.find(sep, cursor, end)
            stop = end if at < 0 else at + len(sep)
            if stop - cursor > size:
                out.extend(pieces(cursor, stop, rest))
            else:
                out.append((cursor, stop))
            cursor = stop
        return out

    splits = pieces(0, len(text), SEPARATORS)
    chunks: list[tuple[int, int]] = []
    current: list[tuple[int, int]] = []
    for s, e in splits:
        if current and e - current[0][0] > size:
            chunks.append((current[0][0], current[-1][1]))
            while current and (
                current[-1][1] - current[0][0] > overlap or e - current[0][0] > size
            ):
                current.pop(0)
        current.append((s, e))
    if current:
        chunks.append((current[0][0], current[-1][1]))
    out = []
    for s, e in chunks:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s and (not out or out[-1] != (s, e)):
            out.append((s, e))
    return out


class NaiveBaseline:
    """Top-3 chunks of ~1,000 characters, pasted (see the module docstring).

    Args:
        articles: The corpus.
        embedder: The bot's embedder (``embedding.SentenceTransformerEmbedder``).
        index: The bot's loaded index (only its articles and sentence table are read, so the
            eval judges both systems' quotes by the same marks).
        disclaimer: The disclaimer every answer object carries.
    """

    def __init__(self, articles: Sequence[Article], embedder: Any, index: Any, disclaimer: str):
        import faiss

        self.index = index
        self.embedder = embedder
        self.disclaimer = disclaimer
        self.articles = {a.id: a for a in articles}
        self.pieces = [Piece(a.id, s, e) for a in articles for s, e in split_text(a.body)]
        vecs = embedder.encode(
            [a.body[p.start : p.end] for p in self.pieces for a in [self.articles[p.article]]]
        )
        self.faiss = faiss.IndexFlatIP(vecs.shape[1])
        self.faiss.add(np.ascontiguousarray(vecs, dtype=np.float32))

    @classmethod
    def from_settings(cls, settings: Any, embedder: Any = None) -> NaiveBaseline:
        """The baseline over the configured corpus, with the bot's model and index."""
        from chatbot.embedding import SentenceTransformerEmbedder
        from chatbot.pipeline import disclaimer_of, open_index

        embedder = embedder or SentenceTransformerEmbedder()
        index = open_index(settings, embedder, rebuild=True)
        return cls(list(index.articles.values()), embedder, index, disclaimer_of(settings))

    def ask(
        self,
        question: object,
        history: Sequence[Turn] = (),
        channel: str = "api",
        conversation: str | None = None,
    ) -> Answer:
        """The top 3 chunks for ``question`` (history is not read), each cited."""
        from chatbot.safety.hygiene import clean_question

        text = clean_question(question, 100_000)
        qvec = self.embedder.encode([text])[0]
        _, ids = self.faiss.search(np.asarray(qvec, dtype=np.float32)[None, :], TOP_K)
        citations = []
        lines = [messages.ANSWER_INTRO, ""]
        for n, i in enumerate(ids[0].tolist(), 1):
            if i < 0:
                continue
            p = self.pieces[i]
            art = self.articles[p.article]
            quote = art.body[p.start : p.end]
            citations.append(Citation(n, art.id, art.title, quote, p.start, p.end, 0.0, art.date))
            lines += [f"{quote} [{n}]", ""]
        return Answer("answered", "\n".join(lines).rstrip(), citations, self.disclaimer)


def compare(paths: Sequence[Path], settings: Any = None) -> list[dict[str, Any]]:
    """The bot's eval report for each set, with the baseline's figures on the same items."""
    from chatbot.config import load_settings
    from chatbot.evaluation import load_questions, promotion_check, report, run_eval
    from chatbot.pipeline import build_bot

    settings = settings or load_settings()
    bot = build_bot(settings, read_only_log=True)
    base = NaiveBaseline(list(bot.index.articles.values()), bot.embedder, bot.index, bot.disclaimer)
    marks = promotion_check(bot.index)
    out = []
    for path in paths:
        items = load_questions(path)
        ours = run_eval(bot, items, promotional=marks)
        theirs = run_eval(base, items, promotional=marks)
        out.append(report(ours, settings.answer.min_relevance, str(path), baseline=theirs))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    from chatbot.evaluation import format_headline, format_report

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", action="append", required=True, help="a question set")
    parser.add_argument("--json", action="store_true", help="print the reports as JSON lines")
    parser.add_argument("--failures", action="store_true", help="also print every failure")
    args = parser.parse_args(argv)
    for data in compare([Path(q) for q in args.questions]):
        if args.json:
            print(json.dumps(data, ensure_ascii=False))
            continue
        print(f"== {data['questions']}")
        print("\n".join(format_headline(data)))
        if args.failures:
            print(format_report(data))
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
