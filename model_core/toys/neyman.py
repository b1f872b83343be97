"""Toy-calibrated confidence regions: a Neyman construction on a 2-D grid.

At every grid point ``(x, y)`` of two axes, the other parameters take their
best-fit values to the observed data with the axes held there (the profile
construction), toys are drawn at that full point and fitted (:mod:`.fits`),
and their ``q`` give the distribution of the test statistic there.  The
observed data's ``q(x, y) = 2 (NLL(x, y, profiled) - NLL_min)`` is compared
with it: the p-value ``P(q >= q_observed)`` and the toy-calibrated threshold
(the ``CL``-quantile of the toys' ``q``).  The calibrated region at ``CL`` is
where the p-value exceeds ``1 - CL``; Wilks' region is where
``q_observed <= chi2.ppf(CL, 2)``.

:func:`iter_calibrated_grid` streams one :class:`~.results.CalibratedRow` per
row of ``ys``; :func:`calibrated_grid` collects them.  Every grid point has its
own random stream, spawned in grid order, so the result does not depend on
``batch_size`` or ``executor``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ..dispatch import as_executor, map_ordered
from ..exceptions import ModelCoreError
from ..grid import nll_grid
from ..model import Dataset, Model
from ..random import RngLike
from .data import ToyStream
from .fits import fit_toys
from .results import CalibratedGrid, CalibratedRow, toy_quantile
from .setup import BATCH_SIZE, IN_FLIGHT, check_count, check_inside_bounds, prepare

__all__ = ["calibrated_grid", "iter_calibrated_grid"]

#: q values closer than this count as equal in p-values (fits give q to ~1e-11;
#: at a parameter bound many toys and the observed data have q = 0 exactly).
Q_TIE = 1e-8


def _values(label: str, values: Sequence[float] | np.ndarray) -> np.ndarray:
    out = np.asarray(values, dtype=float)
    if out.ndim != 1 or out.size == 0 or not np.all(np.isfinite(out)):
        raise ValueError(f"{label} must be a non-empty 1-D array of finite values")
    return out


def _row_unit(row: int, last: bool, model: Model, data: Dataset, truth: np.ndarray,
              axes: Sequence[int], fixed: Mapping[int, float], bounds: np.ndarray,
              starts: np.ndarray) -> tuple[int, bool, np.ndarray]:
    """Fit one chunk of a row's toys (a work unit); returns ``(row, last, q)``."""
    if not len(data):
        return row, last, np.zeros(0)
    return row, last, fit_toys(model, data, truth, axes, fixed, bounds, starts).q


class _Grid:
    """One Neyman construction: rows as a generator, and the arrays filled so far."""

    def __init__(self, model: Model, parameters: tuple[str, str], xs: Any, ys: Any,
                 n_toys: int, confidence_levels: Sequence[float],
                 fixed: Mapping[str, float] | None, rng: RngLike, executor: Any,
                 batch_size: int, unbinned: str) -> None:
        self.t0 = time.perf_counter()
        if isinstance(parameters, str) or len(parameters) != 2:
            raise ValueError(f"parameters must be two names (px, py), got {parameters!r}")
        self.n_toys = check_count("n_toys", n_toys)
        self.batch_size = check_count("batch_size", batch_size)
        self.xs, self.ys = _values("xs", xs), _values("ys", ys)
        self.executor = as_executor(executor)
        self.s = s = prepare(model, list(parameters), fixed, confidence_levels, rng, unbinned)
        for label, values, i in (("xs", self.xs, s.axes[0]), ("ys", self.ys, s.axes[1])):
            lo, hi = s.bounds[i]
            if values.min() < lo or values.max() > hi:
                raise ValueError(f"{label} must lie within the bounds of "
                                 f"{model.parameter_names[i]}, [{lo:g}, {hi:g}]")
        if not s.best.success:
            raise ModelCoreError(f"the fit to the observed data failed ({s.best.message}); "
                                 "fix parameters or change bounds until it converges")
        observed = nll_grid(model, s.axis_names, self.xs, self.ys, fixed=s.fixed_names,
                            mode="profile", at=s.best.x)
        finite = observed.success & np.isfinite(observed.nll)
        self.nll_min = float(min(s.best.fun, np.min(observed.nll[finite], initial=np.inf)))
        self.theta_mle = s.best.x.copy()
        self.q_observed = np.where(finite, np.maximum(2.0 * (observed.nll - self.nll_min), 0.0),
                                   np.nan)
        self.truth = observed.x
        self.ok = finite
        shape = self.q_observed.shape
        n_cl = len(s.confidence_levels)
        self.p_value = np.full(shape, np.nan)
        self.thresholds = np.full(shape + (n_cl,), np.nan)
        self.n_failed = np.zeros(shape, int)
        self.rows_done = 0
        self.status = "complete"
        self.unbinned = unbinned

    def _row_data(self, j: int) -> tuple[Dataset, np.ndarray]:
        """The toys of every point of row ``j`` (one stream per point, spawned in grid order)."""
        parts, truths = [], []
        for i in range(len(self.xs)):
            generator = self.s.rng_toys.spawn(1)[0]
            if not self.ok[j, i]:
                continue
            truth = self.truth[j, i]
            check_inside_bounds(self.s.model, truth, self.s.bounds, f"grid point ({i}, {j})")
            parts.append(ToyStream(self.s.model, truth, generator,
                                   unbinned=self.unbinned).get(0, self.n_toys))
            truths.append(np.tile(truth, (self.n_toys, 1)))
        if not parts:
            npar = self.s.model.npar
            return Dataset(np.zeros((0, 0)), np.zeros((0, 0))), np.zeros((0, npar))
        events = None if parts[0].events is None else np.concatenate([p.events for p in parts])
        data = Dataset(np.concatenate([p.main for p in parts]),
                       np.concatenate([p.aux for p in parts]), events)
        return data, np.concatenate(truths)

    def _calls(self) -> Iterator[tuple[tuple, dict]]:
        s = self.s
        for j in range(len(self.ys)):
            data, truths = self._row_data(j)
            lows = list(range(0, len(data), self.batch_size)) or [0]
            for k, lo in enumerate(lows):
                hi = lo + self.batch_size
                yield (j, k == len(lows) - 1, s.model, data.take(slice(lo, hi)), truths[lo:hi],
                       s.axes, s.fixed, s.bounds, s.basins), {}

    def rows(self) -> Iterator[CalibratedRow]:
        """Compute the grid row by row."""
        collected: list[np.ndarray] = []
        for j, last, q in map_ordered(self.executor, _row_unit, self._calls(), window=IN_FLIGHT):
            collected.append(q)
            if last:
                yield self._finish_row(j, np.concatenate(collected))
                collected = []

    def _finish_row(self, j: int, q: np.ndarray) -> CalibratedRow:
        points = np.flatnonzero(self.ok[j])
        q = q.reshape(len(points), self.n_toys)
        for i, qi in zip(points, q, strict=True):
            good = qi[np.isfinite(qi)]
            self.n_failed[j, i] = self.n_toys - good.size
            if good.size:
                self.p_value[j, i] = np.mean(good >= self.q_observed[j, i] - Q_TIE)
                self.thresholds[j, i] = [toy_quantile(good, cl)
                                         for cl in self.s.confidence_levels]
        self.rows_done += 1
        return CalibratedRow(j, float(self.ys[j]), self.xs, self.q_observed[j],
                             self.p_value[j].copy(), self.thresholds[j].copy(),
                             self.n_failed[j].copy(), self.rows_done, len(self.ys),
                             time.perf_counter() - self.t0)

    def result(self) -> CalibratedGrid:
        s = self.s
        return CalibratedGrid(
            parameters=s.axis_names, xs=self.xs, ys=self.ys,
            confidence_levels=s.confidence_levels, q_observed=self.q_observed,
            p_value=self.p_value, thresholds=self.thresholds,
            wilks_thresholds=s.thresholds.copy(), truth=self.truth, n_toys=self.n_toys,
            n_failed=self.n_failed, rows_done=self.rows_done, status=self.status,
            theta_mle=self.theta_mle, nll_min=self.nll_min, fixed=s.fixed_names,
            elapsed=time.perf_counter() - self.t0, seed_entropy=s.seed_entropy)


