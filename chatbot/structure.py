"""The articles' structure, computed at ingest: where each sentence sits and what it is about.

Every sentence of the sentence table gets its ``Facts``: its article, its heading path
("Understanding the Causes" > "2. Iron Deficiency"), its list and lead-in (a list item's
"Secondary causes of restless leg syndrome:"), a *facet* (cause, symptom, treatment by medicine,
...; ``FACETS``) and whether it *advertises the clinic* (``promotion``).

A facet is read by the model against short facet descriptions: the sentence's own cosine to
each description, blended with its heading path's and its list lead-in's (a list item such as
"Lithium preparations." says little alone; under "What to exclude?" it is a thing that makes
RLS worse). Staff can override a section's facet in an article's header (``facets:``) and list
the articles' dubious claims in ``corpus/README.md``; both are read from the corpus folder when
the bot starts (``read_inputs``, ``apply_inputs``), so an edit needs no re-ingest.

A sentence *advertises the clinic* when it speaks of the clinic (names the publisher, "our
team", "we offer", "contact us") and says nothing medical once the clinic's words are taken
out: "Our team of expert doctors specializes in diagnosing and treating various venous
disorders" is promotion; "Truffles Vein Specialists can provide guidance on incorporating
regular exercise, ... avoiding caffeine and alcohol" still says what helps, and stays citable.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from chatbot.embedding import Embedder
from chatbot.text.normalise import fold
from chatbot.text.sentences import list_blocks
from chatbot.types import Article, Sentence

# The facets a sentence can be about, each with the short descriptions the model reads.
FACETS: dict[str, tuple[str, ...]] = {
    "about": (
        "What restless legs syndrome is: a neurological disorder, its other name and history.",
        "How common restless legs syndrome is in the population.",
    ),
    "cause": (
        "What causes restless legs syndrome: genes, iron deficiency, dopamine in the brain.",
        "Primary and secondary causes; diseases that lead to restless legs.",
    ),
    "risk": (
        "Who is at risk of restless legs: age, women more than men, family history.",
        "Conditions and diseases associated with restless legs syndrome.",
    ),
    "symptom": (
        "Symptoms of restless legs: an urge to move the legs, crawling, itching, tingling.",
        "The sensations are worse at rest, in the evening and at night, and ease with moving.",
    ),
    "diagnosis": (
        "How restless legs is diagnosed: medical history, physical examination, blood tests.",
    ),
    "medicine": (
        "Treatment with medicines: dopaminergic drugs, anticonvulsants, opioids, benzodiazepines.",
        "Side effects and risks of the drugs prescribed for restless legs.",
    ),
    "lifestyle": (
        "Treatment without medicines: non-drug measures, self-care and lifestyle changes.",
        "Exercise, an evening walk, sleep habits, a balanced diet, quitting smoking.",
        "Home remedies for restless legs: warm baths, massage, a cool quiet bedroom.",
    ),
    "procedure": (
        "Treatment by procedures and therapies: mesotherapy, acupuncture, vein treatment.",
    ),
    "worse": (
        "Things that make restless legs worse: caffeine, alcohol, stress, certain medicines.",
        "Medicines and substances to avoid with restless legs syndrome.",
    ),
    "prevention": ("How to prevent restless legs syndrome or delay its development.",),
    "outlook": (
        "The outlook for restless legs: whether it goes away, gets worse over time, or lasts.",
    ),
    "complication": (
        "Complications of restless legs: poor sleep, daytime fatigue, quality of life.",
    ),
    "children": ("Restless legs in children and adolescents; growing pains.",),
    "pregnancy": ("Restless legs during pregnancy and after childbirth.",),
    "older": ("Restless legs in older and elderly people.",),
    "see_doctor": ("When to see a doctor about restless legs; a medical evaluation.",),
    "clinic": (
        "Our clinic and our team of expert doctors offer care; schedule a consultation with us.",
    ),
}
MEDICAL = tuple(f for f in FACETS if f != "clinic")

# How a sentence's facet is read: its own cosine to a facet, its heading path's, its lead-in's
# (a list item, often a few words, leans on its lead-in).
FACET_BLEND = (0.6, 0.3, 0.1)
ITEM_BLEND = (0.4, 0.2, 0.4)

# A sentence in the clinic's voice is promotion when, with the clinic's own words taken out, it
# is closer to these exemplars of selling than to the exemplars of a fact told in the clinic's
# voice (the mean of the three nearest of each). Written for any clinic, not copied from the
# articles; add one when staff find a sentence judged wrongly (``ingest`` lists the marks).
PROMOTION_EXEMPLARS = (
    "Our experienced team is dedicated to providing the highest quality care to every patient.",
    "We offer personalized treatment plans tailored to your unique needs.",
    "Book a consultation with our specialists today.",
    "Our clinic is a trusted leader in the field with years of experience.",
    "Our doctors specialize in diagnosing and treating a wide range of conditions.",
    "We are committed to helping our patients feel better and regain their quality of life.",
    "Our practice uses the latest advanced technology and treatments.",
    "Call us to schedule your appointment and take the first step.",
    "If you are worried about your symptoms, our friendly doctors are here to help you.",
    "Whatever your needs, our specialists will find the right solution for you.",
)
CLINIC_FACT_EXEMPLARS = (
    "Our doctors may recommend iron supplements when a blood test shows low iron.",
    "We advise patients to avoid caffeine and alcohol and to exercise regularly.",
    "The doctor will review your medical history and perform a physical examination.",
    "Our team checks ferritin levels because iron deficiency can worsen symptoms.",
    "We suggest a regular sleep schedule and a cool, quiet bedroom.",
    "Our specialists test for kidney disease and diabetes, which can cause the condition.",
    "Certain antidepressants and antihistamines can make symptoms worse, so we review them.",
    "We may prescribe dopamine agonists, which can cause nausea and dizziness.",
)
NEAREST_EXEMPLARS = 3

# What the structure read at ingest depends on, beyond the corpus and the model: a change to
# these makes the index stale (``index.IndexSettings``), so ``ingest`` reads it anew.
STRUCTURE_KEY = hashlib.sha256(
    json.dumps(
        [
            FACETS,
            FACET_BLEND,
            ITEM_BLEND,
            PROMOTION_EXEMPLARS,
            CLINIC_FACT_EXEMPLARS,
            NEAREST_EXEMPLARS,
        ]
    ).encode()
).hexdigest()[:12]

_CLINIC_VOICE = re.compile(
    r"\b(our (team|clinic|doctors|specialists|experts|dedicated|experienced|skilled)|"
    r"their team|we (offer|provide|specialize|prioritize|understand|are (committed|dedicated))|"
    r"contact (us|our)|schedule (a|an|your) (consultation|appointment)|visit our)\b",
    re.IGNORECASE,
)
_CLINIC_WORDS = re.compile(
    r"\b(we|our|us|their|team|doctors?|specialists?|experts?|clinic|practice|"
    r"trusted|renowned|experienced|skilled|dedicated|expertise|committed)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Facts:
    """Where one sentence sits and what it is about (one per sentence-table row).

    Attributes:
        headings: The heading path in force, outermost first (empty before the first heading).
        lead: Sentence-table position of its list's lead-in (-1: not a list item, or no lead).
        block: Its list's number in the article (-1: not in a list); a lead-in has its list's.
        facet: Its facet (a key of ``FACETS``).
        promotion: It advertises the clinic (see the module docstring).
        clinic: It speaks in the clinic's voice or names it (promotion or not).
        dubious: Staff listed it among the articles' dubious claims (``corpus/README.md``).
        caution: Staff's reason for listing it (the bullet's words after the quote), shown to
            patients beside the quote; empty when the bullet gives none or it is not dubious.
    """

    headings: tuple[str, ...] = ()
    lead: int = -1
    block: int = -1
    facet: str = "about"
    promotion: bool = False
    clinic: bool = False
    dubious: bool = False
    caution: str = ""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["headings"] = list(self.headings)
        # Staff's reason is read from corpus/README.md when the bot starts, never stored: the
        # index's files stay as they were (and readable by a release without the field).
        del data["caution"]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Facts:
        return cls(**{**data, "headings": tuple(data.get("headings", ()))})


def is_promotion(text: str) -> bool:
    """The pattern half of ``promotion``, for text without an index (the model decides the
    rest at ingest): the sentence speaks in the clinic's voice."""
    return bool(_CLINIC_VOICE.search(text))


