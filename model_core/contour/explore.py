"""The ``explore`` stage: a search for parts of the region disconnected from those found.

Rays start only at minima and stop at the first crossing; chains stay on the
surface they start on.  A part of the region around a basin the fit never
reached (an island) would be missed without a word.  So, once the rays of the
known islands are solved:

1. The **search box** is the parameter bounds where they are finite and,
   along open sides, :attr:`~.settings.ContourSettings.explore_reach` extents
   of the region found beyond it.
2. A **scan**: a scrambled Sobol set of ``n_explore`` points of the box, the
   NLL at each in one batched call.  Profiled parameters are set to the
   nearest anchor's linear prediction, not fitted: the value is then an upper
   bound of the profiled NLL, still a sure test of being inside, and cheap.
3. **Descents**: from scan points inside the region (``NLL < T``) and from the
   lowest of the others, chosen farthest-point style away from every point
   found (so they spread over the box instead of piling up near the known
   region), batched Newton descents in the free parameters.  When the NLL
   falls straight (along the line) from every one of these starts to a known
   minimum, no start lies behind a barrier and the descents are left out.  A
   descent that enters the region on a segment to a known minimum inside it
   has reached that minimum's island and stops there.
4. Every minimum inside the region that no segment inside the region joins to
   a known minimum starts a new **island**, anchoring its own rays; a minimum
   deeper than the best fit resets the level ``T`` and every anchor.

Rounds repeat (the box grows with the region) until one finds no new island.
When some axis is open the result says how far the search reached and warns
that parts of the region beyond may exist.
"""

from __future__ import annotations

from collections.abc import Generator

import numpy as np
from scipy.spatial import cKDTree

from ..inner import BatchMinimum, StopRule, newton_minimize
from ..params import ReducedModel
from ..starts import box_points
from .anchors import Anchors
from .gaps import farthest_points
from .islands import SEGMENT_SAMPLES
from .results import ContourBatch
from .run import ContourRun
from .stages import INSIDE_MARGIN, Rays, add_minima, distinct_rows, launch_rays

__all__ = ["DESCENT_ROWS", "DESCENT_TOL", "LINE_SAMPLES", "MAX_DESCENTS", "MAX_ROUNDS",
           "MIN_DESCENTS", "explore_stage", "search_box"]

#: Most rounds of scan and descents (each round searches around the islands of the last).
MAX_ROUNDS = 4
#: Most descents per round: one batched fit of ``MAX_DESCENTS`` rows (fewer with many free
#: parameters: each descent's Hessian costs ``npar + 1`` gradient rows, and at most
#: :data:`DESCENT_ROWS` of them are spent per round) ...
MAX_DESCENTS = 64
#: ... and at least :data:`MIN_DESCENTS`.
DESCENT_ROWS, MIN_DESCENTS = 512, 16
#: Newton-decrement tolerance of the descents: a basin and its depth are known long
#: before the fit's own 1e-16, and its minimum only anchors rays.
DESCENT_TOL = 1e-10
#: Descents start only from scan points at least this far (in extents of the region
#: found) from every point found: nearer ones fall back into the known islands.
_FAR = 0.25
#: Besides the points inside the region, descents start from the scan points whose NLL
#: lies in this lowest share of the scan's values.
_LOW_SHARE = 0.5
#: Two minima closer than this share of the extent are the same.
_SAME = 1e-3
#: Points sampled on the line from a descent's start to each known minimum (a barrier
#: narrower than their spacing goes unseen: the line is one extent long or more, and a
#: barrier around a separate island is at least as wide as the island).
LINE_SAMPLES = 32
#: A rise of the NLL along the line beyond rounding (a flat valley floor is no barrier).
_RISE_RTOL = 1e-12


def search_box(run: ContourRun, found: np.ndarray) -> np.ndarray:
    """The box ``(k, 2)`` searched: the bounds, or ``explore_reach`` extents beyond ``found``."""
    bounds = run.surface.bounds
    lo, hi = found.min(axis=0), found.max(axis=0)
    extent = _extent(found)
    reach = run.settings.explore_reach * extent
    box = np.column_stack([np.where(np.isfinite(bounds[:, 0]), bounds[:, 0], lo - reach),
                           np.where(np.isfinite(bounds[:, 1]), bounds[:, 1], hi + reach)])
    return np.column_stack([np.maximum(box[:, 0], bounds[:, 0]),
                            np.minimum(box[:, 1], bounds[:, 1])])


