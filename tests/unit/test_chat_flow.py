"""The chat's event handlers driven with a stand-in bot and store (no browser, no model)."""

from __future__ import annotations

import copy
import html
import re
from typing import Any

import gradio as gr
import pytest
from helpers import StandInBot, StandInStore
from helpers import stand_in_answer as _answer

from chatbot.errors import BadInputError
from chatbot.types import Answer
from chatbot.web.chat import FAILED, create_chat


def handler(demo: gr.Blocks, name: str) -> Any:
    return next(f.fn for f in demo.fns.values() if f.name == name)


def run(demo: gr.Blocks, message: str, history=None, turns=None, ids=None, conversation=None):
    """Every step the page is sent, as sent (copied: the handler reuses its lists)."""
    steps = handler(demo, "respond")(message, history or [], turns or [], ids or {}, conversation)
    return [copy.deepcopy(step) for step in steps]


def like(index: int, liked: Any) -> gr.LikeData:
    return gr.LikeData(None, {"index": index, "value": "", "liked": liked})


def test_answer_is_shown_in_stages_then_with_sources():
    bot = StandInBot(_answer())
    demo = create_chat(bot, StandInStore())
    steps = run(demo, "Why worse at night?")
    pending = steps[0][1][-1]["content"]
    assert "answer-pending" in pending
    partial = [s[1][-1]["content"] for s in steps[1:-1]]
    assert len(partial) >= 2 and all("answer-partial" in c for c in partial)
    assert all("<mark>" not in c for c in partial)
    final = steps[-1]
    box, history, turns, ids, conversation, notice, banner, footer = final
    assert box == "" and "answer-done" in history[-1]["content"]
    assert history[-1]["content"].count("<mark>") == 2
    assert ids == {1: bot.reply.id}
    assert turns == [
        {"role": "user", "content": "Why worse at night?"},
        {"role": "assistant", "content": bot.reply.answer},
    ]
    assert conversation and bot.calls[0]["conversation"] == conversation
    assert bot.calls[0]["channel"] == "chat" and bot.calls[0]["history"] == []
    # From the first message on, the banner gives way to the one-line footer.
    assert banner["visible"] is False and footer["visible"] is True
    assert all(s[6]["visible"] is False and s[7]["visible"] is True for s in steps)


def test_follow_up_passes_plain_history_and_keeps_the_conversation():
    bot = StandInBot(_answer())
    demo = create_chat(bot, None)
    *_, first = run(demo, "Why worse at night?")
    _, history, turns, ids, conversation, *_ = first
    *_, second = run(demo, "and iron?", history, turns, ids, conversation)
    call = bot.calls[1]
    assert call["conversation"] == conversation
    assert [(t.role, t.content) for t in call["history"]] == [
        ("user", "Why worse at night?"),
        ("assistant", bot.reply.answer),
    ]
    assert second[3] == {1: bot.reply.id, 3: bot.reply.id}  # each answer's message index


def test_compact_chat_is_the_widget_channel():
    bot = StandInBot(_answer())
    demo = create_chat(bot, None, compact=True)
    *_, final = run(demo, "Why worse at night?")
    assert bot.calls[0]["channel"] == "widget"
    assert final[6]["visible"] is False and final[7]["visible"] is True


def _emergency(safety: dict[str, Any] | None) -> Answer:
    answer = Answer(
        status="emergency",
        answer="**This may be an emergency. Please call 112 now** or go to hospital.",
        citations=[],
        disclaimer="d",
        reason="chest pain",
    )
    answer.safety = safety  # the shared extension; may be missing on older answers
    return answer


@pytest.mark.parametrize(
    ("safety", "tels"),
    [
        # The answer's own contacts win (a stand-in for the safety helper's field).
        (
            {
                "tier": "emergency",
                "kind": "chest_pain",
                "contacts": [{"label": "Ambulance", "number": "112", "tel": "112"}],
            },
            ["112"],
        ),
        # Without the field, the bot's configured numbers ("112 or 999" is two).
        (None, ["112", "999"]),
    ],
)
def test_an_emergency_is_a_card_with_tel_links_and_cannot_be_rated(safety, tels):
    bot = StandInBot(_emergency(safety))
    bot.emergency_number, bot.crisis_line = "112 or 999", ""
    steps = run(create_chat(bot, StandInStore()), "crushing chest pain")
    final = steps[-1]
    card = final[1][-1]["content"]
    assert "emergency-card" in card and "answer-partial" not in "".join(
        s[1][-1]["content"] for s in steps
    )  # shown whole at once, not line by line
    assert re.findall(r'href="tel:([^"]+)"', card) == tels
    assert final[3] == {}  # no answer id for the like buttons: an emergency takes no rating