def facet_vectors(embedder: Embedder) -> np.ndarray:
    """One normalised vector per facet (the mean of its descriptions'), in ``FACETS`` order."""
    texts = [d for descs in FACETS.values() for d in descs]
    vecs = embedder.encode(texts)
    out = []
    i = 0
    for descs in FACETS.values():
        mean = vecs[i : i + len(descs)].mean(axis=0)
        i += len(descs)
        norm = float(np.linalg.norm(mean))
        out.append(mean / norm if norm else mean)
    return np.asarray(out, dtype=np.float32)


def _heading_paths(sentences: Sequence[Sentence]) -> list[tuple[int, ...]]:
    """Each sentence's heading path as sentence positions. A numbered heading ("1. Genetics")
    or one ending in a colon ("Primary RLS:") nests under the heading before it."""
    out: list[tuple[int, ...]] = []
    path: dict[str, list[int]] = {}
    for pos, rec in enumerate(sentences):
        current = path.setdefault(rec.article_id, [])
        if rec.heading:
            nested = bool(re.match(r"^\d+[.)]\s", rec.text)) or rec.text.endswith(":")
            if nested and current:
                del current[1:]
                current.append(pos)
            else:
                current[:] = [pos]
            out.append(tuple(current[:-1]))  # a heading's path is the headings above it
        else:
            out.append(tuple(current))
    return out


