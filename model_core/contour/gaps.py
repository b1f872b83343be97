"""Gap detection: where to start (or restart) chains so they fill the uncovered parts.

Seeds are chosen farthest-point style in the scaled metric: the candidate
farthest from every kept point (and from the chains' current positions) first,
then the candidate farthest from all of those and the seeds chosen so far, and
so on.  Seeds therefore spread over all the large gaps instead of piling into
the single largest one.  Candidates come from extra radial searches
(``n_gap_candidates`` rays) and, once those are used up, from kept points on
the edges of holes in the covered part (:func:`edge_points`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.spatial import cKDTree

__all__ = ["HoleEdges", "curve_ends", "edge_points", "farthest_points"]

#: A hole edge is judged from the nearest :data:`_NEIGHBOURS` points within
#: :data:`_REACH` spacings: enough to surround a point of an evenly covered patch.
_NEIGHBOURS, _REACH = 12, 3.0
#: On an edge the neighbours' centroid is offset away from the hole by more than this
#: many spacings (inside a covered patch it is near zero).
_EDGE_OFFSET = 0.5
#: An edge (or curve end) seeds a chain only when this many spacings ahead of it, toward
#: the hole, still lie within the parameter bounds.
_AHEAD = 3.0

#: On a covered curve every kept point has a neighbour on each side at most two
#: spacings away (:func:`.stages.angular_rays` leaves no wider gap); look a little farther.
_CURVE_REACH = 2.5


def farthest_points(candidates: np.ndarray, distance: np.ndarray, n_select: int, *,
                    min_distance: float = 0.0) -> np.ndarray:
    """Greedy farthest-point selection.

    Parameters
    ----------
    candidates
        ``(n, k)`` points in the scaled metric.
    distance
        ``(n,)`` each candidate's distance to the points already present.
    n_select
        Most seeds to return.
    min_distance
        Stop when the farthest remaining candidate is closer than this.

    Returns
    -------
    Indices into ``candidates``, in selection order.
    """
    # squared distances: the same order, without a square root per candidate and pick
    with np.errstate(over="ignore"):  # a huge distance stays the largest as +inf
        d2 = np.square(np.asarray(distance, dtype=float))
    least = float(min_distance) ** 2
    chosen: list[int] = []
    for _ in range(min(n_select, len(candidates))):
        i = int(np.argmax(d2))
        if not d2[i] > least:
            break
        chosen.append(i)
        diff = candidates - candidates[i]
        np.minimum(d2, np.einsum("ij,ij->i", diff, diff), out=d2)
    return np.array(chosen, dtype=int)


def edge_points(points: np.ndarray, usable: np.ndarray, spacing: float, occupied: np.ndarray,
                n_select: int, inside: Callable[[np.ndarray], np.ndarray]
                ) -> tuple[np.ndarray, np.ndarray]:
    """Kept points on the edge of a hole in the covered part, and the direction into the hole.

    A point inside an evenly covered patch has its neighbours (the nearest 12
    within three spacings) all around it; on the edge of a hole their centroid
    is offset away from the hole by more than half a spacing.  Edges facing a
    parameter bound (``inside(point + 3 spacings toward the hole)`` false) are
    skipped.  Seeds are spread farthest-point style, away from ``occupied``.
    :class:`HoleEdges` gives the same answer for a growing set of points at the
    cost of the new points only.

    Parameters
    ----------
    points
        ``(N, k)`` kept points in the scaled metric.
    usable
        ``(N,)`` points that may seed a chain (on the surface, not used before).
    spacing
        The spacing of the kept points.
    occupied
        ``(M, k)`` positions to keep away from.
    n_select
        Most seeds to return.
    inside
        Whether scaled points lie within the parameter bounds.

    Returns
    -------
    Indices into ``points`` and unit directions ``(n, k)`` (scaled) toward the holes.
    """
    return HoleEdges(spacing).select(points, usable, occupied, n_select, inside)


def curve_ends(points: np.ndarray, usable: np.ndarray, spacing: float,
               inside: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Two axes: kept points at the end of a covered stretch of curve, and the way on.

    A point is an end when every neighbour within ``_CURVE_REACH`` spacings lies
    on the same side of it along the direction to its nearest neighbour; the way
    on is the opposite direction.  Ends whose way on leaves the parameter bounds
    (``inside(point + 3 spacings ahead)`` false) are skipped.  A point without
    neighbours is an end both ways (its heading is ``nan``: any way on).

    Returns indices into ``points`` (usable ones only) and unit headings (scaled).
    """
    n = len(points)
    if n < 2:
        return np.zeros(0, int), np.zeros((0, points.shape[1] if points.ndim == 2 else 2))
    tree = cKDTree(points)
    k = min(_NEIGHBOURS, n)
    dist, nb = tree.query(points, k=k, distance_upper_bound=_CURVE_REACH * spacing)
    valid = np.isfinite(dist) & (nb != np.arange(n)[:, None])
    offsets = np.where(valid[..., None], points[np.where(valid, nb, 0)] - points[:, None, :], 0.0)
    first = np.argmax(valid, axis=1)
    tangent = offsets[np.arange(n), first]
    tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-300)
    along = np.einsum("bjk,bk->bj", offsets, tangent)
    one_sided = ~np.any(valid & (along < 0), axis=1)
    alone = ~valid.any(axis=1)
    heading = np.where(alone[:, None], np.nan, -tangent)
    ends = np.flatnonzero(usable & one_sided)
    ahead = inside(points[ends] + _AHEAD * spacing * np.nan_to_num(heading[ends]))
    return ends[ahead | alone[ends]], heading[ends[ahead | alone[ends]]]


