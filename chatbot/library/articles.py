"""The clinic's library on disk: ``corpus/`` stays the source of truth, and the staff area and
the command line write the same files.

    corpus/<id>.md                  the articles in service (what ``load_corpus`` reads)
    corpus/versions/<id>/<n>.md     every version of each article, as it was saved
    corpus/retired/<id>.md          articles taken out of service (their history is kept)

Every change (new text or new metadata) is a new version: the file is written whole to a
temporary name and renamed over the old one, its previous content already kept as a version.
An article that never changed has no history folder and is version 1. Writes from several
processes are serialised by a lock on the corpus folder itself (``flock``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path

from chatbot.corpus import format_article, header_of, load_corpus, parse_article
from chatbot.errors import ChatbotError, CorpusError
from chatbot.library.extract import MAX_BODY_CHARS, Extracted, clean_text
from chatbot.types import Article

VERSIONS = "versions"
RETIRED = "retired"
EDITABLE = ("title", "date", "publisher", "source_url", "reviewed_by", "next_review", "note")


class LibraryError(ChatbotError):
    """A change to the library that cannot be made as asked (nothing was changed)."""


@dataclass(frozen=True)
class Version:
    """One saved version of an article."""

    number: int
    saved: float | None  # when (None: before the library kept history)
    saved_by: str
    change: str
    article: Article


def slug(title: str) -> str:
    """An article id from a title: lower-case ASCII words joined by '-' (at most 60 chars)."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_title.lower())
    out = ""
    for w in words:
        if len(out) + len(w) + 1 > 60:
            break
        out = f"{out}-{w}" if out else w
    return out or "article"


def check_meta(fields: dict[str, str]) -> dict[str, str]:
    """Metadata as stored: one line each, dates ISO, a link http(s); or LibraryError."""
    out = {k: " ".join(str(v).split())[:300] for k, v in fields.items()}
    for key in ("date", "next_review"):
        if out.get(key):
            try:
                date.fromisoformat(out[key])
            except ValueError as exc:
                name = "date" if key == "date" else "next review date"
                raise LibraryError(f"the {name} must be YYYY-MM-DD, not {out[key]!r}") from exc
    url = out.get("source_url", "")
    if url and not re.match(r"^https?://[^\s/]+", url):
        raise LibraryError(f"the source link must start with http:// or https://, not {url!r}")
    if "title" in out and not out["title"]:
        raise LibraryError("an article needs a title")
    return out


