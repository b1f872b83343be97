"""Coverage studies: does the Wilks region of ``k`` axes cover its confidence level?

Toys are drawn at one point ``at`` (the truth; the best fit to the observed
data by default) and fitted in batches (:mod:`.fits`); the fraction of toys
with ``q <= chi2.ppf(CL, k)`` is the region's coverage, and the
``CL``-quantile of ``q`` the toy-calibrated threshold.
:func:`iter_coverage_study` streams one :class:`~.results.CoverageBatch` per
batch of toys (stop iterating to cancel); :func:`coverage_study` collects them.
The toys depend only on ``rng`` (see :mod:`.data`), so the result is the same
whatever ``batch_size`` or ``executor``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ..dispatch import as_executor, map_ordered
from ..exceptions import ModelCoreError
from ..model import Model
from ..random import RngLike
from .data import ToyStream, resolve_point
from .fits import ToyFits, fit_toys
from .results import CoverageBatch, CoverageStudy
from .setup import BATCH_SIZE, IN_FLIGHT, check_count, check_inside_bounds, prepare

__all__ = ["coverage_study", "iter_coverage_study"]

Point = Mapping[str, float] | Sequence[float] | np.ndarray | None


class _Study:
    """One coverage study: its batches as a generator, and what they found so far."""

    def __init__(self, model: Model, at: Point, parameters: Sequence[str] | str | None,
                 fixed: Mapping[str, float] | None, confidence_levels: Sequence[float],
                 n_toys: int, rng: RngLike, executor: Any, batch_size: int,
                 unbinned: str) -> None:
        self.t0 = time.perf_counter()
        self.n_toys = check_count("n_toys", n_toys)
        self.batch_size = check_count("batch_size", batch_size)
        self.executor = as_executor(executor)
        self.s = prepare(model, parameters, fixed, confidence_levels, rng, unbinned)
        best = self.s.best
        if at is None and not best.success:
            raise ModelCoreError(f"the fit to the observed data failed ({best.message}), so "
                                 "there is no default truth point: pass at= explicitly")
        self.truth = resolve_point(model, at, self.s.fixed, best=best.x)
        check_inside_bounds(model, self.truth, self.s.bounds, "at")
        self.starts = self.s.starts_besides(self.truth)
        self.stream = ToyStream(model, self.truth, self.s.rng_toys, unbinned=unbinned)
        self.status = "complete"
        self._fits: list[ToyFits] = []
        self._covered = np.zeros(len(self.s.confidence_levels), int)
        self._n_failed = 0

    def _calls(self) -> Iterator[tuple[tuple, dict]]:
        s = self.s
        for start in range(0, self.n_toys, self.batch_size):
            data = self.stream.get(start, min(start + self.batch_size, self.n_toys))
            yield (s.model, data, self.truth, s.axes, s.fixed, s.bounds, self.starts), {}

    def batches(self) -> Iterator[CoverageBatch]:
        """Fit the toys batch by batch."""
        start = 0
        for fits in map_ordered(self.executor, fit_toys, self._calls(), window=IN_FLIGHT):
            self._fits.append(fits)
            ok = fits.success
            self._covered += np.sum(fits.q[ok][:, None] <= self.s.thresholds, axis=0)
            failed = start + np.flatnonzero(~ok)
            self._n_failed += failed.size
            n = len(fits.q)
            yield CoverageBatch(start, fits.q, failed, start + n, self.n_toys, self._n_failed,
                                self._covered.copy(), self.s.axis_names, self.truth,
                                self.s.confidence_levels, self.s.thresholds,
                                time.perf_counter() - self.t0)
            start += n

    def result(self) -> CoverageStudy:
        s = self.s
        q = np.concatenate([f.q for f in self._fits]) if self._fits else np.zeros(0)
        nll_min = np.concatenate([f.nll_min for f in self._fits]) if self._fits else np.zeros(0)
        ok = np.isfinite(q)
        n_ok = int(ok.sum())
        coverage = {cl: (float(np.sum(q[ok] <= t)) / n_ok if n_ok else float("nan"))
                    for cl, t in zip(s.confidence_levels, s.thresholds, strict=True)}
        return CoverageStudy(
            q=q, dof=s.dof, at=self.truth.copy(), parameters=s.axis_names,
            parameter_names=s.model.parameter_names, fixed=s.fixed_names,
            confidence_levels=s.confidence_levels, coverage=coverage,
            thresholds=s.thresholds.copy(), failed=np.flatnonzero(~ok), n_toys=self.n_toys,
            status=self.status, elapsed=time.perf_counter() - self.t0,
            seed_entropy=s.seed_entropy, nll_min=nll_min)


def iter_coverage_study(model: Model, at: Point = None, parameters: Sequence[str] | None = None,
                        fixed: Mapping[str, float] | None = None,
                        confidence_levels: Sequence[float] = (0.68, 0.95), n_toys: int = 1000,
                        rng: RngLike = None, executor: Any = None, *,
                        batch_size: int = BATCH_SIZE, unbinned: str = "refuse"
                        ) -> Iterator[CoverageBatch]:
    """Stream a coverage study: one :class:`~.results.CoverageBatch` per batch of toys.

    Same arguments as :func:`coverage_study` (without ``should_stop`` and
    ``on_batch``); stop iterating (or ``close()`` the generator) to cancel.
    """
    study = _Study(model, at, parameters, fixed, confidence_levels, n_toys, rng, executor,
                   batch_size, unbinned)
    yield from study.batches()


def coverage_study(model: Model, at: Point = None, parameters: Sequence[str] | None = None,
                   fixed: Mapping[str, float] | None = None,
                   confidence_levels: Sequence[float] = (0.68, 0.95), n_toys: int = 1000,
                   rng: RngLike = None, executor: Any = None,
                   should_stop: Callable[[], bool] | None = None,
                   on_batch: Callable[[CoverageBatch], Any] | None = None, *,
                   batch_size: int = BATCH_SIZE, unbinned: str = "refuse") -> CoverageStudy:
    """Coverage of the Wilks region, from pseudo-experiments drawn at ``at``.

    For every toy ``q_i = 2 (NLL_i(at_axes, others profiled) - NLL_i,min)``;
    Wilks' theorem says ``q ~ chi2_k``, so the region ``q <= chi2.ppf(CL, k)``
    should cover the truth in a fraction ``CL`` of the toys.

    Parameters
    ----------
    model
        The likelihood (a counting model or a HistFactory workspace).
    at
        The truth the toys are drawn at: a full vector, a mapping of some
        parameters (the others at their best fit with those held), or ``None``
        for the best fit to the observed data.
    parameters
        The region's ``k`` axes; default every parameter that is not fixed.
        Parameters neither fixed nor axes are profiled, as in :func:`find_contour`.
    fixed
        Parameters held fixed, by name (in the toys' fits and at the truth).
    confidence_levels
        Levels whose coverage is reported.
    n_toys
        Number of pseudo-experiments.
    rng
        Seed or generator; the same ``rng`` gives the same result whatever
        ``batch_size`` or ``executor``.
    executor
        ``concurrent.futures.Executor`` (threads, processes) or a Dask client.
    should_stop
        Polled after every batch; when it returns true the study stops and the
        result has ``status="cancelled"`` and the toys fitted so far.
    on_batch
        Called with every :class:`~.results.CoverageBatch` as it arrives.
    batch_size
        Toys per batched fit (one work unit).
    unbinned
        ``"refuse"`` or ``"resample"`` for unbinned channels (see :func:`sample_toys`).

    Returns
    -------
    CoverageStudy

    Examples
    --------
    >>> import model_core as mc
    >>> from model_core.examples import load_example
    >>> model = mc.build_model(load_example("two_bin_uncorrelated"))
    >>> study = mc.coverage_study(model, parameters=["mu"], n_toys=200, rng=1)
    >>> study.dof, len(study.q), study.n_failed
    (1, 200, 0)
    >>> 0.85 < study.coverage[0.95] <= 1.0
    True
    """
    study = _Study(model, at, parameters, fixed, confidence_levels, n_toys, rng, executor,
                   batch_size, unbinned)
    batches = study.batches()
    try:
        for batch in batches:
            if on_batch is not None:
                on_batch(batch)
            if should_stop is not None and should_stop():
                study.status = "cancelled"
                break
    finally:
        batches.close()
    return study.result()
