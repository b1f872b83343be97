"""Plot extents: how far a confidence region reaches along one parameter.

Maps and profiles need a range that shows the interesting part of the
likelihood.  The inverse Hessian gives it for a quadratic NLL, but a flat
direction (a valley of equal NLL) makes that width infinite and a curved
valley makes it wrong.  :func:`region_extent` therefore starts from the
quadratic estimate (the conditional width ``sqrt(delta / H_ii)`` when the
relevant block is singular, and at most four times that otherwise),
evaluates the NLL (re-fitting the profiled parameters) on a geometric ladder
of points on each side in one batched call, and ends each side where
``2 (NLL - NLL_min)`` first reaches the level (refined by regula falsi in
``sqrt(level)``, exact for a quadratic NLL), at a parameter bound, or at the
end of the ladder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .model import Model
from .params import resolve_fixed
from .profile import profile_points
from .results import FitResult

__all__ = ["quadratic_width", "region_extent"]

_SINGULAR_RTOL = 1e-8
_MAX_STRETCH = 4.0
_REFINE_STEPS = 2
_REFINE_RTOL = 1e-3


def region_extent(
    model: Model,
    parameter: str,
    *,
    best: FitResult,
    delta: float,
    minimise: Sequence[str] = (),
    fixed: Mapping[str, float] | None = None,
    max_factor: float = 16.0,
) -> tuple[float, float]:
    """Range of ``parameter`` over which ``2 (NLL - best.fun)`` stays below ``delta``.

    Parameters
    ----------
    model
        The likelihood.
    parameter
        The parameter whose extent is wanted.
    best
        The best fit the region is measured from (``best.x``, ``best.fun``, ``best.hess``).
    delta
        The Delta chi-square level (e.g. ``delta_chi2(0.95, 2)``).
    minimise
        Parameters re-fitted at every trial point (the profiled ones); every
        other parameter stays at ``best.x``.  Fixed parameters are never minimised.
    fixed
        Extra fixed parameters by name (with ``best`` fitted under the same ``fixed``).
    max_factor
        How far beyond the first estimate a side may reach: trial points lie at
        ``sqrt(2)**k`` times it, up to ``max_factor``.  A side that never reaches
        ``delta`` (an unbounded flat valley) ends at the last trial point.

    Returns
    -------
    (low, high)
        Finite and within the parameter's bounds; ``low == best.x[i]`` (or
        ``high``) only when the best fit lies on that bound.
    """
    if not delta > 0:
        raise ValueError(f"delta must be positive, got {delta!r}")
    i = model.index(parameter)
    fixed_idx = resolve_fixed(model, fixed)
    if i in fixed_idx:
        raise ValueError(f"{parameter!r} is fixed; its extent is the single value {fixed_idx[i]}")
    others = [j for j in (model.index(n) for n in minimise) if j not in fixed_idx and j != i]
    x0 = float(best.x[i])
    low_bound, high_bound = (float(b) for b in model.bounds[i])
    width = quadratic_width(best.hess, i, others, delta, x0)
    pinned = [j for j in range(model.npar) if j not in others]
    factors = np.sqrt(2.0) ** np.arange(int(np.ceil(2 * np.log2(max_factor))) + 1)
    # a ladder of trial points on each side, all fitted in one batched call
    ladder = np.clip(x0 + np.outer([-1.0, 1.0], width * factors), low_bound, high_bound)
    base = np.tile(best.x, (ladder.size, 1))
    base[:, i] = ladder.ravel()
    values = profile_points(model, base, pinned, shape=ladder.shape).fun.reshape(ladder.shape)
    brackets = [_bracket(x0, xs, 2.0 * (v - best.fun), delta) for xs, v in zip(ladder, values,
                                                                                strict=True)]
    return _refine(brackets, best, i, pinned, delta, model)


def _bracket(x0: float, xs: np.ndarray, levels: np.ndarray, delta: float
             ) -> tuple[float, float, float, float] | float:
    """``(x_in, r_in, x_out, r_out)`` around the first crossing (``r = sqrt(level)``), or
    the end point when there is nothing to refine."""
    above = np.flatnonzero(~np.isfinite(levels) | (levels >= delta))
    if above.size == 0:
        return float(xs[-1])
    k = int(above[0])
    x_in, r_in = (x0, 0.0) if k == 0 else (float(xs[k - 1]), float(np.sqrt(max(levels[k - 1], 0))))
    if not np.isfinite(levels[k]):
        return float(xs[k]) if k == 0 else x_in
    return x_in, r_in, float(xs[k]), float(np.sqrt(levels[k]))


def _refine(brackets: list[tuple[float, float, float, float] | float], best: FitResult,
            i: int, pinned: list[int], delta: float, model: Model) -> tuple[float, float]:
    """Regula falsi in ``sqrt(level)``, both sides in one batched fit per step (exact in one
    step for a quadratic NLL)."""
    target = float(np.sqrt(delta))
    ends = np.zeros(2)
    x_in, r_in, x_out, r_out = (np.zeros(2) for _ in range(4))
    active = np.zeros(2, dtype=bool)
    for side, bracket in enumerate(brackets):
        if isinstance(bracket, float):
            ends[side] = bracket
        else:
            x_in[side], r_in[side], x_out[side], r_out[side] = bracket
            active[side] = True
    for _ in range(_REFINE_STEPS):
        rows = np.flatnonzero(active)
        if rows.size == 0:
            break
        with np.errstate(divide="ignore", invalid="ignore"):
            x = x_in + (target - r_in) / (r_out - r_in) * (x_out - x_in)
        base = np.tile(best.x, (rows.size, 1))
        base[:, i] = x[rows]
        levels = 2.0 * (profile_points(model, base, pinned).fun - best.fun)
        for row, value in zip(rows, levels, strict=True):
            r = float(np.sqrt(max(value, 0.0))) if np.isfinite(value) else np.inf
            if abs(r - target) <= _REFINE_RTOL * target:
                ends[row], active[row] = x[row], False
            elif r < target:
                x_in[row], r_in[row] = x[row], r
            else:
                x_out[row], r_out[row] = x[row], r
    for row in np.flatnonzero(active):
        ends[row] = x_in[row] if not np.isfinite(r_out[row]) else (
            x_in[row] + (target - r_in[row]) / (r_out[row] - r_in[row])
            * (x_out[row] - x_in[row]))
    return float(ends[0]), float(ends[1])


def quadratic_width(hess: np.ndarray, i: int, others: Sequence[int], delta: float,
                     x0: float) -> float:
    """First estimate of the half-width: the quadratic one, at most ``_MAX_STRETCH`` times
    the conditional width ``sqrt(delta / H_ii)`` (nearly singular blocks overshoot)."""
    block_idx = [i, *others]
    block = np.asarray(hess, dtype=float)[np.ix_(block_idx, block_idx)]
    if not np.all(np.isfinite(block)) or block[0, 0] <= 0:
        return max(1.0, abs(x0)) * 0.5
    conditional = float(np.sqrt(delta / block[0, 0]))
    d = np.sqrt(np.maximum(np.diag(block), 1e-300))
    if np.linalg.eigvalsh(block / np.outer(d, d))[0] <= _SINGULAR_RTOL:
        return conditional
    quadratic = float(np.sqrt(delta * np.linalg.inv(block)[0, 0]))
    return min(quadratic, _MAX_STRETCH * conditional)
