"""Emergency numbers, crisis lines and poison help by country (``CHATBOT_COUNTRY``).

Only numbers the project has checked against the services' own pages; anything else falls back
to "your local emergency number", "a crisis line in your country" and "your local poison
centre". Poison help, where it was checked: US Poison Help, Canada's 1-844-POISON-X (Quebec keeps
its own centre; the national number reaches it too), UK NHS 111, Ireland's public poisons line
(8am-10pm; the emergency number outside those hours), Australia's Poisons Information Centre,
New Zealand's National Poisons Centre, Spain's Servicio de Información Toxicológica. Germany and
France have regional poison centres only, and the Netherlands' centre (NVIC) takes calls from
health professionals only: there the reply says to call the emergency number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Line:
    """A number to call: what it is, how it is written, and its ``tel:`` form."""

    label: str
    number: str
    tel: str
    hours: str = ""  # "" for day and night

    @property
    def spoken(self) -> str:
        """How the reply names it: "Poison Help on 1-800-222-1222"."""
        when = f" ({self.hours})" if self.hours else ""
        return f"{self.label} on {self.number}{when}" if self.label else self.number

    def contact(self, role: str) -> dict[str, str]:
        """The answer object's contact: label, number, tel (and its role)."""
        return {"label": self.label, "number": self.number, "tel": self.tel, "role": role}


@dataclass(frozen=True)
class CountryLines:
    """Everything a reply may name for one country."""

    emergency: tuple[Line, ...] = ()
    crisis: Line | None = None
    poison: Line | None = None

    @property
    def emergency_number(self) -> str:
        """The emergency number as the reply says it ("911", "112 or 999"); "" for none."""
        return " or ".join(line.number for line in self.emergency)


def _e(number: str, label: str = "Emergency services") -> Line:
    return Line(label, number, number)


COUNTRIES: dict[str, CountryLines] = {
    "US": CountryLines(
        (_e("911"),),
        Line("the 988 Suicide & Crisis Lifeline (call or text)", "988", "988"),
        Line("Poison Help", "1-800-222-1222", "+18002221222"),
    ),
    "CA": CountryLines(
        (_e("911"),),
        Line("the 9-8-8 Suicide Crisis Helpline (call or text)", "988", "988"),
        Line("Poison Centre (1-844-POISON-X)", "1-844-764-7669", "+18447647669"),
    ),
    "GB": CountryLines(
        (_e("999"),),
        Line("Samaritans", "116 123", "116123"),
        Line("NHS 111", "111", "111"),
    ),
    "IE": CountryLines(
        (_e("112"), _e("999")),
        Line("Samaritans", "116 123", "116123"),
        Line("the Public Poisons Information Line", "01 809 2166", "+35318092166", "8am-10pm"),
    ),
    "AU": CountryLines(
        (_e("000"),),
        Line("Lifeline", "13 11 14", "131114"),
        Line("the Poisons Information Centre", "13 11 26", "131126"),
    ),
    "NZ": CountryLines(
        (_e("111"),),
        Line("the 1737 helpline (call or text)", "1737", "1737"),
        Line("the National Poisons Centre", "0800 764 766", "+64800764766"),
    ),
    "DE": CountryLines((_e("112"),), Line("TelefonSeelsorge", "0800 111 0 111", "+498001110111")),
    "FR": CountryLines(
        (_e("15", "SAMU"), _e("112")), Line("the suicide prevention line", "3114", "3114")
    ),
    "NL": CountryLines((_e("112"),), Line("113 Zelfmoordpreventie", "113 or 0800 0113", "113")),
    "ES": CountryLines(
        (_e("112"),),
        Line("the 024 suicide prevention line", "024", "024"),
        Line("the Servicio de Información Toxicológica", "91 562 04 20", "+34915620420"),
    ),
}
_COUNTRY_ALIASES = {"UK": "GB", "USA": "US", "UNITED STATES": "US", "UNITED KINGDOM": "GB"}

# What earlier code and settings read: country -> (emergency number, crisis line as said).
COUNTRY_CONTACTS: dict[str, tuple[str, str]] = {
    code: (lines.emergency_number, lines.crisis.spoken if lines.crisis else "")
    for code, lines in COUNTRIES.items()
}


def _tel(number: str) -> str:
    digits = re.sub(r"[^\d+]", "", number)
    return digits


def country_lines(
    country: str, number: str = "", crisis_line: str = "", poison_line: str = ""
) -> CountryLines:
    """The lines to name: explicit settings win (CHATBOT_EMERGENCY_NUMBER, CHATBOT_CRISIS_LINE,
    CHATBOT_POISON_LINE), then the country's, else none (said generically)."""
    code = country.strip().upper()
    lines = COUNTRIES.get(_COUNTRY_ALIASES.get(code, code), CountryLines())
    emergency = lines.emergency
    if number.strip():
        emergency = tuple(
            _e(part.strip()) for part in re.split(r"\bor\b|/|,", number) if part.strip()
        )
        emergency = tuple(Line(e.label, e.number, _tel(e.number)) for e in emergency)
    crisis, poison = lines.crisis, lines.poison
    if crisis_line.strip():
        crisis = Line("", crisis_line.strip(), _tel(crisis_line))
    if poison_line.strip():
        poison = Line("", poison_line.strip(), _tel(poison_line))
    return CountryLines(emergency, crisis, poison)


def emergency_contacts(country: str, number: str = "", crisis_line: str = "") -> tuple[str, str]:
    """The emergency number and crisis line to show: explicit settings win, then the country.

    Args:
        country: An ISO 3166 code such as "US" or "GB" (case-insensitive); "" for none.
        number: CHATBOT_EMERGENCY_NUMBER, if set.
        crisis_line: CHATBOT_CRISIS_LINE, if set.

    Returns:
        (number, crisis line); an empty string means "say it generically".
    """
    code = country.strip().upper()
    default_number, default_line = COUNTRY_CONTACTS.get(_COUNTRY_ALIASES.get(code, code), ("", ""))
    return number.strip() or default_number, crisis_line.strip() or default_line
