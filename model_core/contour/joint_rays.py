"""Rays through a profiled NLL: one Newton iteration for the crossing *and* the inner fit.

With ``m`` profiled parameters ``p``, a point of the ray ``y(r) = o + r d`` is
on the surface when ``phi(r) = min_p f(y(r), p) = T``.  Nesting a full inner
fit inside every step of the outer root finding costs several Hessians per
step.  Here ``r`` and ``p`` move together; every iteration is **one** batched
call of exact gradients at ``m + 2`` rows per ray (the point, ``m`` shifts of
``p`` and one along the ray), whose forward differences give ``H_pp`` and
``H_pd = d g_p / dr``.  At the current ``(r, p)``:

* the inner Newton step ``dp = -H_pp^-1 g_p`` and decrement ``g_p^T H_pp^-1 g_p``
  give the profiled value ``phi ~ f - dec / 2``;
* the envelope theorem gives its slope, ``phi' = g_d - H_pd^T H_pp^-1 g_p``
  (``g_d = grad_y f . d``), hence the outer Newton step ``dr = -(phi - T) / phi'``;
* ``p`` follows the inner step plus its linear response along the ray,
  ``-H_pp^-1 H_pd dr``.

Both converge quadratically together.  The first guess comes from a bracket of
the NLL at the profiled parameters predicted linearly from the anchor (an
upper bound of ``phi``, so a probe below ``T`` is surely inside); later
iterations keep ``r`` between the largest radius known inside and the smallest
known outside (bisecting otherwise).  A ray is solved when ``|f - T|`` and the
inner decrement are both below ``tol / 100``; it counts as ``ok`` from ``tol``.
Profiled parameters pinned at their bounds (gradient pushing outward) are left
out of the system, as in :func:`model_core.inner.newton_minimize`.
"""

from __future__ import annotations

import numpy as np

from ..chunks import FLOAT_BYTES
from ..inner import FD_STEP
from ..linalg import unit_diagonal_eigh
from .surface import ContourSurface

__all__ = ["joint_ray_bytes", "solve_joint"]

#: Aim of the iteration, as a share of ``tol``, for both ``|f - T|`` and the decrement.
_AIM = 1e-2
#: The sign of ``phi - T`` is trusted to mark a radius as outside only when the inner
#: decrement is below this share of ``|phi - T|`` (the quadratic model is then reliable).
_TRUST = 0.1
#: A point with a non-finite NLL is retreated from by this share of the last step.
_RETREAT = 0.5
#: A bracket narrower than this share of its radius has reached rounding.
_BRACKET_RTOL = 4e-16
#: Matrices of ``npar x (npar + 2)`` values a ray holds at once, at most (for
#: :func:`joint_ray_bytes`).
_RAY_MATRICES = 12


def joint_ray_bytes(surface: ContourSurface, n_probes: int) -> float:
    """Bytes one ray holds while solved: its bracketing probes and a few ``npar x npar``
    matrices (the Hessian or the shifted gradients, the profiled block, its eigenvectors)."""
    npar = surface.model.npar
    return FLOAT_BYTES * (_RAY_MATRICES * npar * (npar + 2) + 3 * n_probes * npar)


