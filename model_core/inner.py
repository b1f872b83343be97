"""Batched bounded minimisation: projected Newton with Levenberg-Marquardt damping.

Profiles, grids and the contour finder solve many small, independent
minimisations at once (one per grid point, ray or chain).  Every iteration
evaluates the exact gradient and Hessian of all active rows in one batched
pass, solves the damped Newton system per row through an eigendecomposition
(negative curvature is mirrored, so saddles repel), and accepts a row's step
only when it lowers that row's NLL.  Rows stop when the Newton decrement
``g^T H^-1 g`` falls below ``tol`` (in NLL units).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .model import Model

__all__ = ["BatchMinimum", "newton_minimize", "polish_from_neighbours"]

_LAMBDA0, _LAMBDA_MIN, _LAMBDA_MAX = 1e-3, 1e-12, 1e12
_ROUNDING = 4 * np.finfo(float).eps


@dataclass(frozen=True, slots=True, eq=False)
class BatchMinimum:
    """Outcome of :func:`newton_minimize`, one entry per row.

    Attributes
    ----------
    x : (B, m) minimiser; fun : (B,) NLL there; grad : (B, m) gradient there;
    success : (B,) converged rows; nit : (B,) iterations used;
    decrement : (B,) last Newton decrement (expected further NLL decrease times 2).
    """

    x: np.ndarray
    fun: np.ndarray
    grad: np.ndarray
    success: np.ndarray
    nit: np.ndarray
    decrement: np.ndarray


def _free_mask(z: np.ndarray, g: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Coordinates not pinned at a bound by a gradient pushing outward."""
    at_low = (z <= bounds[:, 0]) & (g > 0)
    at_high = (z >= bounds[:, 1]) & (g < 0)
    return ~(at_low | at_high)


def _damped_step(g: np.ndarray, w: np.ndarray, v: np.ndarray, lam: np.ndarray) -> np.ndarray:
    scale = np.maximum(np.abs(w).max(axis=-1, keepdims=True), 1e-300)
    inv = 1.0 / (np.abs(w) + lam[:, None] * scale)
    coeff = np.einsum("bji,bj->bi", v, g) * inv
    return -np.einsum("bij,bj->bi", v, coeff)


def _final_newton_step(model: Model, rows: np.ndarray, x: np.ndarray, fun: np.ndarray,
                       grad: np.ndarray, g: np.ndarray, w: np.ndarray, v: np.ndarray,
                       bounds: np.ndarray) -> None:
    """One undamped Newton step for converged rows (quadratic convergence takes them to
    rounding level), kept where it does not raise the NLL beyond rounding; updates in place."""
    trial = np.clip(x[rows] + _damped_step(g, w, v, np.zeros(len(rows))), bounds[:, 0],
                    bounds[:, 1])
    value, gradient = model.value_and_grad(trial)
    keep = value <= fun[rows] + _ROUNDING * np.maximum(1.0, np.abs(fun[rows]))
    x[rows[keep]], fun[rows[keep]], grad[rows[keep]] = trial[keep], value[keep], gradient[keep]


