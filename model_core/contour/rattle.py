"""Constrained RATTLE chains on the level set ``NLL = T``, vectorised over chains.

blackjax-style: :class:`RattleState` holds what the next step needs,
:class:`RattleInfo` the diagnostics of a step; :func:`init` and :func:`step`
are pure functions of their inputs (randomness comes from one explicit
``Generator`` per chain, so a chain's path never depends on which other chains
share its batch).

The dynamics are free motion on the surface (the NLL is constant there, so the
potential exerts only a normal force, which the constraint cancels): in the
scaled metric ``u = y / scale`` every chain moves with unit speed,

    u' = u + h p + lambda n,        C(u') = NLL(u') - T = 0,

with ``n`` the unit normal at the start (SHAKE).  ``lambda`` is found from
NLL values only (inverse quadratic interpolation once three values are known,
a secant or Newton step before); the step is **rejected** (and the chain's
step size halved) when the projection does not converge to ``|C| <= tol``
within ``max_iter`` iterations or needs a correction larger than the step.
After an accepted step, one batched ``value_and_grad`` gives the new normal,
and the velocity ``(u' - u) / h`` is projected onto the tangent space
(RATTLE) and renormalised.  A step that would leave the parameter bounds is
rejected and the momentum reflected off the bound.  Momenta are refreshed by
the driver (a fresh tangent direction from each chain's own generator).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from .surface import ContourSurface

__all__ = ["RattleInfo", "RattleState", "init", "refresh", "step"]

#: After an accepted step the step size grows by ``_GROW`` (back to the largest within a
#: few steps), after a rejected one it halves: a failed projection means the surface
#: bends more within the step than the projection can follow.
_GROW, _SHRINK = 1.25, 0.5
#: Projections iterate until ``|C| <= _AIM * tol`` (a point counts once ``|C| <= tol``).
_AIM = 0.1


class RattleState(NamedTuple):
    """State of a batch of chains (one row each).

    Attributes
    ----------
    position : (B, k) point on ``NLL = T`` (axes);
    momentum : (B, k) unit tangent velocity in the scaled metric;
    value : (B,) NLL at ``position``; grad : (B, k) its gradient (axes);
    profiled : (B, m) profiled parameters at ``position``;
    step_size : (B,) current step length in the scaled metric;
    bend : (B,) last projection ``lambda / h**2`` (the surface's curvature along the
    path), which predicts the next projection.
    """

    position: np.ndarray
    momentum: np.ndarray
    value: np.ndarray
    grad: np.ndarray
    profiled: np.ndarray
    step_size: np.ndarray
    bend: np.ndarray


class RattleInfo(NamedTuple):
    """Diagnostics of one :func:`step`.

    Attributes
    ----------
    accepted : (B,) the chain moved; residual : (B,) ``NLL - T`` at the new position;
    n_iter : (B,) projection iterations; reflected : (B,) a bound was hit;
    n_evaluations : rows evaluated in this step.
    """

    accepted: np.ndarray
    residual: np.ndarray
    n_iter: np.ndarray
    reflected: np.ndarray
    n_evaluations: int


def _tangent(p: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """Unit tangent directions: ``p`` minus its component along the unit ``normal``."""
    t = p - np.einsum("bk,bk->b", p, normal)[:, None] * normal
    norm = np.linalg.norm(t, axis=1, keepdims=True)
    return np.where(norm > 1e-300, t / np.maximum(norm, 1e-300), 0.0)


def _unit_normal(grad: np.ndarray, scale: np.ndarray) -> np.ndarray:
    n = grad * scale
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-300)


def _next_lambda(lam: np.ndarray, lam_1: np.ndarray, lam_2: np.ndarray, c: np.ndarray,
                 c_1: np.ndarray, c_2: np.ndarray, slope: np.ndarray) -> np.ndarray:
    """Next projection multiplier: inverse quadratic interpolation, else secant, else Newton.

    ``lam, lam_1, lam_2`` are the last three multipliers (nan when missing), ``c...``
    the constraint values there, ``slope`` the derivative estimate at the start.
    """
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        iqi = (lam * c_1 * c_2 / ((c - c_1) * (c - c_2))
               + lam_1 * c * c_2 / ((c_1 - c) * (c_1 - c_2))
               + lam_2 * c * c_1 / ((c_2 - c) * (c_2 - c_1)))
        secant = lam - c * (lam - lam_1) / (c - c_1)
    newton = lam - c / slope
    out = np.where(np.isfinite(secant), secant, newton)
    return np.where(np.isfinite(iqi), iqi, out)


def refresh(rngs: Sequence[np.random.Generator], state: RattleState, scale: np.ndarray,
            rows: np.ndarray | None = None) -> RattleState:
    """Draw fresh tangent momenta for ``rows`` (all by default), each from its chain's generator."""
    rows = np.arange(len(state.position)) if rows is None else np.asarray(rows, dtype=int)
    if rows.size == 0:
        return state
    k = state.position.shape[1]
    draws = np.stack([rngs[i].standard_normal(k) for i in rows])
    momentum = state.momentum.copy()
    momentum[rows] = _tangent(draws, _unit_normal(state.grad[rows], scale))
    return state._replace(momentum=momentum)


