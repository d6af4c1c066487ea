"""Emergency numbers and crisis lines by country (``CHATBOT_COUNTRY``).

Only numbers the project has checked; anything else falls back to "your local emergency number"
and "a crisis line in your country".
"""

from __future__ import annotations

COUNTRY_CONTACTS: dict[str, tuple[str, str]] = {
    "US": ("911", "the 988 Suicide & Crisis Lifeline (call or text 988)"),
    "CA": ("911", "the 9-8-8 Suicide Crisis Helpline (call or text 988)"),
    "GB": ("999", "Samaritans on 116 123"),
    "IE": ("112 or 999", "Samaritans on 116 123"),
    "AU": ("000", "Lifeline on 13 11 14"),
    "NZ": ("111", "the 1737 helpline (call or text 1737)"),
    "DE": ("112", "TelefonSeelsorge on 0800 111 0 111"),
    "FR": ("15 or 112", "the suicide prevention line on 3114"),
    "NL": ("112", "113 Zelfmoordpreventie on 113 or 0800 0113"),
    "ES": ("112", "the 024 suicide prevention line"),
}
_COUNTRY_ALIASES = {"UK": "GB", "USA": "US", "UNITED STATES": "US", "UNITED KINGDOM": "GB"}


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
    code = _COUNTRY_ALIASES.get(code, code)
    default_number, default_line = COUNTRY_CONTACTS.get(code, ("", ""))
    return number.strip() or default_number, crisis_line.strip() or default_line
