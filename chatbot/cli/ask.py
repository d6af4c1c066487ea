"""``ingest``, ``ask`` (one question, or JSON Lines streamed with ``--batch``) and ``serve``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from chatbot.cli.common import EXIT_ERROR, EXIT_OK, UsageError, settings_of
from chatbot.errors import BadInputError
from chatbot.types import Answer, Turn


def cmd_ingest(args: argparse.Namespace) -> int:
    from chatbot.corpus import load_corpus
    from chatbot.embedding import SentenceTransformerEmbedder
    from chatbot.index import build_index, read_manifest
    from chatbot.safety.model import triage_model

    settings = settings_of(args)
    paths, chunking = settings.paths, settings.chunking
    articles = load_corpus(Path(paths.corpus_dir))
    embedder = SentenceTransformerEmbedder()
    build_index(
        articles,
        embedder,
        paths.index_dir,
        chunking.chunk_tokens,
        chunking.overlap_tokens,
    )
    manifest = read_manifest(paths.index_dir)
    print(
        f"indexed {manifest['articles']} articles into {manifest['chunks']} chunks "
        f"({manifest['sentences']} sentences) in {paths.index_dir} [{manifest['hash']}]"
    )
    # Triage's learned layers, beside the index (rebuilt only when their training data changed).
    model = triage_model(Path(paths.index_dir), embedder, cache_dir=settings.web.model_cache_dir)
    if model is not None:
        cv = model.report.get("cross_validated", {})
        print(
            f"triage model: {model.report.get('examples')} messages, cross-validated recall "
            f"{cv.get('recall', 0):.1%}, near-misses emergency-only "
            f"{cv.get('near_miss_emergency_rate', 0):.1%} [{model.key}]"
        )
    if not getattr(args, "quiet", False):
        print_facet_map(settings, embedder)
    return EXIT_OK


def print_facet_map(settings: Any, embedder: Any) -> None:
    """The articles' structure as the bot reads it, for staff to check (``structure``): each
    article's headings with their sentences' facets, and every sentence marked promotion or
    dubious, with staff's corrections (header ``facets:``, corpus/README.md) applied."""
    from chatbot.pipeline import open_index
    from chatbot.structure import apply_inputs, facet_map, read_inputs

    index = open_index(settings, embedder, rebuild=False)
    inputs = read_inputs(settings.paths.corpus_dir)
    facts = apply_inputs(index.structure, index.sentences, inputs)
    print("\nfacet map (per heading: sentences by facet):")
    for line in facet_map(facts, index.sentences):
        print(f"  {line}")
    for problem in inputs.problems:
        print(f"  warning: {problem}")


def _print_answer(answer: Answer, as_json: bool) -> None:
    if as_json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False))
        return
    print(answer.answer)
    if answer.citations:
        print("\nSources:")
        for c in answer.citations:
            print(f'[{c.id}] {c.title} ({c.article}, chars {c.start}-{c.end}): "{c.quote}"')
            if c.caution:
                print(f"    {c.caution}")
    print(f"\n{answer.disclaimer}")


def cmd_ask(args: argparse.Namespace) -> int:
    from chatbot.pipeline import build_bot
    from chatbot.safety.hygiene import clean_question

    settings = settings_of(args)
    if args.batch:
        if args.question:
            raise UsageError("give either a QUESTION or --batch, not both")
        return ask_batch(build_bot(settings), sys.stdin, sys.stdout)
    if args.question is None:
        raise UsageError("ask needs a QUESTION (or --batch to read JSON Lines from stdin)")
    # Fail fast, before the model loads.
    clean_question(args.question, settings.safety.max_question_chars)
    _print_answer(build_bot(settings).ask(args.question, channel="cli"), args.json)
    return EXIT_OK


def _history(obj: dict[str, Any]) -> list[Turn]:
    turns = obj.get("history") or []
    if not isinstance(turns, list):
        raise BadInputError('"history" must be a list of {"role", "content"} turns')
    return [
        Turn(str(t.get("role", "")), str(t.get("content", "")))
        for t in turns
        if isinstance(t, dict)
    ]


def ask_batch(bot: Any, lines: Iterable[str], out: IO[str]) -> int:
    """Answer JSON Lines one at a time: each answer is written and flushed before the next line
    is read, so a program can write a question and wait for its answer (a co-process). A bad
    line gets ``{"error": ..., "line": n}`` in its place and the others are answered.

    Returns:
        0, or 1 when any line could not be answered.
    """
    failures = answered = 0
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict) or "question" not in obj:
                raise BadInputError('the line has no "question" field')
            answer = bot.ask(obj["question"], _history(obj), channel="batch")
        except json.JSONDecodeError as exc:
            failures += 1
            out.write(json.dumps({"error": f"not JSON ({exc.msg})", "line": n}) + "\n")
        except BadInputError as exc:
            failures += 1
            out.write(json.dumps({"error": str(exc), "line": n}, ensure_ascii=False) + "\n")
        else:
            answered += 1
            out.write(json.dumps(answer.to_dict(), ensure_ascii=False) + "\n")
        out.flush()
    if failures:
        print(
            f"error: {failures} of {failures + answered} lines could not be answered",
            file=sys.stderr,
        )
        return EXIT_ERROR
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from chatbot.web.app import serve

    settings = settings_of(args)
    serve(settings, host=args.host or settings.web.host, port=args.port or settings.web.port)
    return EXIT_OK


def worker_app() -> Any:
    """One worker process's app (``CHATBOT_WORKERS`` > 1; uvicorn imports and calls this in
    each fresh worker): quiet libraries, settings from the environment the parent passed on,
    and its own model, index and bot (``web.app.build`` through ``pipeline.build_bot``)."""
    from chatbot.cli.common import quiet_libraries
    from chatbot.config import load_settings
    from chatbot.web.app import build

    quiet_libraries()
    return build(load_settings())


def register(sub: Any) -> None:
    p = sub.add_parser("ingest", help="build or refresh the index from the corpus")
    p.add_argument("--corpus", help="corpus folder (default: corpus/)")
    p.add_argument("--index", help="index folder (default: index/)")
    p.add_argument("--quiet", action="store_true", help="do not print the facet map")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("ask", help="answer one question, or JSON Lines from stdin with --batch")
    p.add_argument("question", nargs="?", help="the question")
    p.add_argument("--json", action="store_true", help="print the answer object as JSON")
    p.add_argument("--batch", action="store_true", help="read JSON Lines questions from stdin")
    p.add_argument("--corpus", help=argparse.SUPPRESS)
    p.add_argument("--index", help="index folder (default: index/)")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("serve", help="run the web app (same as python app.py)")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 7860)")
    p.set_defaults(func=cmd_serve)