def _extent(found: np.ndarray) -> np.ndarray:
    span = np.ptp(found, axis=0)
    fallback = span.max() if span.max() > 0 else 1.0
    return np.where(span > 1e-9 * fallback, span, fallback)


def _descent_starts(scan: np.ndarray, value: np.ndarray, found: np.ndarray,
                    threshold: float, n_max: int) -> np.ndarray:
    """Indices of scan points to descend from: inside the region or low, far from ``found``."""
    finite = np.isfinite(value)
    if not finite.any():
        return np.zeros(0, int)
    low = value <= np.quantile(value[finite], _LOW_SHARE)
    usable = np.flatnonzero(finite & ((value < threshold) | low))
    extent = _extent(found)
    U, known = scan[usable] / extent, found / extent
    distance = cKDTree(known).query(U)[0]
    return usable[farthest_points(U, distance, n_max, min_distance=_FAR)]


def explore_stage(run: ContourRun, anchors: Anchors, rays: Rays
                  ) -> Generator[ContourBatch, None, tuple[Anchors, Rays]]:
    """Rounds of scan and descents; returns the anchors and rays with the new islands'."""
    s, surface = run.settings, run.surface
    if s.n_explore == 0:
        return anchors, rays
    n_scan = s.n_explore
    n_descents = int(np.clip(DESCENT_ROWS // (surface.model.npar + 1), MIN_DESCENTS,
                             MAX_DESCENTS))
    n_islands = len(run.minima)
    for n_round in range(1, MAX_ROUNDS + 1):
        surface = run.surface
        found = np.vstack([rays.usable()[0].reshape(-1, run.k), run.minima])
        box = search_box(run, found)
        run.search_box = box
        scan = box_points(box, n_scan, run.rng.explore)
        nearest = cKDTree(anchors.points / _extent(found)).query(scan / _extent(found))[1]
        P = _predicted(surface, anchors, nearest, scan)
        value = surface.nll_at(scan, P)
        run.count(n_scan)
        starts = _descent_starts(scan, value, found, surface.threshold, n_descents)
        message = f"round {n_round}: {n_scan} points in the search box, "
        if len(starts) and not _behind_barrier(run, surface.full(scan[starts], P[starts]),
                                               value[starts]).any():
            message += (f"no descents (from each of {len(starts)} starts the NLL falls "
                        "straight to a known minimum)")
            starts = starts[:0]
        else:
            message += f"{len(starts)} descents"
        if len(starts) == 0:
            yield _progress(run, n_round, message)
            break
        descent = _descend(surface, surface.full(scan[starts], P[starts]),
                           _known_basin(run, surface))
        run.count(int(descent.nit.sum()) * (surface.model.npar + 2))
        ended = descent.success & np.isfinite(descent.fun)
        fresh = _new_minima(run, surface.full(descent.x[ended][:, :run.k],
                                              descent.x[ended][:, run.k:]), descent.fun[ended],
                            _extent(found))
        if len(fresh[0]) and fresh[2].min() < run.nll_min - _deeper(run.nll_min):
            anchors, rays = _reset(run, fresh)
            message += f"; a deeper minimum: NLL_min = {run.nll_min:.10g}"
            yield _progress(run, n_round, message)
            continue
        added = add_minima(run, *fresh) if len(fresh[0]) else None
        n_new = 0 if added is None else len(np.unique(added.owner))
        yield _progress(run, n_round, message + f", {n_new} new island"
                        + ("" if n_new == 1 else "s"))
        if added is None:
            break
        per_island = max(s.n_radial // len(run.minima), 1)
        anchors = anchors.extend(added)
        rays = rays + launch_rays(run, added, run.rng.explore, per_island * n_new,
                                  both_ways_k1=True)
    _describe(run, len(run.minima) - n_islands)
    return anchors, rays


def _behind_barrier(run: ContourRun, X: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Which starts ``X (n, npar)`` (NLL ``value``) have a barrier on the straight line to
    every known minimum: somewhere along it the NLL rises (sampled at
    :data:`LINE_SAMPLES` points, in the axes and the profiled parameters).

    When the NLL falls straight to a known minimum from every start, the scan shows
    one funnel toward the known minima and the descents are left out; another basin
    shows up as starts behind a barrier (those near its bottom at least: from there
    the line climbs out of it), and then every start is descended.  A scan point
    inside the region, not joined to a known minimum, is such a start: its line leaves
    the region and comes back.
    """
    surface = run.surface
    if len(X) == 0 or len(run.minima) == 0:
        return np.ones(len(X), bool)
    ends = surface.full(run.minima, run.minima_profiled)
    t = np.linspace(0.0, 1.0, LINE_SAMPLES + 2)[1:, None]
    line = X[:, None, None, :] + t * (ends[None, :, None, :] - X[:, None, None, :])
    f = surface.model.nll(line.reshape(-1, X.shape[1])).reshape(len(X), len(ends), len(t))
    run.count(f.size)
    f = np.concatenate([np.broadcast_to(value[:, None, None], f.shape[:2] + (1,)), f], axis=2)
    rises = np.diff(f, axis=2) > _RISE_RTOL * np.maximum(1.0, np.abs(f[..., 1:]))
    return ~np.isfinite(f).all(axis=2).any(axis=1) | rises.any(axis=2).all(axis=1)


def _descend(surface, starts: np.ndarray, stop: StopRule) -> BatchMinimum:
    """Batched Newton descents in the axes and profiled parameters (in that order) from
    ``starts (n, npar)``; no saddle escapes (a saddle inside the region is joined to a
    minimum by a segment, one outside it is no island).  Rows ``stop`` tells apart end
    early, unconverged."""
    free = np.concatenate([surface.axes, surface.profiled])
    reduced = ReducedModel(surface.model, free, starts[0], surface.all_bounds[free])
    return newton_minimize(reduced, starts[:, free], tol=DESCENT_TOL, hessian="differences",
                           stop=stop)


def _known_basin(run: ContourRun, surface) -> StopRule:
    """Descents inside the region and joined to a known minimum by a segment inside it end
    in that minimum's island: stop them there.

    A descent only goes down, so from a point inside the region it never leaves that
    point's part of the region.  Along the segment (:data:`.islands.SEGMENT_SAMPLES`
    points) the profiled parameters are interpolated, not fitted: the NLL there is an
    upper bound of the profiled NLL, so a segment below ``T`` surely lies inside."""
    k, minima, profiled = run.k, run.minima, run.minima_profiled
    level = run.threshold - INSIDE_MARGIN * run.delta

    def stop(rows: np.ndarray, z: np.ndarray, fun: np.ndarray) -> np.ndarray:
        out = np.zeros(len(rows), bool)
        inside = np.flatnonzero(fun < level)
        if inside.size == 0 or len(minima) == 0:
            return out
        b = len(minima)
        t = np.linspace(0.0, 1.0, SEGMENT_SAMPLES)[1:-1, None]
        a_y, a_p = z[inside, None, None, :k], z[inside, None, None, k:]
        Y = a_y + t * (minima[None, :, None, :] - a_y)
        P = a_p + t * (profiled[None, :, None, :] - a_p)
        n = inside.size * b * len(t)
        value = surface.nll_at(Y.reshape(n, k), P.reshape(n, surface.m))
        run.count(value.size)
        linked = np.all(value.reshape(inside.size, b, -1) < surface.threshold, axis=2)
        out[inside] = linked.any(axis=1)
        return out

    return stop


def _predicted(surface, anchors: Anchors, nearest: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Warm starts of the profiled parameters: each nearest anchor's linear prediction."""
    if not surface.m:
        return np.zeros((len(Y), 0))
    shift = np.einsum("bmk,bk->bm", anchors.predictors[nearest], Y - anchors.points[nearest])
    bounds = surface.all_bounds[surface.profiled]
    guess = np.where(np.isfinite(shift), anchors.profiled[nearest] + shift,
                     anchors.profiled[nearest])
    return np.clip(guess, bounds[:, 0], bounds[:, 1])


def _deeper(nll_min: float) -> float:
    """How much lower a minimum must be to replace the best fit (beyond rounding)."""
    return 1e-9 * (1.0 + abs(nll_min))


def _new_minima(run: ContourRun, minima_x: np.ndarray, minima_fun: np.ndarray,
                extent: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The minima inside the region (at the current or a lower level) not yet known; two
    minima are the same when closer than ``_SAME`` extents of the region found."""
    surface = run.surface
    inside = np.isfinite(minima_fun) & (minima_fun < run.threshold - INSIDE_MARGIN * run.delta)
    Y, P, nll = minima_x[inside][:, surface.axes], minima_x[inside][:, surface.profiled], \
        minima_fun[inside]
    if len(Y) and len(run.minima):
        near = cKDTree(run.minima / extent).query(Y / extent)[0] <= _SAME
        Y, P, nll = Y[~near], P[~near], nll[~near]
    keep = distinct_rows(Y, scale=extent, rtol=_SAME)
    return Y[keep], P[keep], nll[keep]


def _reset(run: ContourRun, fresh: tuple[np.ndarray, np.ndarray, np.ndarray]
           ) -> tuple[Anchors, Rays]:
    """A minimum deeper than the best fit: new level, every minimum re-registered, new rays."""
    Y = np.vstack([run.minima, fresh[0]])
    P = np.vstack([run.minima_profiled, fresh[1]])
    nll = np.concatenate([run.minima_nll, fresh[2]])
    order = np.argsort(nll, kind="stable")
    Y, P, nll = Y[order], P[order], nll[order]
    old = run.nll_min
    run.nll_min = float(nll[0])
    run.threshold = run.nll_min + 0.5 * run.delta
    run.surface = run.surface.at_level(run.threshold)
    run.theta_mle = Y[0].copy()
    inside = nll < run.threshold - INSIDE_MARGIN * run.delta
    run.minima = np.zeros((0, run.k))
    run.minima_nll = np.zeros(0)
    run.minima_profiled = np.zeros((0, run.surface.m))
    run.warnings.append(
        f"the search for separate regions found a minimum deeper than the fit's "
        f"(NLL {run.nll_min:.10g} < {old:.10g}): the level T was lowered to "
        f"{run.threshold:.10g}; more starts (n_starts) would have found it")
    anchors = add_minima(run, Y[inside], P[inside], nll[inside], walk=True)
    assert anchors is not None  # the deepest minimum is always new
    return anchors, launch_rays(run, anchors, run.rng.explore, run.settings.n_radial,
                                both_ways_k1=True)


def _progress(run: ContourRun, n_round: int, message: str) -> ContourBatch:
    k, m = run.k, run.surface.m
    return run.record("explore", np.zeros((0, k)), np.zeros((0, m)), from_radial=False,
                      on_bound=np.zeros(0), residual=np.zeros(0), island=np.zeros(0),
                      n_done=n_round, n_total=MAX_ROUNDS, message=message)


def _describe(run: ContourRun, n_new: int) -> None:
    """Notes on the islands and the box searched; a warning when some side was open."""
    box, bounds = run.search_box, run.surface.bounds
    if box is None:
        return
    span = ", ".join(f"{n} in [{lo:.4g}, {hi:.4g}]"
                     for n, (lo, hi) in zip(run.surface.axis_names, box, strict=True))
    run.notes.append(f"searched for separate regions in {span}: "
                     + (f"{n_new} more island{'s' if n_new > 1 else ''} found" if n_new
                        else "none found"))
    open_sides = [n for n, b in zip(run.surface.axis_names, bounds, strict=True)
                  if not np.all(np.isfinite(b))]
    if open_sides:
        run.warnings.append(
            f"parts of the region beyond the searched box cannot be excluded: "
            f"{', '.join(open_sides)} {'has' if len(open_sides) == 1 else 'have'} no bound "
            f"on some side, and the search reached {run.settings.explore_reach:g} extents "
            f"of the region found ({span}); set bounds to search a definite box")
