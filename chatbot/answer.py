"""Candidate sentences → an extractive Answer with citations, or an honest no-answer."""

from __future__ import annotations

import re

from chatbot import messages
from chatbot.config import AnswerWeights
from chatbot.index import LoadedIndex
from chatbot.safety.advice import needs_medication_caution
from chatbot.text.sentences import ListBlock, list_blocks
from chatbot.types import Answer, Citation, ScoredSentence

# An item that restates what the previous sentence was about needs that sentence to make sense.
_ANAPHORA = re.compile(
    r"^(this|these|they|their|them|it|its|such|therefore|thus|but|however|that|those|so|"
    r"at the same time|as a result|in such cases)\b",
    re.IGNORECASE,
)


def select_sentences(
    candidates: list[ScoredSentence],
    index: LoadedIndex,
    max_quotes: int,
    min_relevance: float,
    weights: AnswerWeights | None = None,
) -> list[ScoredSentence]:
    """The evidence for an answer, or [] when the best candidate is under ``min_relevance``.

    The best candidates within ``relative_window`` of the top score are taken (at most
    ``max_quotes``), skipping any that repeats one already taken (the articles copy each other,
    so "iron deficiency is linked to RLS" appears three times). Each is then made readable on its
    own: a list item brings its lead-in ("Secondary causes ...:" before "diabetes;"), a lead-in
    brings its items (all of a short list, the best of a long one), a list item spread over
    two sentences is quoted whole, and a sentence that opens with "This", "They", "Therefore"...
    brings the sentence before it.
    """
    if not candidates or candidates[0].relevance < min_relevance:
        return []
    w = weights or AnswerWeights()
    floor = candidates[0].score - w.relative_window
    chosen: list[ScoredSentence] = []
    vecs = index.sentence_vectors
    for cand in candidates:
        if cand.score < floor or len(chosen) >= max_quotes:
            break
        if any(
            c.record.text == cand.record.text
            or float(vecs[cand.position] @ vecs[c.position]) > w.near_duplicate
            for c in chosen
        ):
            continue
        chosen.append(cand)
    return _with_companions(chosen, candidates, index, floor, w)


def _with_companions(
    chosen: list[ScoredSentence],
    candidates: list[ScoredSentence],
    index: LoadedIndex,
    floor: float,
    w: AnswerWeights,
) -> list[ScoredSentence]:
    """``chosen`` plus the sentences each needs to be read alone (see ``select_sentences``).

    Companions come only from ``candidates``, so a passage staff excluded is never brought back.
    """
    by_article: dict[str, list[ScoredSentence]] = {}
    for c in candidates:
        by_article.setdefault(c.record.article_id, []).append(c)
    for cands in by_article.values():
        cands.sort(key=lambda c: c.record.start)
    out: dict[int, ScoredSentence] = {c.position: c for c in chosen}

    def within(article_id: str, start: int, end: int) -> list[ScoredSentence]:
        return [c for c in by_article.get(article_id, []) if start <= c.record.start < end]

    def previous_on_line(cand: ScoredSentence) -> ScoredSentence | None:
        body = index.articles[cand.record.article_id].body
        line_start = body.rfind("\n", 0, cand.record.start) + 1
        before = within(cand.record.article_id, line_start, cand.record.start)
        return before[-1] if before else None

    for cand in list(chosen):
        art_id = cand.record.article_id
        body = index.articles[art_id].body
        for block in _list_blocks(art_id, body):
            items = block.items
            in_item = next(((s, e) for s, e in items if s <= cand.record.start < e), None)
            is_lead = block.lead is not None and block.lead[0] <= cand.record.start < block.lead[1]
            if in_item is not None:
                for c in within(art_id, *in_item):  # the whole item, if it has two sentences
                    out.setdefault(c.position, c)
                if block.lead is not None:
                    for c in within(art_id, *block.lead):
                        out.setdefault(c.position, c)
            elif is_lead:
                if len(items) <= w.list_whole_items:
                    wanted = list(items)
                else:  # a long list: only its items that answer the question themselves
                    scored = [
                        (max((c.score for c in within(art_id, *it)), default=0.0), it)
                        for it in items
                    ]
                    scored.sort(key=lambda x: -x[0])
                    wanted = [it for sc, it in scored[: w.list_best_items] if sc >= floor - 0.1]
                for item in wanted:
                    for c in within(art_id, *item):
                        out.setdefault(c.position, c)
        if _ANAPHORA.match(cand.record.text):
            prev = previous_on_line(cand)
            if prev is not None:
                out.setdefault(prev.position, prev)
    return list(out.values())


