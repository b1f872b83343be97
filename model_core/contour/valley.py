"""Walking a valley of (near-)equal NLL from a minimum with a flat Hessian direction.

When the data cannot pin down every parameter (the three-shape model fits two
bins with three shape parameters), the minimum is a whole curve, and the
confidence region is a long tube around it that is not star-shaped from any
one point.  The walk finds points along the valley to anchor radial searches
there.  All walkers advance together:

* a **predictor** step of length ``s`` along the current valley direction,
  rejected (and ``s`` halved) when it climbs more than ``Delta / 4``;
* a **corrector**: Newton steps that leave out the Hessian's flat directions
  (so they drop into the valley without sliding along it), using Hessians
  from central differences of exact gradients (all rows of all walkers in one
  batched call per iteration); a step whose
  corrector does not settle (Newton decrement above ``1e-10 Delta``) is
  rejected and ``s`` halved;
* the new **direction** is the softest eigenvector of that Hessian, oriented
  like the previous one; ``s`` grows while the predictor stays shallow.

The points need not be exact minima (they only anchor rays), so the walk stays
cheap.  A walker stops where the valley leaves the region (``NLL >= T``), at a
parameter bound, or after ``max_steps`` (then the valley is reported as
possibly unbounded).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..linalg import unit_diagonal_eigh
from .surface import ContourSurface

__all__ = ["ValleyWalk", "walk_valley"]

#: A walker stops once its step has shrunk below this share of its first step.
_MIN_STEP_RATIO = 1e-3
#: Newton corrector steps per predictor step (a valley is found in two or three).
_CORRECTOR_STEPS = 6
#: Relative step of the central differences of exact gradients (error ~1e-10).
_FD_STEP = 1e-5
#: A predictor may climb at most this share of ``Delta``: a quarter keeps it well
#: inside the region (``T`` is ``Delta / 2`` above the minimum).
_MAX_CLIMB = 0.25
#: The corrector has settled when the Newton decrement is below this share of ``Delta``.
_SETTLED = 1e-10
#: While a predictor climbs less than this share of ``Delta`` the step grows by
#: :data:`_GROWTH`: the valley is still flat ahead.
_SHALLOW, _GROWTH = 1.0 / 16.0, 1.5
#: Eigenvalues below this share of the largest are left out of the corrector's Newton
#: steps (the valley's own direction).
_PSEUDO_INVERSE_RTOL = 1e-8


@dataclass(frozen=True, slots=True, eq=False)
class ValleyWalk:
    """Points found along valleys.

    Attributes
    ----------
    points : (n, k) valley points (axes); profiled : (n, m); nll : (n,);
    reached_bound : a walker stopped on a parameter bound;
    capped : a walker was still going after ``max_steps`` (the valley may be unbounded);
    n_evaluations : rows evaluated.
    """

    points: np.ndarray
    profiled: np.ndarray
    nll: np.ndarray
    reached_bound: bool
    capped: bool
    n_evaluations: int


def _curvature(surface: ContourSurface, Y: np.ndarray, P: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Value, gradient and central-difference Hessian at every row: one batched call."""
    n, k = Y.shape
    h = _FD_STEP * np.maximum(1.0, np.abs(Y))
    offsets = np.concatenate([np.zeros((1, k)), np.eye(k), -np.eye(k)])
    rows = (Y[:, None, :] + offsets[None, :, :] * h[:, None, :]).reshape(-1, k)
    value, grad, prof = surface.value_and_grad(rows, np.repeat(P, 2 * k + 1, axis=0))
    grad = grad.reshape(n, 2 * k + 1, k)
    hess = (grad[:, 1:k + 1] - grad[:, k + 1:]) / (2.0 * h[:, :, None])
    hess = 0.5 * (hess + np.swapaxes(hess, 1, 2))
    return value.reshape(n, -1)[:, 0], grad[:, 0], hess, prof.reshape(n, 2 * k + 1, -1)[:, 0]


def _softest(hess: np.ndarray) -> np.ndarray:
    """Unit eigenvectors of the smallest eigenvalue of the unit-diagonal Hessians."""
    _, v, d = unit_diagonal_eigh(hess)
    soft = v[:, :, 0] / d
    return soft / np.linalg.norm(soft, axis=1, keepdims=True)