def _lists(
    articles: Mapping[str, Article], sentences: Sequence[Sentence]
) -> tuple[list[int], list[int]]:
    """Each sentence's list number in its article and its list's lead-in position (-1: none)."""
    by_article: dict[str, list[int]] = {}
    for pos, s in enumerate(sentences):
        by_article.setdefault(s.article_id, []).append(pos)
    block = [-1] * len(sentences)
    lead = [-1] * len(sentences)
    for art_id, positions in by_article.items():
        art = articles.get(art_id)
        if art is None:
            continue
        for b, lb in enumerate(list_blocks(art.body)):
            lead_pos = -1
            if lb.lead is not None:
                lead_pos = next(
                    (p for p in positions if lb.lead[0] <= sentences[p].start < lb.lead[1]),
                    -1,
                )
                if lead_pos >= 0:
                    block[lead_pos] = b
            for item_start, item_end in lb.items:
                for p in positions:
                    if item_start <= sentences[p].start < item_end:
                        block[p] = b
                        lead[p] = lead_pos
    return block, lead


def analyse(
    articles: Sequence[Article],
    sentences: Sequence[Sentence],
    sentence_vectors: np.ndarray,
    embedder: Embedder,
) -> tuple[list[Facts], np.ndarray]:
    """The structure of every sentence, and the facet vectors it was read against."""
    by_id = {a.id: a for a in articles}
    facets = facet_vectors(embedder)
    names = list(FACETS)
    n = len(sentences)
    if n == 0:
        return [], facets
    clinic_at = names.index("clinic")  # the last facet: only promotion is put there
    paths = _heading_paths(sentences)
    block, lead = _lists(by_id, sentences)
    scores = facet_scores(sentence_vectors, facets, paths, lead)
    voiced = [i for i, s in enumerate(sentences) if _speaks_for_clinic(s, by_id)]
    promotional: set[int] = set()
    if voiced:
        k = NEAREST_EXEMPLARS
        selling = embedder.encode(list(PROMOTION_EXEMPLARS))
        telling = embedder.encode(list(CLINIC_FACT_EXEMPLARS))
        vecs = embedder.encode([_without_clinic_words(sentences[i], by_id) for i in voiced])
        sell = np.sort(vecs @ selling.T, axis=1)[:, -k:].mean(axis=1)
        tell = np.sort(vecs @ telling.T, axis=1)[:, -k:].mean(axis=1)
        promotional = {i for i, a, b in zip(voiced, sell, tell, strict=True) if a > b}
    out = []
    for i in range(n):
        promotion = i in promotional
        facet = "clinic" if promotion else names[int(np.argmax(scores[i][:clinic_at]))]
        out.append(
            Facts(
                headings=tuple(sentences[p].text for p in paths[i]),
                lead=lead[i],
                block=block[i],
                facet=facet,
                promotion=promotion,
                clinic=i in voiced,
            )
        )
    return out, facets


