"""Scoring one answer object against its item: behaviour, evidence, key facts, fidelity, length.

* *evidence hit*: a cited span overlaps a gold quote's span in the same article;
* *key-phrase coverage*: the share of the item's key phrases found in the answer's text;
* *nugget recall* (broad questions): the share of the item's nuggets the answer holds, a nugget
  being held when a citation overlaps its quote's span or every one of its phrases is in the
  answer's text (the articles repeat each other, so another sentence may say the same fact);
* *key-fact coverage*: nugget recall where the item has nuggets, else key-phrase coverage;
* *length*: the words a patient reads in the answer (citation markers left out);
* *opens with promotion*: the first quote of an answer to a medical question is a sentence that
  advertises the clinic.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chatbot.evaluation.items import EvalItem, Nugget
from chatbot.text.normalise import fold
from chatbot.text.spans import locate
from chatbot.types import Article

# Is the sentence of ``article`` at this offset promotional? (From the bot's index structure.)
PromotionCheck = Callable[[str, int], bool]

_MARKER = re.compile(r"\[\d+\]")
_WORD = re.compile(r"[A-Za-z0-9]+(?:['’-][A-Za-z0-9]+)*")
# A question about the clinic itself (booking, hours, its doctors) may be answered by what the
# clinic says of itself; every other question is a medical one.
_ABOUT_CLINIC = re.compile(
    r"\b(clinic|appointment|book(ing)?|opening hours|your (doctors|team|specialists)|"
    r"truffles|consultation)\b",
    re.IGNORECASE,
)


@dataclass
class ItemResult:
    """What the bot did with one item, and how it scored."""

    item: EvalItem
    answer: dict[str, Any]
    latency_ms: float
    evidence_hit: bool | None = None  # None: not an answer item, or one without gold quotes
    key_phrase_coverage: float | None = None  # None: the item names no key phrases
    nugget_recall: float | None = None  # None: the item has no nuggets
    quote_fidelity: bool = True
    marker_validity: bool = True
    disclaimer_present: bool = True
    words: int = 0  # words of the answer's text (markers left out)
    opens_with_promotion: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return str(self.answer.get("status", ""))

    @property
    def correct_behaviour(self) -> bool:
        return behaviour_of(self.answer) == self.item.expected

    @property
    def key_fact_coverage(self) -> float | None:
        """Nugget recall for a broad item with nuggets, else key-phrase coverage."""
        return self.nugget_recall if self.nugget_recall is not None else self.key_phrase_coverage

    @property
    def quoted(self) -> bool:
        """A reply that quotes the articles (an answer, or general quotes after advice)."""
        return self.status in ("answered", "no_answer") and bool(self.answer.get("citations"))


def behaviour_of(answer: Mapping[str, Any]) -> str:
    return {"answered": "answer", "no_answer": "abstain", "emergency": "emergency"}.get(
        str(answer.get("status")), "?"
    )


def is_medical(question: str) -> bool:
    """False for a question about the clinic itself (booking, its doctors), else True."""
    return not _ABOUT_CLINIC.search(question)


def answer_words(text: str) -> int:
    """Words a patient reads in an answer's text, citation markers left out."""
    return len(_WORD.findall(_MARKER.sub(" ", text)))


def resolve_gold_files(gold_files: Iterable[str], articles: Mapping[str, Article]) -> list[str]:
    """Corpus article ids for ``gold_files``, which may name corpus ids or the seed files.

    The project's set stores corpus ids ("cause-of-rls"); sets written against the seed pages
    name the seed file ("000_2f261c2b4fc44aa6.txt"), which each article records as its
    ``source_file``.
    """
    by_source = {a.source_file: a.id for a in articles.values() if a.source_file}
    out = []
    for name in gold_files:
        stem = Path(name).stem
        for key in (name, stem):
            if key in articles:
                out.append(key)
                break
            if key in by_source:
                out.append(by_source[key])
                break
            if f"{key}.txt" in by_source:
                out.append(by_source[f"{key}.txt"])
                break
    return out


