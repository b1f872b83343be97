"""The contour finder: ``iter_contour`` streams batches of points, ``find_contour`` collects them.

A search is an explicit :class:`~.run.ContourRun` (surface, settings, random
streams, points, budget, counters) passed through plain generator functions,
one per stage, each yielding :class:`~.results.ContourBatch` objects under its
own :data:`~.results.Stage` name:

``mle``
    Multi-start fit with starts spread over the parameter box; every distinct
    minimum inside the region anchors rays, with its own whitening map; a flat
    direction at the best fit adds a warning and a valley walk whose points
    anchor rays too (:mod:`.stages`, :mod:`.anchors`).
``explore``
    A search for separate parts of the region (islands): a scrambled Sobol
    scan of the box (the bounds, or far beyond the region found along open
    axes), descents from the scan points farthest from everything found; every
    new minimum inside the region anchors its own rays (:mod:`.explore`).
``radial``
    The rays' points, offered to the evenly spaced set once the metric is
    fixed from the whole region found (each axis divided by its extent).
``gaps``
    More rays; the crossings farthest from every kept point seed the chains
    (:mod:`.chains`).
``rattle``
    Constrained chains on ``NLL = T``, synchronised every ``sync_every``
    steps to record new points, restart idle chains in gaps, re-scale the
    metric when the region turns out larger, and stop once few steps find
    uncovered surface (:mod:`.chains`).
``fill``
    The last small holes, filled by one-step RATTLE moves from every kept
    point, round after round (:mod:`.fill`).
``faces``
    Where the region meets a parameter bound, the face (bound points with
    ``NLL <= T``) and its edge, sampled as evenly as the surface (:mod:`.faces`).
``done``
    The last batch: no points, the finished :class:`~.results.ContourResult`.

Every point is offered to the evenly spaced set in a fixed order, so the
result depends only on ``rng``, never on ``batch_size`` or the executor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from ..model import Model
from ..random import RngLike
from .anchors import Anchors
from .chains import SeedPool, gaps_stage, rattle_stage
from .explore import explore_stage
from .faces import faces_stage
from .fill import fill_stage
from .results import ContourBatch, ContourResult
from .run import ContourRun
from .stages import Rays, launch_rays, mle_stage, radial_stage
from .uncovered import estimate_uncovered

__all__ = ["find_contour", "iter_contour", "search", "trace"]


def search(run: ContourRun) -> Iterator[ContourBatch]:
    """Every stage of ``run``, in order (without the final ``done`` batch)."""
    anchors = yield from mle_stage(run)
    if anchors is not None:
        yield from trace(run, anchors)


def trace(run: ContourRun, anchors: Anchors, *, explore: bool = True
          ) -> Iterator[ContourBatch]:
    """The stages after the fit: from ``anchors`` (inside the region) to a covered surface.

    Bound faces run the same stages on their planes (:mod:`.faces`), without
    ``explore``.
    """
    s = run.settings
    rays = launch_rays(run, anchors, run.rng.radial, s.n_radial, both_ways_k1=True)
    if explore:
        anchors, rays = yield from explore_stage(run, anchors, rays)
    yield from radial_stage(run, rays)
    if not run.budget_left():
        return
    if run.k > 1 and s.n_chains > 0:
        pool = SeedPool(run)
        gap_rays = launch_rays(run, anchors, run.rng.gaps, s.n_gap_candidates) \
            if s.n_gap_candidates and run.k > 2 else Rays.empty()
        seeds = yield from gaps_stage(run, pool, gap_rays)
        if len(seeds[0]) and run.budget_left():
            yield from rattle_stage(run, pool, *seeds)
            if run.status == "complete":
                run.rescale_if_grown()
                yield from fill_stage(run, SeedPool(run))
    if run.status == "complete" and s.faces and run.k > 1:
        yield from faces_stage(run, trace)
    if run.status == "budget_exhausted":
        run.uncovered = estimate_uncovered(run)
        if run.uncovered is not None:
            run.message += (f"; an estimated {run.uncovered:.1%} of the surface lies farther "
                             "than the spacing from every point")


def iter_contour(model: Model, *, confidence_level: float = 0.95,
                 parameters: Sequence[str] | None = None, fixed: Mapping[str, float] | None = None,
                 bounds: Mapping[str, Sequence[float | None]] | None = None, rng: RngLike = None,
                 executor: Any = None, should_stop: Callable[[], bool] | None = None,
                 **settings: Any) -> Iterator[ContourBatch]:
    """Stream the points of the confidence contour ``NLL = T`` as they are found.

    Same arguments as :func:`find_contour` (without ``on_batch``).  Yields first
    an ``"mle"`` batch without points (it fixes ``theta_mle``, ``nll_min`` and
    ``threshold``), then batches of the later stages that carry only new points,
    and last a ``"done"`` batch whose ``result`` is the :class:`ContourResult`.
    ``should_stop`` is polled after every batch: when it returns true the
    search ends with status ``"cancelled"`` (and the ``"done"`` batch).  Closing
    the generator early cancels without a result.
    """
    run = ContourRun.start(model, confidence_level, parameters, fixed, bounds, rng, executor,
                           settings)
    stages = search(run)
    try:
        for batch in stages:
            yield batch
            if should_stop is not None and should_stop():
                run.cancel()
                break
    finally:
        stages.close()
    yield run.done()


def find_contour(model: Model, confidence_level: float = 0.95,
                 parameters: Sequence[str] | None = None, fixed: Mapping[str, float] | None = None,
                 bounds: Mapping[str, Sequence[float | None]] | None = None, rng: RngLike = None,
                 should_stop: Callable[[], bool] | None = None,
                 on_batch: Callable[[ContourBatch], Any] | None = None, executor: Any = None,
                 **settings: Any) -> ContourResult:
    """Points on the boundary ``NLL = NLL_min + chi2.ppf(CL, k) / 2`` of the confidence region.

    Drains :func:`iter_contour`, handing every batch (the last, ``"done"``,
    included) to ``on_batch``.

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
        See :class:`model_core.contour.settings.ContourSettings`: ``n_radial``,
        ``n_chains``, ``n_steps``, ``step_size``, ``n_gap_candidates``, ``tol``,
        ``batch_size``, ``n_starts``, ``n_explore``, ``max_points``, ``spacing``, ...

    Returns
    -------
    ContourResult
        Every point with ``on_bound`` false satisfies ``|NLL - T| <= tol``; points
        with ``on_bound`` true lie on a parameter bound inside the region.
    """
    result: ContourResult | None = None
    for batch in iter_contour(model, confidence_level=confidence_level, parameters=parameters,
                              fixed=fixed, bounds=bounds, rng=rng, executor=executor,
                              should_stop=should_stop, **settings):
        if on_batch is not None:
            on_batch(batch)
        result = batch.result
    assert result is not None  # the last batch carries it
    return result
