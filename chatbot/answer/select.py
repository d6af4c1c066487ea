"""Which sentences an answer quotes: greedy query-focused submodular selection under a budget.

The objective (Lin & Bilmes, "A Class of Submodular Functions for Document Summarization",
ACL 2011), over the ``pool`` candidates nearest the question, each with a relevance weight
``r_i`` (its retrieval score relative to the best, raised for a sentence of the facet a broad
question asks about, lowered for one of the articles' dubious claims)::

    F(S) = sum_i r_i * max_{j in S} sim(i, j)                  coverage (facility location)
         + relevance * sum_{j in S} r_j                         what S says itself
         + diversity * sum_P sqrt(sum_{j in S & P} r_j)         spread over articles, over facets

is monotone submodular, so adding, one *unit* at a time, the unit with the best gain per word
(``gain / words ** cost_power``) is within a constant of the best set under the word budget. A
unit is a sentence with what it needs to be read alone: a list item with its lead-in, a lead-in
with its items (all of a short list, the best of a long one), a "This..." sentence with the one
before it. A unit beside a sentence already taken, on the same line of the article, has its
gain multiplied by ``1 + adjacent``: it is merged into that quote and reads as its context (a
narrow question's direct answer with the sentence after it). The best candidate is always taken
first (a narrow question's direct answer leads); a narrow question then quotes only what scores
within ``narrow_window`` of it; selection stops at the word budget, at ``max_quotes`` units, or
when no unit adds anything.

Never quoted for a medical question: a sentence that advertises the clinic (``structure``). A
dubious claim is never the first quote.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from chatbot.config import AnswerWeights
from chatbot.index import LoadedIndex
from chatbot.retrieval.intent import Intent
from chatbot.structure import FACETS, Facts
from chatbot.types import ScoredSentence

# An item that restates what the previous sentence was about needs that sentence to make sense.
ANAPHORA = re.compile(
    r"^(this|these|they|their|them|it|its|such|therefore|thus|but|however|that|those|so|"
    r"at the same time|as a result|in such cases|"
    # Examples of what the sentence before named ("Some examples include codeine, ...": of
    # narcotic medicines that may be addicting, said just before).
    r"(?:some|for|one|other) examples?|examples include|for instance)\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"[A-Za-z0-9]+(?:['’-][A-Za-z0-9]+)*")
_FACET_AT = {name: i for i, name in enumerate(FACETS)}


@lru_cache(maxsize=8192)  # the articles' sentences, asked about again and again
def words(text: str) -> int:
    return len(_WORD.findall(text))


class _Words(dict[int, int]):
    """Words of a candidate, counted when first asked for (selection reads a few dozen)."""

    def __init__(self, cands: dict[int, ScoredSentence]) -> None:
        super().__init__()
        self.cands = cands

    def __missing__(self, pos: int) -> int:
        n = self[pos] = words(self.cands[pos].record.text)
        return n


class _Tables:
    """What selection reads of the sentence table that no question changes, made once for an
    index and its facts: each list's sentences (by article and block), the sentences before
    each one on its line (nearest first), and each one's neighbours on its line (filled as
    asked). A question's pool reads them for its candidates only."""

    def __init__(self, index: LoadedIndex, facts: Sequence[Facts]) -> None:
        self.index, self.facts = index, facts  # kept: the cache below is keyed by their ids
        sentences = index.sentences
        self.blocks: dict[tuple[str, int], list[int]] = {}
        for q, f in enumerate(facts[: len(sentences)]):
            if f.block >= 0:
                self.blocks.setdefault((sentences[q].article_id, f.block), []).append(q)
        # The sentences that advertise the clinic, never quoted for a medical question.
        self.promoted = frozenset(q for q, f in enumerate(facts) if f.promotion)
        self.by_article: dict[str, list[int]] = {}
        for q, sentence in enumerate(sentences):
            self.by_article.setdefault(sentence.article_id, []).append(q)
        self.before: dict[int, list[int]] = {}
        self.lines: dict[int, list[int]] = {}
        # Each pool sentence's unit (``_unit``, [] when it does not read alone), for one set
        # of candidates and one reading of the question: every question's candidates are the
        # same set (every citable sentence but the ones staff excluded), so a sentence's unit
        # is made once, not for every question whose pool holds it.
        self.units: dict[tuple[bool, bool, int, int], tuple[frozenset[int], dict[int, list[int]]]]
        self.units = {}

    def units_of(
        self, cands: dict[int, ScoredSentence], medical: bool, broad: bool, w: AnswerWeights
    ) -> dict[int, list[int]]:
        """The units made so far for exactly these candidates and this reading (filled by the
        caller: ``select_sentences``)."""
        key = (medical, broad, w.list_whole_items, w.list_broad_items)
        members = frozenset(cands)
        got = self.units.get(key)
        if got is None or got[0] != members:
            got = self.units[key] = (members, {})
        return got[1]

    def before_on_line(self, pos: int) -> list[int]:
        """The sentences of ``pos``'s article that start on its line before it, nearest first."""
        got = self.before.get(pos)
        if got is None:
            sentences = self.index.sentences
            me = sentences[pos]
            body = self.index.articles[me.article_id].body
            line_start = body.rfind("\n", 0, me.start) + 1
            got = sorted(
                (
                    q
                    for q in self.by_article[me.article_id]
                    if line_start <= sentences[q].start < me.start
                ),
                key=lambda q: -sentences[q].start,
            )
            self.before[pos] = got
        return got


