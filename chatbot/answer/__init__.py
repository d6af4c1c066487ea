"""Scored candidates → the quotes chosen (``select``: coverage under a word budget) → the
Answer with its citations, or an honest no-answer (``compose``)."""

from chatbot.answer.compose import compose
from chatbot.answer.select import budget, select_sentences

__all__ = ["budget", "compose", "select_sentences"]
