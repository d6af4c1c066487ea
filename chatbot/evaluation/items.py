"""Reading a question set: JSON Lines, one item a line, checked with a message naming the line.

Two formats are read: the project's (``shared/eval/README.md``: ``split``, ``reference_answer``)
and the answer waves' (``/work/sets/ANSWER_FORMAT.md``: ``nuggets`` for broad questions,
``breadth``, ``style``, ``answerable``). Fields one format lacks are left empty.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatbot.errors import BadInputError

BEHAVIOURS = ("answer", "abstain", "emergency")
DEFAULT_QUESTIONS = Path(__file__).resolve().parent.parent.parent / "tests" / "questions.jsonl"


@dataclass(frozen=True)
class Nugget:
    """One fact a complete answer to a broad question holds.

    Attributes:
        fact: The fact, in the author's words.
        quote: A verbatim sentence of an article that states it.
        phrases: Lower-case substrings that say it (each occurs in ``quote``).
    """

    fact: str
    quote: str
    phrases: tuple[str, ...] = ()


@dataclass(frozen=True)
class EvalItem:
    """One question of a set (see the module docstring for the fields)."""

    id: str
    question: str
    expected: str
    gold_files: tuple[str, ...] = ()
    gold_quotes: tuple[str, ...] = ()
    key_phrases: tuple[str, ...] = ()
    history: tuple[tuple[str, str], ...] = ()
    split: str = ""
    line: int = 0
    tier: str = ""  # expected_tier of a safety set: emergency | safety_net | none
    kind: str = ""
    nuggets: tuple[Nugget, ...] = ()
    breadth: str = ""  # "narrow" | "broad" | "" (not labelled)
    style: str = ""


def load_questions(path: Path) -> list[EvalItem]:
    """Read and check a question set.

    Raises:
        BadInputError: the file is missing, unreadable, or a line is not a valid item; the
            message names the file and the line.
    """
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise BadInputError(f"question file {path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(f"question file {path} cannot be read as UTF-8 text ({exc})") from exc
    items: list[EvalItem] = []
    seen: dict[str, int] = {}
    for n, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        where = f"question file {path} line {n}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BadInputError(f"{where} is not JSON ({exc.msg})") from exc
        item = _parse_item(obj, where, n)
        if item.id in seen:
            raise BadInputError(f'{where}: id "{item.id}" was already used on line {seen[item.id]}')
        seen[item.id] = n
        items.append(item)
    if not items:
        raise BadInputError(f"question file {path} has no questions (JSON Lines, one a line)")
    return items


def _strings(obj: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = obj.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadInputError(f'{where}: "{key}" must be a list of strings')
    return tuple(value)


def _nuggets(obj: Mapping[str, Any], where: str) -> tuple[Nugget, ...]:
    raw = obj.get("nuggets") or []
    if not isinstance(raw, list):
        raise BadInputError(f'{where}: "nuggets" must be a list of {{"fact", "quote", "phrases"}}')
    out = []
    for n in raw:
        if not isinstance(n, dict) or not isinstance(n.get("quote", ""), str):
            raise BadInputError(f'{where}: each nugget needs "fact", "quote" and "phrases"')
        phrases = _strings(n, "phrases", where)
        if not phrases and not n.get("quote"):
            raise BadInputError(f'{where}: a nugget needs "phrases" or a "quote"')
        out.append(
            Nugget(
                str(n.get("fact", "")), str(n.get("quote", "")), tuple(p.lower() for p in phrases)
            )
        )
    return tuple(out)


def _parse_item(obj: Any, where: str, line: int) -> EvalItem:
    if not isinstance(obj, dict):
        raise BadInputError(f"{where} is not a JSON object")
    question = obj.get("question")
    if not isinstance(question, str) or not question.strip():
        raise BadInputError(f'{where} has no "question" text')
    expected = obj.get("expected_behaviour")
    if expected not in BEHAVIOURS:
        raise BadInputError(
            f'{where}: "expected_behaviour" must be one of {", ".join(BEHAVIOURS)} '
            f"(got {expected!r})"
        )
    history_raw = obj.get("history") or []
    if not isinstance(history_raw, list):
        raise BadInputError(f'{where}: "history" must be a list of {{"role", "content"}} turns')
    history: list[tuple[str, str]] = []
    for turn in history_raw:
        if (
            not isinstance(turn, dict)
            or turn.get("role") not in ("user", "assistant")
            or not isinstance(turn.get("content"), str)
        ):
            raise BadInputError(
                f'{where}: each "history" turn needs "role" (user or assistant) and "content" text'
            )
        history.append((turn["role"], turn["content"]))
    breadth = obj.get("breadth") or ""
    if breadth not in ("", "narrow", "broad"):
        raise BadInputError(f'{where}: "breadth" must be "narrow" or "broad" (got {breadth!r})')
    return EvalItem(
        id=str(obj.get("id") or f"line-{line}"),
        question=question,
        expected=expected,
        gold_files=_strings(obj, "gold_files", where),
        gold_quotes=_strings(obj, "gold_quotes", where),
        key_phrases=tuple(k.lower() for k in _strings(obj, "key_phrases", where)),
        history=tuple(history),
        split=str(obj.get("split") or ""),
        line=line,
        tier=str(obj.get("expected_tier") or ""),
        kind=str(obj.get("kind") or ""),
        nuggets=_nuggets(obj, where),
        breadth=breadth,
        style=str(obj.get("style") or ""),
    )
