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
from .sparse import PLAIN, ArrayOps, IndexPlan

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
    event_channel, channel_names
        ``(N,)``: the unbinned channel (of ``C``) of every event; the channels' names.
    """

    ratios: np.ndarray
    pair_sample: IndexPlan
    pair_coef: IndexPlan
    shifts: np.ndarray
    weights: np.ndarray
    channel_sum: np.ndarray
    event_channel: np.ndarray
    channel_names: tuple[str, ...]

    def _density(self, nu, coefs, ops: ArrayOps):
        density = ops.np.einsum("...s,se->...e", nu, self.ratios)  # row-wise exact (no BLAS)
        if len(self.pair_sample):
            pairs = ops.gather(nu, self.pair_sample) * ops.gather(coefs, self.pair_coef)
            density = density + ops.np.einsum("...p,pe->...e", pairs, self.shifts)
        return density

    def value(self, nu, coefs, ops: ArrayOps, weights=None):
        """The extended terms for yields ``nu (..., U)`` and histosys coefficients ``(..., 2J)``.

        ``weights`` (broadcasting against ``(..., N)``) replaces the events' weights,
        e.g. by the multiplicities of resampled events.
        """
        xp = ops.np
        weights = self.weights if weights is None else weights
        density = self._density(nu, coefs, ops)
        positive = density > 0
        log_density = xp.log(xp.where(positive, density, 1.0))
        impossible = xp.any(~positive & (weights != 0), axis=-1)
        value = xp.sum(nu, axis=-1) - xp.sum(weights * log_density, axis=-1)
        return xp.where(impossible, np.inf, value)

    def gradient(self, nu, coefs, ops: ArrayOps, weights=None):
        """``(d/d nu, d/d coefs)`` of :meth:`value`; the second is ``None`` without ratio shifts."""
        xp = ops.np
        weights = self.weights if weights is None else weights
        density = self._density(nu, coefs, ops)
        scale = xp.where(density > 0, weights / xp.where(density > 0, density, 1.0),
                         xp.where(weights != 0, np.nan, 0.0))
        d_nu = 1.0 - xp.einsum("...e,se->...s", scale, self.ratios)
        if not len(self.pair_sample):
            return d_nu, None
        along = xp.einsum("...e,pe->...p", scale, self.shifts)
        d_nu = d_nu - ops.scatter(along * ops.gather(coefs, self.pair_coef), self.pair_sample)
        d_coefs = -ops.scatter(along * ops.gather(nu, self.pair_sample), self.pair_coef)
        return d_nu, d_coefs

    def resample(self, nu: np.ndarray, coefs: np.ndarray | None, n: int,
                 rng: np.random.Generator) -> np.ndarray:
        """Multiplicities ``(n, N)`` of the events in ``n`` pseudo-datasets at yields ``nu (U,)``.

        Each channel's events are drawn from its own events, with probabilities
        proportional to their weight times the model's density ratio, in a number
        that is Poisson with the channel's expected total: multiplicities
        ``~ Poisson(nu_channel * p_event)``, independently.
        """
        density = self._density(nu, coefs, PLAIN) * self.weights
        totals = nu @ self.channel_sum
        mass = np.bincount(self.event_channel, density, minlength=len(totals))
        bad = np.flatnonzero(~(mass > 0) & (totals > 0))
        if bad.size:
            raise ValueError(f"unbinned channel {self.channel_names[bad[0]]!r}: the model gives "
                             "its events no weight at this point, so none can be drawn")
        rate = totals[self.event_channel] * density / np.where(mass > 0, mass, 1.0)[
            self.event_channel]
        return rng.poisson(np.maximum(rate, 0.0), size=(n, rate.size)).astype(float)


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
    event_channel = np.concatenate([np.full(b.stop - b.start, c, dtype=np.intp)
                                    for c, b in enumerate(blocks)])
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
                        channel_sum, event_channel, tuple(c.name for c in channels))
