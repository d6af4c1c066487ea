"""The chosen sentences → an extractive Answer with citations, or an honest no-answer.

A narrow question's answer is bullets, the direct answer first. A broad one's is grouped under
fixed headings by facet (``messages.FACET_HEADINGS``: "What the articles say can help",
"Medicines", "Things that can make it worse"...), the group holding the best quote first.
Every quote is an exact span of one line of an article, with its [n] marker; a list's items sit
under its lead-in. Neither a dubious claim nor a sentence in the clinic's voice opens an answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from chatbot import messages
from chatbot.answer.select import asked_weights, words
from chatbot.config import AnswerWeights
from chatbot.index import LoadedIndex
from chatbot.retrieval.intent import Intent
from chatbot.safety.advice import needs_medication_caution
from chatbot.structure import FACETS, Facts
from chatbot.text.sentences import ListBlock, list_blocks
from chatbot.types import Answer, Citation, ScoredSentence

Unit = tuple[list[ScoredSentence], list[list[ScoredSentence]]]


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

    for _, items in units:
        items.sort(key=lambda r: r[0].record.start)
    return sorted(units, key=lambda u: -best(u))


def best(unit: Unit) -> float:
    return max(c.score for r in [unit[0], *unit[1]] for c in r)


def compose(
    chosen: list[ScoredSentence],
    index: LoadedIndex,
    disclaimer: str,
    contact: str,
    confidence: float = 0.0,
    intent: Intent | None = None,
    facts: Sequence[Facts] | None = None,
    weights: AnswerWeights | None = None,
    reserve_words: int = 0,
) -> Answer:
    """Build the answer text and citations from the chosen sentences (module docstring).

    The text never holds more than ``weights.max_words`` words less ``reserve_words`` (what the
    caller will put around it: the personal-advice lead, a safety-net line): past it, the
    weakest bullets go, and of a last bullet that is a list, its weakest items. A broad
    answer's groups have the fixed heading of their facet when the question asks for that facet
    (at least ``heading_share`` of its top facet), else "Also in the articles".
    """
    w = weights or AnswerWeights()
    max_words = w.max_words - max(0, reserve_words)
    if not chosen:
        return Answer(
            status="no_answer",
            answer=messages.no_answer_text(contact),
            citations=[],
            disclaimer=disclaimer,
            reason="not_in_articles",
            confidence=round(confidence, 4),
        )
    facts = facts if facts is not None else index.structure
    units = _units(_group(chosen, index), index)
    asked: set[str] | None = None
    if intent is not None and intent.broad and intent.facets is not None:
        q = asked_weights(intent, w.facet_temperature)
        asked = {f for f, v in zip(FACETS, q, strict=True) if v >= w.heading_share * q.max()}
    while True:
        lines, citations = _render(units, index, facts, asked)
        text = "\n".join(lines)
        if words(text) <= max_words:
            break
        if len(units) > 1:
            weakest = min(range(1, len(units)), key=lambda i: best(units[i]))
            units = units[:weakest] + units[weakest + 1 :]
        elif units[0][1]:  # one bullet left, a list: its weakest items go
            head, items = units[0]
            weakest = min(range(len(items)), key=lambda i: max(c.score for c in items[i]))
            units = [(head, items[:weakest] + items[weakest + 1 :])]
        else:
            break
    return Answer(
        status="answered",
        answer=text,
        citations=citations,
        disclaimer=disclaimer,
        confidence=round(confidence, 4),
    )


def _fact(facts: Sequence[Facts], cand: ScoredSentence) -> Facts:
    return facts[cand.position] if cand.position < len(facts) else Facts()


def _unit_facet(unit: Unit, facts: Sequence[Facts]) -> str:
    """The facet most of a bullet's sentences have (a list: its items'), the lead's on a tie."""
    head = [_fact(facts, c).facet for c in unit[0]]
    items = [_fact(facts, c).facet for run in unit[1] for c in run]
    votes = items or head
    return max(dict.fromkeys(head + votes), key=lambda f: (votes.count(f), f in head))


def _render(
    units: list[Unit], index: LoadedIndex, facts: Sequence[Facts], asked: set[str] | None
) -> tuple[list[str], list[Citation]]:
    """The answer's lines and citations for ``units`` (in order of strength)."""

    def leads_badly(unit: Unit) -> bool:  # never first: a dubious claim, the clinic's voice
        return any(_fact(facts, c).dubious or _fact(facts, c).clinic for c in unit[0])

    order = sorted(range(len(units)), key=lambda i: (leads_badly(units[i]), i))
    ordered = [units[i] for i in order]
    groups: dict[str, list[Unit]] = {}
    for unit in ordered:
        facet = _unit_facet(unit, facts)
        heading = messages.FACET_HEADINGS.get(facet, "") if asked and facet in asked else ""
        groups.setdefault(heading, []).append(unit)
    if "" in groups:  # what the question did not ask for comes last
        groups[""] = groups.pop("")
    show_headings = asked is not None and len(groups) > 1
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

    for heading, members in groups.items() if show_headings else [("", ordered)]:
        if show_headings:
            lines += [f"**{heading or messages.OTHER_HEADING}**", ""]
        for head, items in members:
            lines.append(f"- {cite(head)}")
            lines.extend(f"  - {cite(item)}" for item in items)
        if show_headings:
            lines.append("")
    while lines and lines[-1] == "":
        lines.pop()
    # A quote that names a medicine, dose or supplement gets the "talk to your doctor" line.
    if needs_medication_caution([c.quote for c in citations]):
        lines += ["", messages.MEDICATION_CAUTION]
    return lines, citations


def with_cautions(
    citations: list[Citation], dubious: Mapping[str, Sequence[tuple[int, int, str]]]
) -> list[Citation]:
    """``citations``, each that overlaps a claim staff listed as dubious with its caution
    (``messages.caution_text`` with staff's reasons), every other with none.

    Every answer goes through this, a fresh one or one staff approved earlier, so a claim listed
    after an answer was approved is flagged when it is given again, and one taken off the list
    is no longer.

    Args:
        citations: The answer's citations.
        dubious: ``structure.dubious_spans`` of the served articles (``Retriever.dubious``).
    """
    out = []
    for c in citations:
        found = [why for s, e, why in dubious.get(c.article, ()) if c.start < e and s < c.end]
        caution = (
            messages.caution_text(" ".join(dict.fromkeys(w for w in found if w))) if found else ""
        )
        out.append(c if c.caution == caution else replace(c, caution=caution))
    return out
