"""Islands: the separate (connected) parts of the confidence region.

A minimum found inside the region starts a new island unless the straight
segment to a known minimum stays inside the region (:func:`segment_links`).
Every point the finder reports carries the island of the minimum it came from
(a ray's anchor, a chain's seed, a filling move's source).  Two islands found
apart are one when their points touch: some point of one lies within
:data:`CONTACT` spacings of a point of the other (:func:`merge_islands`, at
the end), which joins the two sides of a curved (banana-shaped) region.

The islands are listed with their lowest minimum and their number of points,
the one holding the best fit first.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from .results import Island
from .surface import ContourSurface

__all__ = ["CONTACT", "SEGMENT_SAMPLES", "merge_islands", "segment_links"]

#: Points of one covered surface lie within two spacings of a neighbour; points of two
#: islands closer than this many spacings are taken to bound the same region.
CONTACT = 3.0
#: Points checked along the segment between two minima.
SEGMENT_SAMPLES = 33


def segment_links(surface: ContourSurface, minima: np.ndarray, profiled: np.ndarray,
                  pairs: np.ndarray) -> tuple[np.ndarray, int]:
    """Which ``pairs (n, 2)`` of ``minima (b, k)`` are joined by a segment inside the region.

    ``profiled (b, m)`` are the profiled parameters at the minima (warm starts
    along the segment).  Returns the mask and the rows evaluated.
    """
    if len(pairs) == 0:
        return np.zeros(0, bool), 0
    t = np.linspace(0.0, 1.0, SEGMENT_SAMPLES)[1:-1]
    a, b = minima[pairs[:, 0]], minima[pairs[:, 1]]
    Y = a[:, None, :] + t[None, :, None] * (b - a)[:, None, :]
    P = (profiled[pairs[:, 0]][:, None, :] * (1.0 - t)[None, :, None]
         + profiled[pairs[:, 1]][:, None, :] * t[None, :, None])
    value, _ = surface.value(Y.reshape(-1, surface.k), P.reshape(len(pairs) * len(t), -1))
    inside = value.reshape(len(pairs), -1) < surface.threshold
    return inside.all(axis=1), Y.shape[0] * Y.shape[1]


def _components(n: int, pairs: np.ndarray) -> np.ndarray:
    """Connected-component label of each of ``n`` nodes joined by ``pairs (p, 2)``."""
    if len(pairs) == 0:
        return np.arange(n)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def merge_islands(points_scaled: np.ndarray, labels: np.ndarray, minima: np.ndarray,
                  minima_nll: np.ndarray, radius: float
                  ) -> tuple[tuple[Island, ...], np.ndarray]:
    """The islands, and every point's island index.

    Parameters
    ----------
    points_scaled
        ``(N, k)`` points in the scaled metric.
    labels
        ``(N,)`` index of the minimum each point came from.
    minima, minima_nll
        ``(b, k)`` minima inside the region and their NLL, the best fit first.
    radius
        Points of two minima closer than this (scaled) join their islands.
    """
    b = len(minima)
    pairs = [np.zeros((0, 2), int)]
    if len(points_scaled) > 1 and b > 1:
        close = cKDTree(points_scaled).query_pairs(radius, output_type="ndarray")
        cross = labels[close[:, 0]] != labels[close[:, 1]]
        pairs.append(np.column_stack([labels[close[cross, 0]], labels[close[cross, 1]]]))
    component = _components(b, np.unique(np.vstack(pairs), axis=0))
    # islands ordered by their best minimum: the best fit's first
    best = np.full(component.max() + 1, np.inf)
    np.minimum.at(best, component, np.where(np.isfinite(minima_nll), minima_nll, np.inf))
    first = np.full(component.max() + 1, b)
    np.minimum.at(first, component, np.arange(b))
    order = np.lexsort((first, best))  # the best fit's island first
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    island_of_minimum = rank[component]
    point_island = island_of_minimum[labels] if len(labels) else np.zeros(0, int)
    counts = np.bincount(point_island, minlength=len(order))
    islands = []
    for i in range(len(order)):
        members = np.flatnonzero(island_of_minimum == i)
        lowest = members[np.argmin(minima_nll[members])] if np.isfinite(
            minima_nll[members]).any() else members[0]
        islands.append(Island(minima[lowest].copy(), float(minima_nll[lowest]), int(counts[i])))
    return tuple(islands), point_island