def _newton(grad: np.ndarray, hess: np.ndarray) -> np.ndarray:
    """Newton steps with the Hessian's flat directions left out (pseudo-inverse)."""
    w, u = np.linalg.eigh(hess)
    floor = _PSEUDO_INVERSE_RTOL * np.abs(w).max(axis=1, keepdims=True)
    inv = np.where(np.abs(w) > floor, 1.0 / np.maximum(np.abs(w), floor), 0.0)
    return -np.einsum("bij,bj,bj->bi", u, inv, np.einsum("bji,bj->bi", u, grad))


def walk_valley(surface: ContourSurface, start: np.ndarray, start_profiled: np.ndarray,
                directions: np.ndarray, steps: np.ndarray, *, delta: float,
                max_steps: int = 100) -> ValleyWalk:
    """Walk from ``start (k,)`` along each of ``directions (W, k)`` with initial ``steps (W,)``.

    ``delta`` is the chi-square quantile ``Delta`` (the region is ``NLL < NLL_min + Delta/2``).
    """
    n_walk, k = directions.shape
    lo, hi = surface.bounds[:, 0], surface.bounds[:, 1]
    y = np.tile(start, (n_walk, 1))
    p = np.tile(start_profiled, (n_walk, 1))
    f_cur = np.full(n_walk, surface.value(start[None], start_profiled[None])[0][0])
    v = directions / np.linalg.norm(directions, axis=1, keepdims=True)
    s = np.array(steps, dtype=float)
    s_min = _MIN_STEP_RATIO * s
    n_taken = np.zeros(n_walk, int)
    alive = np.ones(n_walk, bool)
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    reached_bound = capped = False
    n_eval = 1
    while alive.any():
        w = np.flatnonzero(alive)
        raw = y[w] + s[w, None] * v[w]
        pred = np.clip(raw, lo, hi)
        clipped = np.any(pred != raw, axis=1)
        f_pred, p_pred = surface.value(pred, p[w])
        n_eval += len(w)
        steep = ~(f_pred - f_cur[w] <= _MAX_CLIMB * delta)
        s[w[steep]] *= 0.5
        alive[w[steep & (s[w] < s_min[w])]] = False
        go, yc, pc, hit = w[~steep], pred[~steep], p_pred[~steep], clipped[~steep]
        if go.size == 0:
            continue
        fc = np.full(go.size, np.nan)
        settled = np.zeros(go.size, bool)
        for _ in range(_CORRECTOR_STEPS + 1):
            fc, grad, hess, pc = _curvature(surface, yc, pc)
            n_eval += go.size * (2 * k + 1)
            step = _newton(grad, hess)
            settled = -np.einsum("bk,bk->b", grad, step) <= _SETTLED * delta
            if settled.all():
                break
            yc = np.clip(yc + step, lo, hi)
        outside = ~(fc < surface.threshold)
        progress = np.einsum("bk,bk->b", yc - y[go], v[go]) / s[go]
        # a predictor clipped by a bound ends the walk there, whatever the corrector did
        back = ~outside & ((progress < 0.25) | ~settled) & ~hit
        alive[go[outside]] = False
        s[go[back]] *= 0.5
        alive[go[back & (s[go] < s_min[go])]] = False
        keep = ~outside & ~back
        g = go[keep]
        if g.size == 0:
            continue
        rise = f_pred[~steep][keep] - f_cur[g]
        y[g], p[g], f_cur[g] = yc[keep], pc[keep], fc[keep]
        found.append((y[g].copy(), p[g].copy(), f_cur[g].copy()))
        n_taken[g] += 1
        soft = _softest(hess[keep])
        v[g] = soft * np.sign(np.einsum("bk,bk->b", soft, v[g]))[:, None]
        s[g] *= np.where(rise < _SHALLOW * delta, _GROWTH, 1.0)
        span = np.maximum(1.0, np.abs(y[g]))
        at_bound = hit[keep] | np.any((np.abs(y[g] - lo) <= 1e-12 * span)
                                      | (np.abs(y[g] - hi) <= 1e-12 * span), axis=1)
        reached_bound |= bool(at_bound.any())
        alive[g[at_bound]] = False
        over = alive & (n_taken >= max_steps)
        capped |= bool(over.any())
        alive[over] = False
    if found:
        return ValleyWalk(*(np.concatenate(parts) for parts in zip(*found, strict=True)),
                          reached_bound, capped, n_eval)
    m = len(start_profiled)
    return ValleyWalk(np.zeros((0, k)), np.zeros((0, m)), np.zeros(0), False, False, n_eval)
