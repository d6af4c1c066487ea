"""A patient-facing chatbot that answers only from the clinic's articles, with cited passages."""

from __future__ import annotations

__version__ = "0.2.0"
