"""The patient chat page (Gradio Blocks), kept apart from the core; ``create_chat`` never launches."""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

from chatbot.bot import Bot, Turn
from chatbot.errors import BadInputError
from chatbot.web.render import answer_markdown


def create_chat(bot: Bot, store: Any = None, compact: bool = False) -> gr.Blocks:
    """Build the chat page for ``bot``.

    Args:
        bot: The bot that answers.
        store: The review store, for patients' feedback (None: no feedback buttons).
        compact: The small variant shown inside the website widget's panel.
    """
    settings = bot.settings

    def respond(message: str, history: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
        turns = [
            Turn(str(m.get("role", "")), _plain(m.get("content", "")))
            for m in history
            if m.get("role") in ("user", "assistant")
        ]
        try:
            answer = bot.ask(message, turns, channel="widget" if compact else "chat")
            reply = answer_markdown(answer)
        except BadInputError as exc:
            reply = f"Sorry, I can't take that message: {html.escape(str(exc))}."
        shown = html.escape(message or "", quote=False)
        return "", [
            *history,
            {"role": "user", "content": shown},
            {"role": "assistant", "content": reply},
        ]

    with gr.Blocks(title=f"{settings.clinic_name} – Restless Legs questions", analytics_enabled=False) as demo:
        gr.Markdown(f"# {html.escape(settings.clinic_name)}: questions about Restless Legs Syndrome")
        gr.Markdown(f"**Please read:** {html.escape(settings.disclaimer)}", elem_id="disclaimer")
        chatbot = gr.Chatbot(label="Conversation", height=480, feedback_options=None)
        box = gr.Textbox(
            label="Your question about restless legs",
            placeholder="e.g. Why are my legs worse at night?",
        )
        box.submit(respond, [box, chatbot], [box, chatbot])
    return demo


def _plain(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(c.get("text", "")) for c in content if isinstance(c, dict))
    return str(content)
