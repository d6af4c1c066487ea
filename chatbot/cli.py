"""The command line of CONTRACT.md; errors become one clean line on stderr."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chatbot.errors import BadInputError, ChatbotError

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def _quiet_libraries() -> None:
    # Never reach for a model hub, never send Gradio analytics, keep progress bars off stdout.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import logging
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    logging.getLogger("sentence_transformers").setLevel(logging.ERROR)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:  # pragma: no cover
        pass


def _settings(args: argparse.Namespace) -> Any:
    from chatbot.config import load_settings

    overrides: dict[str, Any] = {}
    if getattr(args, "data", None):
        overrides["data_dir"] = Path(args.data)
    if getattr(args, "corpus", None):
        overrides["corpus_dir"] = Path(args.corpus)
    if getattr(args, "index", None):
        overrides["index_dir"] = Path(args.index)
    return load_settings(**overrides)


def _embedder() -> Any:
    from chatbot.embedding import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()


def cmd_ingest(args: argparse.Namespace) -> int:
    from chatbot.corpus import load_corpus
    from chatbot.index import build_index, read_manifest

    settings = _settings(args)
    articles = load_corpus(Path(settings.corpus_dir))
    build_index(
        articles, _embedder(), settings.index_dir, settings.chunk_tokens, settings.overlap_tokens
    )
    manifest = read_manifest(settings.index_dir)
    print(
        f"indexed {manifest['articles']} articles into {manifest['chunks']} chunks "
        f"({manifest['sentences']} sentences) in {settings.index_dir} [{manifest['hash']}]"
    )
    return EXIT_OK


def load_bot(settings: Any, rebuild: bool = False) -> Any:
    """A Bot over the configured index (the review store attached when there is one)."""
    from chatbot.bot import Bot, open_index

    embedder = _embedder()
    index = open_index(settings, embedder, rebuild=rebuild)
    return Bot(settings, index, embedder, log=open_log(settings))


def open_log(settings: Any) -> Any:
    """The review store behind its guard: a store that cannot be opened (a read-only or full
    data folder) leaves the bot answering, with the failure reported by ``/healthz``."""
    from chatbot.bot import GuardedLog
    from chatbot.store import open_store

    try:
        return GuardedLog(open_store(settings), lambda: open_store(settings))
    except Exception as exc:
        import logging

        logging.getLogger("chatbot.review").error(
            "review store: cannot open it (%s); answering without a log until it can", exc
        )
        return GuardedLog(None, lambda: open_store(settings), f"open: {exc}")


def _print_answer(answer: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False))
        return
    print(answer.answer)
    if answer.citations:
        print("\nSources:")
        for c in answer.citations:
            print(f'[{c.id}] {c.title} ({c.article}, chars {c.start}-{c.end}): "{c.quote}"')
    print(f"\n{answer.disclaimer}")


def cmd_ask(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.batch:
        if args.question:
            raise UsageError("give either a QUESTION or --batch, not both")
        return _ask_batch(settings)
    if args.question is None:
        raise UsageError("ask needs a QUESTION (or --batch to read JSON Lines from stdin)")
    from chatbot.safety import clean_question

    clean_question(args.question, settings.max_question_chars)  # fail fast, before the model loads
    bot = load_bot(settings)
    _print_answer(bot.ask(args.question, channel="cli"), args.json)
    return EXIT_OK


def _ask_batch(settings: Any) -> int:
    from chatbot.bot import Turn

    lines = sys.stdin.read().splitlines()
    items: list[tuple[int, dict[str, Any]]] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BadInputError(f"stdin line {n} is not JSON ({exc.msg})") from exc
        if not isinstance(obj, dict) or "question" not in obj:
            raise BadInputError(f'stdin line {n} has no "question" field')
        items.append((n, obj))
    bot = load_bot(settings)
    failures = 0
    for n, obj in items:
        history = [
            Turn(str(t.get("role", "")), str(t.get("content", "")))
            for t in obj.get("history") or []
            if isinstance(t, dict)
        ]
        try:
            answer = bot.ask(obj["question"], history, channel="batch")
        except BadInputError as exc:
            # One bad line must not lose the others: report it in place and go on.
            failures += 1
            print(json.dumps({"error": str(exc), "line": n}), flush=True)
            continue
        print(json.dumps(answer.to_dict(), ensure_ascii=False), flush=True)
    if failures:
        print(f"error: {failures} of {len(items)} lines could not be answered", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from chatbot.web.server import serve

    settings = _settings(args)
    serve(settings, host=args.host or settings.host, port=args.port or settings.port)
    return EXIT_OK


class UsageError(Exception):
    """Wrong use of the command line (exit code 2)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chatbot",
        description="Answers questions on Restless Legs Syndrome from the clinic's articles.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="build or refresh the index from the corpus")
    p.add_argument("--corpus", help="corpus folder (default: corpus/)")
    p.add_argument("--index", help="index folder (default: index/)")
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

    for extra in EXTRA_COMMANDS:
        extra(sub)
    return parser


# Other modules add subcommands here (eval, review) without touching the core of this file.
EXTRA_COMMANDS: list[Any] = []


def _register_extras() -> None:
    import importlib

    for name in ("chatbot.evaluation", "chatbot.review_cli"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        register = getattr(module, "register_cli", None)
        if register is not None and register not in EXTRA_COMMANDS:
            EXTRA_COMMANDS.append(register)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    _quiet_libraries()
    _register_extras()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except UsageError as exc:
        parser.print_usage(sys.stderr)
        print(f"chatbot: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ChatbotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        # The reader went away (`... | head`): not an error of ours. Point stdout at devnull so
        # the interpreter's final flush does not complain either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:  # the edge: a user never sees a traceback
        print(f"error: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERROR
