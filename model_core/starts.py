"""Starting points that cover a parameter box: low-discrepancy, heavy-tailed where unbounded.

A multi-start fit finds a separate basin only if some start lands in it.
Draws around the initial values with unit spread miss basins a few spreads
away, and units make "a few" arbitrary.  Here every axis gets its own map of
one coordinate of a scrambled Sobol sequence (which fills the unit cube
evenly at any number of points, unlike independent uniform draws):

* a finite interval ``[lo, hi]`` is covered uniformly;
* a half-open interval ``[lo, inf)`` by a half-Cauchy distribution from the
  bound, ``(-inf, hi]`` likewise;
* an open axis by a Cauchy distribution around the initial value.

The Cauchy scale is the axis's own ``width`` (e.g. the conditional width
``1 / sqrt(H_jj)`` of the NLL at the initial values): heavy tails put a
start ten widths away about once in sixteen, a hundred widths once in 160.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import qmc

__all__ = ["box_points", "spread_starts"]


def _sobol(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` scrambled Sobol points in ``[0, 1)^dim`` (drawn as a power of two, then cut)."""
    if n <= 0:
        return np.zeros((0, dim))
    m = max(int(np.ceil(np.log2(n))), 0)
    points = qmc.Sobol(dim, scramble=True, seed=rng).random_base2(m)[:n]
    # a scrambled point may be exactly 0 (never 1): keep every map finite
    return np.clip(points, 0.5 / 2**m / max(n, 2), 1.0 - 0.5 / 2**m / max(n, 2))


def spread_starts(center: np.ndarray, bounds: np.ndarray, width: np.ndarray, n: int,
                  rng: np.random.Generator) -> np.ndarray:
    """``n`` points covering ``bounds (d, 2)``; Cauchy-spread by ``width (d,)`` where open.

    Parameters
    ----------
    center
        ``(d,)`` where open axes are centred (clipped into the bounds).
    bounds
        ``(d, 2)``, ``-inf``/``inf`` for none.
    width
        ``(d,)`` positive scale of the heavy tails along open and half-open axes.
    n
        Number of points.
    rng
        The scrambling's seed.
    """
    lo, hi = bounds[:, 0], bounds[:, 1]
    u = _sobol(n, len(center), rng)
    has_lo, has_hi = np.isfinite(lo), np.isfinite(hi)
    finite = has_lo & has_hi
    center = np.clip(center, lo, hi)
    half = np.tan(0.5 * np.pi * u) * width
    full = np.tan(np.pi * (u - 0.5)) * width
    out = np.where(finite, np.where(finite, lo, 0.0) + u * np.where(finite, hi - lo, 0.0),
                   np.where(has_lo, np.where(has_lo, lo, 0.0) + half,
                            np.where(has_hi, np.where(has_hi, hi, 0.0) - half, center + full)))
    return np.clip(out, lo, hi)


def box_points(box: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` scrambled Sobol points filling the finite ``box (d, 2)`` evenly."""
    return box[:, 0] + _sobol(n, len(box), rng) * (box[:, 1] - box[:, 0])
