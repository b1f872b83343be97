"""Anchors of the radial search: distinct minima below ``T`` and points along flat valleys.

Rays see only the part of the contour that is star-shaped from their anchor.
Every distinct minimum of a multi-start fit that lies inside the region is an
anchor (separate basins, such as the two signs of ``c1`` when the signal has
``c1**2``), and when the best fit has a flat direction the valley is walked
(:mod:`.valley`) and its points become anchors as well.  Each anchor carries
its own whitening map (:mod:`.whitening`).  At most ``n_anchors`` are kept,
chosen farthest-point style, the best fit first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..results import FitResult
from .gaps import farthest_points
from .surface import ContourSurface
from .valley import walk_valley
from .whitening import build_whitener

__all__ = ["Anchors", "find_anchors"]


@dataclass(frozen=True, slots=True, eq=False)
class Anchors:
    """Starting points of rays.

    Attributes
    ----------
    points : (n, k) anchors (axes), the best fit first; profiled : (n, m);
    matrices : (n, k, k) whitening maps ``x = anchor + M phi``;
    minima : (b, k) distinct minima inside the region, best first;
    warnings, notes : messages for the result; n_evaluations : rows evaluated.
    """

    points: np.ndarray
    profiled: np.ndarray
    matrices: np.ndarray
    minima: np.ndarray
    warnings: tuple[str, ...]
    notes: tuple[str, ...]
    n_evaluations: int


def _describe(names: tuple[str, ...], vector: np.ndarray) -> str:
    return ", ".join(f"{n} {v:+.3g}" for n, v in zip(names, vector, strict=True) if abs(v) > 1e-3)


def find_anchors(surface: ContourSurface, best: FitResult, *, delta: float, n_anchors: int,
                 max_walk: int) -> Anchors:
    """Anchors from the fit ``best`` (with its ``minima_x``) and, if flat, a valley walk."""
    T = surface.threshold
    margin = 1e-3 * delta
    inside = np.isfinite(best.minima_fun) & (best.minima_fun < T - margin)
    others = best.minima_x[inside]
    others = others[np.any(others != best.x, axis=1)]
    full = np.vstack([best.x, others])
    Y, P = full[:, surface.axes], full[:, surface.profiled]
    n_eval = len(Y) * (surface.model.npar + 1)
    whiteners = [build_whitener(y, h) for y, h in zip(Y, surface.hessian(Y, P), strict=True)]
    minima = Y.copy()
    warnings: list[str] = []
    notes: list[str] = []
    flat = whiteners[0].flat
    if len(flat):
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
            walk = walk_valley(surface, Y[0], P[0], directions, steps, delta=delta,
                               max_steps=max_walk)
            n_eval += walk.n_evaluations
            deep = walk.nll < best.fun + 0.375 * delta
            Yw, Pw = walk.points[deep], walk.profiled[deep]
            if len(Yw):
                n_eval += len(Yw) * (surface.model.npar + 1)
                whiteners += [build_whitener(y, h)
                              for y, h in zip(Yw, surface.hessian(Yw, Pw), strict=True)]
                Y, P = np.vstack([Y, Yw]), np.vstack([P, Pw])
            notes.append(f"valley walk: {len(Yw)} points"
                         + (", reached the parameter bounds" if walk.reached_bound else ""))
            if walk.capped:
                open_axes = [n for n, b, v in zip(names, surface.bounds, np.abs(flat).max(axis=0),
                                                  strict=True)
                             if v > 1e-3 and not np.all(np.isfinite(b))]
                warnings.append(
                    f"the valley was still inside the region after max_walk={max_walk} steps: "
                    f"the region is probably unbounded along it; set bounds on "
                    f"{', '.join(open_axes) or 'the axes'}")
    chosen = _thin(Y, n_anchors)
    matrices = np.stack([whiteners[i].matrix for i in chosen])
    return Anchors(Y[chosen], P[chosen], matrices, minima, tuple(warnings), tuple(notes), n_eval)


def _thin(Y: np.ndarray, n_keep: int) -> np.ndarray:
    """Row 0 and then up to ``n_keep - 1`` rows chosen farthest-point style (bbox-normalised)."""
    if len(Y) <= n_keep:
        return np.arange(len(Y))
    span = np.ptp(Y, axis=0)
    U = Y / np.where(span > 0, span, 1.0)
    d = np.linalg.norm(U - U[0], axis=1)
    d[0] = -np.inf
    return np.concatenate([[0], farthest_points(U, d, n_keep - 1)])
