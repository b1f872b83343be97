"""Fitting a batch of toys at once: the test statistic ``q`` of every toy.

For toy ``i`` with data ``D_i`` and the tested point's axis values ``y``:

``q_i = 2 * (NLL_i(y, profiled) - NLL_i,min)``

where ``NLL_i,min`` minimises over every parameter that is not fixed and the
first term over the profiled ones only (neither fixed nor an axis).  All toys
are fitted together by the batched Newton solver (:mod:`model_core.inner`) on
a model holding one dataset per row (:meth:`model_core.model.Model.on_data`).

The global minimum of every toy is searched from several starts: the point
the toy was drawn at, and any extra starts (the separate minima of the
observed data); a converged point with negative curvature (a saddle) is left
along that direction on both sides and fitted again, as :func:`model_core.fit`
does.  The profiled fit starts from the better of the drawing point and the
unconditional minimum.  A conditional minimum below the unconditional one
replaces it (it is a point of the larger space).  A toy whose fits all fail
has ``success`` false and ``q`` NaN: it is reported, never dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..fit import _minimise_with_escapes
from ..model import Dataset, Model
from ..params import ReducedModel

__all__ = ["ToyFits", "fit_toys"]

#: Newton-decrement tolerance of the toy fits (NLL units): q to about 1e-10, far below
#: any statistical use (a tighter one costs another Newton iteration for every toy).
TOL = 1e-10
#: Newton iterations per fit.
MAX_ITER = 100


@dataclass(frozen=True, slots=True, eq=False)
class ToyFits:
    """Fits of a batch of toys (:func:`fit_toys`).

    Attributes
    ----------
    q : (B,) test statistic, NaN where ``success`` is false.
    nll_min, x_min : (B,), (B, npar) the unconditional minimum of every toy.
    nll_at, x_at : (B,), (B, npar) the minimum with the axes at the tested point.
    success : (B,) both fits converged.
    n_iterations : Newton iterations summed over every start of every toy.
    """

    q: np.ndarray
    nll_min: np.ndarray
    x_min: np.ndarray
    nll_at: np.ndarray
    x_at: np.ndarray
    success: np.ndarray
    n_iterations: int


def _best_of_starts(model: Model, data: Dataset, starts: np.ndarray, free: Sequence[int],
                    bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Minimise over ``free`` from ``starts (B, S, npar)``; the best converged start per toy."""
    n, n_start, npar = starts.shape
    flat = np.clip(starts.reshape(n * n_start, npar), bounds[:, 0], bounds[:, 1])
    if not len(free):
        toys = model.on_data(data)
        value = toys.nll(flat.reshape(n, n_start, npar)[:, 0])
        return flat[::n_start].copy(), value, np.isfinite(value), 0
    toys = model.on_data(data if n_start == 1 else data.take(np.repeat(np.arange(n), n_start)))
    reduced = ReducedModel(toys, free, flat, bounds[free])
    z, fun, ok, nit = _minimise_with_escapes(reduced, flat[:, free], MAX_ITER, TOL)
    fun = np.where(ok & np.isfinite(fun), fun, np.inf).reshape(n, n_start)
    pick = np.argmin(fun, axis=1)
    rows = np.arange(n) * n_start + pick
    x = flat[rows]
    x[:, free] = z[rows]
    value = fun[np.arange(n), pick]
    return x, value, np.isfinite(value), int(nit.sum())


def fit_toys(model: Model, data: Dataset, truth: np.ndarray, axes: Sequence[int],
             fixed: Mapping[int, float], bounds: np.ndarray,
             starts: np.ndarray | None = None) -> ToyFits:
    """Fit every toy of ``data`` twice and return its ``q``.

    Parameters
    ----------
    model
        The observed model (a :class:`~model_core.model.Model` that supports
        :meth:`~model_core.model.Model.on_data`).
    data
        ``B`` toys.
    truth
        ``(npar,)`` or ``(B, npar)``: the point each toy was drawn at; its axis
        values are the tested point, and it is the first start of every fit.
    axes
        Indices of the region's axes.
    fixed
        Fixed parameters, index to value.
    bounds
        ``(npar, 2)`` bounds of the fits.
    starts
        ``(S, npar)`` further starts of the unconditional fit (separate basins).

    Returns
    -------
    ToyFits
        ``q``, both minima and where they lie, and which toys' fits converged.

    Examples
    --------
    >>> import model_core as mc
    >>> from model_core.examples import load_example
    >>> model = mc.build_model(load_example("two_bin_uncorrelated"))
    >>> truth = mc.fit(model).x
    >>> toys = mc.sample_toys(model, truth, 4, rng=2)
    >>> fits = fit_toys(model, toys, truth, axes=[0], fixed={}, bounds=model.bounds)
    >>> fits.q.shape, bool(fits.success.all()), bool((fits.q >= 0).all())
    ((4,), True, True)
    """
    n, npar = len(data), model.npar
    truth = np.array(np.broadcast_to(np.asarray(truth, dtype=float), (n, npar)))
    extra = np.zeros((0, npar)) if starts is None else np.array(starts, dtype=float, ndmin=2)
    for i, v in fixed.items():
        truth[:, i] = v
        extra[:, i] = v
    free = [i for i in range(npar) if i not in fixed]
    pinned = set(axes) | set(fixed)
    profiled = [i for i in range(npar) if i not in pinned]
    first = np.concatenate([truth[:, None, :], np.broadcast_to(extra, (n,) + extra.shape)],
                           axis=1)
    x_min, nll_min, ok_min, nit = _best_of_starts(model, data, first, free, bounds)
    toys = model.on_data(data)
    if profiled:
        projected = x_min.copy()
        projected[:, list(pinned)] = truth[:, list(pinned)]
        closer = toys.nll(projected) < toys.nll(truth)
        start = np.where(closer[:, None], projected, truth)
        others = np.broadcast_to(extra, (n,) + extra.shape).copy()
        others[:, :, list(pinned)] = truth[:, None, list(pinned)]
        second = np.concatenate([start[:, None, :], others], axis=1)
        x_at, nll_at, ok_at, more = _best_of_starts(model, data, second, profiled, bounds)
        nit += more
    else:
        x_at = np.clip(truth, bounds[:, 0], bounds[:, 1])
        nll_at = toys.nll(x_at)
        ok_at = np.isfinite(nll_at)
    lower = ok_at & (nll_at < nll_min)
    nll_min = np.where(lower, nll_at, nll_min)
    x_min = np.where(lower[:, None], x_at, x_min)
    success = ok_min & ok_at
    q = np.where(success, np.maximum(2.0 * (nll_at - nll_min), 0.0), np.nan)
    return ToyFits(q, nll_min, x_min, nll_at, x_at, success, nit)
