"""The ``mle`` and ``radial`` stages, and launching rays from anchors.

``mle``
    Multi-start fit (:func:`model_core.fit`, starts spread over the axes' box
    by :func:`axis_starts`); every distinct minimum inside the region anchors
    rays (:mod:`.anchors`), with its own whitening map.
``radial``
    The rays' crossings (or bound points) offered, in a fixed order, to the
    evenly spaced set; the metric is fixed first from every point found so far
    (:meth:`.run.ContourRun.set_metric`).

With two axes the contour is a curve, and rays need not be random: each
anchor's rays start at :data:`FIRST_ANGLES` evenly spaced angles (whitened,
with a random offset), and rounds of rays are added wherever two neighbouring
points lie farther apart than twice the spacing (so every point of the curve
between them lies within a spacing of one of them): the angle between them is
split into as many equal parts as the chord between the points needs, each new
ray starting from the cubic through its neighbours' solutions, until no such
gap is left or ``n_radial`` rays have been spent.  A star-shaped curve is then covered by rays
alone, at about the cost of the points it needs; what stays hidden from every
anchor is left to the chains.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass

import numpy as np

from ..fit import fit
from ..inner import FD_STEP, gradient_differences
from ..starts import spread_starts
from .anchors import Anchors, find_anchors
from .islands import segment_links
from .radial import RayResult, concat_rays
from .results import ContourBatch
from .run import ContourRun

__all__ = ["FIRST_ANGLES", "INSIDE_MARGIN", "Rays", "add_minima", "axis_starts",
           "distinct_rows", "launch_rays", "mle_stage", "radial_stage"]

#: A minimum anchors rays only when it lies this share of ``Delta`` below ``T``: a
#: minimum on the surface itself has no inside to start from.
INSIDE_MARGIN = 1e-3
#: With two axes, the first rays of each anchor (evenly spaced angles) ...
FIRST_ANGLES = 32
#: ... and the most rounds of rays splitting the angular gaps.
_REFINE_ROUNDS = 12
#: Neighbouring points farther apart than this many spacings get a ray between them:
#: every point of the curve between them is then within a spacing of one of them.
_LARGEST_GAP = 2.0
#: A gap is split into at most this many equal angles per round (the chord of a long
#: stretch of curve may say little about its length).
_MOST_PARTS = 16


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

    With one axis and ``both_ways_k1``, two rays per anchor (up and down); with
    two axes, evenly spaced angles refined where the points are sparse
    (:func:`angular_rays`), at most ``n_rays`` of them.
    """
    n_anchor, k = len(anchors), run.k
    if k == 2:
        return angular_rays(run, anchors, rng, n_rays)
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