class Library:
    """The articles in ``corpus_dir``, their versions and the retired ones."""

    def __init__(self, corpus_dir: Path) -> None:
        self.root = Path(corpus_dir)

    # -- reading ----------------------------------------------------------------------------

    def articles(self) -> list[Article]:
        """The articles in service, sorted by id (an empty library gives [])."""
        if not any(self.root.glob("*.md")) or self._only_readme():
            return []
        return load_corpus(self.root)

    def _only_readme(self) -> bool:
        return all(p.name.lower() == "readme.md" for p in self.root.glob("*.md"))

    def get(self, article_id: str) -> Article | None:
        path = self._path(article_id)
        return self._read(path) if path is not None and path.exists() else None

    def retired(self) -> list[Article]:
        folder = self.root / RETIRED
        return [self._read(p) for p in sorted(folder.glob("*.md"))] if folder.is_dir() else []

    def get_any(self, article_id: str) -> tuple[Article, bool] | None:
        """(article, in service) for an article in service or retired."""
        art = self.get(article_id)
        if art is not None:
            return art, True
        path = self._path(article_id, RETIRED)
        return (self._read(path), False) if path is not None and path.exists() else None

    def history(self, article_id: str) -> list[Version]:
        """Every version, oldest first; [] for an unknown article."""
        found = self.get_any(article_id)
        if found is None:
            return []
        folder = self.root / VERSIONS / article_id
        versions = []
        if folder.is_dir():
            for p in folder.glob("*.md"):
                if p.stem.isdigit():
                    versions.append(self._version(p, article_id))
        versions.sort(key=lambda v: v.number)
        if not versions:  # never changed since the library kept history
            versions = [Version(found[0].version, None, "", "as first published", found[0])]
        return versions

    def version(self, article_id: str, number: int) -> Article | None:
        return next((v.article for v in self.history(article_id) if v.number == number), None)

    def version_at(self, article_id: str, when: float) -> int | None:
        """The version in service at time ``when`` (a logged answer's time), if known."""
        best = None
        for v in self.history(article_id):
            if v.saved is None or v.saved <= when:
                best = v.number
        return best

    # -- changing ---------------------------------------------------------------------------

    def add(self, extracted: Extracted, by: str, **meta: str) -> Article:
        """A new article in service from extracted text; ``meta`` overrides what the file said.

        Raises:
            LibraryError: no title, a bad date or link, an id already taken.
        """
        fields = {
            "title": extracted.title,
            "date": extracted.date,
            "publisher": extracted.publisher,
            "source_url": extracted.source_url,
            "note": extracted.note,
        }
        fields.update({k: v for k, v in meta.items() if v is not None and k != "id"})
        fields = check_meta(fields)
        if not fields.get("title"):
            raise LibraryError("an article needs a title: give one (--title, or in the form)")
        with self._locked():
            article_id = meta.get("id") or self._free_id(slug(fields["title"]))
            if self._path(article_id) is None:
                raise LibraryError(f"{article_id!r} cannot be an article id")
            if self.get_any(article_id) is not None:
                raise LibraryError(f"there is already an article {article_id!r}")
            article = Article(
                id=article_id,
                title=fields["title"],
                date=fields.get("date", ""),
                publisher=fields.get("publisher", ""),
                source_file=meta.get("source_file", "") or "",
                note=fields.get("note", ""),
                body=self._body(extracted.body),
                source_url=fields.get("source_url", ""),
                reviewed_by=fields.get("reviewed_by", ""),
                next_review=fields.get("next_review", ""),
            )
            self._save(article, by, "added")
            return article

    def edit(self, article_id: str, by: str, body: str | None = None, **meta: str) -> Article:
        """A new version of an article in service with a new body and/or metadata.

        Raises:
            LibraryError: no such article, nothing changed, bad metadata, an empty body.
        """
        with self._locked():
            current = self.get(article_id)
            if current is None:
                raise LibraryError(f"there is no article {article_id!r} in service")
            fields = check_meta({k: v for k, v in meta.items() if k in EDITABLE and v is not None})
            changed = replace(current, **fields)  # type: ignore[arg-type]
            if body is not None and body.replace("\r\n", "\n") != current.body:
                changed = replace(changed, body=self._body(body))
            if changed == current:
                raise LibraryError("nothing changed: the text and details are as they were")
            what = [k for k in EDITABLE if getattr(changed, k) != getattr(current, k)]
            change = "text" + (" and " if what else "") if changed.body != current.body else ""
            change = "edited " + change + ", ".join(what)
            self._keep_first(current)
            new = replace(changed, version=self._next_version(article_id))
            self._save(new, by, change.strip())
            return new

    def retire(self, article_id: str, by: str) -> Article:
        """Take an article out of service; its file and history are kept under retired/."""
        with self._locked():
            current = self.get(article_id)
            if current is None:
                raise LibraryError(f"there is no article {article_id!r} in service")
            if len(self.articles()) <= 1:
                raise LibraryError("the last article cannot be retired: the bot needs one")
            self._keep_first(current)
            folder = self.root / RETIRED
            folder.mkdir(parents=True, exist_ok=True)
            retired = replace(current, version=self._next_version(article_id))
            self._write(folder / f"{article_id}.md", format_article(retired))
            self._write_version(retired, by, "retired")
            os.unlink(self.root / f"{article_id}.md")
            return retired

    # -- the files --------------------------------------------------------------------------

    def _body(self, body: str) -> str:
        body = clean_text(body)
        if not body.strip():
            raise LibraryError("the article text is empty")
        if len(body) > MAX_BODY_CHARS:
            raise LibraryError(f"the article text is longer than {MAX_BODY_CHARS:,} characters")
        if body.startswith("---\n"):
            raise LibraryError("the article text cannot start with a '---' line")
        return body

    def _path(self, article_id: str, sub: str = "") -> Path | None:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,79}", article_id or ""):
            return None
        folder = self.root / sub if sub else self.root
        return folder / f"{article_id}.md"

    def _read(self, path: Path) -> Article:
        try:
            return parse_article(path.read_text(encoding="utf-8"), path.stem)
        except (OSError, UnicodeDecodeError) as exc:
            raise CorpusError(f"cannot read {path}: {exc}") from exc

    def _version(self, path: Path, article_id: str) -> Version:
        text = path.read_text(encoding="utf-8")
        meta = header_of(text)
        art = parse_article(text, article_id)
        saved = meta.get("saved", "")
        try:
            when: float | None = datetime.fromisoformat(saved).timestamp() if saved else None
        except ValueError:
            when = None
        return Version(int(path.stem), when, meta.get("saved_by", ""), meta.get("change", ""), art)

    def _free_id(self, base: str) -> str:
        candidate, n = base, 2
        while self.get_any(candidate) is not None or (self.root / VERSIONS / candidate).exists():
            candidate, n = f"{base}-{n}", n + 1
        return candidate

    def _next_version(self, article_id: str) -> int:
        return max(v.number for v in self.history(article_id)) + 1

    def _keep_first(self, current: Article) -> None:
        """Before the first change, the article as it was becomes version 1 of its history."""
        folder = self.root / VERSIONS / current.id
        if not folder.is_dir() or not any(folder.glob("*.md")):
            self._write_version(current, "", "as first published", saved=None)

    def _save(self, article: Article, by: str, change: str) -> None:
        self._write(self.root / f"{article.id}.md", format_article(article))
        self._write_version(article, by, change)

    def _write_version(
        self, article: Article, by: str, change: str, saved: float | None = -1.0
    ) -> None:
        folder = self.root / VERSIONS / article.id
        folder.mkdir(parents=True, exist_ok=True)
        when = time.time() if saved == -1.0 else saved
        extra = {"saved_by": by, "change": change}
        if when is not None:
            extra = {"saved": datetime.fromtimestamp(when, UTC).isoformat(), **extra}
        self._write(folder / f"{article.version}.md", format_article(article, extra))

    @staticmethod
    def _write(path: Path, text: str) -> None:
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            with open(tmp, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise LibraryError(f"cannot write {path}: {exc.strerror or exc}") from exc

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.root, os.O_RDONLY)  # the folder itself: no lock file left behind
        except OSError as exc:
            raise LibraryError(f"cannot write to the corpus folder {self.root}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
