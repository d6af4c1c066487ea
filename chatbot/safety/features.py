"""What the learned layers read of a message: the texts to embed and the rules' cues as features.

A message is read as its normalised text (``normalise``: lower case, everyday spellings unified),
and, when it is longer than the model reads (all-MiniLM-L6-v2 stops at 256 word pieces), also as
its last sentences, so an emergency at the end of a long story is still seen. The cues of
``rules.toml`` (past, resolved, present, hypothetical, topic question, figurative, negation, a
question mark) are features beside the embedding: the embedding says *what* the message is
about, the cues help say whether it is happening *now*. Hashed character n-grams of the text
(``char_features``: scikit-learn's ``HashingVectorizer``, nothing fitted or downloaded) are the
third block: they still read a word typed wrong ("lopsidded", "chset pian") and the small words
that say a message is a joke or over ("lol", "hell", "in june"). A fourth reader, the sentence
head, reads the text alone (cues and n-grams, no embedding) sentence by sentence and with the
user's last turn (``text_units``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from chatbot.safety.emergency import _NEGATION
from chatbot.safety.normalise import normalise, sentences
from chatbot.safety.rules import rulebook

# A message of more words than this is read as a whole and by its last sentences too.
LONG_WORDS = 150
TAIL_WORDS = 90
# The character n-grams: their lengths and the size of the hashed space (weights in ``model``).
CHAR_NGRAMS = (2, 5)
CHAR_FEATURES = 2**15
# The n-gram block's weight beside the embedding (unit vectors both): one number, here.
CHAR_SCALE = 1.0


def triage_texts(message: str) -> list[str]:
    """The texts the learned layers embed for ``message`` (one, or two for a long message)."""
    low = normalise(message)
    texts = [low]
    if len(low.split()) > LONG_WORDS:
        tail: list[str] = []
        count = 0
        for sentence in reversed(sentences(low)):
            tail.insert(0, sentence)
            count += len(sentence.split())
            if count >= TAIL_WORDS:
                break
        texts.append(" ".join(" ".join(tail).split()[-2 * TAIL_WORDS :]))
    return texts


def cue_names() -> list[str]:
    """The names of the cue features, in order."""
    return [*rulebook().cues, "negation", "question_mark"]


def cue_features(text: str) -> np.ndarray:
    """The cue features of one normalised text (0 or 1 each; read-only, kept per text: the
    message is read as a triage text and as the sentence head's first unit)."""
    return _cues(text)


@lru_cache(maxsize=4096)
def _cues(text: str) -> np.ndarray:
    flags = [bool(cue.search(text)) for cue in rulebook().cues.values()]
    flags += [bool(_NEGATION.search(text)), "?" in text]
    out = np.array(flags, dtype=np.float32)
    out.setflags(write=False)
    return out


@lru_cache(maxsize=1)
def _hasher() -> Any:
    from sklearn.feature_extraction.text import HashingVectorizer

    # Counts, unnormalised: a word's n-grams (``char_wb`` reads each word apart, padded with a
    # space), summed over a text's words and then scaled to unit length, are exactly what the
    # vectoriser gives the whole text (``norm="l2"``).
    return HashingVectorizer(
        analyzer="char_wb",
        ngram_range=CHAR_NGRAMS,
        n_features=CHAR_FEATURES,
        alternate_sign=False,
        norm=None,
        lowercase=False,
        dtype=np.float32,
    )


@lru_cache(maxsize=1 << 16)
def _word_grams(word: str) -> tuple[np.ndarray, np.ndarray]:
    """One word's hashed n-grams (columns, counts): hashed once, then kept (words repeat)."""
    row = _hasher().transform([word])
    return row.indices.astype(np.int32), row.data.astype(np.float32)


def _hashed(texts: list[str], offset: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each text's hashed n-grams as (sorted columns + ``offset``, values of unit length times
    ``CHAR_SCALE``): its words' counts summed (numpy only; no sparse matrix per text)."""
    columns, values = [], []
    for text in texts:
        grams = [_word_grams(word) for word in text.split()]
        if not grams:
            columns.append(np.zeros(0, dtype=np.int32))
            values.append(np.zeros(0, dtype=np.float32))
            continue
        cols = np.concatenate([g[0] for g in grams])
        counts = np.concatenate([g[1] for g in grams])
        unique, where = np.unique(cols, return_inverse=True)
        summed = np.bincount(where, weights=counts).astype(np.float32)
        summed *= CHAR_SCALE / np.sqrt(np.dot(summed, summed))
        columns.append(unique + offset)
        values.append(summed)
    return columns, values


def _csr(columns: list[np.ndarray], values: list[np.ndarray], width: int) -> Any:
    from scipy import sparse

    indptr = np.zeros(len(columns) + 1, dtype=np.int32)
    np.cumsum([len(c) for c in columns], out=indptr[1:])
    data = np.concatenate(values) if values else np.zeros(0, dtype=np.float32)
    cols = np.concatenate(columns) if columns else np.zeros(0, dtype=np.int32)
    out = sparse.csr_matrix((data, cols, indptr), shape=(len(columns), width), copy=False)
    out.has_canonical_format = True  # each row's columns sorted and unique (``_hashed``)
    return out


def char_features(texts: list[str]) -> Any:
    """The hashed character n-grams of normalised texts: a sparse (texts, CHAR_FEATURES) matrix,
    each row of unit length times ``CHAR_SCALE`` (scikit-learn's ``HashingVectorizer`` with
    ``char_wb``, the same figures; each word hashed once per process, ``_word_grams``)."""
    return _csr(*_hashed(texts), CHAR_FEATURES)


def text_units(message: str, previous: str = "") -> list[str]:
    """What the sentence head reads (text alone, no embedding): the normalised message, each of
    its sentences when it has several (an emergency buried in a long ordinary message), and the
    user's last turn with it (an emergency told over two messages)."""
    low = normalise(message)
    units = [low]
    parts = sentences(low)
    if len(parts) > 1:
        units += parts
    if previous.strip():
        units.append(f"{normalise(previous[-2000:])}, {low}")
    return units


def text_design(units: list[str]) -> Any:
    """The sentence head's input for ``units``: their cues, then their character n-grams."""
    width = len(cue_names())
    chars, values = _hashed(units, offset=width)
    columns = []
    for i, unit in enumerate(units):
        on = np.flatnonzero(cue_features(unit)).astype(np.int32)
        columns.append(np.concatenate([on, chars[i]]))
        values[i] = np.concatenate([np.ones(len(on), dtype=np.float32), values[i]])
    return _csr(columns, values, width + CHAR_FEATURES)