def angular_rays(run: ContourRun, anchors: Anchors, rng: np.random.Generator, n_rays: int
                 ) -> Rays:
    """Two axes: rays at evenly spaced whitened angles from every anchor, refined by
    rays at equal divisions of the angle wherever neighbouring points are farther apart
    than twice the spacing.

    The rays come back in the order (anchor, angle), so that offering their points
    in order walks along the curve.
    """
    n_anchor = len(anchors)
    n_first = int(np.clip(n_rays // max(n_anchor, 1), 1, FIRST_ANGLES))
    owner = np.repeat(np.arange(n_anchor), n_first)
    angle = 2.0 * np.pi * (np.tile(np.arange(n_first), n_anchor)
                           + rng.random(n_anchor)[owner]) / n_first
    width = np.full(len(owner), 2.0 * np.pi / n_first)
    results = [_solve_angles(run, anchors, owner, angle, None)]
    spent = len(owner)
    spacing = run.settings.spacing
    for _ in range(_REFINE_ROUNDS):
        solved = concat_rays(results)
        ok = solved.ok
        if not ok.any():
            break
        # each ray's neighbour: the next ray of the same anchor by angle, cyclically
        order = np.lexsort((angle, owner))
        sorted_owner = owner[order]
        first_of = np.searchsorted(sorted_owner, sorted_owner, side="left")
        last = np.r_[sorted_owner[1:] != sorted_owner[:-1], True]
        following = np.where(last, order[first_of], np.roll(order, -1))
        neighbour = np.empty_like(order)
        neighbour[order] = following
        scale = _provisional_scale(run, solved.points[ok])
        gap = np.linalg.norm((solved.points[neighbour] - solved.points) / scale, axis=1)
        need = ok & ok[neighbour] & ~(solved.on_bound & solved.on_bound[neighbour]) \
            & (gap > _LARGEST_GAP * spacing)
        rows = np.flatnonzero(need)
        budget = max(n_rays - spent, 0)
        if rows.size == 0 or budget == 0:
            break
        # split each wide gap into as many equal angles as its chord needs (a curve is at
        # least as long as its chord: a further round refines where that was too few)
        parts = np.clip(2 ** np.ceil(np.log2(gap[rows] / (_LARGEST_GAP * spacing))), 2,
                        _MOST_PARTS).astype(int)
        if np.sum(parts - 1) > budget:
            rows, parts = rows[:budget], np.full(min(rows.size, budget), 2)
        source = np.repeat(rows, parts - 1)
        fraction = np.concatenate([np.arange(1, p) / p for p in parts])
        start = _interpolated_guess(solved, source, fraction, neighbour, width)
        new_owner = owner[source]
        new_angle = angle[source] + fraction * width[source]
        new_width = width[source] / np.repeat(parts, parts - 1)
        width[rows] = width[rows] / parts
        results.append(_solve_angles(run, anchors, new_owner, new_angle, start))
        owner = np.concatenate([owner, new_owner])
        angle = np.concatenate([angle, new_angle])
        width = np.concatenate([width, new_width])
        spent += source.size
    order = np.lexsort((angle, owner))
    return Rays([concat_rays(results, order)], anchors.owner[owner[order]])


def _interpolated_guess(solved: RayResult, rows: np.ndarray, fraction: np.ndarray,
                        neighbour: np.ndarray, width: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Radius and profiled parameters at ``fraction`` of the angle from each of ``rows`` to
    its neighbour: the cubic through the two rays on either side (by angle), or linear
    between the two neighbours where the outer ones are missing.  A good guess saves a
    Newton iteration per ray."""
    previous = np.empty_like(neighbour)
    previous[neighbour] = np.arange(len(neighbour))
    h, i, j = previous[rows], rows, neighbour[rows]
    after = neighbour[j]
    t = np.stack([-width[h], np.zeros(len(i)), width[i], width[i] + width[j]], axis=1)
    x = fraction * width[i]
    # Lagrange weights of the four nodes at x
    weights = np.ones_like(t)
    for a in range(4):
        for b in range(4):
            if a != b:
                weights[:, a] *= (x - t[:, b]) / (t[:, a] - t[:, b])
    nodes = np.stack([h, i, j, after], axis=1)
    # four distinct rays on one anchor's curve (an anchor with three rays has no cubic)
    cubic = solved.ok[nodes].all(axis=1) & (h != j) & (after != i) & (h != after)
    linear = np.column_stack([np.zeros(len(i)), 1.0 - fraction, fraction, np.zeros(len(i))])
    w = np.where(cubic[:, None], weights, linear)
    radius = np.einsum("bn,bn->b", w, np.nan_to_num(solved.radius[nodes]))
    profiled = np.einsum("bn,bnm->bm", w, np.nan_to_num(solved.profiled[nodes]))
    return radius, profiled


def _provisional_scale(run: ContourRun, points: np.ndarray) -> np.ndarray:
    """The run's metric if fixed, else the extent of ``points`` and the minima."""
    if run.spaced is not None:
        return run.spaced.scale
    found = np.vstack([points, run.minima])
    span = np.ptp(found, axis=0)
    fallback = span.max() if span.max() > 0 else 1.0
    return np.where(span > 1e-9 * fallback, span, fallback)


def _solve_angles(run: ContourRun, anchors: Anchors, owner: np.ndarray, angle: np.ndarray,
                  start: tuple[np.ndarray, np.ndarray] | None) -> RayResult:
    e = np.column_stack([np.cos(angle), np.sin(angle)])
    directions = np.einsum("rij,rj->ri", anchors.matrices[owner], e)
    return concat_rays(run.solve_rays(anchors.points[owner], directions,
                                      anchors.profiled[owner], anchors.predictors[owner],
                                      start))


def axis_starts(run: ContourRun, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` full parameter vectors spread over the axes' box (:mod:`model_core.starts`),
    Cauchy-spread by each axis's conditional width at the initial values; profiled
    parameters stay at theirs.  Islands live in the axes: spreading the starts over the
    profiled parameters too would only cost iterations."""
    surface = run.surface
    x0 = surface.full(np.clip(surface.base[surface.axes], surface.bounds[:, 0],
                              surface.bounds[:, 1])[None])[0]
    step = FD_STEP * np.maximum(np.abs(x0), 1.0)[None]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        hess = gradient_differences(surface.model, x0[None], step, surface.all_bounds)[1][0]
        width = 1.0 / np.sqrt(np.diagonal(hess)[surface.axes])
    run.count(surface.model.npar + 1)
    y0 = x0[surface.axes]
    width = np.where(np.isfinite(width) & (width > 0), width, np.maximum(1.0, np.abs(y0)))
    Y = spread_starts(y0, surface.bounds, width, n, rng)
    X = np.tile(x0, (n, 1))
    X[:, surface.axes] = Y
    return X


def mle_stage(run: ContourRun) -> Generator[ContourBatch, None, Anchors | None]:
    """Fit, set the level ``T``, and anchor rays at every minimum inside the region."""
    s, surface = run.settings, run.surface
    names = surface.model.parameter_names
    best = fit(surface.model, fixed={names[i]: v for i, v in surface.fixed.items()},
               bounds={n: tuple(b) for n, b in zip(names, surface.all_bounds, strict=True)},
               starts=axis_starts(run, s.n_starts - 1, run.rng.mle), hessian="differences")
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