def _pseudo_solve(hess: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """``|H|^+ rhs`` per row (negative curvature mirrored, flat directions dropped)."""
    w, v, d = unit_diagonal_eigh(hess)
    scale = np.abs(w).max(axis=-1, keepdims=True)
    inverse = np.where(np.abs(w) > 1e-12 * scale, 1.0 / np.where(w == 0, 1.0, np.abs(w)), 0.0)
    coeff = np.einsum("bji,bj...->bi...", v, rhs / d[..., None])
    return np.einsum("bij,bj...->bi...", v, coeff * inverse[..., None]) / d[..., None]


def _derivatives(surface: ContourSurface, y: np.ndarray, p: np.ndarray, d: np.ndarray,
                 step_p: np.ndarray, step_r: np.ndarray, bounds_p: np.ndarray
                 ) -> tuple[np.ndarray, ...]:
    """``f, g_p, g_d, H_pp, H_pd`` at ``(y, p)``: from the model's hand-written Hessian
    where it has one (two calls of one row per ray), else from one batched gradient call
    of ``m + 2`` rows per ray (forward differences)."""
    n, m = p.shape
    if surface.model.hand_written_hessian:
        X = surface.full(y, p)
        value, grad = surface.model.value_and_grad(X)
        hess = surface.model.hessian(X)
        g_p = grad[:, surface.profiled]
        g_d = np.einsum("bk,bk->b", grad[:, surface.axes], d)
        h_pp = hess[:, surface.profiled[:, None], surface.profiled[None, :]]
        h_pd = np.einsum("bmk,bk->bm", hess[:, surface.profiled[:, None], surface.axes[None, :]],
                         d)
        return value, g_p, g_d, h_pp, h_pd
    hp = np.where(p + step_p <= bounds_p[:, 1], step_p, -step_p)
    X = np.repeat(surface.full(y, p)[:, None, :], m + 2, axis=1)
    X[:, 1:m + 1, surface.profiled] += np.eye(m) * hp[:, None, :]
    X[:, m + 1, surface.axes] += step_r[:, None] * d
    value, grad = surface.model.value_and_grad(X)
    g = grad[:, 0]
    g_p = g[:, surface.profiled]
    g_d = np.einsum("bk,bk->b", g[:, surface.axes], d)
    h_pp = (grad[:, 1:m + 1][:, :, surface.profiled] - g_p[:, None, :]) / hp[:, :, None]
    h_pp = 0.5 * (h_pp + np.swapaxes(h_pp, 1, 2))
    h_pd = (grad[:, m + 1][:, surface.profiled] - g_p) / step_r[:, None]
    return value[:, 0], g_p, g_d, h_pp, h_pd


def solve_joint(surface: ContourSurface, origins: np.ndarray, directions: np.ndarray,
                warm: np.ndarray, predictors: np.ndarray | None, *, r_init: float, tol: float,
                max_iter: int, limit: np.ndarray, bound_axis: np.ndarray,
                bound_value: np.ndarray, exponents: np.ndarray,
                start: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, ...]:
    """Crossings of profiled rays (see the module docstring).

    ``warm (B, m)`` are the profiled parameters at the origins, ``predictors
    (B, m, k)`` their linear response to the axes there (zeros when ``None``);
    ``limit``, ``bound_axis``, ``bound_value`` come from
    :func:`~.radial.ray_limits`; ``exponents`` are the bracketing probes'
    powers of two; ``start = (r, p)`` replaces the first guess where it lies
    beyond the bracket's inside end (e.g. a neighbouring ray's solution).
    Returns ``(points, profiled, residual, radius, ok, on_bound, unbounded,
    n_evaluations)``.
    """
    n, k = origins.shape
    m = surface.m
    T = surface.threshold
    bounds_p = surface.all_bounds[surface.profiled]
    K = np.zeros((n, m, k)) if predictors is None else np.nan_to_num(predictors)

    def predict(base: np.ndarray, r: np.ndarray) -> np.ndarray:
        """Profiled parameters predicted at radii ``r (B,)`` or ``(B, R)``."""
        if r.ndim == 1:
            shift = np.einsum("bmk,bk->bm", K, r[:, None] * directions)
        else:
            shift = np.einsum("bmk,brk->brm", K, r[..., None] * directions[:, None, :])
        return np.clip(base + shift, bounds_p[:, 0], bounds_p[:, 1])

    def point(r: np.ndarray, rows: np.ndarray) -> np.ndarray:
        y = origins[rows] + r[:, None] * directions[rows]
        y = np.clip(y, surface.bounds[:, 0], surface.bounds[:, 1])
        at = r >= limit[rows]
        y[at, bound_axis[rows][at]] = bound_value[rows][at]
        return y

    # 1. a bracket from upper bounds of phi (no inner fits): one call of plain NLL values
    radii = np.minimum(r_init * 2.0 ** exponents[None, :], limit[:, None])
    probes = origins[:, None, :] + radii[..., None] * directions[:, None, :]
    probes = np.clip(probes, surface.bounds[:, 0], surface.bounds[:, 1])
    at_limit = np.nonzero(radii >= limit[:, None])
    probes[at_limit[0], at_limit[1], bound_axis[at_limit[0]]] = bound_value[at_limit[0]]
    p_probe = predict(warm[:, None, :], radii)
    f_probe = surface.nll_at(probes.reshape(-1, k), p_probe.reshape(-1, m)).reshape(radii.shape)
    n_eval = radii.size
    above = ~(f_probe < T)
    crossed = above.any(axis=1)
    first = np.argmax(above, axis=1)
    rows = np.arange(n)
    lo = np.where(first > 0, radii[rows, np.maximum(first - 1, 0)], 0.0)
    f_lo = np.where(first > 0, f_probe[rows, np.maximum(first - 1, 0)], -np.inf)
    hi_probe, f_hi = radii[rows, first], f_probe[rows, first]
    last = radii.shape[1] - 1
    # upper bounds below T all the way: inside up to the bound (or without end)
    at_bound = ~crossed & np.isfinite(limit) & (radii[:, last] >= limit)
    unbounded = ~crossed & ~at_bound
    with np.errstate(invalid="ignore", divide="ignore"):
        guess = lo + (T - f_lo) * (hi_probe - lo) / (f_hi - f_lo)
    r = np.where(np.isfinite(guess) & (guess > lo) & (guess < hi_probe), guess,
                 0.5 * (lo + hi_probe))
    r = np.where(at_bound, limit, r)
    lo = np.where(at_bound, 0.0, lo)
    hi = np.where(np.isfinite(limit), limit, np.inf)
    p = predict(warm, r)
    if start is not None:
        use = np.isfinite(start[0]) & (start[0] > lo) & (start[0] <= limit) & ~unbounded
        r = np.where(use, start[0], r)
        p = np.where(use[:, None], np.clip(start[1], bounds_p[:, 0], bounds_p[:, 1]), p)

    points = probes[:, last].copy()  # unbounded rays keep their farthest probe
    profiled = warm.copy()
    residual = np.full(n, np.nan)
    radius = np.full(n, np.nan)
    ok = np.zeros(n, bool)
    on_bound = np.zeros(n, bool)
    limit_out = np.zeros(n, bool)  # the point at the limit is known to lie outside
    step_p = FD_STEP * np.maximum(np.abs(p), 1.0)
    step_r = FD_STEP * np.maximum(r, r_init)
    r_prev, p_prev = r.copy(), p.copy()
    active = np.flatnonzero(~unbounded)
    aim = _AIM * tol
    for _ in range(max_iter):
        if active.size == 0:
            break
        a = active
        y = point(r[a], a)
        f, g_p, g_d, h_pp, h_pd = _derivatives(surface, y, p[a], directions[a], step_p[a],
                                               step_r[a], bounds_p)
        n_eval += a.size * (m + 2)
        bad = ~(np.isfinite(f) & np.all(np.isfinite(h_pp), axis=(1, 2))
                & np.all(np.isfinite(h_pd), axis=1) & np.isfinite(g_d))
        # retreat from walls of +inf toward the last good state
        if bad.any():
            b = a[bad]
            hi[b] = np.minimum(hi[b], np.maximum(r[b], lo[b]))
            r[b] = r_prev[b] + _RETREAT * (r[b] - r_prev[b])
            p[b] = p_prev[b] + _RETREAT * (p[b] - p_prev[b])
        good = ~bad
        a, y, f, g_p, g_d = a[good], y[good], f[good], g_p[good], g_d[good]
        h_pp, h_pd = h_pp[good], h_pd[good]
        diag = np.abs(np.einsum("bii->bi", h_pp))
        with np.errstate(divide="ignore", invalid="ignore"):
            width = 1.0 / np.sqrt(diag)
        step_p[a] = np.where(np.isfinite(width) & (diag > 0), FD_STEP * width, step_p[a])
        # pinned profiled parameters drop out of the system
        pa = p[a]
        pinned = ((pa <= bounds_p[:, 0]) & (g_p > 0)) | ((pa >= bounds_p[:, 1]) & (g_p < 0))
        g_free = np.where(pinned, 0.0, g_p)
        h_pd = np.where(pinned, 0.0, h_pd)
        h_pp = np.where(pinned[:, :, None] | pinned[:, None, :], 0.0, h_pp)
        h_pp = h_pp + np.einsum("bi,ij->bij", pinned.astype(float), np.eye(m))
        solved = _pseudo_solve(h_pp, np.stack([g_free, h_pd], axis=-1))
        inner, response = -solved[..., 0], -solved[..., 1]
        dec = np.einsum("bm,bm->b", g_free, -inner)
        phi = f - 0.5 * dec
        lo[a] = np.where(f < T, np.maximum(lo[a], r[a]), lo[a])
        sure_out = (phi > T) & (dec <= _TRUST * (phi - T))
        hi[a] = np.where(sure_out, np.minimum(hi[a], r[a]), hi[a])
        limit_out[a] |= sure_out & (r[a] >= limit[a])
        # record the point when it is good enough (and better than before)
        fit_ok = (np.abs(f - T) <= tol) & (dec <= tol)
        edge = (r[a] >= limit[a]) & (phi < T) & (dec <= tol)
        better = (fit_ok | edge) & (~ok[a] | (np.abs(f - T) < np.abs(residual[a])))
        b = a[better]
        points[b], profiled[b], residual[b], radius[b] = y[better], pa[better], f[better] - T, \
            r[b]
        ok[b] = True
        on_bound[b] = edge[better] & ~fit_ok[better]
        done = ((np.abs(f - T) <= aim) | edge) & (dec <= aim)
        slope = g_d + np.einsum("bm,bm->b", h_pd, inner)
        with np.errstate(invalid="ignore", divide="ignore"):
            r_new = r[a] - (phi - T) / slope
        safe = np.isfinite(r_new) & (r_new > lo[a]) & (r_new < hi[a])
        fallback = np.where(np.isfinite(hi[a]), 0.5 * (lo[a] + hi[a]), 2.0 * np.maximum(r[a],
                                                                                       r_init))
        # a step at or past the bound goes to the bound unless the bound is known outside
        # (``hi`` starts at the limit: bisecting there would only creep toward the bound)
        to_bound = np.isfinite(r_new) & (r_new >= limit[a]) & ~limit_out[a]
        r_new = np.where(safe, r_new, np.where(to_bound, limit[a], fallback))
        r_new = np.where(edge, limit[a], np.minimum(r_new, limit[a]))
        r_prev[a], p_prev[a] = r[a], pa
        p[a] = np.clip(pa + inner + response * (r_new - r[a])[:, None], bounds_p[:, 0],
                       bounds_p[:, 1])
        r[a] = r_new
        # a ray at its bound inside the region has no bracket left, only its inner fit
        inside_at_bound = (r[a] >= limit[a]) & (f < T)
        tiny = np.isfinite(hi[a]) & ((hi[a] - lo[a]) <= _BRACKET_RTOL * np.maximum(1.0, hi[a])) \
            & ~inside_at_bound
        active = np.concatenate([active[bad], a[~done & ~tiny]])
        active.sort()
    # reported residuals come from the plain NLL (the gradient call's value may differ in
    # its last bits)
    if ok.any():
        rows_ok = np.flatnonzero(ok)
        residual[rows_ok] = surface.nll_at(points[rows_ok], profiled[rows_ok]) - T
        n_eval += rows_ok.size
        ok[rows_ok] = on_bound[rows_ok] & (residual[rows_ok] < 0) | (
            np.abs(residual[rows_ok]) <= tol)
    return points, profiled, residual, radius, ok, on_bound, unbounded, n_eval
