"""The fast paths of the question path give what the plain code gave, to the last bit: the
tokens of a question, each candidate's passage, the sentences selection picks. (Speed figures
are in bench/: answer_cost.py, served_cpu.py; same_answers.py checks every answer of the sets.)"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from chatbot.answer import select
from chatbot.answer.select import _Pool, budget
from chatbot.config import AnswerWeights
from chatbot.retrieval.intent import Intent
from chatbot.types import Passage, ScoredSentence

TESTS = Path(__file__).resolve().parents[1]


def questions(limit: int | None = None) -> list[str]:
    """The questions of tests/questions.jsonl asked without a conversation before them."""
    out = []
    for line in (TESTS / "questions.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            item = json.loads(line)
            if not item.get("history"):
                out.append(item["question"])
    return out[:limit]


def stable(answer) -> dict:
    data = answer.to_dict()
    data.pop("id")
    data.pop("timings")
    return data


def test_a_question_s_tokens_are_bm25s_own(real_bot):
    lexicon = real_bot.retriever.lexicon
    texts = [s.text for s in real_bot.index.sentences] + questions()
    texts += ["", "?!", "RLS", "it's the iron—isn’t it", "Ropinirole 0.25mg", "naïve café", "a b c"]
    for text in texts:
        assert lexicon.tokens_of(text) == lexicon.tokenize([text])[0], text


def test_each_candidate_s_passage_is_the_one_the_loop_found(real_bot, real_embedder, monkeypatch):
    retriever = real_bot.retriever
    assert retriever._holders_valid  # the real corpus takes the one-argmax path
    for q in questions(40):
        qvec = real_embedder.encode([q])[0]
        passages = retriever.search(q, qvec, 8)
        fast = retriever.candidate_sentences(passages, qvec, set(), query=q)
        with monkeypatch.context() as m:
            m.setattr(retriever, "_holders_valid", False)
            plain = retriever.candidate_sentences(passages, qvec, set(), query=q)
        assert fast == plain, q


def test_selection_picks_what_the_plain_greedy_loop_picked(real_bot, monkeypatch):
    asked = questions(60)
    fast = [stable(real_bot.ask(q)) for q in asked]
    monkeypatch.setattr(select, "_greedy", reference_greedy)
    plain = [stable(real_bot.ask(q)) for q in asked]
    for q, a, b in zip(asked, fast, plain, strict=True):
        assert a == b, q
    assert sum(len(a["citations"]) > 1 for a in fast) > len(asked) / 2  # many-quote answers


def reference_greedy(
    pool: list[ScoredSentence],
    units: list[list[int]],
    r: np.ndarray,
    p: _Pool,
    intent: Intent | None,
    w: AnswerWeights,
    max_quotes: int,
) -> list[int]:
    """The greedy loop as first written (chatbot/answer/select.py before it was vectorised):
    every unit's gain by ``gain_of``, one unit at a time."""
    n = len(pool)
    at = {c.position: i for i, c in enumerate(pool)}
    vecs = p.index.sentence_vectors[[c.position for c in pool]]
    sim = np.clip(vecs @ vecs.T, 0.0, None)
    limit = budget(intent, w)

    def r_of(pos: int) -> float:
        i = at.get(pos)
        return float(r[i]) if i is not None else 0.0

    covered = np.zeros(n)
    mass_article: dict[str, float] = {}
    mass_facet: dict[str, float] = {}
    chosen: list[int] = []
    taken: set[int] = set()
    used = 0

    single: np.ndarray = np.zeros(n)  # coverage gain of each pool sentence alone, this round
    closest = np.zeros(n)  # each pool sentence's cosine to the nearest one taken
    neighbours = select.line_neighbours(p.index, [c.position for c in pool])
    neighbours = {q: [] if p.fact(q).dubious else near for q, near in neighbours.items()}

    def beside(unit: list[int]) -> float:  # next to a sentence taken, on its line
        near = any(q in taken for u in unit for q in neighbours.get(u, ()))
        return 1.0 + w.adjacent if near else 1.0

    def gain_of(unit: list[int]) -> float:
        new = [q for q in unit if q not in taken]
        if not new:
            return 0.0
        rows = [at[q] for q in new if q in at]
        if len(rows) == 1:
            g = float(single[rows[0]])
        else:
            cover = np.maximum(covered, sim[:, rows].max(axis=1)) if rows else covered
            g = float(r @ (cover - covered))
        g += w.relevance * sum(r_of(q) for q in new)
        for masses, parts in (
            (mass_article, [p.cands[q].record.article_id for q in new]),
            (mass_facet, [p.fact(q).facet for q in new]),
        ):
            add: dict[str, float] = {}
            for q, part in zip(new, parts, strict=True):
                add[part] = add.get(part, 0.0) + r_of(q)
            g += w.diversity * sum(
                math.sqrt(masses.get(k, 0.0) + v) - math.sqrt(masses.get(k, 0.0))
                for k, v in add.items()
            )
        return g

    def take(unit: list[int]) -> None:
        nonlocal covered, used, closest
        for q in unit:
            if q in taken:
                continue
            taken.add(q)
            chosen.append(q)
            texts.add(p.cands[q].record.text)
            used += p.words[q]
            if q in at:
                covered = np.maximum(covered, sim[:, at[q]])
                closest = np.maximum(closest, sim[:, at[q]])
            art, fac = p.cands[q].record.article_id, p.fact(q).facet
            mass_article[art] = mass_article.get(art, 0.0) + r_of(q)
            mass_facet[fac] = mass_facet.get(fac, 0.0) + r_of(q)

    texts: set[str] = set()

    def near_duplicate(i: int) -> bool:
        return bool(closest[i] > w.near_duplicate) or pool[i].record.text in texts

    # The direct answer first: the best candidate that is not a dubious claim.
    first = next((i for i in range(n) if units[i] and not p.fact(pool[i].position).dubious), None)
    if first is None:
        return []
    take(units[first])
    narrow = intent is None or not intent.broad
    picks = 1
    while picks < max_quotes:
        single = r @ (np.maximum(sim, covered[:, None]) - covered[:, None])
        best, best_ratio = -1, 0.0
        for i in range(n):
            if not units[i] or pool[i].position in taken or near_duplicate(i):
                continue
            # A narrow question quotes only what answers it nearly as well as the best.
            if narrow and pool[i].score < pool[first].score - w.narrow_window:
                continue
            cost = sum(p.words[q] for q in units[i] if q not in taken)
            if cost == 0 or used + cost > limit:
                continue
            g = gain_of(units[i]) * beside(units[i])
            ratio = g / cost**w.cost_power
            if ratio > best_ratio:
                best, best_ratio = i, ratio
        if best < 0:
            break
        take(units[best])
        picks += 1
    return chosen


