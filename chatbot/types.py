"""The data that flows through the pipeline, stage to stage: small frozen dataclasses.

    Article ─ chunking ─▶ Chunk, Sentence ─ index ─▶ (search) Passage ─▶ ScoredSentence
        ─ answer ─▶ Answer(Citation...) ◀─ Turn (the conversation so far)

Every offset is a character offset into ``Article.body``; ``quote == body[start:end]``.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from typing import Any, Literal, NamedTuple

Status = Literal["answered", "no_answer", "emergency"]


class ArticleSpan(NamedTuple):
    """A span of one article's body (an excluded passage, a located quote)."""

    article: str
    start: int
    end: int


@dataclass(frozen=True)
class Article:
    """One source article.

    Attributes:
        id: Stable slug, the corpus file's stem.
        title: Human-readable title.
        date: Publication date (ISO ``YYYY-MM-DD``) or ``""`` when the source has none.
        publisher: Who published it.
        source_file: The seed file the body was taken from.
        note: What was left out of the page and why.
        body: The article text; citation offsets index into it.
        source_url: Where the article is published (a link staff and patients can follow).
        reviewed_by: Who at the clinic last checked it.
        next_review: When it is next due for a check (ISO ``YYYY-MM-DD``).
        version: Its version in the library (1 for an article with no history yet).
    """

    id: str
    title: str
    date: str
    publisher: str
    source_file: str
    note: str
    body: str
    source_url: str = ""
    reviewed_by: str = ""
    next_review: str = ""
    version: int = 1


@dataclass(frozen=True)
class Chunk:
    """A passage of one article, the unit of dense and BM25 search.

    Attributes:
        article_id: The article's id.
        index: Position of the chunk in its article.
        start: Offset of the first character in the article body.
        end: Offset one past the last character.
        text: ``body[start:end]``.
        heading: The section heading in force at the chunk's start ("" if none).
        tokens: cl100k token count of ``text``.
    """

    article_id: str
    index: int
    start: int
    end: int
    text: str
    heading: str
    tokens: int

    @property
    def chunk_id(self) -> str:
        return f"{self.article_id}#{self.index}"


@dataclass(frozen=True)
class Sentence:
    """A citable unit of an article (a sentence, a list item or a heading), as indexed.

    Attributes:
        article_id: The article's id.
        start: Offset of the first character in the body.
        end: Offset one past the last character.
        text: ``body[start:end]``.
        heading: True for a line that reads as a section heading, not a statement.
        chunk: Position in the chunk table of the first chunk holding it.
    """

    article_id: str
    start: int
    end: int
    text: str
    heading: bool
    chunk: int


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with its scores (dense = cosine similarity to the question)."""

    chunk: Chunk
    fused: float
    dense: float
    lexical: float


@dataclass(frozen=True)
class ScoredSentence:
    """A candidate sentence and why it scored as it did.

    Attributes:
        record: The sentence (exact span in its article).
        position: Its index in the sentence table.
        similarity: Cosine similarity of the sentence to the question.
        passage: The best-scoring passage holding it.
        score: The ranking score (see ``retrieval.scoring``).
        lexical: IDF-weighted share of the question's terms in the sentence's context (0..1).
        relevance: How well the articles cover the question at all, the same for every
            candidate of one question; the gate in ``answer.py`` compares it with
            ``min_relevance``.
    """

    record: Sentence
    position: int
    similarity: float
    passage: Passage
    score: float = 0.0
    lexical: float = 0.0
    relevance: float = 0.0

    @classmethod
    def made(
        cls,
        record: Sentence,
        position: int,
        similarity: float,
        passage: Passage,
        score: float,
        lexical: float,
        relevance: float,
    ) -> ScoredSentence:
        """The same object as ``ScoredSentence(...)`` with every field given, made in one step
        rather than the frozen ``__init__``'s seven ``object.__setattr__`` calls: retrieval makes
        one for every citable sentence of every question (~0.2 ms an answer saved)."""
        out = _new(cls)
        _set(
            out,
            "__dict__",
            {
                "record": record,
                "position": position,
                "similarity": similarity,
                "passage": passage,
                "score": score,
                "lexical": lexical,
                "relevance": relevance,
            },
        )
        return out


_new = object.__new__
_set = object.__setattr__


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
    # Shown beside the quote when it holds one of the articles' claims that staff listed as
    # dubious (corpus/README.md): the clinic's words with staff's reason; "" for every other.
    caution: str = ""


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
    approved: int | None = None  # the id of the staff-approved answer given, if one was
    # The relevance the gate compared with the threshold (the best candidate's score); the
    # eval uses it to draw the answered/abstained trade-off without asking again.
    confidence: float = 0.0
    # Triage's tier and kind with the numbers to call (``safety.triage.Triage.safety_field``):
    # None, or {"tier": "emergency" | "safety_net", "kind": "poisoning", "contacts": [{"label",
    # "number", "tel", "role"}]}. An emergency's status is "emergency"; a safety-net answer keeps
    # its status and starts with one bold line (``messages.safety_net_line``).
    safety: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The answer as plain data: ``dataclasses.asdict`` (same keys, order and values, every
        container a copy), timings rounded to 0.01 ms. Built by ``_plain``, which skips
        ``asdict``'s deep copy of every string and number: a third of the served app's JSON
        work for an answer (~0.1 ms of ~0.15)."""
        data = {f.name: _plain(getattr(self, f.name)) for f in _fields(type(self))}
        data["timings"] = {k: round(v, 2) for k, v in self.timings.items()}
        return data

    def fields_dict(self) -> dict[str, Any]:
        """``to_dict``'s keys, order and values without its copies: the citations (and the
        safety field) as they are, for an encoder that reads dataclasses itself (the API's
        orjson: the same JSON as ``json.dumps(to_dict())``, for a tenth of the CPU)."""
        data = {f.name: getattr(self, f.name) for f in _fields(type(self))}
        data["timings"] = {k: round(v, 2) for k, v in self.timings.items()}
        return data


_SCALARS = (str, int, float, bool, type(None))
_FIELDS: dict[type, tuple[Any, ...]] = {}


def _fields(cls: type) -> tuple[Any, ...]:
    found = _FIELDS.get(cls)
    if found is None:
        found = _FIELDS[cls] = fields(cls)
    return found


def _plain(value: Any) -> Any:
    """``value`` as ``asdict`` gives it: dataclasses as dicts, lists, tuples and dicts copied
    with their items converted, anything else deep-copied; strings and numbers (immutable,
    most of an answer) as they are."""
    if type(value) in _SCALARS:
        return value
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in _fields(type(value))}
    if type(value) is list:
        return [_plain(v) for v in value]
    if type(value) is dict:
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, dict)):  # subclasses, named tuples: asdict's own way
        return asdict(_Box(value))["value"]
    return copy.deepcopy(value)


@dataclass
class _Box:
    """Carries a value through ``asdict`` (for the rare container ``_plain`` leaves to it)."""

    value: Any


@dataclass(frozen=True)
class Turn:
    """One earlier message of the conversation."""

    role: str  # "user" or "assistant"
    content: str
