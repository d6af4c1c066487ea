"""Narrow errors whose message says what failed and what to do next."""

from __future__ import annotations


class ChatbotError(Exception):
    """Base of every error the chatbot raises on purpose; its message is shown to the user."""


class CorpusError(ChatbotError):
    """The corpus folder or one of its articles cannot be read."""


class IndexMissingError(ChatbotError):
    """There is no built index where one was expected."""


class IndexStaleError(ChatbotError):
    """The index was built from another corpus, model or chunk setting."""


class IndexCorruptError(ChatbotError):
    """The index files exist but cannot be read."""


class BadInputError(ChatbotError):
    """A question (or another user input) that cannot be answered as given."""
