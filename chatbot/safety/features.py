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
    """The cue features of one normalised text (0 or 1 each)."""
    flags = [bool(cue.search(text)) for cue in rulebook().cues.values()]
    flags += [bool(_NEGATION.search(text)), "?" in text]
    return np.array(flags, dtype=np.float32)


@lru_cache(maxsize=1)
def _hasher() -> Any:
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(
        analyzer="char_wb",
        ngram_range=CHAR_NGRAMS,
        n_features=CHAR_FEATURES,
        alternate_sign=False,
        norm="l2",
        lowercase=False,
        dtype=np.float32,
    )


def char_features(texts: list[str]) -> Any:
    """The hashed character n-grams of normalised texts: a sparse (texts, CHAR_FEATURES) matrix,
    each row of unit length times ``CHAR_SCALE``."""
    return _hasher().transform(texts) * CHAR_SCALE


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
    from scipy import sparse

    cues = sparse.csr_matrix(np.stack([cue_features(u) for u in units]))
    return sparse.hstack([cues, char_features(units)], format="csr")