_BLOCKS: dict[tuple[str, int], list[ListBlock]] = {}


def _list_blocks(article_id: str, body: str) -> list[ListBlock]:
    key = (article_id, hash(body))
    if key not in _BLOCKS:
        if len(_BLOCKS) > 256:
            _BLOCKS.clear()
        _BLOCKS[key] = list_blocks(body)
    return _BLOCKS[key]


def _group(chosen: list[ScoredSentence], index: LoadedIndex) -> list[list[ScoredSentence]]:
    """Runs of adjacent sentences of one line (merged into one quote), in body order."""
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


def _units(
    runs: list[list[ScoredSentence]], index: LoadedIndex
) -> list[tuple[list[ScoredSentence], list[list[ScoredSentence]]]]:
    """Runs as the answer's bullets: a list's lead-in with its quoted items under it, any
    other run alone; the bullet with the best-scoring quote first, so the answer opens with
    what answers the question best.

    Returns:
        (lead run or lone run, item runs under it) per bullet.
    """
    units: list[tuple[list[ScoredSentence], list[list[ScoredSentence]]]] = []
    lead_of: dict[tuple[str, int], int] = {}  # (article, block start) -> unit position
    pending: list[tuple[tuple[str, int] | None, list[ScoredSentence]]] = []
    for run in runs:
        # A lead-in ends its line, and may share its quote with a sentence before it.
        art_id, start = run[-1].record.article_id, run[-1].record.start
        block = next(
            (
                b
                for b in _list_blocks(art_id, index.articles[art_id].body)
                if b.lead is not None and b.lead[0] <= start < b.items[-1][1]
            ),
            None,
        )
        if block is None or block.lead is None:
            pending.append((None, run))
        elif block.lead[0] <= start < block.lead[1]:
            lead_of[(art_id, block.lead[0])] = len(units)
            units.append((run, []))
        else:
            pending.append(((art_id, block.lead[0]), run))
    for key, run in pending:
        if key is not None and key in lead_of:
            units[lead_of[key]][1].append(run)
        else:
            units.append((run, []))

    def best(unit: tuple[list[ScoredSentence], list[list[ScoredSentence]]]) -> float:
        return max(c.score for r in [unit[0], *unit[1]] for c in r)

    for _, items in units:
        items.sort(key=lambda r: r[0].record.start)
    return sorted(units, key=lambda u: -best(u))


def compose(
    chosen: list[ScoredSentence],
    index: LoadedIndex,
    disclaimer: str,
    contact: str,
    confidence: float = 0.0,
) -> Answer:
    """Build the answer text and citations from the chosen sentences.

    Each citation is one exact span of one line of an article (adjacent sentences of a line
    merged). Each quote is a bullet, the best first; a list's quoted items are nested under
    its lead-in ("Secondary causes of restless leg syndrome:"), in the list's order.
    """
    if not chosen:
        return Answer(
            status="no_answer",
            answer=messages.no_answer_text(contact),
            citations=[],
            disclaimer=disclaimer,
            reason="not_in_articles",
            confidence=round(confidence, 4),
        )
    citations: list[Citation] = []
    lines = [messages.ANSWER_INTRO, ""]

    def cite(run: list[ScoredSentence]) -> str:
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
                score=round(max(c.score for c in run), 3),
                date=art.date,
            )
        )
        return f"{art.body[start:end]} [{cid}]"

    for head, items in _units(_group(chosen, index), index):
        lines.append(f"- {cite(head)}")
        lines.extend(f"  - {cite(item)}" for item in items)
    # A quote that names a medicine, dose or supplement gets the "talk to your doctor" line.
    if needs_medication_caution([c.quote for c in citations]):
        lines += ["", messages.MEDICATION_CAUTION]
    return Answer(
        status="answered",
        answer="\n".join(lines),
        citations=citations,
        disclaimer=disclaimer,
        confidence=round(confidence, 4),
    )
