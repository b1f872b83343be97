"""Maximum-likelihood fits with exact derivatives, several starts and a saddle check.

All starts are minimised together by the batched projected Newton method of
:mod:`model_core.inner` (exact gradient and Hessian, Levenberg-Marquardt
damping, steps accepted only when they lower the NLL, so walls of ``+inf``
where rates turn negative are never crossed).  scipy's L-BFGS-B was tried
first and rejected: at such a wall its line search gives up and it reports
convergence at a point that is not a minimum.

A point with zero gradient is not always a minimum: with ``c1**2`` in the
signal, ``c1 = 0`` is a saddle.  Every solution's Hessian is therefore checked
and, where it has a negative eigenvalue, the fit restarts on both sides along
that direction.

Extra starts cover the whole parameter box (:mod:`model_core.starts`):
low-discrepancy over finite bounds, heavy-tailed along open axes with each
axis's own width at the initial values (``1 / sqrt(H_jj)``), so a basin many
widths away is found whatever the parameters' units.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .exceptions import FitFailed
from .inner import FD_STEP, gradient_differences, newton_minimize
from .linalg import FLAT_RTOL, unit_diagonal_eigh
from .model import Model
from .params import ReducedModel, reduce_model, resolve_fixed
from .random import RngLike, as_generator
from .results import FitResult
from .starts import spread_starts

__all__ = ["fit"]

_SADDLE_RTOL = 1e-7
_MAX_ESCAPES = 4
_OVERFLOW = ("the NLL's second derivatives overflow at the best point found (the Hessian is "
             "not usable): rescale extreme yields or uncertainties, bound the parameters or "
             "simplify the signal expression")


def fit(
    model: Model,
    *,
    fixed: Mapping[str, float] | None = None,
    init: Mapping[str, float] | Sequence[float] | None = None,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    n_starts: int = 1,
    rng: RngLike = None,
    max_iter: int = 200,
    tol: float = 1e-16,
    strict: bool = False,
    starts: np.ndarray | None = None,
    hessian: str = "exact",
) -> FitResult:
    """Minimise the NLL of ``model``.

    Parameters
    ----------
    model
        The likelihood.
    fixed
        Parameter values to hold fixed, by name (added to the model's own fixed ones).
    init
        Starting values, by name or as a full vector; defaults to ``model.init``.
    bounds
        Bounds ``(low, high)`` by name, replacing the model's.
    n_starts
        Number of starting points: ``init`` plus ``n_starts - 1`` drawn from ``rng``
        (a scrambled Sobol sequence: uniform within finite bounds, Cauchy-spread by
        each parameter's width at ``init`` along open axes), all minimised
        together.  Distinct minima are reported in ``minima_x``.
    rng
        Seed or generator for the extra starts.
    max_iter, tol
        Newton iterations and convergence threshold on the Newton decrement (NLL units).
    strict
        Raise :class:`~model_core.exceptions.FitFailed` instead of returning ``success=False``.
    starts
        More starting points ``(n, npar)`` (full vectors; fixed entries are ignored),
        minimised with the others.
    hessian
        ``"exact"`` or ``"differences"`` Hessians in the Newton iterations
        (:func:`model_core.inner.newton_minimize`); the result's ``hess`` is exact.

    Returns
    -------
    FitResult
    """
    with np.errstate(all="ignore"):  # overflowing models end as failed fits, not warnings
        result = _fit(model, fixed, init, bounds, n_starts, rng, max_iter, tol, starts, hessian)
    if strict and not result.success:
        raise FitFailed(result)
    return result


def _fit(model: Model, fixed: Mapping[str, float] | None,
         init: Mapping[str, float] | Sequence[float] | None,
         bounds: Mapping[str, tuple[float, float]] | None, n_starts: int, rng: RngLike,
         max_iter: int, tol: float, extra: np.ndarray | None, hessian: str) -> FitResult:
    if n_starts < 1:
        raise ValueError(f"n_starts must be at least 1, got {n_starts}")
    fixed_idx = resolve_fixed(model, fixed)
    x_init = _initial_point(model, init)
    all_bounds = _merged_bounds(model, bounds)
    reduced = reduce_model(model, fixed_idx, base=x_init,
                           bounds=all_bounds[[i for i in range(model.npar) if i not in fixed_idx]])
    if reduced.npar == 0:
        x = reduced.full(np.zeros(0))
        return _result(model, x, fixed_idx, all_bounds, ok=bool(np.isfinite(model.nll(x))),
                       message="all parameters are fixed", counts=(1, 0, 0),
                       minima=(x[None], np.array([model.nll(x)])))
    starts = _starts(reduced, n_starts, as_generator(rng))
    if extra is not None:
        free = reduced.free
        starts = np.vstack([starts, np.clip(np.asarray(extra, dtype=float)[:, free],
                                            reduced.bounds[:, 0], reduced.bounds[:, 1])])
    if not np.isfinite(reduced.nll(starts)).any():
        x = reduced.full(starts[0])
        return _result(model, x, fixed_idx, all_bounds, ok=False, counts=(len(starts), 0, 0),
                       message="the NLL is infinite at every starting point (some expected "
                       "rate is <= 0, or a value overflows): choose init values where all "
                       "rates are positive and finite",
                       minima=(x[None], np.array([np.inf])))
    z, fun, ok, nit = _minimise_with_escapes(reduced, starts, max_iter, tol, hessian)
    # ties within rounding (a flat valley) go to the earliest start, init first
    tie = 1e-9 * (1.0 + np.abs(np.min(fun)))
    order = np.argsort(np.where(np.isfinite(fun), np.round((fun - np.min(fun)) / tie), np.inf),
                       kind="stable")
    z, fun, ok = z[order], fun[order], ok[order]
    minima = _distinct(z, fun, ok)
    best = int(np.flatnonzero(ok)[0]) if ok.any() else 0
    message = "converged" if ok[best] else (
        f"did not converge in {max_iter} Newton iterations: try more starts (n_starts), "
        "other init values or tighter bounds")
    return _result(model, reduced.full(z[best]), fixed_idx, all_bounds, ok=bool(ok[best]),
                   message=message, counts=(int(nit.sum()) + len(starts),) * 2 + (int(nit.sum()),),
                   minima=(reduced.full(z[minima]), fun[minima]))


def _initial_point(model: Model, init: Mapping[str, float] | Sequence[float] | None) -> np.ndarray:
    x = model.init.copy()
    if init is None:
        return x
    if isinstance(init, Mapping):
        for name, value in init.items():
            x[model.index(name)] = float(value)
        return x
    x = np.asarray(init, dtype=float)
    if x.shape != (model.npar,):
        raise ValueError(f"init must have {model.npar} values "
                         f"({', '.join(model.parameter_names)}), got shape {x.shape}")
    return x.copy()


def _merged_bounds(model: Model, bounds: Mapping[str, tuple[float, float]] | None) -> np.ndarray:
    out = model.bounds.copy()
    for name, (lo, hi) in (bounds or {}).items():
        lo = -np.inf if lo is None else float(lo)
        hi = np.inf if hi is None else float(hi)
        if not lo < hi:
            raise ValueError(f"bounds of {name!r}: low ({lo}) must be below high ({hi})")
        out[model.index(name)] = (lo, hi)
    return out


def _starts(reduced: ReducedModel, n_starts: int, rng: np.random.Generator) -> np.ndarray:
    """``init`` and ``n_starts - 1`` points spread over the box (:mod:`model_core.starts`)."""
    lo, hi = reduced.bounds[:, 0], reduced.bounds[:, 1]
    z0 = np.clip(reduced.init, lo, hi)
    if n_starts == 1:
        return z0[None]
    return np.vstack([z0, spread_starts(z0, reduced.bounds, _widths(reduced, z0), n_starts - 1,
                                        rng)])


def _widths(reduced: ReducedModel, z0: np.ndarray) -> np.ndarray:
    """Each parameter's conditional width ``1 / sqrt(H_jj)`` at ``z0`` (``max(1, |z0|)`` where
    the curvature is not positive and finite), from differences of exact gradients."""
    step = FD_STEP * np.maximum(np.abs(z0), 1.0)[None]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        hess = gradient_differences(reduced, z0[None], step, reduced.bounds)[1][0]
        width = 1.0 / np.sqrt(np.diagonal(hess))
    return np.where(np.isfinite(width) & (width > 0), width, np.maximum(1.0, np.abs(z0)))


def _minimise_with_escapes(reduced: ReducedModel, starts: np.ndarray, max_iter: int, tol: float,
                           hessian: str = "exact"
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    result = newton_minimize(reduced, starts, max_iter=max_iter, tol=tol, hessian=hessian)
    z, fun, grad = result.x, result.fun, result.grad
    ok, nit = result.success.copy(), result.nit.copy()
    for _ in range(_MAX_ESCAPES):
        if reduced.take(np.arange(len(z))) is reduced:
            # many starts end at the same point: check each point's curvature once
            group = _groups(z, fun, ok)
        else:
            # rows with data or settings of their own (toys, profiles) are all different
            group = np.where(ok, np.arange(len(z)), -1)
        check = np.flatnonzero(group == np.arange(len(z)))
        direction, curvature = _negative_curvature(reduced.take(check), z[check], grad[check])
        saddle = curvature < 0
        if not saddle.any():
            break
        rows = check[saddle]
        # a step that lowers the quadratic model by ~1e-3 in NLL, on both sides
        size = np.sqrt(2e-3 / -curvature[saddle])[:, None] * direction[saddle]
        trials = np.vstack([z[rows] + size, z[rows] - size])
        # take: a model with per-row settings or data restarts each row with its own
        again = newton_minimize(reduced.take(np.concatenate([rows, rows])), trials,
                                max_iter=max_iter, tol=tol, hessian=hessian)
        half = len(rows)
        pick = np.where(again.fun[:half] <= again.fun[half:], 0, half) + np.arange(half)
        better = again.fun[pick] < fun[rows]
        z[rows[better]] = again.x[pick[better]]
        fun[rows[better]] = again.fun[pick[better]]
        grad[rows[better]] = again.grad[pick[better]]
        ok[rows] = np.where(better, again.success[pick], False)
        nit[rows] += again.nit[pick]
        # the other starts that ended at these saddles follow their escapes
        followers = np.flatnonzero(np.isin(group, rows) & (group != np.arange(len(z))))
        leader = group[followers]
        z[followers], fun[followers], grad[followers] = z[leader], fun[leader], grad[leader]
        ok[followers] = ok[leader]
    return z, fun, ok, nit


def _groups(z: np.ndarray, fun: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """For every row, the row of the lowest converged start at the same point (as
    :func:`_distinct` tells points apart); ``-1`` for rows that did not converge."""
    group = np.full(len(z), -1)
    scale = np.maximum(1.0, np.abs(z).max(axis=0)) if len(z) else np.ones(0)
    leaders: list[int] = []
    rows = np.flatnonzero(ok & np.isfinite(fun))
    for i in rows[np.argsort(fun[rows], kind="stable")]:
        same = next((j for j in leaders if np.max(np.abs(z[i] - z[j]) / scale) <= 1e-4), None)
        if same is None:
            leaders.append(int(i))
            same = int(i)
        group[i] = same
    return group


def _negative_curvature(reduced: ReducedModel, z: np.ndarray, grad: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Direction and value of the most negative curvature (coordinates pinned at a bound aside)."""
    lo, hi = reduced.bounds[:, 0], reduced.bounds[:, 1]
    pinned = ((z <= lo) & (grad > 0)) | ((z >= hi) & (grad < 0))
    hess = reduced.hessian(z)
    hess = np.where(pinned[:, :, None] | pinned[:, None, :], 0.0, hess)
    # a start that ended next to a wall of +inf, or whose curvature overflows, has no
    # usable curvature: no escape from it (see _result)
    finite = np.isfinite(hess).all(axis=(1, 2))
    w, v = np.linalg.eigh(np.where(finite[:, None, None], hess, 0.0))
    scale = np.maximum(np.abs(w).max(axis=1), 1.0)
    curvature = np.where(finite & (w[:, 0] < -_SADDLE_RTOL * scale), w[:, 0], 0.0)
    return v[:, :, 0], curvature


def _distinct(z: np.ndarray, fun: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Indices of distinct converged minima (input sorted by ``fun``)."""
    keep: list[int] = []
    scale = np.maximum(1.0, np.abs(z).max(axis=0))
    for i in np.flatnonzero(ok & np.isfinite(fun)):
        if all(np.max(np.abs(z[i] - z[j]) / scale) > 1e-4 for j in keep):
            keep.append(int(i))
    return np.array(keep or [0], dtype=int)


def _result(model: Model, x: np.ndarray, fixed_idx: Mapping[int, float], bounds: np.ndarray, *,
            ok: bool, message: str, counts: tuple[int, int, int],
            minima: tuple[np.ndarray, np.ndarray]) -> FitResult:
    fixed = np.zeros(model.npar, bool)
    fixed[list(fixed_idx)] = True
    finite = bool(np.isfinite(model.nll(x)))
    hess = model.hessian(x) if finite else np.full((model.npar,) * 2, np.nan)
    if finite and not np.isfinite(hess[np.ix_(~fixed, ~fixed)]).all():
        finite = ok = False
        message = _OVERFLOW
    at_bound = ~fixed & ((x <= bounds[:, 0]) | (x >= bounds[:, 1]))
    free = np.flatnonzero(~fixed)
    covariance = np.zeros((model.npar, model.npar))
    flat = np.zeros((0, model.npar))
    min_eig = np.nan
    posdef = False
    if free.size and finite:
        block = hess[np.ix_(free, free)]
        try:
            min_eig = float(np.linalg.eigvalsh(block)[0])
            # flatness is judged on the scale-free (unit-diagonal) Hessian
            w, v, d = unit_diagonal_eigh(block)
            null = w <= FLAT_RTOL
            posdef = not null.any()
            flat = np.zeros((int(null.sum()), model.npar))
            directions = v[:, null].T / d
            flat[:, free] = directions / np.linalg.norm(directions, axis=1, keepdims=True)
            covariance[np.ix_(free, free)] = np.linalg.pinv(block, rtol=1e-10, hermitian=True)
        except np.linalg.LinAlgError:  # extreme but finite entries can still defeat LAPACK
            ok, posdef, message = False, False, _OVERFLOW
    if ok and free.size and not posdef:
        message += ("; the Hessian is singular (smallest eigenvalue "
                    f"{min_eig:.3g}): some parameter combination is not constrained by the data")
    nfev, njev, nit = counts
    return FitResult(x=x, fun=float(model.nll(x)), success=ok, message=message, nfev=nfev,
                     njev=njev, nit=nit, hess=hess, covariance=covariance,
                     parameter_names=model.parameter_names, fixed=fixed, at_bound=at_bound,
                     has_posdef_hessian=posdef, min_eigenvalue=min_eig, flat_directions=flat,
                     minima_x=minima[0], minima_fun=minima[1])
