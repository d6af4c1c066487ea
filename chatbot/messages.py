"""Every sentence the bot says in its own words (not quoted from the articles) lives here."""

from __future__ import annotations

ANSWER_INTRO = "Here is what the clinic's articles say about this:"

# The fixed headings a broad answer's quotes are grouped under, by the facet of the articles'
# structure they belong to (``chatbot/structure.py``); several facets may share a heading.
FACET_HEADINGS: dict[str, str] = {
    "about": "About restless legs syndrome",
    "cause": "Causes",
    "risk": "Who gets it, and what it comes with",
    "symptom": "Symptoms",
    "diagnosis": "How it is diagnosed",
    "medicine": "Medicines",
    "lifestyle": "What the articles say can help",
    "procedure": "What the articles say can help",
    "worse": "Things that can make it worse",
    "prevention": "Prevention",
    "outlook": "How it goes over time",
    "complication": "How it can affect health and daily life",
    "children": "In children",
    "pregnancy": "In pregnancy",
    "older": "In older people",
    "see_doctor": "When to see a doctor",
    "clinic": "About the clinic",
}
OTHER_HEADING = "Also in the articles"


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


SUICIDE_CATEGORY = "suicide or self-harm"


def emergency_text(number: str, crisis_line: str, category: str) -> str:
    """The whole emergency reply: what to do now, and nothing that could delay it.

    Args:
        number: The emergency number ("911", "112 or 999"); empty says "your local emergency
            number".
        crisis_line: A suicide / crisis line with its number; empty names one generically.
        category: The emergency category from ``safety.detect_emergency``.
    """
    call = f"call {number}" if number else "call your local emergency number"
    if category == SUICIDE_CATEGORY:
        crisis = crisis_line or "a suicide or crisis line in your country"
        return (
            "**If you are thinking about ending your life or harming yourself, or you are in "
            f"danger, please {call} now** or go to the nearest emergency department. "
            f"You can also reach {crisis} at any time, day or night. "
            "You are not alone, and you deserve help right now."
        )
    return (
        f"**This may be an emergency. Please {call} now** or go to the nearest emergency "
        "department. Don't wait for an answer from this chat."
    )


MEDICATION_CAUTION = (
    "Talk to your doctor or pharmacist before starting, stopping or changing any medicine "
    "or supplement."
)


# The disclaimer: shown above the chat before the first message and under every answer (chat,
# widget, API, CLI). CHATBOT_DISCLAIMER replaces the wording; the note that this is an automated
# assistant is kept in front of any wording that lacks it (see ``disclaimer_text``).
AUTOMATED_NOTE = "This is an automated assistant, not a clinician."

DEFAULT_DISCLAIMER = (
    f"{AUTOMATED_NOTE} It only quotes the clinic's articles on Restless Legs Syndrome, which may "
    "be incomplete or wrong, and it cannot diagnose you or advise on your treatment. Always ask "
    "your doctor or pharmacist before starting, stopping or changing any treatment. In an "
    "emergency, call your local emergency number now."
)


def disclaimer_text(configured: str | None, emergency_number: str = "") -> str:
    """The disclaimer to show: the configured wording (or the default when it is blank), always
    saying that this is an automated assistant, not a clinician, and naming the emergency number
    when one is configured (as the emergency reply does)."""
    text = " ".join((configured or "").split()) or DEFAULT_DISCLAIMER
    if emergency_number:
        text = text.replace("your local emergency number", emergency_number)
    low = text.lower()
    if "automated" not in low or ("not a clinician" not in low and "not a doctor" not in low):
        text = f"{AUTOMATED_NOTE} {text}"
    return text


# Shown beside an answer with ``reviewed: true``: staff checked this answer to the same question
# and marked it correct (its quotes are re-checked against the current articles each time).
REVIEWED_MARK = "Reviewed by clinic staff"