_TABLES: dict[tuple[int, int], _Tables] = {}
_TABLES_KEPT = 4  # indexes (and staff's corrections to their facts) in use at once, at most


def _tables(index: LoadedIndex, facts: Sequence[Facts]) -> _Tables:
    key = (id(index), id(facts))
    got = _TABLES.get(key)
    if got is None or got.index is not index or got.facts is not facts:
        got = _TABLES[key] = _Tables(index, facts)
        while len(_TABLES) > _TABLES_KEPT:
            _TABLES.pop(next(iter(_TABLES)), None)
    return got


@dataclass
class _Pool:
    """The candidates selection reads, by position in the sentence table."""

    cands: dict[int, ScoredSentence]
    facts: Sequence[Facts]
    index: LoadedIndex

    def __post_init__(self) -> None:
        self.words = _Words(self.cands)
        self.tables = _tables(self.index, self.facts)

    def fact(self, pos: int) -> Facts:
        return self.facts[pos] if pos < len(self.facts) else Facts()

    def same_block(self, pos: int) -> list[int]:
        """The candidates in ``pos``'s list, itself left out."""
        f, art = self.fact(pos), self.cands[pos].record.article_id
        return [
            q for q in self.tables.blocks.get((art, f.block), []) if q != pos and q in self.cands
        ]


def budget(intent: Intent | None, w: AnswerWeights) -> int:
    """Words of quotes an answer may hold: more for a broad question, never past the cap."""
    wanted = w.broad_words if intent is not None and intent.broad else w.narrow_words
    return min(wanted, w.max_words)


