"""Candidate sentences → an extractive Answer with citations, or an honest no-answer."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from chatbot import messages
from chatbot.index import LoadedIndex
from chatbot.retrieval import ScoredSentence
from chatbot.safety import needs_medication_caution

Status = Literal["answered", "no_answer", "emergency"]

NEAR_DUPLICATE = 0.88  # cosine above which two quotes say the same thing
RELATIVE_WINDOW = 0.12  # quotes must score within this of the best one


@dataclass(frozen=True)
class Citation:
    """One quoted passage; ``quote == article.body[start:end]``."""

    id: int
    article: str
    title: str
    quote: str
    start: int
    end: int
    score: float
    date: str = ""


@dataclass
class Answer:
    """The answer object of CONTRACT.md, plus a few extra fields."""

    status: Status
    answer: str
    citations: list[Citation]
    disclaimer: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    reason: str = ""  # why: "", "not_in_articles", "personal_advice", or the emergency category
    timings: dict[str, float] = field(default_factory=dict)
    reviewed: bool = False  # an answer clinic staff checked and marked correct, given again

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["timings"] = {k: round(v, 2) for k, v in self.timings.items()}
        return data


def select_sentences(
    candidates: list[ScoredSentence], index: LoadedIndex, max_quotes: int, min_relevance: float
) -> list[ScoredSentence]:
    """Best sentences within a window of the top score, skipping near-duplicates (MMR-like)."""
    if not candidates or candidates[0].similarity < min_relevance:
        return []
    floor = max(min_relevance, candidates[0].similarity - RELATIVE_WINDOW)
    chosen: list[ScoredSentence] = []
    vecs = index.sentence_vectors
    for cand in candidates:
        if cand.similarity < floor or len(chosen) >= max_quotes:
            break
        if any(float(vecs[cand.position] @ vecs[c.position]) > NEAR_DUPLICATE for c in chosen):
            continue
        chosen.append(cand)
    return chosen


def _group(chosen: list[ScoredSentence], index: LoadedIndex) -> list[list[ScoredSentence]]:
    """Group by article (best article first), body order inside, adjacent sentences merged."""
    by_article: dict[str, list[ScoredSentence]] = {}
    for cand in chosen:
        by_article.setdefault(cand.record.article_id, []).append(cand)
    groups: list[list[ScoredSentence]] = []
    for article_id, cands in by_article.items():
        body = index.articles[article_id].body
        cands.sort(key=lambda c: c.record.start)
        run = [cands[0]]
        for cand in cands[1:]:
            gap = body[run[-1].record.end : cand.record.start]
            if gap.strip() == "" and "\n" not in gap:
                run.append(cand)
            else:
                groups.append(run)
                run = [cand]
        groups.append(run)
    return groups


def compose(
    chosen: list[ScoredSentence], index: LoadedIndex, disclaimer: str, contact: str
) -> Answer:
    """Build the answer text and citations from the chosen sentences."""
    if not chosen:
        return Answer(
            status="no_answer",
            answer=messages.no_answer_text(contact),
            citations=[],
            disclaimer=disclaimer,
            reason="not_in_articles",
        )
    citations: list[Citation] = []
    lines = [messages.ANSWER_INTRO, ""]
    for run in _group(chosen, index):
        art = index.articles[run[0].record.article_id]
        start, end = run[0].record.start, run[-1].record.end
        cid = len(citations) + 1
        citations.append(
            Citation(
                id=cid,
                article=art.id,
                title=art.title,
                quote=art.body[start:end],
                start=start,
                end=end,
                score=round(max(c.similarity for c in run), 3),
                date=art.date,
            )
        )
        lines.append(f"- {art.body[start:end]} [{cid}]")
    # A quote that names a medicine, dose or supplement gets the "talk to your doctor" line.
    if needs_medication_caution([c.quote for c in citations]):
        lines += ["", messages.MEDICATION_CAUTION]
    return Answer(
        status="answered", answer="\n".join(lines), citations=citations, disclaimer=disclaimer
    )

