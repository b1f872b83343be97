"""Unbinned channels: extended likelihoods over per-event density ratios.

A channel tagged ``"type": "unbinned"`` describes ``N`` events by per-event
weights ``w_i`` and, for each sample ``s``, a total yield ``nu_s`` and the
per-event density ratios ``r_s(x_i) = p_s(x_i) / p_ref(x_i)`` against a common
reference density (as neural simulation-based inference estimates them)::

    {"name": "SR_unbinned", "type": "unbinned",
     "weights": {"file": "events.npz", "key": "weights"},
     "samples": [
       {"name": "signal", "yield": 20.0, "ratios": {"file": "ratios_signal.npy"},
        "modifiers": [{"name": "mu", "type": "normfactor", "data": null}]},
       {"name": "background", "yield": 100.0, "ratios": {"file": "ratios_bkg.npy"},
        "modifiers": [
          {"name": "bkg_norm", "type": "normsys", "data": {"hi": 1.05, "lo": 0.95}},
          {"name": "jes", "type": "histosys",
           "data": {"hi_data": {"file": "ratios_bkg_jes_up.npy"},
                    "lo_data": {"file": "ratios_bkg_jes_down.npy"}}}]}]}

Per-event arrays are inline lists, ``.npy`` files or arrays of ``.npz`` files,
with paths relative to the workspace's folder (see
:mod:`model_core.workspace.arrays`); ``weights`` defaults to ones.  Unbinned
channels need no entry in ``observations``.  Yields take the modifiers that
act on normalisations (normfactor, lumi, normsys), with the same parameters
and interpolation as in binned channels; a ``histosys`` on an unbinned sample
shifts its ratios event by event with the histosys interpolation code
(``hi_data``/``lo_data`` are the ratios at ``alpha = +-1``).  A systematic that
changes both shape and yield uses a histosys and a normsys of the same name,
as in binned HistFactory.

The channel's term, up to a parameter-independent constant (``log p_ref`` of
the events), is the extended likelihood

``-log L = sum_s nu_s(theta) - sum_i w_i log sum_s nu_s(theta) r_s(x_i; theta)``.

A non-positive mixture density at an event of non-zero weight gives ``+inf``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..workspace.layout import Layout
from .sparse import ArrayOps, IndexPlan

__all__ = ["UnbinnedTerm", "build_unbinned_term"]


@dataclass(frozen=True)
class UnbinnedTerm:
    """Constant tensors of all unbinned channels together (events concatenated).

    Attributes
    ----------
    ratios
        Nominal ratios ``(U, N)``: one row per unbinned sample, zero outside its channel's events.
    pair_sample, pair_coef
        For each of the ``Q`` ratio shifts, its sample (of ``U``) and its histosys
        coefficient (of ``2J``: up coefficients, then down).
    shifts
        ``(Q, N)``: ``hi - nom`` (up) or ``nom - lo`` (down) ratios.
    weights
        ``(N,)`` event weights.
    channel_sum
        ``(U, C)``: sums sample yields per unbinned channel (expected events).
    """

    ratios: np.ndarray
    pair_sample: IndexPlan
    pair_coef: IndexPlan
    shifts: np.ndarray
    weights: np.ndarray
    channel_sum: np.ndarray

    def _density(self, nu, coefs, ops: ArrayOps):
        density = ops.np.matmul(nu, self.ratios)
        if len(self.pair_sample):
            pairs = ops.gather(nu, self.pair_sample) * ops.gather(coefs, self.pair_coef)
            density = density + ops.np.matmul(pairs, self.shifts)
        return density

    def value(self, nu, coefs, ops: ArrayOps):
        """The extended terms for yields ``nu (..., U)`` and histosys coefficients ``(..., 2J)``."""
        xp = ops.np
        density = self._density(nu, coefs, ops)
        positive = density > 0
        log_density = xp.log(xp.where(positive, density, 1.0))
        impossible = xp.any(~positive & (self.weights != 0), axis=-1)
        value = xp.sum(nu, axis=-1) - xp.sum(self.weights * log_density, axis=-1)
        return xp.where(impossible, np.inf, value)

    def gradient(self, nu, coefs, ops: ArrayOps):
        """``(d/d nu, d/d coefs)`` of :meth:`value`; the second is ``None`` without ratio shifts."""
        xp = ops.np
        density = self._density(nu, coefs, ops)
        scale = xp.where(density > 0, self.weights / xp.where(density > 0, density, 1.0),
                         xp.where(self.weights != 0, np.nan, 0.0))
        d_nu = 1.0 - xp.matmul(scale, self.ratios.T)
        if not len(self.pair_sample):
            return d_nu, None
        along = xp.matmul(scale, self.shifts.T)
        d_nu = d_nu - ops.scatter(along * ops.gather(coefs, self.pair_coef), self.pair_sample)
        d_coefs = -ops.scatter(along * ops.gather(nu, self.pair_sample), self.pair_coef)
        return d_nu, d_coefs


def build_unbinned_term(layout: Layout, arrays: Mapping[str, np.ndarray],
                        histosys_columns: Mapping[str, int]) -> UnbinnedTerm | None:
    """The unbinned channels of ``layout`` (in its order), or ``None`` when there are none."""
    channels = [c for c in layout.channels if c.unbinned]
    if not channels:
        return None
    n_hist = len(histosys_columns)
    blocks: list[slice] = []
    weights: list[np.ndarray] = []
    start = 0
    for ch in channels:
        n = arrays[f"{ch.where[0]}.ratios"].size
        w = arrays.get(f"channels[{ch.index}].weights")
        weights.append(np.ones(n) if w is None else w)
        blocks.append(slice(start, start + n))
        start += n
    n_events = start
    n_samples = sum(len(c.samples) for c in channels)
    ratios = np.zeros((n_samples, n_events))
    channel_sum = np.zeros((n_samples, len(channels)))
    pair_sample, pair_coef, shifts = [], [], []
    u = 0
    for c, (ch, events) in enumerate(zip(channels, blocks, strict=True)):
        for sample, where in zip(ch.samples, ch.where, strict=True):
            nominal = arrays[f"{where}.ratios"]
            ratios[u, events] = nominal
            channel_sum[u, c] = 1.0
            for k, mod in enumerate(sample["modifiers"]):
                if mod["type"] != "histosys":
                    continue
                j = histosys_columns[mod["name"]]
                hi = arrays[f"{where}.modifiers[{k}].data.hi_data"]
                lo = arrays[f"{where}.modifiers[{k}].data.lo_data"]
                for col, shift in ((j, hi - nominal), (n_hist + j, nominal - lo)):
                    row = np.zeros(n_events)
                    row[events] = shift
                    pair_sample.append(u)
                    pair_coef.append(col)
                    shifts.append(row)
            u += 1
    return UnbinnedTerm(ratios, IndexPlan(pair_sample, n_samples), IndexPlan(pair_coef, 2 * n_hist),
                        np.array(shifts).reshape(len(shifts), n_events), np.concatenate(weights),
                        channel_sum)
