"""The command line of CONTRACT.md; errors become one clean line on stderr.

One module a group of commands: ``ask`` (ingest, ask, batch, serve), ``eval``, ``review``,
``articles``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from chatbot.cli import articles, ask, eval, review
from chatbot.cli.common import EXIT_ERROR, EXIT_OK, EXIT_USAGE, UsageError, quiet_libraries
from chatbot.errors import ChatbotError

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_USAGE", "UsageError", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chatbot",
        description="Answers questions on Restless Legs Syndrome from the clinic's articles.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for group in (ask, eval, review, articles):
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    quiet_libraries()
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
