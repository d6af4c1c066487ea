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


def caution_text(reason: str) -> str:
    """Beside a quote of a claim staff listed as dubious (``Citation.caution``): staff's own
    reason from corpus/README.md, as they wrote it, or that they question it."""
    lead = "The clinic's staff question this passage"
    return f"{lead}: {reason}" if reason else f"{lead}."


# In the answer's text, after the marker of a quote that carries a caution.
CAUTION_MARK = "questioned by the clinic's staff"


def personal_advice_text(contact: str) -> str:
    return (
        "I can't advise on doses, on starting, stopping or changing a medicine, or on what your "
        "own symptoms mean: that needs someone who knows your health. Please ask "
        f"{contact}, or a pharmacist."
    )


PERSONAL_ADVICE_GENERAL = "What the clinic's articles say in general:"


SUICIDE_CATEGORY = "suicide or self-harm"
POISONING_CATEGORY = "overdose or poisoning"
STROKE_CATEGORY = "stroke signs"
BLEEDING_CATEGORY = "heavy bleeding"
# Said when the country's poison help is not known (or it has no public line).
GENERIC_POISON_HELP = "your local poison centre"


def _call(number: str) -> str:
    return f"call {number}" if number else "call your local emergency number"


def urgent_help(number: str) -> str:
    """Said beside a refusal to read a message (too long, too large): it may still be urgent."""
    return f"If you need urgent help, {_call(number)} now."


def poison_help_sentence(poison: str) -> str:
    """The line naming poison help (the country's, or generically)."""
    return (
        f"For advice on what was swallowed you can also call {poison or GENERIC_POISON_HELP}; "
        "keep the packet or bottle with you."
    )


def emergency_text(
    number: str,
    crisis_line: str,
    category: str,
    poison: str = "",
    also: frozenset[str] = frozenset(),
) -> str:
    """The whole emergency reply: what to do now, and nothing that could delay it.

    Args:
        number: The emergency number ("911", "112 or 999"); empty says "your local emergency
            number".
        crisis_line: A suicide / crisis line with its number; empty names one generically.
        category: The emergency category (``safety.kinds.CATEGORY_KIND``).
        poison: Poison help with its number ("Poison Help on 1-800-222-1222"); empty names it
            generically.
        also: Other categories the message may be, whose line is added (an overdose taken on
            purpose names poison help and the crisis line whatever its main category).
    """
    call = _call(number)
    said = {category, *also}
    if category == SUICIDE_CATEGORY:
        crisis = crisis_line or "a suicide or crisis line in your country"
        text = (
            "**If you are thinking about ending your life or harming yourself, or you are in "
            f"danger, please {call} now** or go to the nearest emergency department. "
            f"You can also reach {crisis} at any time, day or night. "
            "You are not alone, and you deserve help right now."
        )
    else:
        text = (
            f"**This may be an emergency. Please {call} now** or go to the nearest emergency "
            "department. Don't wait for an answer from this chat."
        )
        if category == STROKE_CATEGORY:
            text += " Note the time the signs started: the hospital will need it."
        elif category == BLEEDING_CATEGORY:
            text += (
                " If the blood is coming from a wound or a vein, press hard on it with a clean "
                "cloth and keep pressing until help arrives; raise a bleeding leg if you can."
            )
        if SUICIDE_CATEGORY in said:
            crisis = crisis_line or "a suicide or crisis line in your country"
            text += f" If you are thinking of harming yourself, you can also reach {crisis}."
    if POISONING_CATEGORY in said:
        text += " " + poison_help_sentence(poison)
    return text


# The safety-net line: one bold line above a normal answer when a message names a red flag but
# does not read as an emergency now (a past event, a negation, a general question, a weak alarm).
_NET_LINES = {
    "chest pain": "If you have chest pain, pressure or tightness now, call {number} now.",
    "trouble breathing": "If you are struggling to breathe now, call {number} now.",
    "stroke signs": (
        "If a face droops, an arm goes weak or speech is slurred now, call {number} now and note "
        "the time."
    ),
    "suicide or self-harm": (
        "If you are thinking about ending your life, please reach {crisis} or call {number} now: "
        "you deserve support."
    ),
    "possible blood clot": (
        "If one leg is swollen, hot and painful, or you are suddenly breathless or coughing "
        "blood, call {number} now."
    ),
    "overdose or poisoning": (
        "If someone has swallowed too much medicine or something harmful, call {number} or "
        "{poison} now."
    ),
    "severe allergic reaction": (
        "If lips, tongue or throat swell or breathing gets hard, call {number} now."
    ),
    "sepsis signs": (
        "If someone with an infection is confused, shivering hard, mottled or not passing urine, "
        "call {number} now."
    ),
    "cauda equina signs": (
        "If you have back pain with new numbness between the legs or trouble peeing, call "
        "{number} now."
    ),
    "heavy bleeding": "If bleeding won't stop or you are vomiting blood, call {number} now.",
    "collapse or unconsciousness": (
        "If someone has collapsed, won't wake or is having a seizure, call {number} now."
    ),
    "seizure": "If someone has collapsed, won't wake or is having a seizure, call {number} now.",
}
_NET_DEFAULT = "If this is happening now and feels serious, call {number} now."


def safety_net_line(
    number: str,
    crisis_line: str,
    category: str,
    poison: str = "",
    also: frozenset[str] = frozenset(),
) -> str:
    """The bold line that starts a safety-net answer (Markdown); ``also`` adds the crisis line
    or poison help when the message speaks of self-harm or of something swallowed."""
    template = _NET_LINES.get(category, _NET_DEFAULT)
    values = {
        "number": number or "your local emergency number",
        "crisis": crisis_line or "a crisis line in your country",
        "poison": poison or GENERIC_POISON_HELP,
    }
    line = template.format(**values)
    if SUICIDE_CATEGORY in also and category != SUICIDE_CATEGORY:
        line += (
            " If you are thinking of harming yourself, please reach {crisis}: you are not alone."
        ).format(**values)
    if POISONING_CATEGORY in also and category != POISONING_CATEGORY:
        line += " If something harmful was swallowed, call {poison}.".format(**values)
    return f"**{line}**"


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