def facet_scores(
    sentence_vectors: np.ndarray,
    facets: np.ndarray,
    paths: Sequence[tuple[int, ...]],
    lead: Sequence[int],
) -> np.ndarray:
    """Each sentence's cosine to each facet, blended with its heading path's and lead-in's."""
    own = sentence_vectors @ facets.T
    out = np.empty_like(own)
    for i in range(len(own)):
        w_own, w_head, w_lead = ITEM_BLEND if lead[i] >= 0 else FACET_BLEND
        head = own[list(paths[i])].mean(axis=0) if paths[i] else own[i]
        led = own[lead[i]] if lead[i] >= 0 else own[i]
        out[i] = w_own * own[i] + w_head * head + w_lead * led
    return out


def sentence_facets(
    sentences: Sequence[Sentence],
    sentence_vectors: np.ndarray,
    facets: np.ndarray | None,
    facts: Sequence[Facts],
) -> np.ndarray:
    """Each sentence's blended facet cosines (as ``analyse`` read them), from a loaded index."""
    if not len(sentences) or facets is None or not len(facets):
        return np.zeros((len(sentences), len(FACETS)), dtype=np.float32)
    lead = [f.lead for f in facts] if len(facts) == len(sentences) else [-1] * len(sentences)
    return facet_scores(sentence_vectors, facets, _heading_paths(sentences), lead)


def _speaks_for_clinic(rec: Sentence, articles: Mapping[str, Article]) -> bool:
    art = articles.get(rec.article_id)
    publisher = art.publisher.strip() if art is not None else ""
    names_it = (
        bool(publisher)
        and "unknown" not in publisher.lower()
        and (fold(publisher) in fold(rec.text))
    )
    return not rec.heading and (names_it or bool(_CLINIC_VOICE.search(rec.text)))


def _without_clinic_words(rec: Sentence, articles: Mapping[str, Article]) -> str:
    text = rec.text
    art = articles.get(rec.article_id)
    if art is not None and art.publisher.strip():
        text = re.sub(re.escape(art.publisher.strip()), " ", text, flags=re.IGNORECASE)
    text = _CLINIC_WORDS.sub(" ", text)
    return " ".join(text.split()) or rec.text


# ---------------------------------------------------------------------------------------------
# What staff edit: facet overrides in an article's header, dubious claims in corpus/README.md


@dataclass(frozen=True)
class Inputs:
    """Staff's corrections to the structure, read from the corpus folder.

    Attributes:
        overrides: article id → {heading text (folded) → facet}, from a header line
            ``facets: Treatment Options=clinic; Who else is celebrating?=risk``.
        dubious: Fragments of the articles' dubious claims (folded), from the "Dubious claims"
            section of ``corpus/README.md``: each bullet's text in double quotes.
        reasons: For each fragment, staff's reason: the bullet's words after the quote (a
            leading dash or colon dropped), as written; "" when there are none.
        problems: Lines that could not be read (shown by ``ingest``).
    """

    overrides: Mapping[str, Mapping[str, str]]
    dubious: tuple[str, ...]
    problems: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()


_DUBIOUS_HEADING = re.compile(r"^#+\s*dubious claims\b", re.IGNORECASE)
_QUOTED = re.compile(r"[\"“]([^\"”]{8,})[\"”]")
_REASON_LEAD = re.compile(r"^[\s—–:;,.-]+")  # the dash or colon between a quote and its reason


