"""The HistFactory NLL as one autograd primitive with a hand-written, traceable gradient.

autograd records every array operation it differentiates, at some tens of
microseconds each; the NLL of a workspace takes a few dozen of them.  Here
the NLL is a single primitive: its value is computed with plain numpy, and its
vector-Jacobian product is :meth:`HistFactoryNLL.gradient`, written against
:class:`.sparse.ArrayOps` so that it runs at numpy speed on plain arrays and
autograd can differentiate it once more (exact Hessians) when given boxes.
The intermediate arrays of the forward pass are kept (per thread) for the
gradient that follows it.

Notation (all constant tensors come from :class:`.histfactory.Tensors`): ``E``
entries (sample x bin of binned channels, then unbinned samples), ``G``
binned bins, ``U`` unbinned samples, ``J`` histosys parameters with their
coefficients ``C = [c_up, c_down]`` (length ``2J``), ``A`` normsys
applications.  The rate of entry ``e`` is

``rate_e = (nominal_e + sum_pairs C_j shift_je) * prod_slots x_p * exp(sum_apps log f_a)``.

The observed counts, the auxiliary data and the unbinned events' weights may
be replaced by one dataset per batch row (:meth:`HistFactoryNLL.with_data`),
and :meth:`HistFactoryNLL.sample` draws pseudo-data as pyhf's
``make_pdf(pars).sample`` does.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np
from autograd.extend import Box, defvjp, primitive
from scipy.special import gammaln

from ..model import Dataset, align_rows
from .histfactory_hessian import HessianPlan, histfactory_hessian
from .interpolation import (
    histosys_coefficients,
    histosys_derivatives,
    normsys_log_derivatives,
    normsys_log_factors,
)
from .sparse import ArrayOps, ops_for

if TYPE_CHECKING:
    from .histfactory import Tensors

__all__ = ["HistFactoryNLL"]

#: Arrays over the entries held at once by one pass (base, rates, factors, yields ...),
#: besides two per linear slot ...
_PER_ENTRY = 8
#: ... and over every other axis (normsys applications, histosys shifts, bins, events,
#: Hessian components and products): estimates of :meth:`HistFactoryNLL.row_floats`.
_PER_TERM = 4


class HistFactoryNLL:
    """Value, gradient and expected yields of a HistFactory likelihood.

    An instance is the model's ``nll_fn``: call it on ``X (..., npar)``.

    Parameters
    ----------
    t
        The constant tensors (:class:`.histfactory.Tensors`).
    data
        ``None`` for the workspace's observations, or one
        :class:`~model_core.model.Dataset` row per batch row: counts (pyhf's
        channel order), auxiliary data (pyhf's ``auxdata`` order) and, for
        unbinned channels, the events' multiplicities (``None``: their weights).
    """

    def __init__(self, t: Tensors, data: Dataset | None = None,
                 hessian_plan: HessianPlan | None = None) -> None:
        self.t = t
        # the hand-written Hessian covers binned channels; unbinned ones use autograd's
        self.hessian_plan = None
        if t.unbinned is None:
            self.hessian_plan = HessianPlan(t) if hessian_plan is None else hessian_plan
        else:
            self.hessian = None
        self._last = threading.local()
        self._primitive = primitive(self._recorded_value)
        defvjp(self._primitive, self._vjp)
        self.per_row = data is not None
        events = None if t.unbinned is None else t.unbinned.weights
        observed = Dataset(t.counts[None], t.auxdata[None], None if events is None
                           else events[None])
        if data is None:
            self.data = observed
            self._arrays = (t.counts, t.count_lgf, t.centre, t.pois_aux, t.pois_lgf, None)
            return
        self.data = data
        main, aux = np.asarray(data.main, dtype=float), np.asarray(data.aux, dtype=float)
        if main.shape[1:] != (t.n_bins,) or aux.shape[1:] != t.auxdata.shape or \
                len(aux) != len(main):
            raise ValueError(f"datasets must have {t.n_bins} counts and {t.auxdata.size} "
                             f"auxiliary values per row, got shapes {main.shape} and {aux.shape}")
        normal = ~t.aux_poisson
        centre = np.tile(t.centre, (len(main), 1))
        centre[:, t.aux_param[normal]] = aux[:, normal]
        pois_aux = aux[:, t.aux_poisson]
        weights = None
        if data.events is not None:
            weights = np.asarray(data.events, dtype=float)
            if events is None or weights.shape != (len(main), events.size):
                raise ValueError(f"events must have shape ({len(main)}, "
                                 f"{0 if events is None else events.size}), got {weights.shape}")
        self._arrays = (main, gammaln(main + 1.0), centre, pois_aux, gammaln(pois_aux + 1.0),
                        weights)

    @property
    def aux_parameters(self) -> np.ndarray:
        """Index of the parameter each auxiliary measurement constrains (pyhf's order)."""
        return self.t.aux_param

    def with_data(self, data: Dataset) -> HistFactoryNLL:
        """The same likelihood with dataset ``i`` in batch row ``i``."""
        return HistFactoryNLL(self.t, data, self.hessian_plan)

    def _data(self, X) -> tuple:
        """Counts, their log-factorials, Gaussian centres, Poisson auxiliaries, their
        log-factorials and event weights (``None``: the observed), aligned with ``X``."""
        if not self.per_row:
            return self._arrays
        return tuple(None if a is None else align_rows(a, X) for a in self._arrays)

    def __call__(self, X):
        if isinstance(X, Box):
            return self._primitive(X)
        return self.value(X)

    def _recorded_value(self, X):
        forward = self._forward(X)
        self._last.forward = (X, forward)
        return self._value(X, forward)

    def _vjp(self, ans, X):
        last = getattr(self._last, "forward", None)
        self._last.forward = None
        forward = last[1] if last is not None and last[0] is X else None

        def pull(g):
            return g[..., None] * self.gradient(X, forward)

        return pull

    # -- forward ---------------------------------------------------------------------------
    def _forward(self, X) -> dict[str, Any]:
        t, ops = self.t, ops_for(X)
        xp = ops.np
        f: dict[str, Any] = {"ops": ops}
        base = t.nominal
        if t.n_hist:
            f["alpha_h"] = ops.gather(X, t.hist_param)
            c_up, c_down = histosys_coefficients(f["alpha_h"], t.histosys_code, xp)
            f["C"] = xp.concatenate([c_up, c_down], axis=-1)
            if len(t.pair_entry):
                shifts = ops.gather(f["C"], t.pair_col) * t.pair_shift
                base = base + ops.scatter(shifts, t.pair_entry)
        f["base"] = base
        rate = base
        if t.n_slots:
            P = t.slot_pad + ops.scatter(ops.gather(X, t.slot_param), t.slot_pos)
            E = t.n_entries
            f["P"] = [P[..., k * E:(k + 1) * E] for k in range(t.n_slots)]
            L = f["P"][0]
            for k in range(1, t.n_slots):
                L = L * f["P"][k]
            f["L"] = L
            rate = rate * L
        if len(t.norm_param):
            f["alpha_n"] = ops.gather(X, t.norm_param)
            log_f = normsys_log_factors(f["alpha_n"], t.norm_log_lo, t.norm_log_hi,
                                        t.normsys_code, t.norm_coefficients, xp)
            f["F"] = xp.exp(ops.scatter(ops.gather(log_f, t.norm_app), t.norm_entry))
            rate = rate * f["F"]
        f["rate"] = rate
        f["yields"] = ops.scatter(rate, t.entry_target)          # (..., G + U)
        return f

    def expected(self, X):
        """Binned expected counts (pyhf order), then expected events per unbinned channel."""
        f = self._forward(X)
        yields, xp, t = f["yields"], f["ops"].np, self.t
        if t.unbinned is None:
            return yields
        per_channel = xp.einsum("...u,uc->...c", yields[..., t.n_bins:], t.unbinned.channel_sum)
        return xp.concatenate([yields[..., :t.n_bins], per_channel], axis=-1)

    def value(self, X):
        """The NLL at ``X (..., npar)``."""
        return self._value(X, self._forward(X))

    def value_and_grad(self, X):
        """The NLL and its gradient at ``X (..., npar)``, in one forward pass."""
        forward = self._forward(X)
        return self._value(X, forward), self.gradient(X, forward)

    def _value(self, X, f: dict[str, Any]):
        t, ops = self.t, f["ops"]
        xp = ops.np
        counts, count_lgf, centre, pois_aux, pois_lgf, weights = self._data(X)
        total = 0.0
        if t.n_bins:
            total = _poisson_sum(f["yields"][..., :t.n_bins], counts, count_lgf, xp)
        if t.unbinned is not None:
            total = total + t.unbinned.value(f["yields"][..., t.n_bins:], f.get("C"), ops,
                                             weights)
        if t.has_gauss:
            d = X - centre
            total = total + 0.5 * xp.sum(t.weight * d * d, axis=-1) + t.gauss_constant
        if len(t.pois_param):
            rate = ops.gather(X, t.pois_param) * t.pois_tau
            total = total + _poisson_sum(rate, pois_aux, pois_lgf, xp)
        return total

    def hessian(self, X):
        """Exact Hessian ``(..., npar, npar)`` (see :mod:`.histfactory_hessian`)."""
        return histfactory_hessian(self, X)

    def row_floats(self, order: int) -> int:
        """Floats of intermediate arrays per row of a value (``order`` 0), value and
        gradient (1) or Hessian (2) call: an upper estimate from the tensors' sizes (a
        few arrays over the entries, normsys applications, histosys shifts, bins and
        events per pass; the Hessian adds its plan's components and products, the
        yields' Jacobian and ``npar**2`` matrices)."""
        t = self.t
        npar = t.slot_param.size
        floats = (t.n_entries * (2 * t.n_slots + _PER_ENTRY) + _PER_TERM * (
            len(t.norm_app) + len(t.pair_entry) + t.n_bins + npar + len(t.norm_param)
            + t.n_hist))
        if t.unbinned is not None:
            floats += _PER_TERM * t.unbinned.ratios.shape[1]
        if order == 1:
            return 2 * floats
        if order == 2 and self.hessian_plan is not None:
            plan = self.hessian_plan
            pairs = sum(2 * len(p.first) for _, _, p in plan.products)
            slot_pairs = sum(len(entries) for _, _, entries, _ in plan.slot_pairs)
            return floats + _PER_TERM * (sum(len(f) for f in plan.factors) + pairs + slot_pairs
                                         + t.n_bins * npar + npar * npar)
        return floats

    # -- gradient --------------------------------------------------------------------------
    def gradient(self, X, forward: dict[str, Any] | None = None):
        """``d NLL / d X``, shape ``(..., npar)``; traceable for second derivatives.

        ``forward`` may pass the intermediates of a forward pass at the same ``X``.
        """
        t = self.t
        f = self._forward(X) if forward is None else forward
        ops: ArrayOps = f["ops"]
        xp = ops.np
        counts, _, centre, pois_aux, _, weights = self._data(X)
        grad = t.weight * (X - centre) if t.has_gauss else xp.zeros(xp.shape(X))
        if len(t.pois_param):
            rate = ops.gather(X, t.pois_param) * t.pois_tau
            grad = grad + ops.scatter(t.pois_tau * _poisson_slope(rate, pois_aux, xp),
                                      t.pois_param)
        parts = []
        if t.n_bins:
            parts.append(_poisson_slope(f["yields"][..., :t.n_bins], counts, xp))
        d_C = None
        if t.unbinned is not None:
            d_nu, d_C = t.unbinned.gradient(f["yields"][..., t.n_bins:], f.get("C"), ops,
                                            weights)
            parts.append(d_nu)
        d_yields = parts[0] if len(parts) == 1 else xp.concatenate(parts, axis=-1)
        d_rate = ops.gather(d_yields, t.entry_target)
        if len(t.norm_param):
            d_log_f = ops.scatter(ops.gather(d_rate * f["rate"], t.norm_entry), t.norm_app)
            slope = normsys_log_derivatives(f["alpha_n"], t.norm_log_lo, t.norm_log_hi,
                                            t.normsys_code, t.norm_coefficients, xp)
            grad = grad + ops.scatter(d_log_f * slope, t.norm_param)
        if t.n_slots:
            outer = d_rate * f["base"] * f["F"] if "F" in f else d_rate * f["base"]
            d_P = [outer * _product_except(f["P"], k) for k in range(t.n_slots)]
            grad = grad + ops.scatter(ops.gather(xp.concatenate(d_P, axis=-1), t.slot_pos),
                                      t.slot_param)
        if t.n_hist:
            d_base = d_rate
            if t.n_slots:
                d_base = d_base * f["L"]
            if "F" in f:
                d_base = d_base * f["F"]
            if len(t.pair_entry):
                from_bins = ops.scatter(ops.gather(d_base, t.pair_entry) * t.pair_shift,
                                        t.pair_col)
                d_C = from_bins if d_C is None else d_C + from_bins
            d_up, d_down = histosys_derivatives(f["alpha_h"], t.histosys_code, xp)
            J = t.n_hist
            d_alpha = d_C[..., :J] * d_up + d_C[..., J:] * d_down
            grad = grad + ops.scatter(d_alpha, t.hist_param)
        return grad


    # -- pseudo-data ---------------------------------------------------------------------------
    def sample(self, x: np.ndarray, n: int, rng: np.random.Generator, *,
               unbinned: str = "refuse") -> Dataset:
        """``n`` pseudo-datasets at ``x (npar,)``, as pyhf's ``make_pdf(x).sample((n,))``.

        Counts ``~ Poisson(expected)``; auxiliary data ``~ N(x_p, sigma_p)``
        (normsys, histosys, lumi, staterror) or ``~ Poisson(tau_p x_p)``
        (shapesys).  Unbinned channels have no generator of events:
        ``unbinned="resample"`` draws each toy's events from the channel's own
        events, weighted by the model's density ratio at ``x`` (exact when those
        events are a sample of the reference density); ``"refuse"`` raises.
        """
        t = self.t
        x = np.asarray(x, dtype=float)
        if t.unbinned is not None and unbinned != "resample":
            raise ValueError(f"unbinned channel {t.unbinned.channel_names[0]!r} has no event "
                             "generator: pass unbinned='resample' (command line: "
                             "--resample-unbinned) to draw pseudo-events from the channel's own "
                             "events, weighted by the model's density ratio (exact only if they "
                             "sample the reference density)")
        if unbinned not in ("refuse", "resample"):
            raise ValueError(f"unbinned must be 'refuse' or 'resample', got {unbinned!r}")
        f = self._forward(x)
        rates = np.asarray(f["yields"][:t.n_bins], dtype=float)
        bad = np.flatnonzero(~(rates >= 0))
        if bad.size:
            raise ValueError(f"the expected count of bin {int(bad[0])} (pyhf order) is "
                             f"{rates[bad[0]]:.6g} at this point: Poisson pseudo-data need "
                             "non-negative rates")
        main = rng.poisson(rates, size=(n, t.n_bins)).astype(float)
        aux = np.empty((n, t.aux_param.size))
        normal = np.flatnonzero(~t.aux_poisson)
        aux[:, normal] = x[t.aux_param[normal]] + t.aux_scale[normal] * rng.standard_normal(
            (n, normal.size))
        poisson = np.flatnonzero(t.aux_poisson)
        aux[:, poisson] = rng.poisson(x[t.aux_param[poisson]] * t.aux_scale[poisson],
                                      size=(n, poisson.size))
        events = None
        if t.unbinned is not None:
            events = t.unbinned.resample(f["yields"][t.n_bins:], f.get("C"), n, rng)
        return Dataset(main, aux, events)


def _product_except(factors, k):
    out = None
    for i, p in enumerate(factors):
        if i != k:
            out = p if out is None else out * p
    return 1.0 if out is None else out


def _poisson_sum(rate, counts, log_factorials, xp):
    """``-sum log Pois(n | rate)`` over the last axis (continuous); ``+inf`` where impossible."""
    positive = rate > 0
    safe = xp.where(positive, rate, 1.0)
    terms = rate - counts * xp.log(safe) + log_factorials
    impossible = (rate < 0) | (~positive & (counts > 0))
    return xp.sum(xp.where(impossible, np.inf, terms), axis=-1)


def _poisson_slope(rate, counts, xp):
    """``d/d rate`` of the Poisson terms, ``1 - n / rate`` (``1`` where ``n = 0``)."""
    return 1.0 - counts / xp.where(rate > 0, rate, xp.where(counts > 0, np.nan, 1.0))
