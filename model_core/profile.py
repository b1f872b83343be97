"""1-D likelihood scans and profiles.

``mode="scan"`` moves one parameter with every other at the best fit;
``mode="profile"`` re-fits the others at every point.  All points are fitted
together (batched Newton from the best fit, then restarts from neighbouring
points' solutions), so a profile never lies above the scan and the inputs are
never mutated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .fit import fit
from .inner import BatchMinimum, newton_minimize, polish_from_neighbours
from .model import Model
from .params import ReducedModel, resolve_fixed
from .results import FitResult, ProfileResult

__all__ = ["profile", "profile_points"]

_MODES = ("profile", "scan")


def profile(
    model: Model,
    parameter: str,
    grid: Sequence[float] | np.ndarray,
    *,
    fixed: Mapping[str, float] | None = None,
    mode: str = "profile",
    best: FitResult | None = None,
    max_iter: int = 100,
) -> ProfileResult:
    """Scan or profile the NLL along ``parameter``.

    Parameters
    ----------
    model
        The likelihood.
    parameter
        Name of the scanned parameter.
    grid
        Values of ``parameter`` (1-D, finite).
    fixed
        Other parameters held fixed, by name.
    mode
        ``"profile"`` (re-fit the others at each point) or ``"scan"`` (others at the best fit).
    best
        A fit of ``model`` with the same ``fixed``, to reuse; fitted when omitted.
    max_iter
        Newton iterations per point.
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    index = model.index(parameter)
    fixed_idx = resolve_fixed(model, fixed)
    if index in fixed_idx:
        raise ValueError(f"{parameter!r} is fixed; unfix it (remove it from fixed) to profile it")
    values = np.asarray(grid, dtype=float)
    if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError("grid must be a non-empty 1-D array of finite values")
    best = fit(model, fixed=fixed) if best is None else best
    base = np.tile(best.x, (values.size, 1))
    base[:, index] = values
    if mode == "scan":
        nll = model.nll(base)
        return ProfileResult(parameter, values, nll, np.isfinite(nll), base, mode, best.fun,
                             best.x, model.parameter_names)
    points = profile_points(model, base, [index, *fixed_idx], max_iter=max_iter)
    return ProfileResult(parameter, values, points.fun, points.success,
                         _full(model, base, [index, *fixed_idx], points.x), mode, best.fun,
                         best.x, model.parameter_names)


def profile_points(model: Model, base: np.ndarray, pinned: Sequence[int], *,
                   shape: tuple[int, ...] | None = None, max_iter: int = 100) -> BatchMinimum:
    """Minimise over every parameter not in ``pinned``, separately at each row of ``base``.

    ``base (B, npar)`` gives each row's pinned values and starting point; rows
    laid out on a grid of ``shape`` (default: a line) also restart from their
    neighbours' solutions.
    """
    free = [i for i in range(model.npar) if i not in set(pinned)]
    reduced = ReducedModel(model, free, base)
    if not free:
        value, grad = reduced.value_and_grad(np.zeros((len(base), 0)))
        ok = np.isfinite(value)
        return BatchMinimum(np.zeros((len(base), 0)), value, grad, ok,
                            np.zeros(len(base), int), np.zeros(len(base)))
    first = newton_minimize(reduced, base[:, free], max_iter=max_iter)
    return polish_from_neighbours(reduced, first, shape or (len(base),), max_iter=max_iter)


def _full(model: Model, base: np.ndarray, pinned: Sequence[int], z: np.ndarray) -> np.ndarray:
    out = base.copy()
    out[:, [i for i in range(model.npar) if i not in set(pinned)]] = z
    return out
