"""Every sentence the bot says in its own words (not quoted from the articles) lives here."""

from __future__ import annotations

ANSWER_INTRO = "Here is what the clinic's articles say about this:"


def no_answer_text(contact: str) -> str:
    return (
        "I could not find an answer to this in the clinic's articles on Restless Legs Syndrome, "
        f"so I can't answer it reliably. Please ask {contact}."
    )


def personal_advice_text(contact: str) -> str:
    return (
        "I can't advise on doses, on starting, stopping or changing a medicine, or on what your "
        "own symptoms mean: that needs someone who knows your health. Please ask "
        f"{contact}, or a pharmacist."
    )


PERSONAL_ADVICE_GENERAL = "What the clinic's articles say in general:"


def emergency_text(number: str, crisis_line: str, category: str) -> str:
    call = f"call {number}" if number else "call your local emergency number"
    text = (
        f"**This may be an emergency. Please {call} now** or go to the nearest emergency "
        "department. Don't wait for an answer from this chat."
    )
    if category == "suicide or self-harm":
        line = f" You can also call {crisis_line} at any time." if crisis_line else (
            " You can also reach a crisis line in your country at any time."
        )
        text += line + " You are not alone."
    return text


MEDICATION_CAUTION = (
    "Talk to your doctor or pharmacist before starting, stopping or changing any medicine "
    "or supplement."
)
