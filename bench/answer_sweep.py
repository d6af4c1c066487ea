"""Answer weights on several dev sets at once, and where each missing key fact was lost.

Retrieval does not depend on ``AnswerWeights``: each message's triage verdict, passages,
candidates and intent are computed once and replayed, so a weight's every value is scored on
every dev set in seconds (the answers are the same as ``Bot.ask``'s: the bot's own ``_ask`` runs,
with its retrieval calls memoised per question).

    .venv/bin/python bench/answer_sweep.py                       # the dev sets at the defaults
    .venv/bin/python bench/answer_sweep.py --sweep pool=40,60,80  # one weight, several values
    .venv/bin/python bench/answer_sweep.py --set pool=60 --misses # where key facts were lost

``--misses`` sorts every missing key phrase or nugget of an answered item by where it was lost:
``retrieval`` (the best sentence saying it ranks past the selection pool), ``pool`` (in the pool,
not chosen), ``chosen-dropped`` (chosen, then cut by the answer's word cap) or ``said-elsewhere``
(no sentence of the gold articles holds it: a paraphrase). The held-back final sets are refused.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DEV_SETS = (
    "questions.jsonl",
    "questions_holdout.jsonl",
    "questions_blind2.jsonl",
    "questions_q1.jsonl",
    "questions_q2.jsonl",
    "questions_q3.jsonl",
    "questions_q4.jsonl",
    "questions_q5.jsonl",
)
HELD_BACK = ("final",)  # never tuned on (README, "Answer quality")


class Replay:
    """Memoises the bot's retrieval calls per (question, call number) of the current item."""

    def __init__(self, bot: Any) -> None:
        self.bot = bot
        self.key: str = ""
        self.store: dict[tuple[str, str, int], Any] = {}
        self.counts: Counter[tuple[str, str]] = Counter()
        self.last: dict[str, Any] = {}
        retriever = bot.retriever
        for obj, name in (
            (bot.triage, "assess"),
            (retriever, "search"),
            (retriever, "candidate_sentences"),
            (retriever, "intent"),
        ):
            setattr(obj, name, self._memo(name, getattr(obj, name)))

    def _memo(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            n = self.counts[(self.key, name)]
            self.counts[(self.key, name)] += 1
            k = (self.key, name, n)
            if k not in self.store:
                self.store[k] = fn(*args, **kwargs)
            self.last[name] = self.store[k]
            return self.store[k]

        return call

    def begin(self, key: str) -> None:
        self.key = key
        self.last = {}
        for name in ("assess", "search", "candidate_sentences", "intent"):
            self.counts[(key, name)] = 0


def run_sets(
    bot: Any, replay: Replay, sets: dict[str, list[Any]], misses: list[dict[str, Any]] | None
) -> dict[str, dict[str, Any]]:
    """Every set through ``bot.ask`` (retrieval replayed), its summary per set."""
    from chatbot.evaluation import promotion_check
    from chatbot.evaluation.report import headline
    from chatbot.evaluation.scoring import score_item
    from chatbot.types import Turn

    marks = promotion_check(bot.index)
    out = {}
    for name, items in sets.items():
        results = []
        for item in items:
            replay.begin(f"{name}:{item.id}")
            history = [Turn(role, content) for role, content in item.history]
            answer = bot.ask(item.question, history, channel="eval").to_dict()
            result = score_item(item, answer, 0.0, bot.index.articles, marks)
            results.append(result)
            if item.id in SHOW:
                show(bot, replay, result)
            if misses is not None and result.status == "answered" and item.expected == "answer":
                misses.extend(where_lost(bot, replay, name, result))
        out[name] = headline(results)
    return out


SHOW: set[str] = set()


def show(bot: Any, replay: Replay, result: Any) -> None:
    """One item's answer, its intent and what it missed (``--show ID``)."""
    intent = replay.last.get("intent")
    facets = ""
    if intent is not None and intent.facets is not None:
        from chatbot.structure import FACETS

        top = sorted(zip(intent.facets, FACETS, strict=True), reverse=True)[:3]
        facets = ", ".join(f"{f} {c:.2f}" for c, f in top)
    print(f"--- {result.item.id} [{result.item.breadth}] {result.item.question}")
    print(f"    broad={bool(intent and intent.broad)} facets: {facets} words={result.words}")
    print("    " + str(result.answer.get("answer", "")).replace("\n", "\n    "))
    for p in result.problems:
        print(f"    !! {p}")


def where_lost(bot: Any, replay: Replay, name: str, result: Any) -> list[dict[str, Any]]:
    """Each missing key phrase or nugget of one answered item, and where it was lost."""
    from chatbot.evaluation.scoring import nugget_held, resolve_gold_files
    from chatbot.text.normalise import fold

    item, answer = result.item, result.answer
    text = fold(str(answer.get("answer", "")))
    cands = replay.last.get("candidate_sentences") or []
    intent = replay.last.get("intent")
    w = bot.settings.answer.weights
    rank = {c.position: i for i, c in enumerate(cands)}
    cited = [(c["article"], c["start"], c["end"]) for c in answer.get("citations", [])]
    articles = bot.index.articles
    files = resolve_gold_files(item.gold_files, articles) or list(articles)
    sentences = bot.index.sentences

    def holders(phrase: str, quote: str | None) -> list[int]:
        p = fold(phrase)
        found = []
        for pos, s in enumerate(sentences):
            if s.article_id not in files and quote is None:
                continue
            if (
                quote is not None
                and fold(s.text) not in fold(quote)
                and fold(quote) not in fold(s.text)
            ):
                continue
            if quote is not None or p in fold(s.text):
                found.append(pos)
        return found

    wanted: list[tuple[str, str, list[int]]] = []
    if item.nuggets:
        for n in item.nuggets:
            if not nugget_held(n, answer.get("citations", []), str(answer["answer"]), articles):
                wanted.append(("nugget", n.fact, holders(n.fact, n.quote)))
    else:
        for k in item.key_phrases:
            if fold(k) not in text:
                wanted.append(("phrase", k, holders(k, None)))
    out = []
    for kind, what, pos in wanted:
        ranked = sorted((rank[p], p) for p in pos if p in rank)
        if not ranked:
            where, best = "said-elsewhere", None
        else:
            best = ranked[0][0]
            s = sentences[ranked[0][1]]
            if any(a == s.article_id and st <= s.start < en for a, st, en in cited):
                where = "cited"  # (a phrase split across lines, or folded differently)
            elif best >= w.pool:
                where = "retrieval"
            else:
                where = "pool"
        out.append(
            {
                "set": name,
                "id": item.id,
                "broad": bool(intent and intent.broad),
                "label": item.breadth,
                "kind": kind,
                "what": what,
                "where": where,
                "rank": best,
                "words": result.words,
                "question": item.question,
            }
        )
    return out


def load_sets(names: Sequence[str]) -> dict[str, list[Any]]:
    from chatbot.evaluation import load_questions

    out = {}
    for n in names:
        if any(h in n for h in HELD_BACK):
            raise SystemExit(f"{n} is held back: it is never tuned on")
        out[Path(n).stem.replace("questions_", "") or n] = load_questions(ROOT / "tests" / n)
    return out


def with_weights(settings: Any, changes: dict[str, str]) -> Any:
    """``settings`` with answer weights changed (``max_quotes``, an answer setting, too)."""
    w, a = settings.answer.weights, settings.answer
    typed = {k: type(getattr(w, k))(v) for k, v in changes.items() if k != "max_quotes"}
    weights = w.model_copy(update=typed)
    top = {k: type(getattr(a, k))(v) for k, v in changes.items() if k == "max_quotes"}
    return settings.replace(answer={**a.model_dump(), **top, "weights": weights.model_dump()})


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return statistics.fmean(kept) if kept else None


def fmt(value: float | None) -> str:
    return "  -  " if value is None else f"{100 * value:5.1f}"


def print_table(label: str, summaries: dict[str, dict[str, Any]]) -> None:
    keys = ("answered_rate", "evidence_hit", "key_fact_coverage", "nugget_recall", "abstain_rate")
    print(f"== {label}")
    print(f"  {'set':10} answ  evid  keyf  nugg  abst  words p50/max")
    for name, s in summaries.items():
        row = " ".join(fmt(s.get(k)) for k in keys)
        print(f"  {name:10} {row}  {s.get('words_median')}/{s.get('words_max')}")
    means = [_mean([s.get(k) for s in summaries.values()]) for k in keys]
    worst = max(s.get("words_max") or 0 for s in summaries.values())
    p50 = max(s.get("words_median") or 0 for s in summaries.values())
    print(f"  {'mean':10} " + " ".join(fmt(m) for m in means) + f"  (max p50 {p50}, max {worst})")


def main(argv: Sequence[str] | None = None) -> int:
    from chatbot.config import load_settings
    from chatbot.pipeline import build_bot

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="*", default=list(DEV_SETS), help="files under tests/")
    parser.add_argument(
        "--set", action="append", default=[], help="NAME=VALUE, an answer weight or max_quotes"
    )
    parser.add_argument("--sweep", action="append", default=[], help="NAME=V1,V2,...")
    parser.add_argument("--misses", action="store_true", help="where each missing fact was lost")
    parser.add_argument("--list", action="store_true", help="with --misses: every one")
    parser.add_argument("--show", nargs="*", default=[], help="item ids: print their answers")
    args = parser.parse_args(argv)
    SHOW.update(args.show)
    base = load_settings()
    bot = build_bot(base, read_only_log=True)
    replay = Replay(bot)
    sets = load_sets(args.sets)
    fixed = dict(kv.split("=", 1) for kv in args.set)
    runs: list[tuple[str, dict[str, str]]] = [(" ".join(args.set) or "defaults", fixed)]
    for sweep in args.sweep:
        name, _, values = sweep.partition("=")
        runs += [(f"{name}={v}", {**fixed, name: v}) for v in values.split(",")]
    for label, changes in runs:
        bot.settings = with_weights(base, changes)
        misses: list[dict[str, Any]] | None = [] if args.misses else None
        print_table(label, run_sets(bot, replay, sets, misses))
        if misses is not None:
            counts = Counter((m["where"], "broad" if m["broad"] else "narrow") for m in misses)
            print("  missing facts by where lost:", dict(sorted(counts.items())))
            if args.list:
                for m in sorted(misses, key=lambda m: (m["where"], m["set"], m["id"])):
                    print(
                        f"  {m['where']:14} {m['set']:8} {m['id']:10} "
                        f"{'B' if m['broad'] else 'n'}{m['label'][:1]} r={m['rank']} "
                        f"w={m['words']} {m['kind']}: {m['what'][:60]!r} | {m['question'][:70]}"
                    )
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
