"""Even spacing: keep a new contour point only if it is far enough from every kept one.

Distances are measured with each axis divided by a scale (the extent of the
region found), so spacing means the same thing along a long flat valley and
across a narrow tube.  When the region turns out larger than first seen, the
run builds a new set in the wider metric and inserts the points already found
(:meth:`SpacedPoints.insert`), which keep guarding their neighbourhoods.
Candidates are offered in a fixed order and accepted greedily, so the kept set
depends only on that order, never on how the work was batched.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.spatial import cKDTree

__all__ = ["SpacedPoints"]

_PENDING_MAX = 512


class SpacedPoints:
    """A growing set of points kept at least ``spacing`` apart in the scaled metric.

    Parameters
    ----------
    center, scale
        ``(k,)``: the metric is ``u = (y - center) / scale``.
    spacing
        Minimum distance between kept points, in scaled units.
    """

    def __init__(self, center: np.ndarray, scale: np.ndarray, spacing: float) -> None:
        self.center = np.asarray(center, dtype=float)
        self.scale = np.asarray(scale, dtype=float)
        self.spacing = float(spacing)
        k = len(self.center)
        self._tree: cKDTree | None = None
        self._in_tree = np.zeros((0, k))
        self._pending = np.zeros((0, k))

    def scaled(self, Y: np.ndarray) -> np.ndarray:
        """``(Y - center) / scale``."""
        return (np.asarray(Y, dtype=float) - self.center) / self.scale

    def __len__(self) -> int:
        return len(self._in_tree) + len(self._pending)

    @property
    def points_scaled(self) -> np.ndarray:
        """Kept points in scaled units, in the order they were accepted."""
        return np.vstack([self._in_tree, self._pending])

    def _flush(self) -> None:
        if len(self._pending):
            self._in_tree = self.points_scaled
            self._pending = self._pending[:0]
            self._tree = cKDTree(self._in_tree)

    def distance(self, Y: np.ndarray) -> np.ndarray:
        """Scaled distance from each row of ``Y`` to the nearest kept point (inf when empty)."""
        self._flush()
        U = self.scaled(Y)
        if self._tree is None or len(U) == 0:
            return np.full(len(U), np.inf)
        return self._tree.query(U)[0]

    def neighbour_counts(self, radius: float) -> np.ndarray:
        """For every kept point, how many kept points lie within ``radius`` (itself included)."""
        self._flush()
        if self._tree is None:
            return np.zeros(0, int)
        return np.asarray(self._tree.query_ball_point(self._in_tree, radius, return_length=True))

    def insert(self, Y: np.ndarray) -> None:
        """Add the rows of ``Y`` unconditionally (points found before a change of metric)."""
        if len(Y):
            self._pending = np.vstack([self._pending, self.scaled(Y)])
            self._flush()

    def offer(self, Y: np.ndarray) -> np.ndarray:
        """Keep the rows of ``Y`` (in order) that are far enough from the set; return the mask."""
        U = self.scaled(Y)
        n = len(U)
        free = np.ones(n, bool)
        if n == 0:
            return free
        h = self.spacing
        if self._tree is not None:
            free &= self._tree.query(U, distance_upper_bound=h)[0] >= h
        if len(self._pending) and free.any():
            idx = np.flatnonzero(free)
            near = cKDTree(self._pending).query(U[idx], distance_upper_bound=h)[0] < h
            free[idx[near]] = False
        idx = np.flatnonzero(free)
        keep = np.zeros(n, bool)
        keep[idx[_greedy(U[idx], h)]] = True
        self._pending = np.vstack([self._pending, U[keep]])
        if len(self._pending) > max(_PENDING_MAX, len(self._in_tree) // 8):
            self._flush()
        return keep


def _greedy(U: np.ndarray, h: float) -> np.ndarray:
    """Indices kept by scanning ``U`` in order and dropping rows within ``h`` of a kept one."""
    n = len(U)
    if n <= 1:
        return np.arange(n)
    pairs = cKDTree(U).query_pairs(h, output_type="ndarray")
    if len(pairs) == 0:
        return np.arange(n)
    adjacency = coo_matrix((np.ones(len(pairs), bool), (pairs[:, 0], pairs[:, 1])),
                           shape=(n, n)).tocsr()
    blocked = np.zeros(n, bool)
    kept = []
    for i in range(n):
        if blocked[i]:
            continue
        kept.append(i)
        blocked[adjacency.indices[adjacency.indptr[i]:adjacency.indptr[i + 1]]] = True
    return np.array(kept, dtype=int)
