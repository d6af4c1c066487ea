"""Answer → safe HTML/Markdown for the pages. Everything from users or articles is escaped."""

from __future__ import annotations

import html

from chatbot.answer import Answer


def answer_markdown(answer: Answer) -> str:
    """The chat bubble: the answer, its numbered sources with quotes, and the disclaimer."""
    parts = [html.escape(answer.answer, quote=False)]
    if answer.citations:
        parts.append("\n\n**Sources**")
        for c in answer.citations:
            date = f", {html.escape(c.date)}" if c.date else ""
            parts.append(
                f"\n\n[{c.id}] *{html.escape(c.title)}*{date}\n> {html.escape(c.quote, quote=False)}"
            )
    parts.append(f"\n\n---\n*{html.escape(answer.disclaimer, quote=False)}*")
    return "".join(parts)