def test_an_emergency_without_any_number_says_call_your_local_number():
    bot = StandInBot(_emergency(None))
    bot.emergency_number, bot.crisis_line = "", ""
    card = run(create_chat(bot, None), "crushing chest pain")[-1][1][-1]["content"]
    assert "tel:" not in card
    assert "Call your local emergency number now." in html.unescape(card)


def test_bad_input_and_failures_become_a_clear_reply_not_a_traceback():
    demo = create_chat(StandInBot(BadInputError("the question is not text")), None)
    *_, final = run(demo, "\x00\x01")
    reply = html.unescape(final[1][-1]["content"])
    assert "Sorry, I can't take that message: the question is not text." in reply
    assert final[3] == {}  # nothing to rate

    demo = create_chat(StandInBot(RuntimeError("index exploded")), None)
    *_, final = run(demo, "why?")
    reply = html.unescape(final[1][-1]["content"])
    assert "index exploded" not in reply and FAILED in reply


def test_empty_message_only_shows_a_notice():
    bot = StandInBot(_answer())
    steps = run(create_chat(bot, None), "   ")
    assert len(steps) == 1 and steps[0][1] == [] and "Please type a question" in steps[0][5]
    assert bot.calls == []


def test_an_oversized_message_is_shown_shortened():
    bot = StandInBot(BadInputError("the question is too long"))
    *_, final = run(create_chat(bot, None), "x" * 9000)
    assert len(final[1][0]["content"]) < 4200 and "too long" in final[1][-1]["content"]


@pytest.mark.parametrize(("liked", "rating"), [(True, "up"), (False, "down")])
def test_rating_goes_to_the_store_with_the_answer_id(liked, rating):
    store = StandInStore()
    demo = create_chat(StandInBot(_answer()), store)
    group, _, pending, notice = handler(demo, "rate")({1: "abc"}, like(1, liked))
    assert store.rows == [("abc", rating, "")]
    assert pending == {"id": "abc", "rating": rating} and group["visible"] is True
    assert "helpful" in notice
    group, box, pending, notice = handler(demo, "send_comment")("  too short  ", pending)
    assert store.rows[-1] == ("abc", rating, "too short") and pending is None
    assert group["visible"] is False and "comment was sent" in notice


def test_unrating_or_unknown_messages_store_nothing():
    store = StandInStore()
    demo = create_chat(StandInBot(_answer()), store)
    rate = handler(demo, "rate")
    rate({1: "abc"}, like(1, ""))  # Gradio sends "" when a thumb is clicked off again
    rate({1: "abc"}, like(0, True))  # the patient's own message has no answer id
    assert store.rows == []
    _, _, pending, notice = handler(demo, "send_comment")("", {"id": "abc", "rating": "up"})
    assert store.rows == [] and pending == {"id": "abc", "rating": "up"} and "empty" in notice


def test_feedback_for_an_answer_the_store_does_not_know_says_so():
    demo = create_chat(StandInBot(_answer()), StandInStore(known=False))
    _, _, pending, notice = handler(demo, "rate")({1: "gone"}, like(1, True))
    assert pending is None and "could not be saved" in notice


def test_the_chat_queue_does_not_poll_every_millisecond():
    # Gradio's queue looks for new events every 1 ms while idle: a thousand wake-ups a second of
    # the server's event loop per chat, each taking the GIL from the answers being computed.
    from chatbot.web.chat import QUEUE_IDLE_POLL_S, QUEUE_PROGRESS_POLL_S

    for compact in (False, True):
        queue = create_chat(StandInBot(_answer()), StandInStore(), compact=compact)._queue
        assert queue.sleep_when_free == QUEUE_IDLE_POLL_S >= 0.01
        assert queue.progress_update_sleep_when_free == QUEUE_PROGRESS_POLL_S >= 0.1
