"""Read corpus/: one article a file, a ``key: value`` header between ``---`` lines, then the body.

The body is the article's own text; every citation offset points into it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from chatbot.errors import CorpusError
from chatbot.types import Article

HEADER_FIELDS = (
    "id",
    "title",
    "date",
    "publisher",
    "source_file",
    "source_url",
    "reviewed_by",
    "next_review",
    "version",
    "note",
)
# Written only when set, so an article that never had them keeps its header as it was.
OPTIONAL_FIELDS = ("source_url", "reviewed_by", "next_review", "version")


def parse_article(text: str, stem: str) -> Article:
    """Parse one corpus file's text; ``stem`` is the file name without extension."""
    text = text.replace("\r\n", "\n")
    if not text.startswith("---\n"):
        raise CorpusError(f"corpus/{stem}: the file must start with a '---' header line")
    end = text.find("\n---\n", 4)
    if end < 0:
        raise CorpusError(f"corpus/{stem}: the header has no closing '---' line")
    meta: dict[str, str] = {}
    for line in text[4:end].split("\n"):
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise CorpusError(f"corpus/{stem}: header line {line!r} is not 'key: value'")
        meta[key.strip()] = value.strip()
    body = text[end + len("\n---\n") :]
    if meta.get("id", stem) != stem:
        raise CorpusError(f"corpus/{stem}: header id {meta['id']!r} must equal the file name")
    if not meta.get("title"):
        raise CorpusError(f"corpus/{stem}: the header needs a title")
    if not body.strip():
        raise CorpusError(f"corpus/{stem}: the article body is empty")
    version = meta.get("version", "1") or "1"
    if not version.isdigit() or int(version) < 1:
        raise CorpusError(f"corpus/{stem}: version {version!r} is not a number from 1 up")
    return Article(
        id=stem,
        title=meta["title"],
        date=meta.get("date", ""),
        publisher=meta.get("publisher", ""),
        source_file=meta.get("source_file", ""),
        note=meta.get("note", ""),
        body=body,
        source_url=meta.get("source_url", ""),
        reviewed_by=meta.get("reviewed_by", ""),
        next_review=meta.get("next_review", ""),
        version=int(version),
    )


def header_of(text: str) -> dict[str, str]:
    """The ``key: value`` header of a corpus file's text (empty when it has none)."""
    text = text.replace("\r\n", "\n")
    end = text.find("\n---\n", 4) if text.startswith("---\n") else -1
    meta: dict[str, str] = {}
    for line in text[4:end].split("\n") if end > 0 else []:
        key, sep, value = line.partition(":")
        if sep:
            meta[key.strip()] = value.strip()
    return meta


def format_article(article: Article, extra: dict[str, str] | None = None) -> str:
    """The text of ``article``'s file: its header (one line a field, ``extra`` fields after
    it) and its body exactly as it is."""
    lines = ["---"]
    for key in HEADER_FIELDS:
        value = str(getattr(article, key))
        if key in OPTIONAL_FIELDS and value in ("", "1"):
            continue
        lines.append(f"{key}: {' '.join(value.split())}")
    for key, value in (extra or {}).items():
        lines.append(f"{key}: {' '.join(str(value).split())}".rstrip())
    lines.append("---")
    return "\n".join(lines) + "\n" + article.body


def load_corpus(directory: Path) -> list[Article]:
    """Load every ``*.md`` article in ``directory``, sorted by id.

    Raises:
        CorpusError: the folder is missing, empty, or an article is malformed.
    """
    if not directory.is_dir():
        raise CorpusError(f"corpus folder {directory} does not exist")
    files = sorted(directory.glob("*.md"))
    files = [f for f in files if f.name.lower() != "readme.md"]
    if not files:
        raise CorpusError(f"corpus folder {directory} has no articles (*.md)")
    articles = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CorpusError(f"cannot read {path}: {exc}") from exc
        articles.append(parse_article(text, path.stem))
    return articles


def corpus_hash(articles: list[Article]) -> str:
    """A hash of everything in the corpus that changes what the index holds."""
    digest = hashlib.sha256()
    for art in articles:
        for part in (art.id, art.title, art.date, art.body):
            digest.update(part.encode("utf-8"))
            digest.update(b"\x00")
    return digest.hexdigest()[:16]
