"""The exact Hessian of a binned HistFactory NLL, written by hand.

With the notation of :mod:`.histfactory_nll` (entry rates
``rate_e = base_e * L_e * F_e``, ``L`` the product of the linear factors,
``F = exp(S)`` the normsys factors) and bin yields ``y_b = sum_{e in b} rate_e``:

``H = sum_b P''(y_b) grad y_b grad y_b^T + sum_e P'(y_{b(e)}) hess rate_e + constraints``

with ``P(y) = y - n log y``, so ``P' = 1 - n / y`` and ``P'' = n / y^2``, and

``hess rate = F (L hess base + base hess L + base L (hess S + grad S grad S^T)
+ sym(grad base grad L^T) + L sym(grad base grad S^T) + base sym(grad L grad S^T))``

where ``sym(M) = M + M^T``.  The factors' gradients are laid out densely per
entry (``(..., E, npar)``, built by scatter-adds over constant index plans);
their own second derivatives are diagonal (histosys coefficients, normsys
log-factors) or products of the other linear factors.  Every product over
entries is an ``einsum``, so a row's Hessian does not depend on its batch.

autograd's reverse-over-reverse Hessian replays the traced gradient once per
parameter; this costs a handful of array operations per batch instead.
Unbinned channels are not covered (their models use autograd's Hessian).
"""

from __future__ import annotations

from itertools import combinations
from typing import TYPE_CHECKING

import numpy as np

from .interpolation import (
    histosys_derivatives,
    histosys_second_derivatives,
    normsys_log_derivatives,
    normsys_log_second_derivatives,
)
from .sparse import IndexPlan, gather_values, scatter_values

if TYPE_CHECKING:
    from .histfactory import Tensors
    from .histfactory_nll import HistFactoryNLL

__all__ = ["HessianPlan", "histfactory_hessian"]


class HessianPlan:
    """Constant index plans of the Hessian of one workspace (built once per model)."""

    def __init__(self, t: Tensors) -> None:
        P, E = t.slot_param.size, t.n_entries
        self.npar = P
        hist_of_pair = t.hist_param.index[t.pair_col.index % max(t.n_hist, 1)] \
            if t.n_hist else np.zeros(0, np.intp)
        self.pair_flat = IndexPlan(t.pair_entry.index * P + hist_of_pair, E * P)
        self.pair_param = IndexPlan(hist_of_pair, P)
        slot_entry = t.slot_pos.index % E if E else t.slot_pos.index
        self.slot_flat = IndexPlan(slot_entry * P + t.slot_param.index, E * P)
        slot_of = t.slot_pos.index // E if E else t.slot_pos.index
        used: dict[int, list[tuple[int, int]]] = {}
        for k, e, p in zip(slot_of, slot_entry, t.slot_param.index, strict=True):
            used.setdefault(int(e), []).append((int(k), int(p)))
        pairs: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
        for e, slots in used.items():
            for (k1, p1), (k2, p2) in combinations(sorted(slots), 2):
                pairs.setdefault((k1, k2), []).append((e, p1, p2))
        self.slot_pairs = [
            (k1, k2, IndexPlan([e for e, _, _ in rows], E),
             IndexPlan([p1 * P + p2 for _, p1, p2 in rows], P * P),
             IndexPlan([p2 * P + p1 for _, p1, p2 in rows], P * P))
            for (k1, k2), rows in sorted(pairs.items())]
        norm_of_pair = t.norm_param.index[t.norm_app.index]
        self.norm_flat = IndexPlan(t.norm_entry.index * P + norm_of_pair, E * P)
        self.norm_pair_param = IndexPlan(norm_of_pair, P)


def _product_except(factors: list, skip: set[int]):
    out = 1.0
    for i, p in enumerate(factors):
        if i not in skip:
            out = out * p
    return out


