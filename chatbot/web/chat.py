"""The patient chat page (Gradio Blocks), kept apart from the core; ``create_chat`` never launches.

Gradio 6 takes the theme, CSS and ``<head>`` at mount time, not in ``Blocks``: whoever mounts
the chat passes ``**mount_options(compact)`` to ``gr.mount_gradio_app`` so every asset stays
local (system fonts, no CDN), the footer links and run history are off, and the page looks
the same wherever it is mounted.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from chatbot.errors import BadInputError
from chatbot.pipeline import Bot
from chatbot.types import Answer, Turn
from chatbot.web.render import (
    answer_html,
    answer_stages,
    disclaimer_banner,
    disclaimer_footer,
    inert,
    user_message_html,
)
from chatbot.web.safety_view import contacts_for, tier_of

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
INPUT_LABEL = "Your question about restless legs"
EXAMPLES = (
    "Why are my legs worse at night?",
    "Can low iron cause restless legs?",
    "Is restless legs common in pregnancy?",
)
SEARCHING = "Looking in the clinic's articles…"
PRIVACY = "Please leave out your name and other personal details."
STAGE_PAUSE_S = 0.05  # between lines of a long answer, so it visibly builds up
# Gradio runs one event of a kind at a time unless told otherwise; patients must not queue
# behind each other (Bot.ask is already called from many threads by the HTTP API).
ANSWERS_AT_ONCE = 16
# How often Gradio's queue looks for a new chat event while it has none. Its own default is every
# 1 ms (``Queue.sleep_when_free``): a thousand wake-ups a second of the event loop for each chat
# mounted, each taking the GIL from the answers in flight. At 10 ms a message waits at most
# that long to start (~5 ms on average); the loop's CPU an answer fell from 1.67 to 1.05 ms
# (bench/RESULTS.md, "Session 11").
QUEUE_IDLE_POLL_S = 0.01
# Its progress loop wakes every 10 ms to forward ``gr.Progress`` updates, which the chat never
# sends (every event has show_progress="hidden"): every 100 ms is plenty.
QUEUE_PROGRESS_POLL_S = 0.1
FAILED = (
    "Sorry, something went wrong on our side and I could not answer. Please try again in a "
    "moment, or contact the clinic."
)


def mount_options(compact: bool = False) -> dict[str, Any]:
    """Keyword arguments for ``gr.mount_gradio_app`` that the chat page needs."""
    return {
        "theme": theme(),
        "css_paths": [STATIC / "chat.css"],
        "head": '<meta name="referrer" content="no-referrer">'
        f"<style>{(STATIC / 'chat-layout.css').read_text(encoding='utf-8')}</style>"
        f"<script>{(STATIC / 'chat.js').read_text(encoding='utf-8')}</script>",
        "footer_links": [],
        "run_history": False,  # would keep patients' questions in the browser's storage
        "ssr_mode": False,
        # The chat takes no files: security.py closes the upload routes; this caps them as well.
        "max_file_size": "1kb",
    }


def theme() -> gr.themes.Base:
    """Gradio's default theme on system fonts (nothing fetched) with AA-contrast colours."""
    system = ["system-ui", "-apple-system", "Segoe UI", "Roboto", "Arial", "sans-serif"]
    mono = ["ui-monospace", "Consolas", "monospace"]
    return gr.themes.Default(
        primary_hue=gr.themes.colors.blue,
        secondary_hue=gr.themes.colors.slate,
        neutral_hue=gr.themes.colors.slate,
        font=system,
        font_mono=mono,
    ).set(
        button_primary_background_fill="#1d4ed8",
        button_primary_background_fill_hover="#1e40af",
        button_primary_text_color="#ffffff",
        body_text_color_subdued="#475569",
        input_placeholder_color="#64748b",
    )