def newton_minimize(model: Model, x0: np.ndarray, *, bounds: np.ndarray | None = None,
                    max_iter: int = 100, tol: float = 1e-12) -> BatchMinimum:
    """Minimise ``model.nll`` from every row of ``x0 (B, m)`` independently.

    Parameters
    ----------
    model
        Any :class:`Model` whose rows are independent; a model with per-row
        fixed values must implement ``take(rows)``.
    x0
        Starting points, clipped into ``bounds``.
    bounds
        ``(m, 2)``; defaults to ``model.bounds``.
    max_iter
        Newton iterations per row.
    tol
        Convergence threshold on the Newton decrement, in NLL units.
    """
    bounds = model.bounds if bounds is None else np.asarray(bounds, dtype=float)
    x = np.clip(np.array(x0, dtype=float, ndmin=2), bounds[:, 0], bounds[:, 1])
    n = len(x)
    fun, grad = model.value_and_grad(x)
    success = np.zeros(n, bool)
    nit = np.zeros(n, int)
    decrement = np.full(n, np.inf)
    lam = np.full(n, _LAMBDA0)
    active = np.flatnonzero(np.isfinite(fun))
    for _ in range(max_iter):
        if active.size == 0:
            break
        sub = model.take(active)
        xa, ga = x[active], grad[active]
        free = _free_mask(xa, ga, bounds)
        hess = sub.hessian(xa)
        pinned = ~free
        hess = np.where(pinned[:, :, None] | pinned[:, None, :], 0.0, hess)
        hess = hess + np.einsum("bi,ij->bij", pinned.astype(float), np.eye(x.shape[1]))
        gf = np.where(free, ga, 0.0)
        w, v = np.linalg.eigh(hess)
        dec = np.einsum("bj,bj->b", gf, -_damped_step(gf, w, v, np.zeros(len(active))))
        decrement[active] = dec
        nit[active] += 1
        done = dec < tol
        if done.any():
            _final_newton_step(sub.take(np.flatnonzero(done)), active[done], x, fun, grad,
                               gf[done], w[done], v[done], bounds)
        success[active[done]] = True
        keep = ~done
        active, xa, gf, w, v = active[keep], xa[keep], gf[keep], w[keep], v[keep]
        sub = model.take(active)
        accepted = np.zeros(len(active), bool)
        for _trial in range(12):
            todo = ~accepted & (lam[active] < _LAMBDA_MAX)
            if not todo.any():
                break
            rows = active[todo]
            step = _damped_step(gf[todo], w[todo], v[todo], lam[rows])
            trial = np.clip(xa[todo] + step, bounds[:, 0], bounds[:, 1])
            f_trial = sub.take(np.flatnonzero(todo)).nll(trial)
            # inside the quadratic basin the NLL cannot resolve the last Newton steps:
            # accept them when they do not raise the NLL beyond rounding
            rounding = _ROUNDING * np.maximum(1.0, np.abs(fun[rows]))
            basin = decrement[rows] < 1e3 * rounding
            better = (f_trial < fun[rows]) | (basin & (f_trial <= fun[rows] + rounding))
            good = rows[better]
            x[good] = trial[better]
            lam[good] = np.maximum(lam[good] / 3.0, _LAMBDA_MIN)
            lam[rows[~better]] *= 10.0
            accepted[np.flatnonzero(todo)[better]] = True
        moved = active[accepted]
        if moved.size:
            fun[moved], grad[moved] = model.take(moved).value_and_grad(x[moved])
        # rows whose every damped step failed to lower the NLL sit at a numerical minimum
        stuck = active[~accepted]
        small = decrement[stuck] < 1e-6 * np.maximum(1.0, np.abs(fun[stuck]))
        success[stuck[small]] = True
        active = moved
    return BatchMinimum(x, fun, grad, success, nit, decrement)


def polish_from_neighbours(model: Model, result: BatchMinimum, shape: tuple[int, ...], *,
                           max_passes: int | None = None, max_iter: int = 100,
                           tol: float = 1e-12) -> BatchMinimum:
    """Restart rows of a grid of minimisations from their neighbours' solutions.

    Rows are laid out on a grid of ``shape`` (C order).  Wherever a neighbour's
    minimiser gives a row a lower NLL than its own, the row is re-minimised from
    there; this carries a solution along a curved valley (or into rows whose own
    start had an infinite NLL) the way a warm-started sequential scan would, but in
    batches.  Passes repeat until nothing improves, at most ``max_passes`` times
    (default: the longest grid side).
    """
    x, fun = result.x.copy(), result.fun.copy()
    grad, success, nit = result.grad.copy(), result.success.copy(), result.nit.copy()
    decrement = result.decrement.copy()
    index = np.arange(len(x)).reshape(shape)
    for _ in range(max(shape) if max_passes is None else max_passes):
        best_start, best_value = x.copy(), fun.copy()
        for axis in range(len(shape)):
            for shift in (1, -1):
                neighbour = np.roll(index, shift, axis=axis)
                valid = np.ones(shape, bool)
                edge = [slice(None)] * len(shape)
                edge[axis] = 0 if shift == 1 else -1
                valid[tuple(edge)] = False
                rows, source = index[valid], neighbour[valid]
                value = model.take(rows).nll(x[source])
                margin = 1e-9 * np.maximum(1.0, np.abs(np.nan_to_num(best_value[rows])))
                better = value < best_value[rows] - margin
                best_start[rows[better]] = x[source[better]]
                best_value[rows[better]] = value[better]
        rows = np.flatnonzero(best_value < fun)
        if rows.size == 0:
            break
        again = newton_minimize(model.take(rows), best_start[rows], max_iter=max_iter, tol=tol)
        x[rows], fun[rows], grad[rows] = again.x, again.fun, again.grad
        success[rows], decrement[rows] = again.success, again.decrement
        nit[rows] += again.nit
    return BatchMinimum(x, fun, grad, success, nit, decrement)
