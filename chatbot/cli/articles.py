"""``python -m chatbot articles ...``: the clinic's library from the command line.

    articles add FILE [--title T] [--date YYYY-MM-DD] [--publisher P] [--source-url U]
    articles list [--json] / show ID [--json] / history ID [--json] / retire ID

Each reads and writes ``CHATBOT_CORPUS_DIR`` (or ``--corpus``), the same files the staff area
writes; every change is a new version and goes into the audit log (when a review store can be
opened). No model is loaded: the server picks up the change on its next start (its index is
then stale and rebuilt), or at once with "Re-index now" in the staff area.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chatbot.cli.common import settings_of
from chatbot.errors import ChatbotError


def _library(args: argparse.Namespace) -> Any:
    from chatbot.library.articles import Library

    return Library(Path(settings_of(args).paths.corpus_dir))


def _who(args: argparse.Namespace) -> str:
    if getattr(args, "by", None):
        return str(args.by)
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli"


def _audit(args: argparse.Namespace, action: str, target: str, **detail: Any) -> None:
    """Record the change in the review store's audit log; a missing store is no error here."""
    try:
        from chatbot.review.store import open_store

        open_store(settings_of(args)).record(_who(args), action, target, **detail)
    except Exception as exc:
        print(f"note: not recorded in the audit log ({exc})", file=sys.stderr)


def _summary(a: Any) -> dict[str, Any]:
    return {
        "id": a.id,
        "title": a.title,
        "date": a.date,
        "publisher": a.publisher,
        "source_url": a.source_url,
        "reviewed_by": a.reviewed_by,
        "next_review": a.next_review,
        "version": a.version,
        "words": len(a.body.split()),
    }


def cmd_add(args: argparse.Namespace) -> int:
    from chatbot.library.extract import MAX_FILE_BYTES, ExtractionError, extract

    path = Path(args.file)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ExtractionError(
                f"{path.name} is {size / 1048576:.1f} MB, over the limit of "
                f"{MAX_FILE_BYTES // 1048576} MB for one article; split it or paste the text"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise ChatbotError(f"cannot read {path}: {exc.strerror or exc}") from exc
    found = extract(data, path.name)
    meta = {
        "title": args.title,
        "date": args.date,
        "publisher": args.publisher,
        "source_url": args.source_url,
    }
    article = _library(args).add(found, _who(args), source_file=path.name, **meta)
    _audit(args, "article_added", f"article:{article.id}", title=article.title, source=path.name)
    print(
        f"added {article.id}: {article.title!r} ({found.kind}, {len(article.body.split())} "
        f"words). Run `python -m chatbot ingest` or re-index in the staff area to answer from it."
    )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    library = _library(args)
    items = [_summary(a) | {"status": "published"} for a in library.articles()]
    if args.all:
        items += [_summary(a) | {"status": "retired"} for a in library.retired()]
    if args.json:
        print(json.dumps(items, ensure_ascii=False))
        return 0
    for a in items:
        state = "" if a["status"] == "published" else " (retired)"
        print(f"{a['id']:<32} v{a['version']:<3} {a['date'] or '-':<10}  {a['title']}{state}")
    print(f"{len(items)} article(s)", file=sys.stderr)
    return 0


def _find(args: argparse.Namespace) -> tuple[Any, bool]:
    found = _library(args).get_any(args.id)
    if found is None:
        raise ChatbotError(f"there is no article {args.id!r} (see `articles list --all`)")
    return found  # type: ignore[no-any-return]


def cmd_show(args: argparse.Namespace) -> int:
    article, in_service = _find(args)
    if args.json:
        out = _summary(article) | {
            "status": "published" if in_service else "retired",
            "note": article.note,
            "body": article.body,
        }
        print(json.dumps(out, ensure_ascii=False))
        return 0
    print(f"{article.title}  [{article.id}, version {article.version}]")
    if not in_service:
        print("RETIRED: no longer used to answer")
    for label, value in (
        ("date", article.date),
        ("publisher", article.publisher),
        ("source", article.source_url),
        ("reviewed by", article.reviewed_by),
        ("next review", article.next_review),
        ("note", article.note),
    ):
        if value:
            print(f"{label}: {value}")
    print()
    print(article.body, end="" if article.body.endswith("\n") else "\n")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    _find(args)
    versions = _library(args).history(args.id)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "version": v.number,
                        "saved": v.saved,
                        "saved_by": v.saved_by,
                        "change": v.change,
                        "title": v.article.title,
                        "words": len(v.article.body.split()),
                    }
                    for v in versions
                ],
                ensure_ascii=False,
            )
        )
        return 0
    for v in versions:
        when = (
            datetime.fromtimestamp(v.saved, UTC).strftime("%Y-%m-%d %H:%M UTC")
            if v.saved
            else "before history was kept"
        )
        print(f"v{v.number:<3} {when:<24} {v.saved_by or '-':<16} {v.change}")
    return 0


def cmd_retire(args: argparse.Namespace) -> int:
    article = _library(args).retire(args.id, _who(args))
    _audit(args, "article_retired", f"article:{article.id}", version=article.version)
    print(f"retired {article.id}; its file and history are kept in retired/ and versions/")
    return 0


def register(subparsers: Any) -> None:
    """Add ``articles`` and its subcommands to the main parser."""
    p = subparsers.add_parser("articles", help="the clinic's articles (add, list, show, ...)")
    sub = p.add_subparsers(dest="articles_command", required=True)

    def common(q: argparse.ArgumentParser) -> argparse.ArgumentParser:
        q.add_argument("--corpus", help="corpus folder (CHATBOT_CORPUS_DIR)")
        q.add_argument("--data", help="data folder for the audit log (CHATBOT_DATA_DIR)")
        return q

    q = common(sub.add_parser("add", help="a new article from a file (md, txt, html, pdf, docx)"))
    q.add_argument("file")
    q.add_argument("--title")
    q.add_argument("--date", help="YYYY-MM-DD")
    q.add_argument("--publisher")
    q.add_argument("--source-url", dest="source_url")
    q.add_argument("--by", help="who adds it (default cli:<user>)")
    q.set_defaults(func=cmd_add)

    q = common(sub.add_parser("list", help="the articles in service"))
    q.add_argument("--json", action="store_true")
    q.add_argument("--all", action="store_true", help="retired articles too")
    q.set_defaults(func=cmd_list)

    q = common(sub.add_parser("show", help="one article with its details"))
    q.add_argument("id")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_show)

    q = common(sub.add_parser("history", help="the versions of an article"))
    q.add_argument("id")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_history)

    q = common(sub.add_parser("retire", help="take an article out of service"))
    q.add_argument("id")
    q.add_argument("--by", help="who retires it (default cli:<user>)")
    q.set_defaults(func=cmd_retire)
