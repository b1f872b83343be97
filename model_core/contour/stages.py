"""The ``mle`` and ``radial`` stages, and launching rays from anchors.

``mle``
    Multi-start fit (:func:`model_core.fit`, starts spread over the parameter
    box); every distinct minimum inside the region anchors rays
    (:mod:`.anchors`), with its own whitening map.
``radial``
    The rays' crossings (or bound points) offered, in a fixed order, to the
    evenly spaced set; the metric is fixed first from every point found so far
    (:meth:`.run.ContourRun.set_metric`).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass

import numpy as np

from ..fit import fit
from .anchors import Anchors, find_anchors
from .islands import segment_links
from .radial import RayResult
from .results import ContourBatch
from .run import ContourRun

__all__ = ["INSIDE_MARGIN", "Rays", "add_minima", "distinct_rows", "launch_rays", "mle_stage",
           "radial_stage"]

#: A minimum anchors rays only when it lies this share of ``Delta`` below ``T``: a
#: minimum on the surface itself has no inside to start from.
INSIDE_MARGIN = 1e-3


@dataclass(frozen=True, slots=True, eq=False)
class Rays:
    """Solved rays, in chunks, with the minimum (island) each ray started from."""

    results: list[RayResult]
    owner: np.ndarray

    @staticmethod
    def empty() -> Rays:
        return Rays([], np.zeros(0, int))

    def __add__(self, other: Rays) -> Rays:
        return Rays(self.results + other.results, np.concatenate([self.owner, other.owner]))

    def usable(self) -> tuple[np.ndarray, np.ndarray]:
        """The crossing (or bound) points of every usable ray, and their owners."""
        if not self.results:
            return np.zeros((0, 0)), np.zeros(0, int)
        ok = np.concatenate([r.ok for r in self.results])
        return np.concatenate([r.points for r in self.results])[ok], self.owner[ok]


def launch_rays(run: ContourRun, anchors: Anchors, rng: np.random.Generator, n_rays: int, *,
                both_ways_k1: bool = False) -> Rays:
    """``n_rays`` rays from the anchors (round robin) in random whitened directions.

    With one axis and ``both_ways_k1``, two rays per anchor (up and down).
    """
    n_anchor, k = len(anchors), run.k
    if k == 1 and both_ways_k1:
        index = np.repeat(np.arange(n_anchor), 2)
        e = np.tile([[1.0], [-1.0]], (n_anchor, 1))
    else:
        index = np.arange(n_rays) % n_anchor
        e = rng.standard_normal((n_rays, k))
        e /= np.linalg.norm(e, axis=1, keepdims=True)
    directions = np.einsum("rij,rj->ri", anchors.matrices[index], e)
    results = run.solve_rays(anchors.points[index], directions, anchors.profiled[index],
                             anchors.predictors[index])
    return Rays(results, anchors.owner[index])


def mle_stage(run: ContourRun) -> Generator[ContourBatch, None, Anchors | None]:
    """Fit, set the level ``T``, and anchor rays at every minimum inside the region."""
    s, surface = run.settings, run.surface
    names = surface.model.parameter_names
    best = fit(surface.model, fixed={names[i]: v for i, v in surface.fixed.items()},
               bounds={n: tuple(b) for n, b in zip(names, surface.all_bounds, strict=True)},
               n_starts=s.n_starts, rng=run.rng.mle, hessian="differences")
    run.count(best.nfev)
    empty_y, empty_p = np.zeros((0, run.k)), np.zeros((0, surface.m))
    if not (best.success and np.isfinite(best.fun)):
        run.status = "failed"
        run.message = f"the maximum-likelihood fit failed: {best.message}"
        yield run.record("mle", empty_y, empty_p, from_radial=False, on_bound=np.zeros(0),
                         residual=np.zeros(0), island=np.zeros(0), n_done=0, n_total=0,
                         message=run.message)
        return None
    run.nll_min = float(best.fun)
    run.threshold = run.nll_min + 0.5 * run.delta
    run.surface = surface = surface.at_level(run.threshold)
    run.theta_mle = best.x[surface.axes].copy()
    inside = np.isfinite(best.minima_fun) & (best.minima_fun
                                             < run.threshold - INSIDE_MARGIN * run.delta)
    full = np.vstack([best.x, best.minima_x[inside]])
    nll = np.concatenate([[best.fun], best.minima_fun[inside]])
    keep = distinct_rows(full[:, surface.axes], scale=None)
    full, nll = full[keep], nll[keep]
    anchors = add_minima(run, full[:, surface.axes], full[:, surface.profiled], nll, walk=True)
    assert anchors is not None  # the best fit is always new
    message = f"NLL_min = {run.nll_min:.10g}, T = {run.threshold:.10g}"
    yield run.record("mle", empty_y, empty_p, from_radial=False, on_bound=np.zeros(0),
                     residual=np.zeros(0), island=np.zeros(0), n_done=1, n_total=1,
                     message="; ".join([message, *anchors.warnings]))
    return anchors


def distinct_rows(Y: np.ndarray, scale: np.ndarray | None, rtol: float = 1e-4) -> np.ndarray:
    """Indices of the rows of ``Y`` that differ from every earlier kept row by more than
    ``rtol`` of ``scale`` (default ``max(1, |Y|)`` per axis) along some axis."""
    if scale is None:
        scale = np.maximum(1.0, np.abs(Y).max(axis=0)) if len(Y) else np.ones(Y.shape[1])
    keep: list[int] = []
    for i in range(len(Y)):
        if all(np.max(np.abs(Y[i] - Y[j]) / scale) > rtol for j in keep):
            keep.append(i)
    return np.array(keep, dtype=int)


def add_minima(run: ContourRun, Y: np.ndarray, P: np.ndarray, nll: np.ndarray, *,
               walk: bool = False) -> Anchors | None:
    """Register the minima ``Y (b, k)`` (profiled ``P``, NLL ``nll``) that start new islands
    and return their anchors (``None`` when there are none).

    A minimum joined to a known one (or an earlier new one) by a segment inside the
    region belongs to that one's island and is dropped: the rays of its island
    already see it.  The first minimum of a run walks its valley when ``walk`` is
    set and it is flat.
    """
    first = len(run.minima)
    everyone = np.vstack([run.minima, Y])
    profiled = np.vstack([run.minima_profiled, P])
    pairs = np.array([(i, first + j) for j in range(len(Y)) for i in range(first + j)],
                     dtype=int).reshape(-1, 2)
    linked, n_eval = segment_links(run.surface, everyone, profiled, pairs)
    run.count(n_eval)
    joined = {(int(a), int(b)) for a, b in pairs[linked]}
    kept: list[int] = []
    for j in range(len(Y)):
        earlier = list(range(first)) + [first + i for i in kept]
        if not any((i, first + j) in joined for i in earlier):
            kept.append(j)
    if not kept:
        return None
    keep = np.array(kept)
    run.minima = np.vstack([run.minima, Y[keep]])
    run.minima_nll = np.concatenate([run.minima_nll, nll[keep]])
    run.minima_profiled = np.vstack([run.minima_profiled, P[keep]])
    anchors = find_anchors(run.surface, Y[keep], P[keep], delta=run.delta,
                           n_anchors=run.settings.n_anchors, max_walk=run.settings.max_walk,
                           first_owner=first, walk=walk and first == 0)
    run.count(anchors.n_evaluations)
    run.warnings.extend(anchors.warnings)
    run.notes.extend(anchors.notes)
    return anchors


def radial_stage(run: ContourRun, rays: Rays) -> Iterator[ContourBatch]:
    """Fix the metric from every point found (unless fixed already), then record the rays'
    points chunk by chunk."""
    if run.spaced is None:
        points, _ = rays.usable()
        found = np.vstack([points.reshape(-1, run.k), run.minima])
        lo, hi = found.min(axis=0), found.max(axis=0)
        run.set_metric(lo, hi - lo)
    unbounded = int(sum(r.unbounded.sum() for r in rays.results))
    n_rays = int(sum(len(r.ok) for r in rays.results))
    if unbounded:
        open_axes = [n for n, b in zip(run.surface.axis_names, run.surface.bounds, strict=True)
                     if not np.all(np.isfinite(b))]
        run.warnings.append(
            f"{unbounded} of {n_rays} rays crossed neither NLL = T nor a bound: the region "
            f"looks unbounded; set bounds on {', '.join(open_axes) or 'the axes'}")
    n_done, first = 0, 0
    for r in rays.results:
        owner = rays.owner[first:first + len(r.ok)]
        first += len(r.ok)
        n_done += len(r.ok)
        Y = r.points[r.ok]
        keep = run.spaced.offer(Y)
        yield run.record("radial", Y[keep], r.profiled[r.ok][keep], from_radial=True,
                         on_bound=r.on_bound[r.ok][keep], residual=r.residual[r.ok][keep],
                         island=owner[r.ok][keep], n_done=n_done, n_total=n_rays,
                         message=run.warnings[-1] if unbounded and n_done == n_rays else "")
        if not run.budget_left():
            return
