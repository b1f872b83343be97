"""HistFactory likelihoods of pyhf workspaces, vectorised over channels, samples and bins.

The model is pyhf 0.7.6's, constants included, so ``-model.nll(x)`` equals
``pyhf_model.logpdf(x, workspace.data(pyhf_model))``:

``-log L = sum_bins -log Pois(n | lambda) - sum_normal log N(aux | x, sigma)
- sum_poisson log Pois(tau | gamma tau)``

with ``lambda = sum_samples (nominal + histosys shifts) * normfactors * shapefactors
* lumi * normsys * shapesys * staterror`` (see :mod:`.interpolation` for the
codes).  Unbinned channels (see :mod:`.unbinned`) add their extended terms.

Everything is laid out once, here, as constant index plans and arrays over all
"entries" (one per sample and bin of every binned channel, one per sample of
every unbinned channel), so one evaluation is a fixed handful of array
operations whatever the number of channels (:mod:`.histfactory_nll`):

- linear factors (normfactor, shapefactor, lumi, shapesys, staterror): each
  entry's parameters are gathered into a few slots and multiplied;
- normsys: the log-factors of all (modifier, sample) applications are summed
  per entry and exponentiated;
- histosys: the interpolation coefficients of all histosys parameters times
  the up/down shifts of the (parameter, entry) pairs, summed per entry;
- constraints: one weighted sum of squares (Gaussian) and one Poisson sum.

Rates that are negative, or zero where events were observed, give ``+inf``
(pyhf gives NaN); a bin with zero rate and no events contributes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy.special import gammaln

from ..model import Model
from ..workspace.layout import Layout
from ..workspace.spec import WorkspaceSpec, resolve_modifier_settings, validate_modifier_settings
from .histfactory_nll import HistFactoryNLL
from .interpolation import code4_coefficients
from .sparse import IndexPlan
from .unbinned import UnbinnedTerm, build_unbinned_term

__all__ = ["Tensors", "build_histfactory_model", "build_tensors"]

_LOG_2PI = float(np.log(2.0 * np.pi))


def build_histfactory_model(spec: WorkspaceSpec,
                            modifier_settings: Mapping[str, Mapping[str, str]] | None = None
                            ) -> Model:
    """Build the :class:`~model_core.model.Model` of a workspace spec.

    ``modifier_settings`` (pyhf's form, e.g. ``{"normsys": {"interpcode": "code1"}}``)
    replaces the spec's own and is stored in the model's spec, so the model
    pickles with it.
    """
    if modifier_settings is not None:
        spec = replace(spec, modifier_settings=validate_modifier_settings(modifier_settings))
    likelihood = HistFactoryNLL(build_tensors(spec))
    layout = spec.layout
    init, bounds, fixed = layout.inits.copy(), layout.bounds.copy(), layout.fixed.copy()
    for name, override in spec.parameters.items():
        i = layout.names.index(name)
        if override.bounds is not None:
            bounds[i] = override.bounds
        if override.init is not None:
            init[i] = override.init
        fixed[i] = fixed[i] or override.fixed
    return Model(likelihood, layout.names, init, bounds, fixed=fixed,
                 poi_index=layout.poi_index, expected_fn=likelihood.expected, name=spec.name,
                 spec=spec)


@dataclass(frozen=True)
class Tensors:
    """Constant tensors of one workspace likelihood (see :mod:`.histfactory_nll` for notation)."""

    n_entries: int
    n_bins: int
    nominal: np.ndarray
    entry_target: IndexPlan          # entry -> binned bin, or n_bins + unbinned sample
    counts: np.ndarray
    count_lgf: np.ndarray
    histosys_code: str
    n_hist: int
    hist_param: IndexPlan            # J histosys parameters
    pair_col: IndexPlan              # (parameter, entry) shift pairs -> coefficient in 2J
    pair_entry: IndexPlan
    pair_shift: np.ndarray
    n_slots: int
    slot_param: IndexPlan            # linear factors: parameter of each used slot position
    slot_pos: IndexPlan              # ... and its position in the (n_slots * E) slot array
    slot_pad: np.ndarray             # 1 at unused slot positions
    normsys_code: str
    norm_param: IndexPlan            # A normsys applications
    norm_app: IndexPlan              # (application, entry) pairs
    norm_entry: IndexPlan
    norm_log_lo: np.ndarray
    norm_log_hi: np.ndarray
    norm_coefficients: np.ndarray
    has_gauss: bool
    weight: np.ndarray
    centre: np.ndarray
    gauss_constant: float
    pois_param: IndexPlan
    pois_tau: np.ndarray
    pois_aux: np.ndarray
    pois_lgf: np.ndarray
    aux_param: np.ndarray            # auxiliary measurements (pyhf's auxdata order): parameter,
    aux_poisson: np.ndarray          # ... Poisson (shapesys) or Gaussian constraint,
    aux_scale: np.ndarray            # ... tau (Poisson) or sigma (Gaussian),
    auxdata: np.ndarray              # ... and observed value
    unbinned: UnbinnedTerm | None


def build_tensors(spec: WorkspaceSpec) -> Tensors:
    """Lay out the constant tensors of ``spec``'s likelihood."""
    codes = resolve_modifier_settings(spec.modifier_settings)
    layout = spec.layout
    npar = len(layout.names)
    sets = layout.sets
    stat_pos = {n: {g: k for k, g in enumerate(bins)} for n, bins in layout.staterror_bins.items()}
    hist_names = [n for n, s in sets.items() if "histosys" in s.types]
    hist_col = {n: j for j, n in enumerate(hist_names)}
    n_hist = len(hist_names)
    nominal: list[float] = []
    target: list[int] = []
    slots: list[list[int]] = []
    norm: list[tuple[int, float, float, list[int]]] = []
    pairs: list[tuple[int, int, float]] = []        # (coefficient column, entry, shift)
    n_unbinned = 0
    for ch in layout.channels:
        for sample in ch.samples:
            first = len(nominal)
            if ch.unbinned:
                nominal.append(float(sample["yield"]))
                target.append(layout.n_bins + n_unbinned)
                n_unbinned += 1
            else:
                nominal.extend(map(float, sample["data"]))
                target.extend(range(ch.offset, ch.offset + ch.n_bins))
            entries = range(first, len(nominal))
            slots.extend([] for _ in entries)
            for mod in sample["modifiers"]:
                mtype, pset = mod["type"], sets[mod["name"]]
                if mtype == "normsys":
                    norm.append((pset.start, mod["data"]["lo"], mod["data"]["hi"], list(entries)))
                elif mtype == "histosys" and not ch.unbinned:
                    j = hist_col[mod["name"]]
                    for b, e in enumerate(entries):
                        pairs.append((j, e, mod["data"]["hi_data"][b] - nominal[e]))
                        pairs.append((n_hist + j, e, nominal[e] - mod["data"]["lo_data"][b]))
                elif mtype in ("normfactor", "lumi"):
                    for e in entries:
                        slots[e].append(pset.start)
                elif mtype in ("shapefactor", "shapesys"):
                    for b, e in enumerate(entries):
                        slots[e].append(pset.start + b)
                elif mtype == "staterror":
                    for b, e in enumerate(entries):
                        slots[e].append(pset.start + stat_pos[mod["name"]][ch.offset + b])
    n_entries = len(nominal)
    n_slots = max(map(len, slots), default=0)
    slot_param, slot_pos = [], []
    slot_pad = np.ones(n_slots * n_entries)
    for e, params in enumerate(slots):
        for k, p in enumerate(params):
            slot_param.append(p)
            slot_pos.append(k * n_entries + e)
            slot_pad[k * n_entries + e] = 0.0
    lo = np.array([a[1] for a in norm], dtype=float)
    hi = np.array([a[2] for a in norm], dtype=float)
    norm_pairs = [(a, e) for a, app in enumerate(norm) for e in app[3]]
    counts = spec.data(include_auxdata=False)
    gauss = _gaussian_constraints(layout)
    pois = _poisson_constraints(layout)
    return Tensors(
        n_entries=n_entries, n_bins=layout.n_bins, nominal=np.array(nominal),
        entry_target=IndexPlan(target, layout.n_bins + n_unbinned),
        counts=counts, count_lgf=gammaln(counts + 1.0),
        histosys_code=codes["histosys"], n_hist=n_hist,
        hist_param=IndexPlan([sets[n].start for n in hist_names], npar),
        pair_col=IndexPlan([p[0] for p in pairs], 2 * n_hist),
        pair_entry=IndexPlan([p[1] for p in pairs], n_entries),
        pair_shift=np.array([p[2] for p in pairs], dtype=float),
        n_slots=n_slots, slot_param=IndexPlan(slot_param, npar),
        slot_pos=IndexPlan(slot_pos, n_slots * n_entries), slot_pad=slot_pad,
        normsys_code=codes["normsys"], norm_param=IndexPlan([a[0] for a in norm], npar),
        norm_app=IndexPlan([p[0] for p in norm_pairs], len(norm)),
        norm_entry=IndexPlan([p[1] for p in norm_pairs], n_entries),
        norm_log_lo=np.log(lo), norm_log_hi=np.log(hi),
        norm_coefficients=code4_coefficients(lo, hi).reshape(len(norm), 6),
        **gauss, **pois, **_auxiliary_plan(layout),
        unbinned=build_unbinned_term(layout, spec.arrays, hist_col),
    )


def _gaussian_constraints(layout: Layout) -> dict[str, Any]:
    """``-log N(aux | x, sigma)`` as weights and centres over the full vector, plus constants."""
    npar = len(layout.names)
    weight, centre = np.zeros(npar), np.zeros(npar)
    constant = 0.0
    for pset in layout.sets.values():
        if pset.constraint == "normal":
            idx = list(pset.indices)
            sigma = np.array(pset.sigmas or (1.0,) * pset.n)
            weight[idx] = 1.0 / sigma**2
            centre[idx] = pset.auxdata
            constant += float(np.sum(np.log(sigma)) + 0.5 * pset.n * _LOG_2PI)
    return dict(has_gauss=bool(np.any(weight)), weight=weight, centre=centre,
                gauss_constant=constant)


def _auxiliary_plan(layout: Layout) -> dict[str, Any]:
    """Every auxiliary measurement in pyhf's ``auxdata`` order: parameter, kind, width, value."""
    param: list[int] = []
    poisson: list[bool] = []
    scale: list[float] = []
    for pset in layout.sets.values():
        if pset.constraint == "poisson":
            scale.extend(pset.factors)
        elif pset.constraint == "normal":
            scale.extend(pset.sigmas or (1.0,) * pset.n)
        else:
            continue
        param.extend(pset.indices)
        poisson.extend([pset.constraint == "poisson"] * pset.n)
    return dict(aux_param=np.array(param, dtype=np.intp), aux_poisson=np.array(poisson, bool),
                aux_scale=np.array(scale, dtype=float), auxdata=layout.auxdata.astype(float))


def _poisson_constraints(layout: Layout) -> dict[str, Any]:
    """``-log Pois(aux | gamma * factor)`` per Poisson-constrained component (shapesys)."""
    idx: list[int] = []
    tau: list[float] = []
    aux: list[float] = []
    for pset in layout.sets.values():
        if pset.constraint == "poisson":
            idx.extend(pset.indices)
            tau.extend(pset.factors)
            aux.extend(pset.auxdata)
    aux_arr = np.array(aux, dtype=float)
    return dict(pois_param=IndexPlan(idx, len(layout.names)), pois_tau=np.array(tau, dtype=float),
                pois_aux=aux_arr, pois_lgf=gammaln(aux_arr + 1.0))