def _weighted_outer(weight: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``sum_e weight_e u_e v_e^T`` over the entry axis: ``(..., P, P)``.

    A stack of matrix products of one shape per row: every row takes the same
    BLAS path whatever the batch size (unlike one product over all rows).
    """
    return np.matmul(np.swapaxes(weight[..., None] * u, -1, -2), v)


def histfactory_hessian(nll: HistFactoryNLL, X: np.ndarray) -> np.ndarray:
    """Exact Hessian ``(..., npar, npar)`` of a binned HistFactory NLL at ``X (..., npar)``."""
    t, plan = nll.t, nll.hessian_plan
    X = np.asarray(X, dtype=float)
    f = nll._forward(X)
    counts, _, _, pois_aux, _, _ = nll._data(X)
    lead, P, E = X.shape[:-1], X.shape[-1], t.n_entries
    y = f["yields"]
    safe = np.where(y > 0, y, np.nan)
    slope = 1.0 - counts / np.where(y > 0, y, np.where(counts > 0, np.nan, 1.0))
    curvature = np.where(counts == 0, 0.0, counts / (safe * safe))
    w = gather_values(slope, t.entry_target)                  # P'(y) at every entry
    base = np.broadcast_to(f["base"], lead + (E,))
    L = np.broadcast_to(f.get("L", 1.0), lead + (E,))
    F = np.broadcast_to(f.get("F", 1.0), lead + (E,))
    hess = np.zeros(lead + (P, P))
    diag = np.zeros(lead + (P,))

    def dense(values: np.ndarray, where: IndexPlan) -> np.ndarray:
        return scatter_values(values, where).reshape(lead + (E, P))

    grad_base = grad_L = grad_S = None
    if t.n_hist and len(t.pair_entry):
        code, alpha = t.histosys_code, f["alpha_h"]
        first = np.concatenate(histosys_derivatives(alpha, code, np), axis=-1)
        second = np.concatenate(histosys_second_derivatives(alpha, code, np), axis=-1)
        grad_base = dense(gather_values(first, t.pair_col) * t.pair_shift, plan.pair_flat)
        at_pairs = gather_values(w * L * F, t.pair_entry)
        diag += scatter_values(gather_values(second, t.pair_col) * t.pair_shift * at_pairs,
                               plan.pair_param)
    if t.n_slots:
        factors = f["P"]
        partial = np.concatenate([np.broadcast_to(_product_except(factors, {k}), lead + (E,))
                                  for k in range(t.n_slots)], axis=-1)
        grad_L = dense(gather_values(partial, t.slot_pos), plan.slot_flat)
        outer = w * base * F
        for k1, k2, entries, upper, lower in plan.slot_pairs:
            value = gather_values(np.broadcast_to(
                _product_except(factors, {k1, k2}), lead + (E,)) * outer, entries)
            hess += (scatter_values(value, upper) + scatter_values(value, lower)).reshape(
                lead + (P, P))
    if len(t.norm_param):
        args = (f["alpha_n"], t.norm_log_lo, t.norm_log_hi, t.normsys_code, t.norm_coefficients)
        first = normsys_log_derivatives(*args, xp=np)
        second = normsys_log_second_derivatives(*args, xp=np)
        grad_S = dense(gather_values(first, t.norm_app), plan.norm_flat)
        diag += scatter_values(gather_values(second, t.norm_app)
                               * gather_values(w * base * L * F, t.norm_entry),
                               plan.norm_pair_param)
    # Gauss-Newton part: the yields' Jacobian
    grad_rate = np.zeros(lead + (E, P))
    if grad_base is not None:
        grad_rate += (L * F)[..., None] * grad_base
    if grad_L is not None:
        grad_rate += (base * F)[..., None] * grad_L
    if grad_S is not None:
        grad_rate += (base * L * F)[..., None] * grad_S
    jac = np.swapaxes(scatter_values(np.swapaxes(grad_rate, -1, -2), t.entry_target), -1, -2)
    hess += _weighted_outer(curvature, jac, jac)
    # products of two factors' gradients
    wF = w * F
    for u, v, weight in ((grad_base, grad_L, wF), (grad_base, grad_S, wF * L),
                         (grad_L, grad_S, wF * base)):
        if u is not None and v is not None:
            cross = _weighted_outer(weight, u, v)
            hess += cross + np.swapaxes(cross, -1, -2)
    if grad_S is not None:
        hess += _weighted_outer(wF * base * L, grad_S, grad_S)
    # constraints
    if t.has_gauss:
        diag = diag + t.weight
    if len(t.pois_param):
        x = gather_values(X, t.pois_param)
        diag += scatter_values(pois_aux / (x * x), t.pois_param)
    index = np.arange(P)
    hess[..., index, index] += diag
    return hess
