"""Retrieval: a question read (``query``) against the articles' words (``lexicon``), chunks
found by dense and BM25 search fused (``fusion``), every citable sentence scored (``scoring``,
``retriever``)."""

from chatbot.retrieval.query import retrieval_query
from chatbot.retrieval.retriever import Retriever

__all__ = ["Retriever", "retrieval_query"]