def select_sentences(
    candidates: list[ScoredSentence],
    index: LoadedIndex,
    max_quotes: int,
    min_relevance: float,
    weights: AnswerWeights | None = None,
    intent: Intent | None = None,
    facts: Sequence[Facts] | None = None,
    facet_scores: np.ndarray | None = None,
) -> list[ScoredSentence]:
    """The evidence for an answer, or [] when the best candidate is under ``min_relevance``.

    Args:
        candidates: Every citable sentence, scored, best first (``Retriever``).
        index: The loaded index.
        max_quotes: The most units (a sentence with its companions) an answer holds.
        min_relevance: The gate's threshold.
        weights: ``config.AnswerWeights``.
        intent: What the question asks for (``retrieval.intent``); None reads it as narrow
            and medical.
        facts: Each sentence's structure (staff's corrections applied); default the index's.
        facet_scores: Each sentence's cosine to each facet (``structure.sentence_facets``);
            a broad question's weights lean on the facets it asks for.
    """
    if not candidates or candidates[0].relevance < min_relevance:
        return []
    w = weights or AnswerWeights()
    facts = facts if facts is not None else index.structure
    medical = intent is None or not intent.about_clinic
    if medical:
        promoted = _tables(index, facts).promoted
        allowed = [c for c in candidates if c.position not in promoted]
    else:
        allowed = list(candidates)
    if not allowed:
        return []
    pool = allowed[: w.pool]
    broad = intent is not None and intent.broad
    if broad and intent is not None and intent.facets is not None and facet_scores is not None:
        # A broad question's answer is the facet it asks for, wherever the articles say it:
        # the pool also holds the sentences closest to that facet, whatever their words.
        q = asked_weights(intent, w.facet_temperature)
        rows = facet_scores[[c.position for c in allowed]]
        affinity = rows @ q - rows.mean(axis=1)
        seen = {c.position for c in pool}
        for i in np.argsort(-affinity)[: w.pool]:
            if allowed[int(i)].position not in seen:
                pool.append(allowed[int(i)])
    p = _Pool({c.position: c for c in allowed}, facts, index)
    r = _weights(pool, p, intent, w, facet_scores)
    known = p.tables.units_of(p.cands, medical, broad, w)
    units = []
    for c in pool:
        unit = known.get(c.position)
        if unit is None:
            unit = _unit(c, p, pool, w, medical, broad)
            # A line that introduces what follows ("This may involve:") says nothing without
            # its items.
            unit = known[c.position] = unit if _reads_alone(unit, p) else []
        units.append(unit)
    chosen = _greedy(pool, units, r, p, intent, w, max_quotes)
    return [p.cands[pos] for pos in chosen]


def _weights(
    pool: list[ScoredSentence],
    p: _Pool,
    intent: Intent | None,
    w: AnswerWeights,
    facet_scores: np.ndarray | None,
) -> np.ndarray:
    """Each pool sentence's relevance weight (see the module docstring).

    A broad question weighs a sentence by its score plus ``facet_weight`` x its closeness to
    the facets the question asks for (the question's facet cosines, softened by
    ``facet_temperature``), so the facet's specific sentences ("Dopaminergic drugs are very
    effective...") count, not only those that share the question's words ("treatment").
    """
    scores = np.array([c.score for c in pool])
    broad = intent is not None and intent.broad
    if broad and intent is not None and intent.facets is not None and facet_scores is not None:
        q = asked_weights(intent, w.facet_temperature)
        rows = facet_scores[[c.position for c in pool]]
        # Every sentence is about RLS, so every facet is close to it: what counts is how much
        # closer it is to the facets asked than to its own mean facet.
        scores = scores + w.facet_weight * (rows @ q - rows.mean(axis=1))
    tau = w.broad_temperature if broad else w.temperature
    r = np.exp((scores - scores.max()) / tau)
    dubious = np.array([p.fact(c.position).dubious for c in pool])
    r[dubious] *= w.dubious_share
    return r


def asked_weights(intent: Intent, temperature: float) -> np.ndarray:
    """How much a question asks for each facet: a softmax of its facet cosines ("clinic",
    the last, only for a question about the clinic)."""
    assert intent.facets is not None
    cos = np.array(intent.facets, dtype=float)
    if not intent.about_clinic:
        cos[-1] = -1.0
    q = np.exp((cos - cos.max()) / temperature)
    return np.asarray(q / q.sum())


def _unit(
    cand: ScoredSentence,
    p: _Pool,
    pool: list[ScoredSentence],
    w: AnswerWeights,
    medical: bool,
    broad: bool,
) -> list[int]:
    """``cand`` and the sentences it needs to be read alone (only from the candidates, so a
    passage staff excluded never comes back; a promotional lead-in stays out)."""
    pos = cand.position
    f = p.fact(pos)
    out = [pos]

    def ok(q: int) -> bool:
        return q in p.cands and not (medical and p.fact(q).promotion)

    if f.lead >= 0:  # a list item: its lead-in
        if ok(f.lead):
            out.append(f.lead)
    elif f.block >= 0:  # a lead-in: the items of a short list; a long one's come one by one
        items = sorted(q for q in p.same_block(pos) if p.fact(q).lead == pos)
        if len(items) <= (w.list_broad_items if broad else w.list_whole_items):
            out.extend(q for q in items if ok(q))
    if _needs_previous(cand.record.text):
        prev = _previous_on_line(cand, p)
        if prev is not None and ok(prev):
            if p.fact(prev).dubious and not f.dubious:
                # Read alone it leans on one of the articles' dubious claims ("Other experts
                # believe..." after "...caused by a lack of attention from parents"): quoting
                # it would bring the claim along as its context, so it is not quoted.
                return []
            out.append(prev)
    return sorted(set(out))


