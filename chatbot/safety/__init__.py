"""Checks around every answer: input hygiene, emergencies first, personal advice, medicines.

``hygiene`` cleans every message, ``emergency`` reads it before anything else, ``advice`` spots
requests for a personal dose or diagnosis and decides the medication caution, ``contacts``
holds the numbers to call; the rules are data in ``rules.toml`` (``rules`` loads them).
"""
