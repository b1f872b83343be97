"""Anchors of the radial search: the minima inside the region and points along flat valleys.

Rays see only the part of the contour that is star-shaped from their anchor.
Every distinct minimum inside the region is an anchor (separate basins, such
as the two signs of ``c1`` when the signal has ``c1**2``, and the islands the
exploration finds), and when the best fit has a flat direction the valley is
walked (:mod:`.valley`) and its points become anchors as well.  Each anchor
carries its own whitening map (:mod:`.whitening`), the index of the minimum it
belongs to (its island) and, when parameters are profiled, the linear
prediction of the profiled parameters around it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .gaps import farthest_points
from .surface import ContourSurface
from .valley import walk_valley
from .whitening import build_whitener

__all__ = ["VALLEY_DEPTH", "Anchors", "find_anchors"]

#: Valley points anchor rays only while they lie this deep inside the region (a share
#: of ``Delta / 2`` below ``T``): rays from shallower points would be very short.
VALLEY_DEPTH = 0.25


@dataclass(frozen=True, slots=True, eq=False)
class Anchors:
    """Starting points of rays.

    Attributes
    ----------
    points : ndarray (n, k)
        Anchors in the axes, each minimum first.
    profiled : ndarray (n, m)
        The profiled parameters there.
    matrices : ndarray (n, k, k)
        Whitening maps ``x = anchor + M phi``.
    predictors : ndarray (n, m, k)
        ``dP/dY`` at each anchor: the profiled parameters' linear response to the axes.
    owner : ndarray of int (n,)
        Index of the minimum (island) each anchor belongs to.
    warnings, notes : tuple of str
        Messages for the result.
    n_evaluations : int
        Rows evaluated.
    """

    points: np.ndarray
    profiled: np.ndarray
    matrices: np.ndarray
    predictors: np.ndarray
    owner: np.ndarray
    warnings: tuple[str, ...]
    notes: tuple[str, ...]
    n_evaluations: int

    def __len__(self) -> int:
        return len(self.points)

    def extend(self, other: Anchors) -> Anchors:
        """These anchors followed by ``other``'s."""
        return Anchors(*(np.concatenate([a, b]) for a, b in
                         zip(self[:5], other[:5], strict=True)),
                       self.warnings + other.warnings, self.notes + other.notes,
                       self.n_evaluations + other.n_evaluations)

    def __getitem__(self, index: slice) -> tuple:
        return (self.points, self.profiled, self.matrices, self.predictors, self.owner)[index]


def _describe(names: tuple[str, ...], vector: np.ndarray) -> str:
    return ", ".join(f"{n} {v:+.3g}" for n, v in zip(names, vector, strict=True) if abs(v) > 1e-3)


def find_anchors(surface: ContourSurface, minima: np.ndarray, profiled: np.ndarray, *,
                 delta: float, n_anchors: int, max_walk: int, first_owner: int = 0,
                 walk: bool = True) -> Anchors:
    """Anchors at ``minima (b, k)`` (profiled values ``(b, m)``, the best first) and, when
    the first is flat and ``walk`` is set, along its valley.

    The minima are numbered from ``first_owner`` on; valley points belong to the first,
    whose island gets at most ``n_anchors`` anchors (its minimum and valley points): every
    island at most ``n_anchors``, whatever the other minima added with it.
    """
    Y, P = np.array(minima, dtype=float, ndmin=2), np.array(profiled, dtype=float, ndmin=2)
    hessians, predictors = surface.curvature(Y, P)
    n_eval = len(Y) * (surface.model.npar + 1)
    whiteners = [build_whitener(y, h) for y, h in zip(Y, hessians, strict=True)]
    owner = first_owner + np.arange(len(Y))
    warnings: list[str] = []
    notes: list[str] = []
    flat = whiteners[0].flat
    if walk and len(flat):
        names = surface.axis_names
        warnings.append(
            "flat direction at the best fit: the NLL does not change along ("
            + "; ".join(_describe(names, v) for v in flat)
            + "), a valley of equal NLL (singular Hessian) that the data do not constrain; "
            "the search follows the valley to the parameter bounds")
        if max_walk > 0:
            w0 = whiteners[0]
            directions = np.vstack([flat, -flat])
            steps = 0.5 * np.sqrt(delta) / np.linalg.norm(directions @ w0.inverse.T, axis=1)
            path = walk_valley(surface, Y[0], P[0], directions, steps, delta=delta,
                               max_steps=max_walk)
            n_eval += path.n_evaluations
            deep = path.nll < surface.threshold - VALLEY_DEPTH * 0.5 * delta
            Yw, Pw = path.points[deep], path.profiled[deep]
            if len(Yw):
                n_eval += len(Yw) * (surface.model.npar + 1)
                h_walk, k_walk = surface.curvature(Yw, Pw)
                whiteners += [build_whitener(y, h) for y, h in zip(Yw, h_walk, strict=True)]
                predictors = np.concatenate([predictors, k_walk])
                Y, P = np.vstack([Y, Yw]), np.vstack([P, Pw])
                owner = np.concatenate([owner, np.full(len(Yw), first_owner)])
            notes.append(f"valley walk: {len(Yw)} points"
                         + (", reached the parameter bounds" if path.reached_bound else ""))
            if path.capped:
                open_axes = [n for n, b, v in zip(names, surface.bounds, np.abs(flat).max(axis=0),
                                                  strict=True)
                             if v > 1e-3 and not np.all(np.isfinite(b))]
                warnings.append(
                    f"the valley was still inside the region after max_walk={max_walk} steps: "
                    f"the region is probably unbounded along it; set bounds on "
                    f"{', '.join(open_axes) or 'the axes'}")
    chosen = _thin(Y, len(minima), len(minima) - 1 + n_anchors)
    matrices = np.stack([whiteners[i].matrix for i in chosen])
    return Anchors(Y[chosen], P[chosen], matrices, predictors[chosen], owner[chosen],
                   tuple(warnings), tuple(notes), n_eval)


def _thin(Y: np.ndarray, n_first: int, n_keep: int) -> np.ndarray:
    """The first ``n_first`` rows (the minima), then up to ``n_keep - n_first`` more chosen
    farthest-point style (bbox-normalised)."""
    if len(Y) <= max(n_keep, n_first):
        return np.arange(len(Y))
    span = np.ptp(Y, axis=0)
    U = Y / np.where(span > 0, span, 1.0)
    d = np.min(np.linalg.norm(U[:, None, :] - U[None, :n_first, :], axis=-1), axis=1)
    d[:n_first] = -np.inf
    return np.concatenate([np.arange(n_first),
                           farthest_points(U, d, max(n_keep - n_first, 0))])
