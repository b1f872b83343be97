"""Batched bounded minimisation: projected Newton with Levenberg-Marquardt damping.

Profiles, grids and the contour finder solve many small, independent
minimisations at once (one per grid point, ray or chain).  Every iteration
evaluates the exact gradient and Hessian of all active rows in one batched
pass, solves the damped Newton system per row through an eigendecomposition
in Marquardt-scaled coordinates (negative curvature is mirrored, so saddles
repel; flat directions are left alone), and accepts a row's step only when it
lowers that row's NLL.  Rows stop when the Newton decrement ``g^T H^-1 g``
falls below ``tol`` (in NLL units).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .model import Model

__all__ = ["BatchMinimum", "newton_minimize", "polish_from_neighbours"]

_LAMBDA0, _LAMBDA_MIN, _LAMBDA_MAX = 1e-3, 1e-12, 1e12
_ROUNDING = 4 * np.finfo(float).eps
_BASIN_RTOL = 1e-10
_FLAT_RTOL = 1e-12


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


class _NewtonSystem:
    """Per-row damped Newton steps, solved in Marquardt-scaled coordinates.

    The Hessian is rescaled to unit diagonal (``H_n = D^-1/2 H D^-1/2``), which
    makes the damping and the flatness test independent of the parameters'
    units.  Negative curvature is mirrored (saddles repel) and, without
    damping, directions of zero curvature are left alone (pseudo-inverse), so
    a flat valley neither blows up a step nor keeps the decrement from converging.
    """

    def __init__(self, hess: np.ndarray, g: np.ndarray) -> None:
        diag = np.abs(np.diagonal(hess, axis1=-2, axis2=-1))
        floor = np.maximum(_FLAT_RTOL * diag.max(axis=-1, keepdims=True), 1e-300)
        self.d = np.sqrt(np.maximum(diag, floor))
        with np.errstate(invalid="ignore", over="ignore"):
            scaled = hess / (self.d[:, :, None] * self.d[:, None, :])
            gd = g / self.d
        # rows whose derivatives overflow (inf or NaN) get no step: linear algebra on
        # them would fail, and their fit is reported as failed
        self.finite = np.isfinite(scaled).all(axis=(1, 2)) & np.isfinite(gd).all(axis=1)
        scaled[~self.finite] = np.eye(hess.shape[-1])
        self.w, self.v = np.linalg.eigh(scaled)
        self.coeff = np.einsum("bji,bj->bi", self.v, np.where(self.finite[:, None], gd, 0.0))

    def take(self, rows: np.ndarray) -> _NewtonSystem:
        out = object.__new__(_NewtonSystem)
        out.d, out.w, out.v, out.coeff = self.d[rows], self.w[rows], self.v[rows], self.coeff[rows]
        out.finite = self.finite[rows]
        return out

    def _inverse(self, lam: np.ndarray) -> np.ndarray:
        curvature = np.abs(self.w) + lam[:, None]
        flat = curvature <= _FLAT_RTOL * np.maximum(np.abs(self.w).max(axis=-1, keepdims=True),
                                                    1e-300)
        return np.where(flat, 0.0, 1.0 / np.where(flat, 1.0, curvature))

    def step(self, lam: np.ndarray) -> np.ndarray:
        """The step for damping ``lam (B,)`` (``0``: the Newton step)."""
        return -np.einsum("bij,bj->bi", self.v, self.coeff * self._inverse(lam)) / self.d

    def decrement(self) -> np.ndarray:
        """``g^T |H|^+ g``: twice the NLL decrease a Newton step expects."""
        return np.sum(self.coeff**2 * self._inverse(np.zeros(len(self.w))), axis=-1)


def _final_newton_step(model: Model, rows: np.ndarray, x: np.ndarray, fun: np.ndarray,
                       grad: np.ndarray, system: _NewtonSystem, bounds: np.ndarray) -> None:
    """One undamped Newton step for converged rows (quadratic convergence takes them to
    rounding level), kept where it does not raise the NLL beyond rounding; updates in place."""
    trial = np.clip(x[rows] + system.step(np.zeros(len(rows))), bounds[:, 0], bounds[:, 1])
    value, gradient = model.nll(trial), model.grad(trial)
    keep = value <= fun[rows] + _ROUNDING * np.maximum(1.0, np.abs(fun[rows]))
    x[rows[keep]], fun[rows[keep]], grad[rows[keep]] = trial[keep], value[keep], gradient[keep]


def _damped_steps(sub: Model, rows: np.ndarray, xa: np.ndarray, system: _NewtonSystem,
                  x: np.ndarray, fun: np.ndarray, lam: np.ndarray, bounds: np.ndarray
                  ) -> np.ndarray:
    """Levenberg-Marquardt trials: raise a row's damping until its step lowers the NLL.

    Updates ``x``, ``fun`` and ``lam`` in place; returns which rows moved.
    """
    accepted = np.zeros(len(rows), bool)
    for _ in range(12):
        todo = ~accepted & (lam[rows] < _LAMBDA_MAX)
        if not todo.any():
            break
        chosen = rows[todo]
        trial = np.clip(xa[todo] + system.take(todo).step(lam[chosen]), bounds[:, 0],
                        bounds[:, 1])
        f_trial = sub.take(np.flatnonzero(todo)).nll(trial)
        better = f_trial < fun[chosen]
        good = chosen[better]
        x[good], fun[good] = trial[better], f_trial[better]
        lam[good] = np.maximum(lam[good] / 3.0, _LAMBDA_MIN)
        lam[chosen[~better]] *= 10.0
        accepted[np.flatnonzero(todo)[better]] = True
    return accepted


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
    # every NLL comparison uses values from model.nll: a model may compute
    # value_and_grad along another path whose last bits differ
    fun, grad = model.nll(x), model.value_and_grad(x)[1]
    success = np.zeros(n, bool)
    nit = np.zeros(n, int)
    decrement = np.full(n, np.inf)
    lam = np.full(n, _LAMBDA0)
    previous = np.full(n, np.inf)
    active = np.flatnonzero(np.isfinite(fun))
    for _ in range(max_iter):
        if active.size == 0:
            break
        sub = model.take(active)
        xa, ga = x[active], grad[active]
        free = _free_mask(xa, ga, bounds)
        pinned = ~free
        hess = np.where(pinned[:, :, None] | pinned[:, None, :], 0.0, sub.hessian(xa))
        hess = hess + np.einsum("bi,ij->bij", pinned.astype(float), np.eye(x.shape[1]))
        system = _NewtonSystem(hess, np.where(free, ga, 0.0))
        dec = np.where(system.finite, system.decrement(), np.inf)
        nit[active] += 1
        # in the basin the NLL can no longer resolve the decrease a step expects: there
        # Newton steps are driven by the gradient alone, until the decrement stops falling
        noise = _BASIN_RTOL * np.maximum(1.0, np.abs(fun[active]))
        basin = dec < noise
        done = (dec < tol) | (basin & (dec >= 0.5 * previous[active]))
        previous[active] = decrement[active] = dec
        if done.any():
            _final_newton_step(sub.take(np.flatnonzero(done)), active[done], x, fun, grad,
                               system.take(done), bounds)
        success[active[done]] = True
        newton = basin & ~done
        if newton.any():
            rows = active[newton]
            trial = np.clip(xa[newton] + system.take(newton).step(np.zeros(rows.size)),
                            bounds[:, 0], bounds[:, 1])
            f_trial = sub.take(np.flatnonzero(newton)).nll(trial)
            ok = f_trial <= fun[rows] + noise[newton]
            x[rows[ok]], fun[rows[ok]] = trial[ok], f_trial[ok]
            success[rows[~ok]] = True  # the step hit something the quadratic model missed
            newton_moved = rows[ok]
        else:
            newton_moved = np.zeros(0, int)
        damped = ~basin & ~done & system.finite  # rows with non-finite derivatives stop here
        rows_d = active[damped]
        accepted = _damped_steps(sub.take(np.flatnonzero(damped)), rows_d, xa[damped],
                                 system.take(damped), x, fun, lam, bounds)
        moved = np.concatenate([newton_moved, rows_d[accepted]])
        if moved.size:
            grad[moved] = model.take(moved).grad(x[moved])
        # rows whose every damped step failed to lower the NLL sit at a numerical minimum
        stuck = rows_d[~accepted]
        small = decrement[stuck] < 1e-6 * np.maximum(1.0, np.abs(fun[stuck]))
        success[stuck[small]] = True
        active = np.sort(moved)
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
