"""Vectors as stored and compared, and two rankings merged into one.

A segment's vector is kept at unit length as little-endian float32 bytes, so the cosine
similarity of two is their dot product and the bytes read the same on any machine. Plain data
in and out: nothing here touches the database or the network.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from fractions import Fraction
from typing import TypeVar

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]
Key = TypeVar("Key", bound=Hashable)
_STORED = np.dtype("<f4")
# Reciprocal rank fusion's constant: the value its authors found robust (Cormack, Clarke and
# Buettcher, SIGIR 2009); it keeps one list's top result from drowning the other list.
RRF_K = 60


def unit(rows: npt.ArrayLike) -> Vectors:
    """Each row scaled to length 1; a row of zeros stays zeros (it matches nothing)."""
    matrix = np.atleast_2d(np.asarray(rows, dtype=np.float32))
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    scaled: Vectors = np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)
    return scaled


def pack(vector: npt.ArrayLike) -> bytes:
    return np.asarray(vector, dtype=_STORED).tobytes()


def unpack(data: bytes) -> Vectors:
    return np.frombuffer(data, dtype=_STORED).astype(np.float32)


def nearest(
    query: Vectors,
    candidates: Sequence[tuple[Key, bytes]],
    *,
    depth: int,
    min_similarity: float,
) -> list[tuple[Key, float]]:
    """The ``depth`` candidates most similar to ``query`` (unit length, as stored ones are),
    best first, none below ``min_similarity``; equal scores keep the candidates' order."""
    dims = query.shape[-1]
    usable = [(key, blob) for key, blob in candidates if len(blob) == dims * _STORED.itemsize]
    if not usable or depth <= 0:
        return []
    matrix = np.frombuffer(b"".join(blob for _, blob in usable), dtype=_STORED)
    scores = matrix.reshape(len(usable), dims) @ query.reshape(dims).astype(_STORED)
    order = np.argsort(-scores, kind="stable")[:depth]
    return [(usable[i][0], float(scores[i])) for i in order if float(scores[i]) >= min_similarity]


def fuse(rankings: Sequence[Sequence[Key]], *, limit: int, k: int = RRF_K) -> list[Key]:
    """Reciprocal rank fusion: each key scores the sum of ``1 / (k + rank)`` over the rankings
    it appears in (rank 1 first). Ties go to the better single rank, then to the earlier
    ranking (words before meaning, as the caller orders them). Scores are exact fractions:
    the same ranks in another order are the same score, a tie and not a rounding."""
    scores: dict[Key, Fraction] = {}
    best: dict[Key, tuple[int, int]] = {}
    for which, ranking in enumerate(rankings):
        for rank, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, Fraction(0)) + Fraction(1, k + rank)
            best[key] = min(best.get(key, (rank, which)), (rank, which))
    ordered = sorted(scores, key=lambda key: (-scores[key], best[key]))
    return ordered[:limit]