def create_chat(bot: Bot, store: Any = None, compact: bool = False) -> gr.Blocks:
    """Build the chat page for ``bot``.

    The page fills the window: a one-line header, the disclaimer banner until the first
    message, the conversation (the only part that scrolls), then, once the chat has started,
    a one-line "Not medical advice. More" footer, and the question box pinned at the bottom.

    Args:
        bot: The bot that answers.
        store: The review store, for patients' feedback (None: no feedback buttons).
        compact: The small variant for the iframe at ``/embed/`` (no tagline, widget channel).
    """
    settings = bot.settings
    channel = "widget" if compact else "chat"
    number = getattr(bot, "emergency_number", "")
    crisis = getattr(bot, "crisis_line", "")
    started = (gr.update(visible=False), gr.update(visible=True))  # banner, footer

    def respond(
        message: str,
        history: list[dict[str, Any]],
        turns: list[dict[str, str]],
        ids: dict[int, str],
        conversation: str | None,
    ) -> Iterator[tuple[Any, ...]]:
        history = list(history or [])
        turns = list(turns or [])
        ids = dict(ids or {})
        conversation = conversation or uuid.uuid4().hex
        text = message if isinstance(message, str) else ""
        if not text.strip():
            yield (
                gr.update(),
                history,
                turns,
                ids,
                conversation,
                _notice("Please type a question first."),
                gr.update(),
                gr.update(),
            )
            return
        shown = text if len(text) <= 4000 else text[:4000] + "…"
        history.append({"role": "user", "content": user_message_html(shown)})
        history.append({"role": "assistant", "content": _pending()})
        yield "", history, turns, ids, conversation, _notice(""), *started

        prior = [Turn(t["role"], t["content"]) for t in turns]
        try:
            answer: Answer | None = bot.ask(text, prior, channel=channel, conversation=conversation)
        except BadInputError as exc:
            answer = None
            reply = _error(f"Sorry, I can't take that message: {exc}.")
        except Exception:  # a patient never sees a traceback; staff see it in the server log
            log.exception("the chat could not answer")
            answer = None
            reply = _error(FAILED)
        if answer is None:
            history[-1] = {"role": "assistant", "content": reply}
            yield "", history, turns, ids, conversation, _notice(""), *started
            return

        articles = bot.index.articles  # read per answer: a re-index may have swapped it
        contacts = contacts_for(answer, number, crisis)
        stages = answer_stages(answer) if tier_of(answer) != "emergency" else [answer.answer]
        for partial in stages[:-1]:
            history[-1] = {
                "role": "assistant",
                "content": answer_html(
                    answer, articles, text=partial, with_sources=False, contacts=contacts
                ),
            }
            yield "", history, turns, ids, conversation, _notice(""), *started
            time.sleep(STAGE_PAUSE_S)
        history[-1] = {
            "role": "assistant",
            "content": answer_html(answer, articles, contacts=contacts),
        }
        if tier_of(answer) != "emergency":  # an emergency card takes no rating
            ids[len(history) - 1] = answer.id
        turns += [
            {"role": "user", "content": text},
            {"role": "assistant", "content": answer.answer},
        ]
        yield "", history, turns, ids, conversation, _notice(""), *started

    def rate(ids: dict[int, str], data: gr.LikeData) -> tuple[Any, Any, Any, Any]:
        index = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
        answer_id = (ids or {}).get(int(index))
        if store is None or answer_id is None or data.liked not in (True, False):
            return gr.update(), gr.update(), None, _notice("")
        rating = "up" if data.liked is True else "down"
        try:
            ok = store.record_feedback(answer_id, rating, "")
        except Exception:
            log.exception("feedback could not be stored")
            ok = False
        if not ok:
            return (
                gr.update(visible=False),
                gr.update(),
                None,
                _notice("Sorry, your feedback could not be saved. Please try again later."),
            )
        word = "helpful" if rating == "up" else "not helpful"
        return (
            gr.update(visible=True),
            gr.update(value=""),
            {"id": answer_id, "rating": rating},
            _notice(f"Thank you: you marked the answer as {word}. The clinic's staff will see it."),
        )

    def send_comment(comment: str, pending: dict[str, str] | None) -> tuple[Any, Any, Any, Any]:
        comment = (comment or "").strip()
        if pending is None or store is None:
            return gr.update(visible=False), gr.update(value=""), None, _notice("")
        if not comment:
            return gr.update(), gr.update(), pending, _notice("The comment is empty: nothing sent.")
        try:
            ok = store.record_feedback(pending["id"], pending["rating"], comment[:2000])
        except Exception:
            log.exception("feedback comment could not be stored")
            ok = False
        if not ok:
            return (
                gr.update(),
                gr.update(),
                pending,
                _notice("Sorry, your comment could not be saved. Please try again later."),
            )
        return (
            gr.update(visible=False),
            gr.update(value=""),
            None,
            _notice("Thank you, your comment was sent to the clinic's staff."),
        )

    def ask_example(
        history: list[dict[str, Any]],
        turns: list[dict[str, str]],
        ids: dict[int, str],
        conversation: str | None,
        selected: gr.SelectData,
    ) -> Iterator[tuple[Any, ...]]:
        value = selected.value
        question = value.get("text", "") if isinstance(value, dict) else str(value or "")
        yield from respond(question, history, turns, ids, conversation)

    def new_conversation() -> tuple[Any, ...]:
        return (
            [],
            [],
            {},
            None,
            gr.update(visible=False),
            None,
            _notice(""),
            gr.update(visible=True),
            gr.update(visible=False),
            "",
        )

    clinic = settings.clinic.clinic_name
    title = f"{clinic}: questions about Restless Legs Syndrome"
    # delete_cache: whatever Gradio writes to its temp folder goes after an hour (and at restart).
    with gr.Blocks(
        title=title, analytics_enabled=False, delete_cache=(3600, 3600), fill_height=True
    ) as demo:
        turns_state = gr.State([])
        ids_state = gr.State({})
        conversation_state = gr.State(None)
        pending_state = gr.State(None)

        with gr.Row(elem_id="topbar", equal_height=True):
            gr.HTML(
                f'<header class="page-header{" compact-mode" if compact else ""}">'
                f"<h1>{inert(clinic)}</h1>"
                '<p class="tagline">Answers quoted from the clinic\'s articles</p></header>',
                elem_id="page-header",
                padding=False,
            )
            new_btn = gr.Button(
                "New conversation",
                size="sm",
                variant="secondary",
                scale=0,
                min_width=0,
                elem_id="new-conversation",
            )
        banner = gr.HTML(
            disclaimer_banner(bot.disclaimer) + f'<p class="privacy">{inert(PRIVACY)}</p>',
            elem_id="disclaimer",
            padding=False,
        )
        chatbot = gr.Chatbot(
            label="Conversation",
            show_label=False,
            elem_id="conversation",
            scale=1,
            height="100%",
            min_height=120,
            # An empty tuple, not None: Gradio 6.31's chat stops rendering with None.
            feedback_options=("Like", "Dislike") if store is not None else (),
            sanitize_html=True,
            latex_delimiters=[],
            # No placeholder text: on a phone the banner leaves room for the examples only.
            placeholder=None,
            layout="bubble",
            buttons=[],
            autoscroll=False,  # chat.js scrolls to the start of each new answer instead
            # Shown in the empty conversation; a click asks the question.
            examples=[{"text": q} for q in (EXAMPLES[:2] if compact else EXAMPLES)],
        )
        footer = gr.HTML(
            disclaimer_footer(f"{bot.disclaimer} {PRIVACY}"),
            elem_id="chat-footer",
            padding=False,
            visible=False,
        )
        with gr.Group(visible=False, elem_id="feedback-comment") as comment_group:
            comment = gr.Textbox(
                label="Anything to add for the clinic's staff? (optional)",
                placeholder="What was missing or unclear? Please leave out your name and contact.",
                lines=1,
                max_lines=3,
                max_length=2000,
            )
            comment_btn = gr.Button("Send comment", variant="secondary", size="sm")
        notice = gr.Markdown("", elem_id="chat-notice")
        box = gr.Textbox(
            label=INPUT_LABEL,
            show_label=False,
            placeholder="Type your question, e.g. why are my legs worse at night?",
            max_length=settings.safety.max_question_chars,
            lines=1,
            max_lines=4,
            submit_btn="Ask",
            elem_id="question",
        )

        outputs = [box, chatbot, turns_state, ids_state, conversation_state, notice, banner, footer]
        state = [chatbot, turns_state, ids_state, conversation_state]
        feedback_out = [comment_group, comment, pending_state, notice]
        reset_out = [
            turns_state,
            ids_state,
            conversation_state,
            comment_group,
            pending_state,
            notice,
            banner,
            footer,
        ]
        # trigger_mode="once": a second Enter while an answer is on its way is ignored.
        box.submit(
            respond,
            [box, *state],
            outputs,
            show_progress="hidden",
            trigger_mode="once",
            concurrency_limit=ANSWERS_AT_ONCE,
            api_visibility="private",
        )
        chatbot.example_select(
            ask_example,
            state,
            outputs,
            show_progress="hidden",
            trigger_mode="once",
            concurrency_limit=ANSWERS_AT_ONCE,
            api_visibility="private",
        )
        # show_progress="hidden" on every event: Gradio's default lays a grey, translucent loading
        # cover over the outputs (the notice line) while the event runs, a flicker to a patient
        # and text a screen reader or contrast check finds unreadable for that moment.
        quiet: dict[str, Any] = {"show_progress": "hidden", "api_visibility": "private"}
        chatbot.like(rate, [ids_state], feedback_out, concurrency_limit=None, **quiet)
        comment_btn.click(send_comment, [comment, pending_state], feedback_out, **quiet)
        comment.submit(send_comment, [comment, pending_state], feedback_out, **quiet)
        new_btn.click(new_conversation, None, [chatbot, *reset_out, box], **quiet)
    queue = demo._queue  # made when the Blocks close (Blocks.queue)
    queue.sleep_when_free = max(queue.sleep_when_free, QUEUE_IDLE_POLL_S)
    queue.progress_update_sleep_when_free = max(
        queue.progress_update_sleep_when_free, QUEUE_PROGRESS_POLL_S
    )
    return demo


def _pending() -> str:
    return f'<p class="answer-pending" role="status">{inert(SEARCHING)}</p>'


def _error(text: str) -> str:
    return f'<p class="answer-error">{inert(text)}</p>'


def _notice(text: str) -> str:
    return inert(text) if text else ""