def test_a_scored_sentence_made_in_one_step_is_the_constructor_s(real_bot):
    sentence = real_bot.index.sentences[3]
    chunk = real_bot.index.chunks[sentence.chunk]
    passage = Passage(chunk, 0.0, 0.25, 0.0)
    made = ScoredSentence.made(sentence, 3, 0.5, passage, 0.4321, 0.1, 0.7)
    plain = ScoredSentence(sentence, 3, 0.5, passage, 0.4321, 0.1, 0.7)
    assert made == plain and hash(made) == hash(plain) and repr(made) == repr(plain)
    assert dataclasses.replace(made, score=0.1) == dataclasses.replace(plain, score=0.1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.score = 1.0  # type: ignore[misc]


def test_candidates_come_best_first_ties_in_table_order(real_bot, real_embedder):
    retriever = real_bot.retriever
    for q in questions(40):
        qvec = real_embedder.encode([q])[0]
        cands = retriever.candidate_sentences(retriever.search(q, qvec, 8), qvec, set(), query=q)
        keys = [(-c.score, c.position) for c in cands]
        assert keys == sorted(keys), q
        assert len({c.position for c in cands}) == len(cands), q


def test_scores_rounded_in_numpy_are_python_s_round_to_the_last_bit():
    from chatbot.retrieval.scoring import rounded

    rng = np.random.default_rng(7)
    halves = (rng.integers(-30000, 30000, 4000) + 0.5) / 1e4  # ties as decimals, never exact
    values = np.concatenate(
        [
            rng.normal(0.3, 0.3, 4000),
            rng.normal(0.0, 1e-4, 1000),
            halves,
            halves + rng.normal(0.0, 1e-12, 4000),
            rng.integers(-30000, 30000, 1000) / 1e4,
            [0.0, -0.0, -1e-300, 5e-5, -5e-5, 1.5e-4, 2.5e-5, 1e20, -1e20],
            [math.nan, math.inf, -math.inf],
        ]
    )
    for array in (values, values.astype(np.float32)):
        want = [round(v, 4) for v in array.tolist()]
        got = rounded(array, 4)
        assert [math.copysign(1.0, v) for v in got] == [math.copysign(1.0, v) for v in want]
        assert [v if v == v else "nan" for v in got] == [v if v == v else "nan" for v in want]
