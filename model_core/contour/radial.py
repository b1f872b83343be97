"""Root finding of ``NLL = T`` along many rays at once.

A ray starts at a point inside the region (a minimum, ``NLL < T``) and runs
along ``x(r) = origin + r * d``.  All rays of a batch are solved together:

1. **Bracketing** in one batched call: ``NLL - T`` is evaluated at radii
   ``r_init * 2**j`` (``j = -3 ... 12``), each clipped to the radius at which
   the ray leaves the parameter bounds; the first sign change brackets the
   first crossing.
2. **Safeguarded Newton**: each iteration is one batched ``value_and_grad``
   over the active rays; the exact derivative ``grad . d`` gives the Newton
   step, which falls back to bisection when it would leave the bracket.  It
   aims at ``|NLL - T| <= tol / 100`` and keeps the best point; a ray counts as
   solved once ``|NLL - T| <= tol``.

A ray that reaches a parameter bound before crossing ``T`` gives the point on
the bound, flagged ``on_bound`` (never silently dropped); a ray that crosses
neither ``T`` nor a bound before the cap ``r_init * 2**12`` is reported as
``unbounded`` (the region is open in that direction).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..chunks import row_slices
from .joint_rays import joint_ray_bytes, solve_joint
from .surface import ContourSurface

__all__ = ["RayResult", "concat_rays", "project_to_level", "ray_limits", "solve_rays"]

#: Bracketing probes at ``r_init * 2**j``: from an eighth of the expected radius (a
#: region far smaller than its quadratic estimate) to 4096 times it (a long valley).
_PROBE_EXPONENTS = np.arange(-3, 13)
#: Newton iterations aim at ``|NLL - T| <= _AIM * tol`` (a point counts from ``tol``).
_AIM = 1e-2
#: A bracket narrower than this share of its radius has reached rounding.
_BRACKET_RTOL = 4e-16


@dataclass(frozen=True, slots=True, eq=False)
class RayResult:
    """Outcome of :func:`solve_rays`, one entry per ray.

    Attributes
    ----------
    points : (B, k) crossing (or bound) points; profiled : (B, m) profiled values there;
    residual : (B,) ``NLL - T`` there; radius : (B,) ray parameter ``r``;
    ok : (B,) a usable point (``|NLL - T| <= tol``, or on a bound);
    on_bound : (B,) the ray stopped on a parameter bound inside the region;
    unbounded : (B,) no crossing and no bound before the cap;
    n_evaluations : rows evaluated.
    """

    points: np.ndarray
    profiled: np.ndarray
    residual: np.ndarray
    radius: np.ndarray
    ok: np.ndarray
    on_bound: np.ndarray
    unbounded: np.ndarray
    n_evaluations: int


def concat_rays(results: list[RayResult], order: np.ndarray | None = None) -> RayResult:
    """The rays of several results as one, optionally reordered by ``order``."""
    fields = [np.concatenate([getattr(r, f) for r in results])
              for f in ("points", "profiled", "residual", "radius", "ok", "on_bound",
                        "unbounded")]
    if order is not None:
        fields = [f[order] for f in fields]
    return RayResult(*fields, int(sum(r.n_evaluations for r in results)))


def ray_limits(origins: np.ndarray, directions: np.ndarray, bounds: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Largest ``r >= 0`` with ``origin + r * d`` inside ``bounds (k, 2)``, per ray (may be inf).

    Also returns, per ray, the axis whose bound stops it and that bound's value.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        to_high = np.where(directions > 0, (bounds[:, 1] - origins) / directions, np.inf)
        to_low = np.where(directions < 0, (bounds[:, 0] - origins) / directions, np.inf)
    per_axis = np.nan_to_num(np.minimum(to_high, to_low), nan=np.inf, posinf=np.inf)
    axis = np.argmin(per_axis, axis=1)
    rows = np.arange(len(origins))
    value = np.where(to_high[rows, axis] <= to_low[rows, axis], bounds[axis, 1], bounds[axis, 0])
    return np.maximum(per_axis[rows, axis], 0.0), axis, value


def solve_rays(surface: ContourSurface, origins: np.ndarray, directions: np.ndarray, *,
               profiled: np.ndarray | None = None, r_init: float = 1.0, tol: float = 1e-9,
               max_iter: int = 60, predictors: np.ndarray | None = None,
               start: tuple[np.ndarray, np.ndarray] | None = None) -> RayResult:
    """Find where each ray ``origins + r * directions`` first crosses ``NLL = T``.

    Parameters
    ----------
    surface
        The (profiled) NLL over the axes, with its level ``T`` set.
    origins, directions
        ``(B, k)``; origins must lie inside the region (``NLL < T``).
    profiled
        The profiled parameters at the origins ``(B, m)`` (warm starts).
    predictors
        ``(B, m, k)``: the profiled parameters' linear response to the axes at the
        origins.  With profiled parameters the rays are solved jointly with the
        inner fits (:mod:`.joint_rays`).
    start
        ``(radius (B,), profiled (B, m))``: first guesses for profiled rays (a
        neighbouring ray's solution); ignored without profiled parameters.
    r_init
        Expected crossing radius (``sqrt(Delta)`` for whitened directions).
    tol
        Required ``|NLL - T|`` at a crossing.
    """
    origins = np.asarray(origins, dtype=float)
    directions = np.asarray(directions, dtype=float)
    n, k = origins.shape
    T = surface.threshold
    warm = surface.default_profiled(n) if profiled is None else np.asarray(profiled, dtype=float)
    limit, bound_axis, bound_value = ray_limits(origins, directions, surface.bounds)
    if surface.m:
        # rays in chunks within the memory budget (each holds a few npar x npar matrices)
        parts = []
        for part in row_slices(n, joint_ray_bytes(surface, len(_PROBE_EXPONENTS))):
            parts.append(RayResult(*solve_joint(
                surface, origins[part], directions[part], warm[part],
                None if predictors is None else predictors[part], r_init=r_init, tol=tol,
                max_iter=max_iter, limit=limit[part], bound_axis=bound_axis[part],
                bound_value=bound_value[part], exponents=_PROBE_EXPONENTS,
                start=None if start is None else (start[0][part], start[1][part]))))
        return concat_rays(parts)
    radii = np.minimum(r_init * 2.0 ** _PROBE_EXPONENTS[None, :], limit[:, None])
    n_probe = radii.shape[1]
    probes = origins[:, None, :] + radii[..., None] * directions[:, None, :]
    probes = np.clip(probes, surface.bounds[:, 0], surface.bounds[:, 1])
    # probes at the bound radius sit exactly on the bound
    at_limit = np.nonzero(radii >= limit[:, None])
    probes[at_limit[0], at_limit[1], bound_axis[at_limit[0]]] = bound_value[at_limit[0]]
    f_probe, p_probe = surface.value(probes.reshape(-1, k), np.repeat(warm, n_probe, axis=0))
    n_eval = n * n_probe
    f_probe = f_probe.reshape(n, n_probe) - T
    p_probe = p_probe.reshape(n, n_probe, -1)
    above = ~(f_probe < 0)  # nan and inf count as outside
    crossed = above.any(axis=1)
    first = np.argmax(above, axis=1)
    rows = np.arange(n)
    lo = np.where(first > 0, radii[rows, np.maximum(first - 1, 0)], 0.0)
    hi = radii[rows, first]
    f_lo = np.where(first > 0, f_probe[rows, np.maximum(first - 1, 0)], -1.0)
    f_hi = f_probe[rows, first]
    last = n_probe - 1
    reached_bound = ~crossed & np.isfinite(limit) & (radii[:, last] >= limit)
    unbounded = ~crossed & ~reached_bound

    points = probes[:, last].copy()
    residual = f_probe[:, last].copy()
    prof = p_probe[:, last].copy()
    radius = radii[:, last].copy()
    start = np.where(first > 0, np.maximum(first - 1, 0), 0)
    prof[crossed] = p_probe[rows, start][crossed]
    # first guess: regula falsi where both ends are finite, else bisection
    with np.errstate(invalid="ignore", divide="ignore"):
        guess = lo - f_lo * (hi - lo) / (f_hi - f_lo)
    r = np.where(np.isfinite(f_hi) & np.isfinite(guess) & (guess > lo) & (guess < hi),
                 guess, 0.5 * (lo + hi))
    active = np.flatnonzero(crossed)
    ok = reached_bound.copy()
    for _ in range(max_iter):
        if active.size == 0:
            break
        y = origins[active] + r[active, None] * directions[active]
        value, grad, p_new = surface.value_and_grad(y, prof[active])
        n_eval += active.size
        f = value - T
        inside = f < 0
        lo[active] = np.where(inside, r[active], lo[active])
        hi[active] = np.where(inside, hi[active], r[active])
        better = ~ok[active] | (np.abs(f) < np.abs(residual[active]))
        b = active[better]
        points[b], residual[b], radius[b] = y[better], f[better], r[b]
        prof[b] = np.where(np.isfinite(value[better])[:, None], p_new[better], prof[b])
        ok[active[np.abs(f) <= tol]] = True
        done = np.abs(f) <= _AIM * tol
        with np.errstate(invalid="ignore", divide="ignore"):
            newton = r[active] - f / np.einsum("bk,bk->b", grad, directions[active])
        a_lo, a_hi = lo[active], hi[active]
        safe = np.isfinite(newton) & (newton > a_lo) & (newton < a_hi)
        r[active] = np.where(safe, newton, 0.5 * (a_lo + a_hi))
        tiny = (a_hi - a_lo) <= _BRACKET_RTOL * np.maximum(1.0, a_hi)
        active = active[~done & ~tiny]
    return RayResult(points, prof, residual, radius, ok, reached_bound, unbounded, n_eval)


def project_to_level(surface: ContourSurface, Y: np.ndarray, *, profiled: np.ndarray | None = None,
                     tol: float = 1e-9, max_iter: int = 30
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Move every row of ``Y`` onto ``NLL = T`` by Newton steps along the gradient.

    Returns ``(Y, residual, profiled, ok, n_evaluations)``; ``ok`` marks rows with
    ``|NLL - T| <= tol`` (others are left where the iteration stopped).
    """
    Y = np.array(Y, dtype=float, ndmin=2)
    n = len(Y)
    prof = surface.default_profiled(n) if profiled is None else np.array(profiled, dtype=float)
    residual = np.full(n, np.nan)
    ok = np.zeros(n, bool)
    active = np.arange(n)
    n_eval = 0
    for _ in range(max_iter + 1):
        if active.size == 0:
            break
        value, grad, p_new = surface.value_and_grad(Y[active], prof[active])
        n_eval += active.size
        f = value - surface.threshold
        residual[active] = f
        prof[active] = np.where(np.isfinite(value)[:, None], p_new, prof[active])
        done = np.abs(f) <= tol
        ok[active[done]] = True
        norm2 = np.einsum("bk,bk->b", grad, grad)
        good = ~done & np.isfinite(f) & np.isfinite(norm2) & (norm2 > 0)
        active = active[good]
        Y[active] -= (f[good] / norm2[good])[:, None] * grad[good]
    return Y, residual, prof, ok, n_eval