class HoleEdges:
    """:func:`edge_points` for a set of points that only grows.

    Each point's neighbour centroid is computed when the point arrives and again
    only when a later point lands within three spacings of it (no other point's
    nearest neighbours within that radius can change), so a call costs about the
    number of new points, not the size of the set.

    Parameters
    ----------
    spacing
        The spacing of the kept points.
    """

    def __init__(self, spacing: float) -> None:
        self.spacing = float(spacing)
        self._count = np.zeros(0, int)
        self._offset: np.ndarray | None = None

    def _update(self, points: np.ndarray) -> None:
        """Take ``points``: the previous call's points followed by the new ones."""
        n, n_old = len(points), len(self._count)
        if n == n_old:
            return
        radius = _REACH * self.spacing
        tree = cKDTree(points)
        if n_old:
            near = tree.query_ball_point(points[n_old:], radius, return_sorted=False)
            touched = np.unique(np.fromiter((i for group in near for i in group if i < n_old),
                                            dtype=int))
        else:
            touched = np.zeros(0, int)
        rows = np.concatenate([touched, np.arange(n_old, n)])
        dist, nb = tree.query(points[rows], k=min(_NEIGHBOURS + 1, n),
                              distance_upper_bound=radius)
        dist, nb = dist.reshape(len(rows), -1), nb.reshape(len(rows), -1)
        valid = np.isfinite(dist) & (nb != rows[:, None])
        count = valid.sum(axis=1)
        offset = ((points[np.where(valid, nb, 0)] - points[rows, None, :]) * valid[..., None]
                  ).sum(1) / np.maximum(count, 1)[:, None]
        self._count = np.concatenate([self._count, np.zeros(n - n_old, int)])
        self._offset = (np.zeros((n, points.shape[1])) if self._offset is None else
                        np.vstack([self._offset, np.zeros((n - n_old, points.shape[1]))]))
        self._count[rows], self._offset[rows] = count, offset

    def select(self, points: np.ndarray, usable: np.ndarray, occupied: np.ndarray,
               n_select: int, inside: Callable[[np.ndarray], np.ndarray]
               ) -> tuple[np.ndarray, np.ndarray]:
        """Edge seeds and headings as :func:`edge_points` returns them; ``points`` must
        extend the previous call's ``points``."""
        n = len(points)
        k = points.shape[1] if points.ndim == 2 else 0
        if n < 3 or n_select <= 0:
            return np.zeros(0, int), np.zeros((0, k))
        self._update(points)
        spacing = self.spacing
        size = np.linalg.norm(self._offset, axis=1)
        heading = -self._offset / np.maximum(size, 1e-300)[:, None]
        edge = np.flatnonzero(usable & (self._count >= 2) & (size > _EDGE_OFFSET * spacing))
        edge = edge[inside(points[edge] + _AHEAD * spacing * heading[edge])]
        if edge.size == 0:
            return np.zeros(0, int), np.zeros((0, k))
        if len(occupied):
            d = cKDTree(occupied).query(points[edge])[0]
        else:
            d = np.full(edge.size, 1e300)
        pick = edge[farthest_points(points[edge], d, n_select, min_distance=spacing)]
        return pick, heading[pick]
