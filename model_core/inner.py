"""Batched bounded minimisation: projected Newton with Levenberg-Marquardt damping.

Profiles, grids and the contour finder solve many small, independent
minimisations at once (one per grid point, ray or chain).  Every iteration
evaluates the exact gradient and Hessian of all active rows in one batched
pass, solves the damped Newton system per row through an eigendecomposition
in Marquardt-scaled coordinates (negative curvature is mirrored, so saddles
repel; flat directions are left alone), and accepts a row's step only when it
lowers that row's NLL.  Rows stop when the Newton decrement ``g^T H^-1 g``
falls below ``tol`` (in NLL units).

``hessian="differences"`` takes each Hessian from forward differences of exact
gradients instead, the gradient at the point and at ``m`` shifted copies in
one batched call, with steps of :data:`FD_STEP` times each parameter's own
width (``1 / sqrt(H_jj)`` from the previous iteration).  An autograd Hessian
is a reverse pass over a reverse pass, several times the cost of a gradient
call however small the batch; the differences cost one gradient call, and
change only the path to the minimum, never the minimum itself (the Newton
decrement, and so convergence, is judged on exact gradients).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .chunks import FLOAT_BYTES, row_slices
from .linalg import unit_diagonal_eigh
from .model import Model

__all__ = ["FD_STEP", "BatchMinimum", "StopRule", "gradient_differences", "newton_minimize",
           "polish_from_neighbours"]

#: Levenberg-Marquardt damping: start, floor and ceiling (in units of the unit-diagonal
#: Hessian), the factor it drops by after a good step and rises by after a bad one,
#: and the most trials per iteration (``_DAMPING_UP ** 12 = 1e12`` spans the range).
_LAMBDA0, _LAMBDA_MIN, _LAMBDA_MAX = 1e-3, 1e-12, 1e12
_DAMPING_DOWN, _DAMPING_UP, _DAMPING_TRIALS = 3.0, 10.0, 12
_ROUNDING = 4 * np.finfo(float).eps
_BASIN_RTOL = 1e-10
#: Curvatures below this share of the largest are treated as zero by the pseudo-inverse.
_PSEUDO_INVERSE_RTOL = 1e-12
#: A row none of whose damped steps lowers the NLL sits at a numerical minimum when its
#: Newton decrement is below this share of the NLL (rounding, not a real descent).
_STUCK_RTOL = 1e-6
#: Forward-difference step, as a share of each parameter's width: the truncation error
#: is about this share of the curvature, the rounding error ``eps / FD_STEP`` of it.
FD_STEP = 1e-6
_HESSIANS = ("exact", "differences")
#: NLL decrease per unit (Marquardt-scaled) step along a flat direction above which a row
#: has not converged: the NLL is linear there (e.g. a Poisson bin without events).
_FLAT_SLOPE = 1e-8

#: ``stop(rows, x, fun) -> mask``: rows of a batched minimisation to end early.
StopRule = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
#: Arrays of ``m x (m + 1)`` values one row holds during an iteration, at most: its
#: Hessian and copies (pinned, scaled, eigenvectors, subsets), and the shifted points and
#: their gradients of a Hessian from differences.  Batches are iterated in chunks of
#: rows that keep them within :data:`model_core.chunks.ROW_BUDGET`.
_NEWTON_MATRICES = 16


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
        # rows whose derivatives overflow (inf or NaN) get no step: linear algebra on
        # them would fail, and their fit is reported as failed
        finite = np.isfinite(hess).all(axis=(1, 2)) & np.isfinite(g).all(axis=1)
        safe = np.where(finite[:, None, None], hess, np.eye(hess.shape[-1]))
        self.w, self.v, self.d = unit_diagonal_eigh(safe)
        with np.errstate(invalid="ignore", over="ignore"):
            gd = g / self.d
        self.finite = finite & np.isfinite(self.w).all(axis=1) & np.isfinite(gd).all(axis=1)
        self.coeff = np.einsum("bji,bj->bi", self.v, np.where(self.finite[:, None], gd, 0.0))

    def take(self, rows: np.ndarray) -> _NewtonSystem:
        out = object.__new__(_NewtonSystem)
        out.d, out.w, out.v, out.coeff = self.d[rows], self.w[rows], self.v[rows], self.coeff[rows]
        out.finite = self.finite[rows]
        return out

    def _inverse(self, lam: np.ndarray) -> np.ndarray:
        curvature = np.abs(self.w) + lam[:, None]
        largest = np.maximum(np.abs(self.w).max(axis=-1, keepdims=True), 1e-300)
        flat = curvature <= _PSEUDO_INVERSE_RTOL * largest
        return np.where(flat, 0.0, 1.0 / np.where(flat, 1.0, curvature))

    def step(self, lam: np.ndarray) -> np.ndarray:
        """The step for damping ``lam (B,)`` (``0``: the Newton step)."""
        return -np.einsum("bij,bj->bi", self.v, self.coeff * self._inverse(lam)) / self.d

    def decrement(self) -> np.ndarray:
        """``g^T |H|^+ g``: twice the NLL decrease a Newton step expects."""
        return np.sum(self.coeff**2 * self._inverse(np.zeros(len(self.w))), axis=-1)

    def sloped_flat(self) -> np.ndarray:
        """Rows with a flat direction along which the NLL still falls (it is linear there,
        e.g. a Poisson bin without events): the decrement cannot see it, damped steps can."""
        flat = self._inverse(np.zeros(len(self.w))) == 0.0
        return np.any(flat & (np.abs(self.coeff) > _FLAT_SLOPE), axis=-1)


def _final_newton_step(model: Model, rows: np.ndarray, x: np.ndarray, fun: np.ndarray,
                       grad: np.ndarray | None, system: _NewtonSystem, bounds: np.ndarray
                       ) -> np.ndarray:
    """One undamped Newton step for converged rows (quadratic convergence takes them to
    rounding level), kept where it does not raise the NLL beyond rounding; updates in place
    (``grad`` too, unless it is ``None``) and returns the rows that moved."""
    trial = np.clip(x[rows] + system.step(np.zeros(len(rows))), bounds[:, 0], bounds[:, 1])
    value = model.nll(trial)
    keep = value <= fun[rows] + _ROUNDING * np.maximum(1.0, np.abs(fun[rows]))
    x[rows[keep]], fun[rows[keep]] = trial[keep], value[keep]
    if grad is not None:
        grad[rows[keep]] = model.take(np.flatnonzero(keep)).grad(trial[keep])
    return rows[keep]


def _damped_steps(sub: Model, rows: np.ndarray, xa: np.ndarray, system: _NewtonSystem,
                  x: np.ndarray, fun: np.ndarray, lam: np.ndarray, bounds: np.ndarray
                  ) -> np.ndarray:
    """Levenberg-Marquardt trials: raise a row's damping until its step lowers the NLL.

    Updates ``x``, ``fun`` and ``lam`` in place; returns which rows moved.
    """
    accepted = np.zeros(len(rows), bool)
    for _ in range(_DAMPING_TRIALS):
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
        lam[good] = np.maximum(lam[good] / _DAMPING_DOWN, _LAMBDA_MIN)
        lam[chosen[~better]] *= _DAMPING_UP
        accepted[np.flatnonzero(todo)[better]] = True
    return accepted


def gradient_differences(model: Model, x: np.ndarray, step: np.ndarray, bounds: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Exact gradients at ``x (B, m)`` and Hessians from forward differences of exact gradients.

    ``step (B, m)`` is each coordinate's step (taken backwards where the upper
    bound is nearer).  One batched call of ``B * (m + 1)`` rows; rows whose
    shifted gradients are not finite (a wall of ``+inf`` next to them) get
    non-finite Hessians.
    """
    n, m = x.shape
    h = np.where(x + step <= bounds[:, 1], step, -step)
    rows = np.repeat(x[:, None, :], m + 1, axis=1)
    rows[:, 1:, :] += np.eye(m) * h[:, None, :]
    _, g = model.value_and_grad(rows)
    grad = g[:, 0]
    hess = (g[:, 1:] - grad[:, None, :]) / h[:, :, None]
    return grad, 0.5 * (hess + np.swapaxes(hess, 1, 2))