def _token_set(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", fold(text)))


def _gold_spans(
    quotes: Sequence[str], files: Sequence[str], articles: Mapping[str, Article]
) -> tuple[dict[str, list[tuple[int, int]]], list[str]]:
    spans: dict[str, list[tuple[int, int]]] = {}
    unplaced: list[str] = []
    for quote in quotes:
        found = False
        for art_id in files:
            for span in locate(articles[art_id].body, quote, loose=True):
                spans.setdefault(art_id, []).append(span)
                found = True
        if not found:
            unplaced.append(quote)
    return spans, unplaced


def evidence_hits(
    citations: Sequence[Mapping[str, Any]],
    gold_quotes: Sequence[str],
    gold_files: Sequence[str],
    articles: Mapping[str, Article],
) -> bool:
    """True when a cited span overlaps a gold quote's span in the same article.

    Gold quotes are found in the gold articles (in any article when none resolve); a gold quote
    that is not verbatim anywhere (a hand-copied set) falls back to word overlap: most of the
    shorter text's words appear in the other.
    """
    files = resolve_gold_files(gold_files, articles) or list(articles)
    spans, unplaced = _gold_spans(gold_quotes, files, articles)
    for c in citations:
        for s, e in spans.get(str(c.get("article")), []):
            if int(c["start"]) < e and s < int(c["end"]):
                return True
        cited = _token_set(str(c.get("quote", "")))
        for quote in unplaced:
            gold = _token_set(quote)
            shorter = min(len(cited), len(gold))
            if shorter and len(cited & gold) / shorter >= 0.6:
                return True
    return False


def nugget_held(
    nugget: Nugget,
    citations: Sequence[Mapping[str, Any]],
    text: str,
    articles: Mapping[str, Article],
) -> bool:
    """A citation overlaps the nugget's quote (in any article), or all its phrases are said."""
    if nugget.quote and citations and evidence_hits(citations, [nugget.quote], [], articles):
        return True
    low = fold(text)
    return bool(nugget.phrases) and all(fold(p) in low for p in nugget.phrases)


def _first_citation(text: str, citations: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    first = _MARKER.search(text)
    if first is None:
        return citations[0] if citations else None
    cid = int(first.group(0)[1:-1])
    return next((c for c in citations if c.get("id") == cid), citations[0] if citations else None)


def score_item(
    item: EvalItem,
    answer: Mapping[str, Any],
    latency_ms: float,
    articles: Mapping[str, Article],
    promotional: PromotionCheck | None = None,
) -> ItemResult:
    """Score one answer object against its item (``promotional``: see ``PromotionCheck``)."""
    result = ItemResult(item=item, answer=dict(answer), latency_ms=latency_ms)
    citations = list(answer.get("citations") or [])
    text = str(answer.get("answer", ""))
    behaviour = behaviour_of(answer)
    result.words = answer_words(text)
    if behaviour != item.expected:
        reason = f" ({answer.get('reason')})" if answer.get("reason") else ""
        result.problems.append(f"expected {item.expected}, got {answer.get('status')}{reason}")
    for c in citations:
        art = articles.get(str(c.get("article")))
        start, end = c.get("start"), c.get("end")
        if (
            art is None
            or not isinstance(start, int)
            or not isinstance(end, int)
            or art.body[start:end] != c.get("quote")
        ):
            result.quote_fidelity = False
            result.problems.append(f"citation [{c.get('id')}] is not a verbatim span")
    markers = {int(m) for m in re.findall(r"\[(\d+)\]", text)}
    ids = [c.get("id") for c in citations]
    if markers != set(ids) or len(ids) != len(set(ids)):
        result.marker_validity = False
        result.problems.append(f"markers {sorted(markers)} do not match citations {ids}")
    if not str(answer.get("disclaimer", "")).strip():
        result.disclaimer_present = False
        result.problems.append("no disclaimer")
    if item.expected == "answer" and item.gold_quotes:  # no gold quotes: nothing to hit
        result.evidence_hit = bool(citations) and evidence_hits(
            citations, item.gold_quotes, item.gold_files, articles
        )
        if behaviour == "answer" and not result.evidence_hit:
            result.problems.append("no cited quote overlaps a gold quote")
    if item.key_phrases:
        low = fold(text)
        found = [k for k in item.key_phrases if fold(k) in low]
        result.key_phrase_coverage = len(found) / len(item.key_phrases)
        missing = [k for k in item.key_phrases if k not in found]
        if missing and item.expected == "answer" and behaviour == "answer":
            result.problems.append(f"key phrases missing: {', '.join(missing)}")
    if item.nuggets:
        held = [nugget_held(n, citations, text, articles) for n in item.nuggets]
        result.nugget_recall = sum(held) / len(held)
        if behaviour == "answer" and not all(held):
            missing = [n.fact for n, h in zip(item.nuggets, held, strict=True) if not h]
            result.problems.append(f"nuggets missing: {'; '.join(missing)}")
    first = _first_citation(text, citations) if citations else None
    if first is not None and promotional is not None and is_medical(item.question):
        opening = (str(first.get("article")), int(first.get("start", 0)))
        result.opens_with_promotion = promotional(*opening)
        if result.opens_with_promotion:
            result.problems.append("a medical answer opens with the clinic's promotion")
    return result
