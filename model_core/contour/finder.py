"""The contour finder: ``iter_contour`` streams batches of points, ``find_contour`` collects them.

Stages (DESIGN.md section 6), each yielding :class:`~.results.ContourBatch` objects:

``mle``
    Multi-start fit (:func:`model_core.fit`); every distinct minimum below ``T``
    anchors rays.  The Hessian (a Schur complement when profiling) at each
    minimum gives its whitening map; a flat direction at the best fit adds a
    warning and a valley walk (:mod:`.valley`) whose points anchor rays too.
``radial``
    ``n_radial`` rays, spread over the anchors, solved in batches
    (:mod:`.radial`).  Their points fix the scaled metric (each axis divided by
    the extent of the region found) in which points are kept evenly spaced
    (:mod:`.spacing`).
``gaps``
    ``n_gap_candidates`` more rays; the candidates farthest from every kept
    point seed the chains (:mod:`.gaps`).
``rattle``
    Constrained chains on ``NLL = T`` (:mod:`.rattle`), synchronised every
    ``sync_every`` steps to record new points, restart idle chains in gaps and
    stop once few steps find uncovered surface (:mod:`.chains`).
``gaps`` (again)
    The last small holes are filled by one-step RATTLE moves from every kept
    point, round after round, until no move lands in uncovered surface
    (:mod:`.fill`).

Every point is offered to an evenly spaced set (:mod:`.spacing`) in a fixed
order, so the result depends only on ``rng``, never on ``batch_size`` or the
executor.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ..fit import fit
from ..model import Model
from ..random import RngLike, as_generator
from ..stats import delta_chi2
from .anchors import Anchors, find_anchors
from .chains import ChainRunner
from .dispatch import as_executor, map_ordered, ray_unit
from .results import ContourBatch, ContourResult
from .settings import check_settings, merged_bounds, resolve_axes
from .spacing import SpacedPoints
from .surface import ContourSurface

__all__ = ["find_contour", "iter_contour"]


class _Run:
    """One contour search: the stages as a generator, and the points found so far."""

    def __init__(self, model: Model, confidence_level: float, parameters: Sequence[str] | None,
                 fixed: Mapping[str, float] | None,
                 bounds: Mapping[str, Sequence[float | None]] | None, rng: RngLike,
                 executor: Any, settings: Mapping[str, Any]) -> None:
        self.s = check_settings(settings)
        axes, fixed_idx = resolve_axes(model, parameters, fixed)
        self.surface = ContourSurface(model, axes, fixed_idx, merged_bounds(model, bounds))
        self.k = len(axes)
        self.confidence_level = float(confidence_level)
        self.delta = delta_chi2(confidence_level, self.k)
        self.executor = as_executor(executor)
        root = as_generator(rng)
        seq = getattr(root.bit_generator, "seed_seq", None)
        entropy = getattr(seq, "entropy", None)
        self.seed_entropy = int(entropy) if isinstance(entropy, (int, np.integer)) else None
        (self.rng_mle, self.rng_radial, self.rng_gaps, self.rng_rattle,
         self.rng_fill) = root.spawn(5)
        self.t0 = time.perf_counter()
        self.status, self.stage, self.end_message = "complete", "mle", ""
        self.warnings: list[str] = []
        self.notes: list[str] = []
        self.n_eval = 0
        self.theta_mle = np.full(self.k, np.nan)
        self.nll_min = self.threshold = float("nan")
        self.minima = np.zeros((0, self.k))
        self.scale: np.ndarray | None = None
        self.spaced: SpacedPoints | None = None
        self._parts: list[tuple[np.ndarray, ...]] = []

    # -- bookkeeping -------------------------------------------------------------------------
    def _batch(self, stage: str, Y: np.ndarray, P: np.ndarray, from_radial: bool,
               on_bound: np.ndarray, residual: np.ndarray, n_done: int, n_total: int,
               message: str = "") -> ContourBatch:
        self.stage = stage
        room = max(self.s["max_points"] - self.n_points, 0)
        Y, P, on_bound, residual = Y[:room], P[:room], on_bound[:room], residual[:room]
        full = self.surface.full(Y, P) if len(Y) else np.zeros((0, self.surface.model.npar))
        part = (Y, np.full(len(Y), from_radial), np.asarray(on_bound, bool), residual, full)
        self._parts.append(part)
        return ContourBatch(stage, Y, part[1], part[2], residual, int(n_done), int(n_total),
                            self.n_points, self.n_eval, self.surface.axis_names,
                            self.theta_mle.copy(), self.nll_min, self.threshold, message,
                            full_points=full, warnings=tuple(self.warnings))

    @property
    def n_points(self) -> int:
        return int(sum(len(p[0]) for p in self._parts))

    def _stacked(self, i: int, width: int | None) -> np.ndarray:
        parts = [p[i] for p in self._parts]
        if parts:
            return np.concatenate(parts)
        return np.zeros((0, width)) if width is not None else np.zeros(0)

    def _budget_left(self) -> bool:
        if self.n_points < self.s["max_points"]:
            return True
        self.status = "budget_exhausted"
        self.end_message = (f"stopped at max_points={self.s['max_points']} points; raise it (or "
                            "the spacing) for a complete surface")
        return False

    # -- stages -----------------------------------------------------------------------------
    def batches(self) -> Iterator[ContourBatch]:
        """The search, stage by stage."""
        anchors = yield from self._mle()
        if anchors is None:
            return
        rays = self._solve_rays(anchors, self.rng_radial, self.s["n_radial"], per_anchor_k1=True)
        yield from self._radial(anchors, rays)
        if self.k == 1 or not self._budget_left() or self.s["n_chains"] == 0:
            return
        runner = ChainRunner(self, anchors)
        yield from runner.stages()

    def _mle(self) -> Iterator[ContourBatch]:
        names = self.surface.model.parameter_names
        best = fit(self.surface.model,
                   fixed={names[i]: v for i, v in self.surface.fixed.items()},
                   bounds={n: tuple(b) for n, b in zip(names, self.surface.all_bounds,
                                                       strict=True)},
                   n_starts=self.s["n_starts"], rng=self.rng_mle)
        self.n_eval += best.nfev
        empty = np.zeros((0, self.k))
        if not (best.success and np.isfinite(best.fun)):
            self.status = "failed"
            self.end_message = f"the maximum-likelihood fit failed: {best.message}"
            yield self._batch("mle", empty, np.zeros((0, self.surface.m)), False, np.zeros(0),
                              np.zeros(0), 0, 0, self.end_message)
            return None
        self.nll_min = float(best.fun)
        self.threshold = self.nll_min + 0.5 * self.delta
        self.surface = self.surface.at_level(self.threshold)
        self.theta_mle = best.x[self.surface.axes].copy()
        anchors: Anchors = find_anchors(self.surface, best, delta=self.delta,
                                        n_anchors=self.s["n_anchors"],
                                        max_walk=self.s["max_walk"])
        self.n_eval += anchors.n_evaluations
        self.minima = anchors.minima
        self.warnings.extend(anchors.warnings)
        self.notes.extend(anchors.notes)
        message = "; ".join([f"NLL_min = {self.nll_min:.10g}, T = {self.threshold:.10g}",
                             *anchors.warnings])
        yield self._batch("mle", empty, np.zeros((0, self.surface.m)), False, np.zeros(0),
                          np.zeros(0), 1, 1, message)
        return anchors

    def _solve_rays(self, anchors: Anchors, rng: np.random.Generator, n_rays: int, *,
                    per_anchor_k1: bool = False) -> Any:
        """Rays from the anchors (round robin) in random whitened directions, solved in chunks."""
        n_anchor = len(anchors.points)
        if self.k == 1 and per_anchor_k1:
            owner = np.repeat(np.arange(n_anchor), 2)
            e = np.tile([[1.0], [-1.0]], (n_anchor, 1))
        else:
            owner = np.arange(n_rays) % n_anchor
            e = rng.standard_normal((n_rays, self.k))
            e /= np.linalg.norm(e, axis=1, keepdims=True)
        directions = np.einsum("rij,rj->ri", anchors.matrices[owner], e)
        origins, prof = anchors.points[owner], anchors.profiled[owner]
        size = self.s["batch_size"]
        calls = [((self.surface, origins[i:i + size], directions[i:i + size], prof[i:i + size],
                   float(np.sqrt(self.delta)), self.s["tol"]), {})
                 for i in range(0, len(owner), size)]
        results = list(map_ordered(self.executor, ray_unit, calls))
        self.n_eval += sum(r.n_evaluations for r in results)
        return results

    def _radial(self, anchors: Anchors, results: list) -> Iterator[ContourBatch]:
        ok = np.concatenate([r.ok for r in results])
        points = np.concatenate([r.points for r in results])
        unbounded = int(sum(r.unbounded.sum() for r in results))
        found = np.vstack([points[ok], anchors.points])
        lo, hi = found.min(axis=0), found.max(axis=0)
        extent = hi - lo
        fallback = extent.max() if extent.max() > 0 else 1.0
        self.scale = np.where(extent > 1e-9 * fallback, extent, fallback)
        spacing = 1e-7 if self.k == 1 else self.s["spacing"]
        self.spaced = SpacedPoints(lo, self.scale, spacing)
        if unbounded:
            open_axes = [n for n, b in zip(self.surface.axis_names, self.surface.bounds,
                                           strict=True) if not np.all(np.isfinite(b))]
            self.warnings.append(
                f"{unbounded} of {len(ok)} rays crossed neither NLL = T nor a bound: the region "
                f"looks unbounded; set bounds on {', '.join(open_axes) or 'the axes'}")
        n_total, n_done = len(ok), 0
        for r in results:
            n_done += len(r.ok)
            Y = r.points[r.ok]
            keep = self.spaced.offer(Y)
            yield self._batch("radial", Y[keep], r.profiled[r.ok][keep], True,
                              r.on_bound[r.ok][keep], r.residual[r.ok][keep], n_done, n_total,
                              self.warnings[-1] if unbounded and n_done == n_total else "")
            if not self._budget_left():
                return

    # -- result ------------------------------------------------------------------------------
    def cancel(self) -> None:
        self.status = "cancelled"
        self.end_message = f"cancelled during the {self.stage} stage"

    def result(self) -> ContourResult:
        points = self._stacked(0, self.k)
        full = self._stacked(4, self.surface.model.npar)
        end = self.end_message or f"{len(points)} points"
        message = "; ".join([end, *self.warnings, *self.notes])
        return ContourResult(
            theta_mle=self.theta_mle, nll_min=self.nll_min, threshold=self.threshold,
            delta=self.delta, contour_points=points,
            from_radial=self._stacked(1, None).astype(bool),
            parameter_names=self.surface.axis_names, confidence_level=self.confidence_level,
            dof=self.k, residuals=self._stacked(3, None),
            on_bound=self._stacked(2, None).astype(bool), full_points=full, stage=self.stage,
            status=self.status, message=message, warnings=tuple(self.warnings),
            n_evaluations=int(self.n_eval), elapsed=time.perf_counter() - self.t0,
            minima=self.minima, seed_entropy=self.seed_entropy,
            settings={**self.s, "fixed": {self.surface.model.parameter_names[i]: v
                                          for i, v in self.surface.fixed.items()},
                      "profiled": list(self.surface.profiled_names),
                      "all_parameters": list(self.surface.model.parameter_names),
                      "bounds": {n: tuple(float(v) for v in b) for n, b in
                                 zip(self.surface.axis_names, self.surface.bounds, strict=True)}},
            scale=None if self.scale is None else self.scale.copy())


def iter_contour(model: Model, *, confidence_level: float = 0.95,
                 parameters: Sequence[str] | None = None, fixed: Mapping[str, float] | None = None,
                 bounds: Mapping[str, Sequence[float | None]] | None = None, rng: RngLike = None,
                 executor: Any = None, **settings: Any) -> Iterator[ContourBatch]:
    """Stream the points of the confidence contour ``NLL = T`` as they are found.

    Same arguments as :func:`find_contour` (without ``should_stop`` and
    ``on_batch``).  Yields first an ``"mle"`` batch without points (it fixes
    ``theta_mle``, ``nll_min`` and ``threshold``), then ``"radial"``, ``"gaps"``
    and ``"rattle"`` batches that carry only new points.  Stop iterating (or
    ``close()`` the generator) to cancel.
    """
    run = _Run(model, confidence_level, parameters, fixed, bounds, rng, executor, settings)
    yield from run.batches()


def find_contour(model: Model, confidence_level: float = 0.95,
                 parameters: Sequence[str] | None = None, fixed: Mapping[str, float] | None = None,
                 bounds: Mapping[str, Sequence[float | None]] | None = None, rng: RngLike = None,
                 should_stop: Callable[[], bool] | None = None,
                 on_batch: Callable[[ContourBatch], Any] | None = None, executor: Any = None,
                 **settings: Any) -> ContourResult:
    """Points on the boundary ``NLL = NLL_min + chi2.ppf(CL, k) / 2`` of the confidence region.

    Parameters
    ----------
    model
        The likelihood.
    confidence_level
        Confidence level of the region (0.95 for 95%).
    parameters
        The ``k`` contour axes by name; default every parameter that is not fixed.
        Parameters that are neither fixed nor axes are profiled (re-fitted at every point).
    fixed
        Parameter values to hold fixed, by name (added to the model's own fixed ones).
    bounds
        ``{name: (low, high)}`` replacing the model's bounds (``None`` for no bound).
    rng
        Seed or generator; the same ``rng`` gives the same points whatever the
        ``batch_size`` or ``executor``.
    should_stop
        Polled between batches; when it returns true the search stops and the
        result has ``status="cancelled"``.
    on_batch
        Called with every :class:`~.results.ContourBatch` as it arrives.
    executor
        ``concurrent.futures.Executor`` (threads, processes) or a Dask client,
        to run batches of rays and chains.
    **settings
        See :data:`model_core.contour.settings.DEFAULTS`: ``n_radial``, ``n_chains``,
        ``n_steps``, ``step_size``, ``n_gap_candidates``, ``tol``, ``batch_size``,
        ``n_starts``, ``max_points``, ``spacing``, ...

    Returns
    -------
    ContourResult
        Every point with ``on_bound`` false satisfies ``|NLL - T| <= tol``; points
        with ``on_bound`` true lie on a parameter bound inside the region.
    """
    run = _Run(model, confidence_level, parameters, fixed, bounds, rng, executor, settings)
    batches = run.batches()
    try:
        for batch in batches:
            if on_batch is not None:
                on_batch(batch)
            if should_stop is not None and should_stop():
                run.cancel()
                break
    finally:
        batches.close()
    return run.result()