class _Curvature:
    """Hessians of the active rows: exact, or from gradient differences with per-row steps
    that follow each parameter's width (and exact wherever the differences fail)."""

    def __init__(self, method: str, x: np.ndarray) -> None:
        if method not in _HESSIANS:
            raise ValueError(f"hessian must be one of {_HESSIANS}, got {method!r}")
        self.differences = method == "differences"
        self.step = FD_STEP * np.maximum(np.abs(x), 1.0)

    def __call__(self, sub: Model, rows: np.ndarray, xa: np.ndarray, grad: np.ndarray,
                 bounds: np.ndarray) -> np.ndarray:
        """Hessians at ``xa``; with differences also refreshes ``grad[rows]`` (same call)."""
        if not self.differences:
            return sub.hessian(xa)
        g, hess = gradient_differences(sub, xa, self.step[rows], bounds)
        grad[rows] = g
        bad = ~np.all(np.isfinite(hess), axis=(1, 2))
        if bad.any():
            hess[bad] = sub.take(np.flatnonzero(bad)).hessian(xa[bad])
        diag = np.abs(np.einsum("bii->bi", hess))
        width = np.where(np.isfinite(diag) & (diag > 0), 1.0 / np.sqrt(diag), np.inf)
        self.step[rows] = np.where(np.isfinite(width), FD_STEP * width, self.step[rows])
        return hess


