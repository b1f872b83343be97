"""The NLL and its gradient on a 2-D grid over any two parameters (likelihood maps)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .fit import fit
from .model import Model
from .params import resolve_fixed
from .profile import profile_points
from .results import GridResult

__all__ = ["nll_grid"]

_MODES = ("fixed", "profile")


def nll_grid(
    model: Model,
    parameters: tuple[str, str],
    x_values: Sequence[float] | np.ndarray,
    y_values: Sequence[float] | np.ndarray,
    *,
    fixed: Mapping[str, float] | None = None,
    mode: str = "fixed",
    at: Sequence[float] | np.ndarray | None = None,
) -> GridResult:
    """Evaluate the NLL and ``d NLL / d(px, py)`` on the grid ``y_values x x_values``.

    Parameters
    ----------
    model
        The likelihood.
    parameters
        The two axis parameters ``(px, py)``.
    x_values, y_values
        Grid values of ``px`` and ``py``.
    fixed
        Parameters held fixed by name (besides the axes).
    mode
        ``"fixed"``: every other parameter at ``at``; ``"profile"``: the others
        re-fitted at each grid point (batched), the gradient then being that of
        the profiled NLL (envelope theorem).
    at
        Full parameter vector for the other parameters (and profile starts);
        defaults to the best fit with ``fixed``.
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    px, py = parameters
    ix, iy = model.index(px), model.index(py)
    if ix == iy:
        raise ValueError(f"the two axes must differ, got {px!r} twice")
    xs, ys = np.asarray(x_values, dtype=float), np.asarray(y_values, dtype=float)
    for label, values in (("x_values", xs), ("y_values", ys)):
        if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)):
            raise ValueError(f"{label} must be a non-empty 1-D array of finite values")
    fixed_idx = resolve_fixed(model, fixed)
    center = fit(model, fixed=fixed).x if at is None else np.asarray(at, dtype=float).copy()
    for i, v in fixed_idx.items():
        center[i] = v
    gx, gy = np.meshgrid(xs, ys)
    points = np.tile(center, (gx.size, 1))
    points[:, ix], points[:, iy] = gx.ravel(), gy.ravel()
    if mode == "profile":
        pinned = [ix, iy, *fixed_idx]
        solved = profile_points(model, points, pinned, shape=gx.shape)
        free = [i for i in range(model.npar) if i not in set(pinned)]
        points[:, free] = solved.x
        success = solved.success
    nll, grad = model.value_and_grad(points)
    if mode == "fixed":
        success = np.isfinite(nll)
    shape = gx.shape
    return GridResult((px, py), xs, ys, nll.reshape(shape),
                      grad[:, [ix, iy]].reshape(shape + (2,)), success.reshape(shape),
                      points.reshape(shape + (model.npar,)), mode)