@lru_cache(maxsize=8192)  # the articles' sentences, read for every question's pool
def _needs_previous(text: str) -> bool:
    return ANAPHORA.match(text) is not None


def _reads_alone(unit: list[int], p: _Pool) -> bool:
    return len(unit) > 1 or (bool(unit) and not p.cands[unit[0]].record.text.rstrip().endswith(":"))


def _previous_on_line(cand: ScoredSentence, p: _Pool) -> int | None:
    """The candidate nearest before ``cand`` on its line of the article, if any."""
    return next((q for q in p.tables.before_on_line(cand.position) if q in p.cands), None)


def line_neighbours(index: LoadedIndex, positions: Sequence[int]) -> dict[int, list[int]]:
    """Each sentence's neighbours on its line of the article (the sentence before and after,
    with no line break between): quoted beside one already taken, it is merged into one quote
    with it and reads as its context."""
    sentences = index.sentences

    def same_line(a: int, b: int) -> bool:
        if not (0 <= a < len(sentences) and 0 <= b < len(sentences)):
            return False
        x, y = sentences[min(a, b)], sentences[max(a, b)]
        body = index.articles[x.article_id].body
        return x.article_id == y.article_id and "\n" not in body[x.end : y.start]

    known = _tables(index, index.structure).lines  # the same for any facts: made once a pair
    out = {}
    for pos in positions:
        got = known.get(pos)
        if got is None:
            got = known[pos] = [q for q in (pos - 1, pos + 1) if same_line(pos, q)]
        out[pos] = got
    return out