def newton_minimize(model: Model, x0: np.ndarray, *, bounds: np.ndarray | None = None,
                    max_iter: int = 100, tol: float = 1e-12,
                    hessian: str = "exact", stop: StopRule | None = None) -> BatchMinimum:
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
    hessian
        ``"exact"`` (autograd) or ``"differences"`` (forward differences of exact
        gradients: the same minimum in fewer, cheaper calls).
    stop
        Called before every iteration with the active rows' indices, points and
        NLL values; the rows it returns true for end there, unconverged
        (``success`` false): e.g. descents already known to end in a known basin.
    """
    bounds = model.bounds if bounds is None else np.asarray(bounds, dtype=float)
    x = np.clip(np.array(x0, dtype=float, ndmin=2), bounds[:, 0], bounds[:, 1])
    m = x.shape[1]
    slices = row_slices(len(x), FLOAT_BYTES * _NEWTON_MATRICES * m * (m + 1))
    parts = []
    # rows far out (starts in heavy tails, a flat valley without bounds) may overflow:
    # their steps turn non-finite and are rejected like any step that does not descend
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if len(slices) == 1:
            return _newton_rows(model, x, bounds, max_iter, tol, hessian, stop)
        for part in slices:
            rows = np.arange(part.start, part.stop)
            local = None if stop is None else _shifted(stop, part.start)
            parts.append(_newton_rows(model.take(rows), x[part], bounds, max_iter, tol, hessian,
                                      local))
    return BatchMinimum(*(np.concatenate([getattr(p, name) for p in parts])
                          for name in BatchMinimum.__slots__))


def _shifted(stop: StopRule, offset: int) -> StopRule:
    """``stop`` for a chunk of rows starting at row ``offset``."""
    return lambda rows, z, fun: stop(rows + offset, z, fun)


def _newton_rows(model: Model, x: np.ndarray, bounds: np.ndarray, max_iter: int, tol: float,
                 hessian: str, stop: StopRule | None) -> BatchMinimum:
    """The iterations of :func:`newton_minimize` (``x`` already clipped into ``bounds``)."""
    n = len(x)
    curvature = _Curvature(hessian, x)
    # every NLL comparison uses values from model.nll: a model may compute
    # value_and_grad along another path whose last bits differ
    fun = model.nll(x)
    grad = np.full(x.shape, np.nan) if curvature.differences else model.value_and_grad(x)[1]
    success = np.zeros(n, bool)
    nit = np.zeros(n, int)
    decrement = np.full(n, np.inf)
    lam = np.full(n, _LAMBDA0)
    previous = np.full(n, np.inf)
    active = np.flatnonzero(np.isfinite(fun))
    # with differences, gradients of rows moved by a last step are computed once, at the end
    stale = np.zeros(n, bool)
    for _ in range(max_iter):
        if stop is not None and active.size:
            active = active[~np.asarray(stop(active, x[active], fun[active]), bool)]
        if active.size == 0:
            break
        sub = model.take(active)
        xa = x[active]
        full_hess = curvature(sub, active, xa, grad, bounds)
        ga = grad[active]
        free = _free_mask(xa, ga, bounds)
        pinned = ~free
        hess = np.where(pinned[:, :, None] | pinned[:, None, :], 0.0, full_hess)
        hess = hess + np.einsum("bi,ij->bij", pinned.astype(float), np.eye(x.shape[1]))
        system = _NewtonSystem(hess, np.where(free, ga, 0.0))
        dec = np.where(system.finite, system.decrement(), np.inf)
        nit[active] += 1
        # in the basin the NLL can no longer resolve the decrease a step expects: there
        # Newton steps are driven by the gradient alone, until the decrement stops falling
        noise = _BASIN_RTOL * np.maximum(1.0, np.abs(fun[active]))
        sloped = system.sloped_flat()
        basin = (dec < noise) & ~sloped
        done = ((dec < tol) | (basin & (dec >= 0.5 * previous[active]))) & ~sloped
        previous[active] = decrement[active] = dec
        if done.any():
            moved_last = _final_newton_step(sub.take(np.flatnonzero(done)), active[done], x,
                                            fun, None if curvature.differences else grad,
                                            system.take(done), bounds)
            stale[moved_last] = True
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
        if moved.size and not curvature.differences:
            grad[moved] = model.take(moved).grad(x[moved])
        # rows whose every damped step failed to lower the NLL sit at a numerical minimum,
        # unless the NLL still falls along a flat direction (towards a wall it cannot cross)
        stuck = rows_d[~accepted]
        small = decrement[stuck] < _STUCK_RTOL * np.maximum(1.0, np.abs(fun[stuck]))
        small &= ~sloped[damped][~accepted]
        success[stuck[small]] = True
        active = np.sort(moved)
    if curvature.differences:
        # rows still moving when the iterations ran out have the gradient of their last point
        stale[active] = True
        rows = np.flatnonzero(stale)
        if rows.size:
            grad[rows] = model.take(rows).grad(x[rows])
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
