"""Aggregates: the metrics per behaviour, per split and per breadth, the abstention trade-off,
the failures, a naive baseline beside the bot, and the text report."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from typing import Any

from chatbot.evaluation.items import BEHAVIOURS
from chatbot.evaluation.scoring import ItemResult, is_medical
from chatbot.safety.scoring import format_tier_report, tier_report

# The bar a release must clear (issue 3's, with issue 15's key facts and lengths).
TARGETS: dict[str, float] = {
    "answered_rate": 0.95,
    "evidence_hit": 0.85,
    "key_fact_coverage": 0.70,
    "abstain_rate": 0.90,
    "emergency_recall": 1.0,
    "false_emergency_rate": 0.0,
    "quote_fidelity": 1.0,
    "marker_validity": 1.0,
    "disclaimer_present": 1.0,
    "words_median": 180,
    "words_max": 250,
    "opens_with_promotion": 0,
}
_AT_MOST = {"false_emergency_rate", "words_median", "words_max", "opens_with_promotion"}


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return float(ordered[rank - 1])


def _rate(flags: Iterable[bool]) -> float | None:
    values = list(flags)
    return sum(values) / len(values) if values else None


def _mean(values: Iterable[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return statistics.fmean(kept) if kept else None


def summarise(results: Sequence[ItemResult]) -> dict[str, Any]:
    """The metrics over ``results`` (None where undefined).

    Coverage figures are over every answer item (an item left unanswered holds no fact);
    lengths over the replies that quote the articles; "opens with promotion" counts the
    quoted replies to medical questions whose first quote advertises the clinic.
    """
    answer = [r for r in results if r.item.expected == "answer"]
    abstain = [r for r in results if r.item.expected == "abstain"]
    emergency = [r for r in results if r.item.expected == "emergency"]
    others = [r for r in results if r.item.expected != "emergency"]
    latencies = [r.latency_ms for r in results]
    words = [r.words for r in results if r.quoted]
    return {
        "n": len(results),
        "answered_rate": _rate(r.status == "answered" for r in answer),
        "abstain_rate": _rate(r.status == "no_answer" for r in abstain),
        "emergency_recall": _rate(r.status == "emergency" for r in emergency),
        "false_emergency_rate": _rate(r.status == "emergency" for r in others),
        # Over the answer items that have gold quotes (a set may leave them out).
        "evidence_hit": _rate(bool(r.evidence_hit) for r in answer if r.evidence_hit is not None),
        "evidence_hit_when_answered": _rate(
            bool(r.evidence_hit)
            for r in answer
            if r.status == "answered" and r.evidence_hit is not None
        ),
        "key_phrase_coverage": _mean(r.key_phrase_coverage for r in answer),
        "nugget_recall": _mean(r.nugget_recall for r in answer),
        "key_fact_coverage": _mean(r.key_fact_coverage for r in answer),
        "quote_fidelity": _rate(r.quote_fidelity for r in results),
        "marker_validity": _rate(r.marker_validity for r in results),
        "disclaimer_present": _rate(r.disclaimer_present for r in results),
        "correct_behaviour": _rate(r.correct_behaviour for r in results),
        "words_median": round(statistics.median(words)) if words else None,
        "words_max": max(words) if words else None,
        "opens_with_promotion": sum(
            r.opens_with_promotion for r in results if r.quoted and is_medical(r.item.question)
        ),
        "latency_p50_ms": round(percentile(latencies, 50), 1),
        "latency_p95_ms": round(percentile(latencies, 95), 1),
    }


def headline(results: Sequence[ItemResult]) -> dict[str, Any]:
    """The figures issue 15 asks for, each over the items it concerns."""
    by = {b: summarise([r for r in results if r.item.expected == b]) for b in BEHAVIOURS}
    overall = summarise(results)
    return {
        "answered_rate": by["answer"]["answered_rate"],
        "evidence_hit": by["answer"]["evidence_hit"],
        "key_fact_coverage": by["answer"]["key_fact_coverage"],
        "nugget_recall": by["answer"]["nugget_recall"],
        "key_phrase_coverage": by["answer"]["key_phrase_coverage"],
        "abstain_rate": by["abstain"]["abstain_rate"],
        "emergency_recall": by["emergency"]["emergency_recall"],
        "quote_fidelity": overall["quote_fidelity"],
        "words_median": overall["words_median"],
        "words_max": overall["words_max"],
        "opens_with_promotion": overall["opens_with_promotion"],
    }


def tradeoff(
    results: Sequence[ItemResult], thresholds: Sequence[float] | None = None
) -> list[dict[str, float]]:
    """Answered rate on answer items and abstain rate on abstain items as the threshold varies.

    Each answer carries the ``confidence`` its relevance gate compared with the threshold, so
    the curve is exact without asking again: an item is answered at threshold t when it had
    evidence, was not an emergency or a request for personal advice, and its confidence >= t.
    """
    if thresholds is None:
        thresholds = [round(0.20 + 0.025 * i, 3) for i in range(25)]

    def would_answer(r: ItemResult, t: float) -> bool:
        a = r.answer
        if a.get("status") == "emergency" or a.get("reason") == "personal_advice":
            return False
        if a.get("reviewed"):
            return a.get("status") == "answered"
        return float(a.get("confidence") or 0.0) >= t

    answer = [r for r in results if r.item.expected == "answer"]
    abstain = [r for r in results if r.item.expected == "abstain"]
    return [
        {
            "threshold": t,
            "answered_rate": _rate(would_answer(r, t) for r in answer) or 0.0,
            "abstain_rate": _rate(not would_answer(r, t) for r in abstain) or 0.0,
        }
        for t in thresholds
    ]


def report(
    results: Sequence[ItemResult],
    threshold: float,
    source: str,
    baseline: Sequence[ItemResult] | None = None,
) -> dict[str, Any]:
    """Everything ``chatbot eval`` prints: metrics overall, per behaviour, per split and
    breadth, the headline figures (and the baseline's on the same items), and failures."""
    by_behaviour = {
        b: summarise([r for r in results if r.item.expected == b])
        for b in BEHAVIOURS
        if any(r.item.expected == b for r in results)
    }
    splits = sorted({r.item.split for r in results if r.item.split})
    breadths = sorted({r.item.breadth for r in results if r.item.breadth})
    answer = [r for r in results if r.item.expected == "answer"]
    data: dict[str, Any] = {
        "questions": source,
        "threshold": threshold,
        "overall": summarise(results),
        "by_behaviour": by_behaviour,
        "by_split": {s: summarise([r for r in results if r.item.split == s]) for s in splits},
        "by_breadth": {b: summarise([r for r in answer if r.item.breadth == b]) for b in breadths},
        "headline": headline(results),
        "targets": TARGETS,
        "tradeoff": tradeoff(results),
        "triage": tier_report((r.item.id, r.item.tier, r.item.kind, r.answer) for r in results),
        "failures": [
            {
                "id": r.item.id,
                "split": r.item.split,
                "expected": r.item.expected,
                "status": r.status,
                "reason": r.answer.get("reason", ""),
                "question": r.item.question,
                "problems": r.problems,
                "quotes": [c.get("quote", "") for c in r.answer.get("citations") or []],
            }
            for r in results
            if r.problems
        ],
    }
    if baseline is not None:
        data["baseline"] = {
            "headline": headline(baseline),
            "by_split": {s: headline([r for r in baseline if r.item.split == s]) for s in splits},
        }
    return data


# ---------------------------------------------------------------------------------------------
# Output


def _fmt(value: Any, pct: bool = True) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and pct:
        return f"{value * 100:.1f}%"
    return str(value)


_COLUMNS = [
    ("n", "n", False),
    ("answered_rate", "answered", True),
    ("abstain_rate", "abstain", True),
    ("emergency_recall", "emerg.recall", True),
    ("false_emergency_rate", "false emerg.", True),
    ("evidence_hit", "evidence hit", True),
    ("key_fact_coverage", "key facts", True),
    ("key_phrase_coverage", "key phr.", True),
    ("quote_fidelity", "fidelity", True),
    ("marker_validity", "markers", True),
    ("disclaimer_present", "disclaimer", True),
    ("words_median", "words p50", False),
    ("words_max", "max", False),
    ("latency_p50_ms", "p50 ms", False),
    ("latency_p95_ms", "p95 ms", False),
]
_HEADLINE = [
    ("answered_rate", "answered", True),
    ("evidence_hit", "evidence hit", True),
    ("key_fact_coverage", "key facts", True),
    ("nugget_recall", "nuggets", True),
    ("abstain_rate", "abstain", True),
    ("emergency_recall", "emerg.recall", True),
    ("quote_fidelity", "fidelity", True),
    ("words_median", "words p50", False),
    ("words_max", "words max", False),
    ("opens_with_promotion", "opens w/ promo", False),
]


def _table(
    rows: list[tuple[str, dict[str, Any]]], columns: list[tuple[str, str, bool]]
) -> list[str]:
    header = ["", *[c[1] for c in columns]]
    body = [[name, *[_fmt(m.get(k), pct) for k, _, pct in columns]] for name, m in rows]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

    def fmt(row: list[str]) -> str:
        cells = zip(row, widths, strict=True)
        return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(cells))

    return [fmt(header), *[fmt(r) for r in body]]