def _greedy(
    pool: list[ScoredSentence],
    units: list[list[int]],
    r: np.ndarray,
    p: _Pool,
    intent: Intent | None,
    w: AnswerWeights,
    max_quotes: int,
) -> list[int]:
    """Greedy cost-scaled maximisation of the objective (module docstring) under the budget.

    Each round scores every open unit; a unit that is its pool sentence alone (most are) is
    scored for all of them at once in numpy, with the same float operations in the same order
    as ``gain_of`` does for one, so the choice is the same to the last bit. What a round reads
    of the answer so far (the words a unit still adds, whether it sits beside a sentence taken,
    the mass of each article and facet) is kept up to date as sentences are taken, not
    recounted every round.
    """
    n = len(pool)
    positions = [c.position for c in pool]
    at = {pos: i for i, pos in enumerate(positions)}
    vecs = p.index.sentence_vectors[positions]
    sim = np.clip(vecs @ vecs.T, 0.0, None)
    limit = budget(intent, w)
    relevance, diversity, adjacent = w.relevance, w.diversity, w.adjacent
    near_duplicate, cost_power = w.near_duplicate, w.cost_power
    cands, fact, count = p.cands, p.fact, p.words

    neighbours = line_neighbours(p.index, positions)
    # One of the articles' dubious claims earns nothing for sitting beside a quote: it is never
    # brought in as the context of a sentence next to it (it is still weighed on its own).
    neighbours = {q: [] if p.fact(q).dubious else near for q, near in neighbours.items()}

    # Each unit's sentences' weight, article and facet, looked up once.
    r_list = r.tolist()
    r_at = {q: (r_list[at[q]] if q in at else 0.0) for unit in units for q in unit}
    art_at = {q: cands[q].record.article_id for q in r_at}
    facet_at = {q: fact(q).facet for q in r_at}

    covered = np.zeros(n)
    mass_article: dict[str, float] = {}
    mass_facet: dict[str, float] = {}
    chosen: list[int] = []
    taken: set[int] = set()
    texts: set[str] = set()
    used = 0

    single: np.ndarray = np.zeros(n)  # coverage gain of each pool sentence alone, this round
    closest = np.zeros(n)  # each pool sentence's cosine to the nearest one taken
    column_max: dict[tuple[int, ...], np.ndarray] = {}  # a unit's rows: their best cosines

    def gain_of(unit: list[int]) -> float:
        new = [q for q in unit if q not in taken]
        if not new:
            return 0.0
        rows = [at[q] for q in new if q in at]
        if len(rows) == 1:
            g = float(single[rows[0]])
        elif rows:
            key = tuple(rows)
            best = column_max.get(key)
            if best is None:
                best = column_max[key] = sim[:, rows].max(axis=1)
            g = float(r @ (np.maximum(covered, best) - covered))
        else:
            g = float(r @ (covered - covered))
        g += relevance * sum(r_at[q] for q in new)
        for masses, part_of in ((mass_article, art_at), (mass_facet, facet_at)):
            add: dict[str, float] = {}
            for q in new:
                part = part_of[q]
                add[part] = add.get(part, 0.0) + r_at[q]
            g += diversity * sum(
                math.sqrt(masses.get(k, 0.0) + v) - math.sqrt(masses.get(k, 0.0))
                for k, v in add.items()
            )
        return g

    # The direct answer first: the best candidate that is not a dubious claim.
    first = next((i for i in range(n) if units[i] and not fact(positions[i]).dubious), None)
    if first is None:
        return []
    narrow = intent is None or not intent.broad
    # A narrow question quotes only what answers it nearly as well as the best.
    floor = pool[first].score - w.narrow_window
    open_units = [i for i in range(n) if units[i] and not (narrow and pool[i].score < floor)]
    # The units that are their pool sentence alone, as arrays: row, weight, words, the cost
    # divisor, article and facet (as numbers into the names).
    lone = [i for i in open_units if units[i] == [positions[i]]]
    others = [i for i in open_units if units[i] != [positions[i]]]
    rows = np.array(lone, dtype=int)
    weight = r[rows] if lone else np.zeros(0)
    own_weight = relevance * weight
    cost = np.array([count[positions[i]] for i in lone], dtype=int)
    divisor = np.array([float(c) ** cost_power if c else 1.0 for c in cost.tolist()])
    articles = {art_at[positions[i]]: 0 for i in lone}
    facets = {facet_at[positions[i]]: 0 for i in lone}
    for k, name in enumerate(articles):
        articles[name] = k
    for k, name in enumerate(facets):
        facets[name] = k
    article_of = np.array([articles[art_at[positions[i]]] for i in lone], dtype=int)
    facet_of = np.array([facets[facet_at[positions[i]]] for i in lone], dtype=int)
    # Each article's and facet's mass so far, as ``mass_article`` and ``mass_facet`` hold it.
    article_mass = np.zeros(len(articles))
    facet_mass = np.zeros(len(facets))
    order = {i: k for k, i in enumerate(open_units)}
    lone_at = np.array([order[i] for i in lone], dtype=int)
    has_words = cost > 0
    # Which lone units are still open (not taken, no quote of the same words) and which sit
    # beside a sentence taken: kept up to date as sentences are taken, not asked every round.
    alive = np.ones(len(lone), dtype=bool)
    beside_factor = 1.0 + adjacent
    near = np.ones(len(lone))  # the adjacency factor: 1.0, or ``beside_factor`` once beside
    lone_by: dict[object, list[int]] = {}  # a position, or a text → the lone units it closes
    near_by: dict[int, list[int]] = {}  # a position → the lone units beside it
    for j, i in enumerate(lone):
        lone_by.setdefault(positions[i], []).append(j)
        lone_by.setdefault(pool[i].record.text, []).append(j)
        for q in neighbours.get(positions[i], ()):
            near_by.setdefault(q, []).append(j)
    # The units of several sentences: row, sentence's position and text, its sentences; the
    # words it would still add and whether it sits beside a sentence taken (kept up to date by
    # ``take`` through ``words_in`` and ``beside_by``).
    several = [(i, positions[i], pool[i].record.text, units[i]) for i in others]
    remaining = [0] * len(several)
    beside = [1.0] * len(several)
    words_in: dict[int, list[int]] = {}  # a sentence → the units of several it belongs to
    beside_by: dict[int, list[int]] = {}  # a sentence → the units of several beside it
    for s, (_, _, _, unit) in enumerate(several):
        for q in unit:
            words_in.setdefault(q, []).append(s)
            remaining[s] += count[q]
            for b in neighbours.get(q, ()):
                beside_by.setdefault(b, []).append(s)

    def take(unit: list[int]) -> None:
        nonlocal covered, used, closest
        for q in unit:
            if q in taken:
                continue
            taken.add(q)
            chosen.append(q)
            texts.add(cands[q].record.text)
            words = count[q]
            used += words
            for s in words_in.get(q, ()):
                remaining[s] -= words
            for s in beside_by.get(q, ()):
                beside[s] = beside_factor
            i = at.get(q)
            mass = 0.0
            if i is not None:
                covered = np.maximum(covered, sim[:, i])
                closest = np.maximum(closest, sim[:, i])
                mass = r_list[i]
            art, fac = cands[q].record.article_id, fact(q).facet
            mass_article[art] = m = mass_article.get(art, 0.0) + mass
            if art in articles:
                article_mass[articles[art]] = m
            mass_facet[fac] = m = mass_facet.get(fac, 0.0) + mass
            if fac in facets:
                facet_mass[facets[fac]] = m

    take(units[first])
    seen = 0  # sentences of ``chosen`` already marked in those arrays
    # Lazy greedy for the units of several sentences: with no negative weight, a unit's gain
    # never grows as the answer does (the objective is monotone submodular), so the gain it
    # had when last scored, with ``beside`` as it is now and over its words now, bounds its
    # ratio; a unit whose bound is under the round's best so far cannot be chosen and is not
    # scored (a margin far above float rounding keeps the choice the exact loop's).
    lazy = min(relevance, diversity, adjacent) >= 0.0
    last_gain: dict[int, float] = {}
    picks = 1
    while picks < max_quotes and open_units:
        for q in chosen[seen:]:
            for j in lone_by.get(q, ()):
                alive[j] = False
            for j in lone_by.get(cands[q].record.text, ()):
                alive[j] = False
            for j in near_by.get(q, ()):
                near[j] = beside_factor
        seen = len(chosen)
        single = r @ (np.maximum(sim, covered[:, None]) - covered[:, None])
        ratios = np.full(len(open_units), -1.0)  # -1: not a candidate this round
        if lone:
            ok = has_words & (used + cost <= limit) & ~(closest[rows] > near_duplicate)
            ok &= alive
            m_a = article_mass[article_of]
            m_f = facet_mass[facet_of]
            g = single[rows] + own_weight
            g = g + diversity * (np.sqrt(m_a + weight) - np.sqrt(m_a))
            g = g + diversity * (np.sqrt(m_f + weight) - np.sqrt(m_f))
            if adjacent:
                g = g * near
            ratios[lone_at[ok]] = (g / divisor)[ok]
        best = float(ratios.max()) if len(ratios) else -1.0
        nearest = closest.tolist()
        for s, (i, position, text, unit) in enumerate(several):
            if position in taken or text in texts:
                continue
            if nearest[i] > near_duplicate:
                continue
            c = remaining[s]
            if c == 0 or used + c > limit:
                continue
            scale = c**cost_power
            factor = beside[s]
            if lazy and i in last_gain:
                cap = last_gain[i] * factor / scale
                if cap * (1.0 + 1e-9) + 1e-12 < best:
                    continue
            gain = gain_of(unit)
            last_gain[i] = gain
            ratios[order[i]] = ratio = gain * factor / scale
            best = max(best, ratio)
        k = int(np.argmax(ratios))  # the first of the best, as a scan keeping the best would
        if not ratios[k] > 0.0:
            break
        take(units[open_units[k]])
        picks += 1
    return chosen