def iter_calibrated_grid(model: Model, parameters: tuple[str, str],
                         xs: Sequence[float] | np.ndarray, ys: Sequence[float] | np.ndarray, *,
                         n_toys: int = 200, confidence_levels: Sequence[float] = (0.68, 0.95),
                         fixed: Mapping[str, float] | None = None, rng: RngLike = None,
                         executor: Any = None, batch_size: int = BATCH_SIZE,
                         unbinned: str = "refuse") -> Iterator[CalibratedRow]:
    """Stream a Neyman construction: one :class:`~.results.CalibratedRow` per value of ``ys``.

    Same arguments as :func:`calibrated_grid` (without ``should_stop`` and
    ``on_batch``); stop iterating (or ``close()`` the generator) to cancel.
    """
    grid = _Grid(model, parameters, xs, ys, n_toys, confidence_levels, fixed, rng, executor,
                 batch_size, unbinned)
    yield from grid.rows()


def calibrated_grid(model: Model, parameters: tuple[str, str],
                    xs: Sequence[float] | np.ndarray, ys: Sequence[float] | np.ndarray, *,
                    n_toys: int = 200, confidence_levels: Sequence[float] = (0.68, 0.95),
                    fixed: Mapping[str, float] | None = None, rng: RngLike = None,
                    executor: Any = None, should_stop: Callable[[], bool] | None = None,
                    on_batch: Callable[[CalibratedRow], Any] | None = None,
                    batch_size: int = BATCH_SIZE, unbinned: str = "refuse") -> CalibratedGrid:
    """Toy-calibrated confidence regions over ``(px, py)`` on the grid ``ys x xs``.

    Parameters
    ----------
    model
        The likelihood.
    parameters
        The two axes ``(px, py)``; every other parameter not fixed is profiled.
    xs, ys
        Grid values of ``px`` and ``py`` (inside their bounds).
    n_toys
        Toys per grid point.
    confidence_levels
        Levels of the calibrated thresholds.
    fixed
        Parameters held fixed, by name.
    rng
        Seed or generator; the same ``rng`` gives the same grid whatever
        ``batch_size`` or ``executor``.
    executor
        ``concurrent.futures.Executor`` or a Dask client.
    should_stop
        Polled after every row; when true the construction stops
        (``status="cancelled"``, rows not computed are NaN).
    on_batch
        Called with every finished :class:`~.results.CalibratedRow`.
    batch_size
        Toys per batched fit (one work unit).
    unbinned
        ``"refuse"`` or ``"resample"`` for unbinned channels (see :func:`sample_toys`).

    Returns
    -------
    CalibratedGrid
        ``inside(cl)`` is the toy-calibrated region, ``wilks_inside(cl)`` Wilks' one.
    """
    grid = _Grid(model, parameters, xs, ys, n_toys, confidence_levels, fixed, rng, executor,
                 batch_size, unbinned)
    rows = grid.rows()
    try:
        for row in rows:
            if on_batch is not None:
                on_batch(row)
            if should_stop is not None and should_stop():
                grid.status = "cancelled"
                break
    finally:
        rows.close()
    return grid.result()
