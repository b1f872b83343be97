"""The HistFactory NLL as one autograd primitive with a hand-written, traceable gradient.

autograd records every array operation it differentiates, at some tens of
microseconds each; the NLL of a workspace takes a few dozen of them.  Here
the NLL is a single primitive: its value is computed with plain numpy, and its
vector-Jacobian product is :meth:`HistFactoryNLL.gradient`, written with
autograd-traceable operations (numpy functions, :func:`.sparse.gather` and
:func:`.sparse.scatter`), so autograd can differentiate it once more for
exact Hessians.

Notation (all constant tensors come from :class:`.histfactory.Tensors`): ``E``
entries (sample x bin of binned channels, then unbinned samples), ``G``
binned bins, ``U`` unbinned samples, ``J`` histosys parameters with their
coefficients ``C = [c_up, c_down]`` (length ``2J``), ``A`` normsys
applications.  The rate of entry ``e`` is

``rate_e = (nominal_e + sum_pairs C_j shift_je) * prod_slots x_p * exp(sum_apps log f_a)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import autograd.numpy as anp
import numpy as np
from autograd.extend import defvjp, primitive

from .interpolation import (
    histosys_coefficients,
    histosys_derivatives,
    normsys_log_derivatives,
    normsys_log_factors,
)
from .sparse import gather, scatter

if TYPE_CHECKING:
    from .histfactory import Tensors

__all__ = ["HistFactoryNLL"]


class HistFactoryNLL:
    """Value, gradient and expected yields of a HistFactory likelihood.

    Parameters
    ----------
    t
        The constant tensors (:class:`.histfactory.Tensors`).
    """

    def __init__(self, t: Tensors) -> None:
        self.t = t

    def function(self) -> Callable:
        """The NLL ``X (..., npar) -> (...)`` as an autograd primitive."""
        nll = primitive(self.value)

        def vjp(ans, X):
            def pull(g):
                return anp.reshape(g, anp.shape(g) + (1,)) * self.gradient(X)
            return pull

        defvjp(nll, vjp)
        return nll

    # -- forward ---------------------------------------------------------------------------
    def _forward(self, X):
        t = self.t
        f = {}
        base = t.nominal
        if t.n_hist:
            f["alpha_h"] = gather(X, t.hist_param)
            c_up, c_down = histosys_coefficients(f["alpha_h"], t.histosys_code)
            f["C"] = anp.concatenate([c_up, c_down], axis=-1)
            if len(t.pair_entry):
                base = base + scatter(gather(f["C"], t.pair_col) * t.pair_shift, t.pair_entry)
        f["base"] = base
        rate = base
        if t.n_slots:
            P = t.slot_pad + scatter(gather(X, t.slot_param), t.slot_pos)
            f["P"] = [P[..., k * t.n_entries:(k + 1) * t.n_entries] for k in range(t.n_slots)]
            L = f["P"][0]
            for k in range(1, t.n_slots):
                L = L * f["P"][k]
            f["L"] = L
            rate = rate * L
        if len(t.norm_param):
            f["alpha_n"] = gather(X, t.norm_param)
            log_f = normsys_log_factors(f["alpha_n"], t.norm_log_lo, t.norm_log_hi,
                                        t.normsys_code, t.norm_coefficients)
            f["F"] = anp.exp(scatter(gather(log_f, t.norm_app), t.norm_entry))
            rate = rate * f["F"]
        f["rate"] = rate
        f["yields"] = scatter(rate, t.entry_target)          # (..., G + U)
        return f

    def expected(self, X):
        """Binned expected counts (pyhf order), then expected events per unbinned channel."""
        yields = self._forward(X)["yields"]
        t = self.t
        if t.unbinned is None:
            return yields
        per_channel = anp.matmul(yields[..., t.n_bins:], t.unbinned.channel_sum)
        return anp.concatenate([yields[..., :t.n_bins], per_channel], axis=-1)

    def value(self, X):
        t = self.t
        f = self._forward(X)
        total = 0.0
        if t.n_bins:
            total = _poisson_sum(f["yields"][..., :t.n_bins], t.counts, t.count_lgf)
        if t.unbinned is not None:
            total = total + t.unbinned.value(f["yields"][..., t.n_bins:], f.get("C"))
        if t.has_gauss:
            d = X - t.centre
            total = total + 0.5 * anp.sum(t.weight * d * d, axis=-1) + t.gauss_constant
        if len(t.pois_param):
            rate = gather(X, t.pois_param) * t.pois_tau
            total = total + _poisson_sum(rate, t.pois_aux, t.pois_lgf)
        return total

    # -- gradient --------------------------------------------------------------------------
    def gradient(self, X):
        """``d NLL / d X``, shape ``(..., npar)``; traceable for second derivatives."""
        t = self.t
        f = self._forward(X)
        grad = anp.zeros(anp.shape(X)) if not t.has_gauss else t.weight * (X - t.centre)
        if len(t.pois_param):
            rate = gather(X, t.pois_param) * t.pois_tau
            grad = grad + scatter(t.pois_tau * _poisson_slope(rate, t.pois_aux), t.pois_param)
        parts = []
        if t.n_bins:
            lam = f["yields"][..., :t.n_bins]
            parts.append(_poisson_slope(lam, t.counts))
        d_C = None
        if t.unbinned is not None:
            d_nu, d_C = t.unbinned.gradient(f["yields"][..., t.n_bins:], f.get("C"))
            parts.append(d_nu)
        d_rate = gather(parts[0] if len(parts) == 1 else anp.concatenate(parts, axis=-1),
                        t.entry_target)
        rate = f["rate"]
        if len(t.norm_param):
            d_log_f = scatter(gather(d_rate * rate, t.norm_entry), t.norm_app)
            slope = normsys_log_derivatives(f["alpha_n"], t.norm_log_lo, t.norm_log_hi,
                                            t.normsys_code, t.norm_coefficients)
            grad = grad + scatter(d_log_f * slope, t.norm_param)
        if t.n_slots:
            outer = d_rate * f["base"] * f["F"] if "F" in f else d_rate * f["base"]
            d_P = [outer * _product_except(f["P"], k) for k in range(t.n_slots)]
            grad = grad + scatter(gather(anp.concatenate(d_P, axis=-1), t.slot_pos), t.slot_param)
        if t.n_hist:
            d_base = d_rate
            if t.n_slots:
                d_base = d_base * f["L"]
            if "F" in f:
                d_base = d_base * f["F"]
            if len(t.pair_entry):
                from_bins = scatter(gather(d_base, t.pair_entry) * t.pair_shift, t.pair_col)
                d_C = from_bins if d_C is None else d_C + from_bins
            d_up, d_down = histosys_derivatives(f["alpha_h"], t.histosys_code)
            J = t.n_hist
            d_alpha = d_C[..., :J] * d_up + d_C[..., J:] * d_down
            grad = grad + scatter(d_alpha, t.hist_param)
        return grad


def _product_except(factors, k):
    out = None
    for i, p in enumerate(factors):
        if i != k:
            out = p if out is None else out * p
    return 1.0 if out is None else out


def _poisson_sum(rate, counts, log_factorials):
    """``-sum log Pois(n | rate)`` over the last axis (continuous); ``+inf`` where impossible."""
    positive = rate > 0
    safe = anp.where(positive, rate, 1.0)
    terms = rate - counts * anp.log(safe) + log_factorials
    impossible = (rate < 0) | (~positive & (counts > 0))
    return anp.sum(anp.where(impossible, np.inf, terms), axis=-1)


def _poisson_slope(rate, counts):
    """``d/d rate`` of the Poisson terms, ``1 - n / rate`` (``1`` where ``n = 0``)."""
    return 1.0 - counts / anp.where(rate > 0, rate, anp.where(counts > 0, np.nan, 1.0))