def format_headline(data: dict[str, Any]) -> list[str]:
    """The headline figures of the bot, and the baseline's beside them when it was run."""
    rows = [("bot", data["headline"])]
    if "baseline" in data:
        rows.append(("naive top-3 chunks", data["baseline"]["headline"]))
    return _table(rows, _HEADLINE)


def format_report(data: dict[str, Any], max_failures: int = 60) -> str:
    """The human-readable report."""
    lines = [f"questions: {data['questions']}   relevance threshold: {data['threshold']}", ""]
    rows = [(b, m) for b, m in data["by_behaviour"].items()] + [("overall", data["overall"])]
    lines += _table(rows, _COLUMNS)
    if data["by_split"]:
        lines += ["", "by split (dev = used to choose settings, test = held back):"]
        lines += _table(list(data["by_split"].items()), _COLUMNS)
    if data.get("by_breadth"):
        lines += ["", "answer items by breadth:"]
        lines += _table(list(data["by_breadth"].items()), _COLUMNS)
    lines += ["", "headline (answer items; abstain items; every quoted reply):"]
    lines += format_headline(data)
    lines += [
        "",
        "targets: "
        + ", ".join(
            f"{k} {'<=' if k in _AT_MOST else '>='} {v:g}" for k, v in data["targets"].items()
        ),
    ]
    lines += ["", "abstention trade-off (answer items answered / abstain items abstained):"]
    for point in data["tradeoff"]:
        mark = "  <- current" if math.isclose(point["threshold"], data["threshold"]) else ""
        lines.append(
            f"  threshold {point['threshold']:.3f}: answered {point['answered_rate'] * 100:5.1f}%"
            f"   abstained {point['abstain_rate'] * 100:5.1f}%{mark}"
        )
    failures = data["failures"]
    if data.get("triage", {}).get("emergencies") or data.get("triage", {}).get("near_misses"):
        lines += ["", *format_tier_report(data["triage"])]
    lines += ["", f"failures ({len(failures)}):"]
    for f in failures[:max_failures]:
        split = f" [{f['split']}]" if f["split"] else ""
        lines.append(f"  {f['id']}{split}: {f['question']!r}")
        for p in f["problems"]:
            lines.append(f"      - {p}")
        for q in f["quotes"][:3]:
            lines.append(f"      > {q[:110]}")
    if len(failures) > max_failures:
        lines.append(f"  ... and {len(failures) - max_failures} more (see --json)")
    return "\n".join(lines)
