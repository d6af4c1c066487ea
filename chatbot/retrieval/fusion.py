"""Reciprocal-rank fusion of the dense (FAISS) and lexical (BM25) rankings of chunks."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np


def rrf(rankings: Iterable[Iterable[int]], rrf_k: int) -> dict[int, float]:
    """Reciprocal-rank fusion: each item earns 1 / (rrf_k + rank) from every ranking it is in.

    Items keep the order in which the rankings first name them (a tie keeps that order).
    """
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking):
            fused[item] = fused.get(item, 0.0) + 1.0 / (rrf_k + rank + 1)
    return fused


def positive_ranking(scores: np.ndarray, depth: int | None = None) -> list[int]:
    """Items by descending score, only those above 0, at most ``depth`` (all when None)."""
    if depth is not None and depth < len(scores):
        top = np.argpartition(-scores, depth - 1)[:depth]
        top = top[np.argsort(-scores[top], kind="stable")]
    elif depth is not None:
        top = np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
    else:
        top = np.argsort(-scores)
    out = []
    for item in top.tolist():
        if scores[item] <= 0:
            break
        out.append(item)
    return out


def fused_search(
    faiss_index: Any,
    qvec: np.ndarray,
    lexical: np.ndarray | None,
    k: int,
    candidates: int,
    rrf_k: int,
) -> list[tuple[int, float, float, float]]:
    """Fusion of the index's dense top-``candidates`` and the BM25 top ones (a large corpus).

    Args:
        faiss_index: An inner-product index over normalised chunk vectors (flat or HNSW).
        qvec: The question's vector.
        lexical: BM25 scores of every chunk (None or all zero: dense only).
        k: Passages wanted.
        candidates: How deep each ranking is read.
        rrf_k: The fusion constant.

    Returns:
        Up to ``k`` (chunk position, fused, dense cosine, BM25 score), best first: the same
        fusion as ranking every chunk, except that ranks beyond ``candidates`` add nothing.
    """
    n = int(faiss_index.ntotal)
    m = min(max(candidates, k), n)
    if m == 0:
        return []
    scores, ids = faiss_index.search(np.asarray(qvec, dtype=np.float32)[None, :], m)
    dense: dict[int, float] = {}
    for ci, score in zip(ids[0].tolist(), scores[0].tolist(), strict=True):
        if ci < 0:  # HNSW may return fewer than asked
            break
        dense[ci] = score
    rankings: list[Iterable[int]] = [list(dense)]
    if lexical is not None and lexical.any():
        rankings.append(positive_ranking(lexical, m))
    fused = rrf(rankings, rrf_k)
    for ci in fused:
        if ci not in dense:  # a BM25-only candidate: its exact cosine, from the stored vector
            dense[ci] = float(faiss_index.reconstruct(ci) @ qvec)
    order = sorted(fused, key=lambda ci: -fused[ci])[:k]
    return [
        (ci, fused[ci], dense[ci], float(lexical[ci]) if lexical is not None else 0.0)
        for ci in order
    ]
