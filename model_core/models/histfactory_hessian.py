"""The exact Hessian of a binned HistFactory NLL, written by hand.

With the notation of :mod:`.histfactory_nll` (entry rates
``rate_e = base_e * L_e * F_e``, ``L`` the product of the linear factors,
``F = exp(S)`` the normsys factors) and bin yields ``y_b = sum_{e in b} rate_e``:

``H = sum_b P''(y_b) grad y_b grad y_b^T + sum_e P'(y_{b(e)}) hess rate_e + constraints``

with ``P(y) = y - n log y``, so ``P' = 1 - n / y`` and ``P'' = n / y^2``, and

``hess rate = F (L hess base + base hess L + base L (hess S + grad S grad S^T)
+ sym(grad base grad L^T) + L sym(grad base grad S^T) + base sym(grad L grad S^T))``

where ``sym(M) = M + M^T``.  Each factor's gradient is sparse: a list of
*components* (entry, parameter, value), one per histosys shift, used linear
slot and normsys application.  The products of two factors' gradients are
sums over the pairs of components that share an entry, and the yields'
Jacobian one scatter of all components; the index plans of both are built
once per model (:class:`HessianPlan`).  The factors' own second derivatives
are diagonal (histosys coefficients, normsys log-factors) or products of the
other linear factors.

autograd's reverse-over-reverse Hessian replays the traced gradient once per
parameter; this costs a fixed handful of array operations per batch instead.
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

_BASE, _LINEAR, _NORMSYS = 0, 1, 2


class _Factor:
    """The gradient components of one factor: raw values are summed per (entry, parameter)."""

    def __init__(self, entries: np.ndarray, params: np.ndarray, n_entries: int,
                 npar: int) -> None:
        keys, merge = np.unique(entries * npar + params, return_inverse=True)
        self.merge = IndexPlan(merge, len(keys))
        self.entry_index = keys // npar
        self.entry = IndexPlan(self.entry_index, n_entries)
        self.param = keys % npar

    def __len__(self) -> int:
        return len(self.param)


class _Products:
    """Pairs of components of two factors at the same entry, and where their product goes."""

    def __init__(self, u: _Factor, v: _Factor, symmetric: bool, npar: int) -> None:
        i, j = np.nonzero(u.entry_index[:, None] == v.entry_index[None, :])
        pu, pv = u.param[i], v.param[j]
        if symmetric:
            i, j = np.concatenate([i, i]), np.concatenate([j, j])
            flat = np.concatenate([pu * npar + pv, pv * npar + pu])
        else:
            flat = pu * npar + pv
        self.first, self.second = IndexPlan(i, len(u)), IndexPlan(j, len(v))
        self.flat = IndexPlan(flat, npar * npar)


class HessianPlan:
    """Constant index plans of the Hessian of one workspace (built once per model)."""

    def __init__(self, t: Tensors) -> None:
        P, E = t.slot_param.size, t.n_entries
        J = max(t.n_hist, 1)
        slot_entry = t.slot_pos.index % E if E else t.slot_pos.index
        hist_params = t.hist_param.index[t.pair_col.index % J] if t.n_hist \
            else np.zeros(0, np.intp)
        norm_params = t.norm_param.index[t.norm_app.index]
        self.factors = [_Factor(t.pair_entry.index, hist_params, E, P),
                        _Factor(slot_entry, t.slot_param.index, E, P),
                        _Factor(t.norm_entry.index, norm_params, E, P)]
        self.pair_param = IndexPlan(hist_params, P)
        self.norm_pair_param = IndexPlan(norm_params, P)
        target = t.entry_target.index
        self.jacobian = IndexPlan(np.concatenate([target[f.entry_index] * P + f.param
                                                  for f in self.factors]), t.n_bins * P)
        self.products = []
        for u, v, symmetric in ((_BASE, _LINEAR, True), (_BASE, _NORMSYS, True),
                                (_LINEAR, _NORMSYS, True), (_NORMSYS, _NORMSYS, False)):
            pairs = _Products(self.factors[u], self.factors[v], symmetric, P)
            if len(pairs.flat):
                self.products.append((u, v, pairs))
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
             IndexPlan([p1 * P + p2 for _, p1, p2 in rows] + [p2 * P + p1 for _, p1, p2 in rows],
                       P * P))
            for (k1, k2), rows in sorted(pairs.items())]


def _product_except(factors: list, skip: set[int]):
    out = 1.0
    for i, p in enumerate(factors):
        if i not in skip:
            out = out * p
    return out


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
    flat = np.zeros(lead + (P * P,))
    diag = np.zeros(lead + (P,))
    empty = np.zeros(lead + (0,))
    raw = [empty, empty, empty]        # d base, d L, d S: one value per shift, slot, application
    if t.n_hist and len(t.pair_entry):
        code, alpha = t.histosys_code, f["alpha_h"]
        first = np.concatenate(histosys_derivatives(alpha, code, np), axis=-1)
        second = np.concatenate(histosys_second_derivatives(alpha, code, np), axis=-1)
        raw[_BASE] = gather_values(first, t.pair_col) * t.pair_shift
        diag += scatter_values(gather_values(second, t.pair_col) * t.pair_shift
                               * gather_values(w * L * F, t.pair_entry), plan.pair_param)
    if t.n_slots:
        factors = f["P"]
        partial = np.concatenate([np.broadcast_to(_product_except(factors, {k}), lead + (E,))
                                  for k in range(t.n_slots)], axis=-1)
        raw[_LINEAR] = gather_values(partial, t.slot_pos)
        outer = w * base * F
        for k1, k2, entries, where in plan.slot_pairs:
            value = gather_values(np.broadcast_to(
                _product_except(factors, {k1, k2}), lead + (E,)) * outer, entries)
            flat += scatter_values(np.concatenate([value, value], axis=-1), where)
    if len(t.norm_param):
        args = (f["alpha_n"], t.norm_log_lo, t.norm_log_hi, t.normsys_code, t.norm_coefficients)
        raw[_NORMSYS] = gather_values(normsys_log_derivatives(*args, xp=np), t.norm_app)
        second = normsys_log_second_derivatives(*args, xp=np)
        diag += scatter_values(gather_values(second, t.norm_app)
                               * gather_values(w * base * L * F, t.norm_entry),
                               plan.norm_pair_param)
    components = [scatter_values(r, factor.merge) for r, factor in zip(raw, plan.factors,
                                                                          strict=True)]
    # Gauss-Newton part: the yields' Jacobian, from every component times the other factors
    others = [L * F, base * F, base * L * F]
    jacobian = scatter_values(np.concatenate(
        [c * gather_values(o, factor.entry) for c, o, factor in
         zip(components, others, plan.factors, strict=True)], axis=-1),
        plan.jacobian).reshape(lead + (t.n_bins, P))
    hess = np.matmul(np.swapaxes(curvature[..., None] * jacobian, -1, -2), jacobian)
    # products of two factors' gradients at the same entry
    wF = w * F
    weights = {(_BASE, _LINEAR): wF, (_BASE, _NORMSYS): wF * L, (_LINEAR, _NORMSYS): wF * base,
               (_NORMSYS, _NORMSYS): wF * base * L}
    for u, v, pairs in plan.products:
        weighted = components[u] * gather_values(weights[u, v], plan.factors[u].entry)
        flat += scatter_values(gather_values(weighted, pairs.first)
                               * gather_values(components[v], pairs.second), pairs.flat)
    hess += flat.reshape(lead + (P, P))
    # constraints
    if t.has_gauss:
        diag = diag + t.weight
    if len(t.pois_param):
        x = gather_values(X, t.pois_param)
        diag += scatter_values(pois_aux / (x * x), t.pois_param)
    index = np.arange(P)
    hess[..., index, index] += diag
    return hess