def init(rngs: Sequence[np.random.Generator], surface: ContourSurface, position: np.ndarray,
         profiled: np.ndarray, *, scale: np.ndarray, step_size: float) -> RattleState:
    """Chains at ``position (B, k)`` (on the surface), with fresh tangent momenta."""
    position = np.array(position, dtype=float, ndmin=2)
    value, grad, prof = surface.value_and_grad(position, profiled)
    n = len(position)
    state = RattleState(position, np.zeros_like(position), value, grad, prof,
                        np.full(n, float(step_size)), np.zeros(n))
    return refresh(rngs, state, scale)


def step(state: RattleState, surface: ContourSurface, *, scale: np.ndarray, max_step: float,
         tol: float = 1e-9, max_iter: int = 8) -> tuple[RattleState, RattleInfo]:
    """Advance every chain by one constrained step (see the module docstring)."""
    T = surface.threshold
    n, k = state.position.shape
    h = state.step_size
    normal = _unit_normal(state.grad, scale)
    move = h[:, None] * state.momentum
    slope = np.linalg.norm(state.grad * scale, axis=1)
    lam = state.bend * h * h
    lam_prev = np.full(n, np.nan)
    lam_old = np.full(n, np.nan)
    c = np.full(n, np.nan)
    c_prev = np.full(n, np.nan)
    c_old = np.full(n, np.nan)
    prof = state.profiled.copy()
    n_iter = np.zeros(n, int)
    converged = np.zeros(n, bool)
    lam_ok = np.zeros(n)
    active = np.arange(n)
    n_eval = 0
    for it in range(max_iter):
        y = state.position[active] + scale * (move[active] + lam[active, None] * normal[active])
        value, p_new = surface.value(y, prof[active])
        n_eval += active.size
        f = value - T
        finite = np.isfinite(f)
        prof[active[finite]] = p_new[finite]
        c_old[active], c_prev[active], c[active] = c_prev[active], c[active], f
        n_iter[active] = it + 1
        within = np.abs(f) <= tol
        converged[active[within]] = True
        lam_ok[active[within]] = lam[active[within]]
        go = ~(np.abs(f) <= _AIM * tol) & finite & (np.abs(lam[active]) <= 2.0 * h[active])
        active = active[go]
        if active.size == 0:
            break
        nxt = _next_lambda(lam[active], lam_prev[active], lam_old[active], c[active],
                           c_prev[active], c_old[active], slope[active])
        lam_old[active], lam_prev[active], lam[active] = lam_prev[active], lam[active], nxt
    lam = lam_ok
    y_new = state.position + scale * (move + lam[:, None] * normal)
    lo, hi = surface.bounds[:, 0], surface.bounds[:, 1]
    outside = np.any((y_new < lo) | (y_new > hi), axis=1)
    reflected = converged & outside
    accepted = converged & ~outside
    position, momentum = state.position.copy(), state.momentum.copy()
    value, grad = state.value.copy(), state.grad.copy()
    profiled, step_size = state.profiled.copy(), state.step_size.copy()
    bend = state.bend.copy()
    residual = np.full(n, np.nan)
    rows = np.flatnonzero(accepted)
    if rows.size:
        v_new, g_new, p_new = surface.value_and_grad(y_new[rows], prof[rows])
        n_eval += rows.size
        good = np.abs(v_new - T) <= tol
        rows, v_new, g_new, p_new = rows[good], v_new[good], g_new[good], p_new[good]
        accepted[:] = False
        accepted[rows] = True
        velocity = (move[rows] + lam[rows, None] * normal[rows]) / h[rows, None]
        tangent = _tangent(velocity, _unit_normal(g_new, scale))
        keep = np.linalg.norm(tangent, axis=1) > 0
        position[rows], value[rows], grad[rows], profiled[rows] = y_new[rows], v_new, g_new, p_new
        momentum[rows] = np.where(keep[:, None], tangent, momentum[rows])
        residual[rows] = v_new - T
        step_size[rows] = np.minimum(h[rows] * _GROW, max_step)
        bend[rows] = lam[rows] / (h[rows] * h[rows])
    if reflected.any():
        r = np.flatnonzero(reflected)
        flip = (y_new[r] < lo) | (y_new[r] > hi)
        momentum[r] = _tangent(np.where(flip, -momentum[r], momentum[r]), normal[r])
    shrink = ~accepted & ~reflected
    step_size[shrink] *= _SHRINK
    new_state = RattleState(position, momentum, value, grad, profiled, step_size, bend)
    return new_state, RattleInfo(accepted, residual, n_iter, reflected, n_eval)