def read_inputs(corpus_dir: Path) -> Inputs:
    """The facet overrides of each article's header and the README's dubious claims."""
    corpus_dir = Path(corpus_dir)
    overrides: dict[str, dict[str, str]] = {}
    problems: list[str] = []
    for path in sorted(corpus_dir.glob("*.md")):
        if path.name.lower() == "readme.md":
            continue
        try:
            text = path.read_text(encoding="utf-8").replace("\r\n", "\n")
        except (OSError, UnicodeDecodeError):
            continue  # the corpus loader reports it
        end = text.find("\n---\n", 4)
        header = text[4:end] if text.startswith("---\n") and end > 0 else ""
        for line in header.split("\n"):
            key, _, value = line.partition(":")
            if key.strip() != "facets" or not value.strip():
                continue
            for pair in value.split(";"):
                heading, sep, facet = pair.rpartition("=")
                facet = facet.strip()
                if not sep or not heading.strip() or facet not in FACETS:
                    problems.append(
                        f"{path.name}: facets entry {pair.strip()!r} is not heading=facet"
                    )
                    continue
                overrides.setdefault(path.stem, {})[fold(heading)] = facet
    dubious: list[str] = []
    reasons: list[str] = []
    readme = corpus_dir / "README.md"
    if readme.is_file():
        inside = False
        for line in readme.read_text(encoding="utf-8").splitlines():
            if line.startswith("#"):
                inside = bool(_DUBIOUS_HEADING.match(line))
                continue
            if inside and line.lstrip().startswith(("-", "*")):
                found = _QUOTED.search(line)
                if found:
                    dubious.append(fold(found.group(1)))
                    reasons.append(_REASON_LEAD.sub("", line[found.end() :]).strip())
                else:
                    problems.append(f"README.md: dubious claim {line.strip()!r} has no quote")
    return Inputs(overrides, tuple(dubious), tuple(problems), tuple(reasons))


def apply_inputs(
    facts: Sequence[Facts], sentences: Sequence[Sentence], inputs: Inputs
) -> list[Facts]:
    """``facts`` with staff's facet overrides (a heading's section: every sentence under it,
    the heading included) and dubious marks (a sentence holding a listed fragment, or held by
    one)."""
    out = []
    for f, rec in zip(facts, sentences, strict=True):
        wanted = inputs.overrides.get(rec.article_id, {})
        path = [*f.headings, rec.text] if rec.heading else list(f.headings)
        facet = next((wanted[fold(h)] for h in reversed(path) if fold(h) in wanted), None)
        text = fold(rec.text)
        matched = [
            i for i, d in enumerate(inputs.dubious) if d in text or (len(text) > 20 and text in d)
        ]
        dubious = bool(matched)
        caution = " ".join(dict.fromkeys(r for i in matched if (r := _reason(inputs, i))))
        if facet is not None and not f.promotion:
            f = replace(f, facet=facet)
        if dubious != f.dubious or caution != f.caution:
            f = replace(f, dubious=dubious, caution=caution)
        out.append(f)
    return out


def _reason(inputs: Inputs, i: int) -> str:
    return inputs.reasons[i] if i < len(inputs.reasons) else ""


def dubious_spans(
    facts: Sequence[Facts], sentences: Sequence[Sentence]
) -> dict[str, list[tuple[int, int, str]]]:
    """Article id → (start, end, staff's reason) of each sentence marked dubious: what a quote
    is checked against for its caution (``answer.compose.with_cautions``)."""
    spans: dict[str, list[tuple[int, int, str]]] = {}
    for f, rec in zip(facts, sentences, strict=True):
        if f.dubious:
            spans.setdefault(rec.article_id, []).append((rec.start, rec.end, f.caution))
    return spans


def facet_map(facts: Sequence[Facts], sentences: Sequence[Sentence]) -> list[str]:
    """A readable map for staff: per article and heading, how many sentences of each facet,
    and every sentence marked promotion or dubious."""
    lines: list[str] = []
    current: tuple[str, tuple[str, ...]] | None = None
    counts: dict[str, int] = {}

    def flush() -> None:
        if current is not None and counts:
            where = " > ".join(current[1]) or "(before the first heading)"
            shown = ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda x: -x[1]))
            lines.append(f"  {where}: {shown}")

    for f, rec in zip(facts, sentences, strict=True):
        if rec.heading:
            continue
        key = (rec.article_id, f.headings)
        if current is None or key[0] != current[0]:
            flush()
            counts = {}
            lines.append(rec.article_id)
            current = key
        elif key != current:
            flush()
            counts = {}
            current = key
        counts[f.facet] = counts.get(f.facet, 0) + 1
    flush()
    marked = [
        (("promotion" if f.promotion else "") + (" dubious" if f.dubious else "")).strip()
        + f": {rec.article_id}: {rec.text[:90]}"
        for f, rec in zip(facts, sentences, strict=True)
        if f.promotion or f.dubious
    ]
    if marked:
        lines += ["never quoted for a medical question (promotion) / never first (dubious):"]
        lines += [f"  {m}" for m in marked]
    return lines
