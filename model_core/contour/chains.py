"""The ``gaps`` and ``rattle`` stages: seeding chains in gaps, running them, stopping on saturation.

Chains advance in rounds of ``sync_every`` steps (in chunks of ``batch_size``
chains, each chunk one work unit for the executor).  After each round the
accepted positions are offered to the evenly spaced set in a fixed order
(step, then chain), so the kept points never depend on the chunking.

Chains that found nothing new in a round are restarted (:class:`SeedPool`):
first at unused gap candidates farthest from the kept points and the other
chains, then at the edges of holes in the covered part, heading into the
hole.  The stage ends when, for two rounds running, fewer than ``saturation``
of the steps find uncovered surface and no gap candidate is left, or after
``n_steps`` steps, or at ``max_points``.  After every round the metric is
re-scaled if the chains found the region larger than the rays did.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator

import numpy as np
from scipy.spatial import cKDTree

from . import rattle
from .dispatch import advance_chains, map_ordered
from .gaps import HoleEdges, curve_ends, farthest_points
from .results import ContourBatch
from .run import ContourRun
from .stages import Rays

__all__ = ["SeedPool", "gaps_stage", "rattle_stage"]

#: Restarted chains keep this many spacings from the other chains.
_RESTART_CLEARANCE = 2.0


def _rows(state: rattle.RattleState, rows: slice | np.ndarray) -> rattle.RattleState:
    return rattle.RattleState(*(field[rows] for field in state))


def _concat(states: list[rattle.RattleState]) -> rattle.RattleState:
    return rattle.RattleState(*(np.concatenate(f) for f in zip(*states, strict=True)))


def _distance_to(points: np.ndarray, others: np.ndarray) -> np.ndarray:
    if len(others) == 0:
        return np.full(len(points), 1e300)
    return cKDTree(others).query(points)[0]


class SeedPool:
    """Where chains (and filling moves) may start: gap candidates and the kept points.

    Attributes
    ----------
    kept_y, kept_p : ndarray
        Every point found so far (axes, profiled), in order.
    kept_island : ndarray of int
        The minimum (island) each came from.
    on_surface : ndarray of bool
        Points on ``NLL = T`` (not on a bound).
    seedable : ndarray of bool
        Surface points not yet used as a hole-edge seed.
    pool_y, pool_p, pool_r, pool_island : ndarray
        Unused gap candidates (ray crossings not kept) and their residuals.
    """

    def __init__(self, run: ContourRun) -> None:
        self.run = run
        k, m = run.k, run.surface.m
        store = run.points
        self.kept_y = store.points
        self.kept_p = store.full[:, run.surface.profiled]
        self.kept_island = store.island
        self.on_surface = ~store.on_bound
        self.seedable = self.on_surface.copy()
        self.pool_y, self.pool_p, self.pool_r = np.zeros((0, k)), np.zeros((0, m)), np.zeros(0)
        self.pool_island = np.zeros(0, int)
        self.edges = HoleEdges(run.spaced.spacing)

    def reset_edges(self) -> None:
        """Forget the hole edges (after a change of metric)."""
        self.edges = HoleEdges(self.run.spaced.spacing)

    def keep(self, Y: np.ndarray, P: np.ndarray, island: np.ndarray) -> None:
        """New kept points on the surface."""
        self.kept_y = np.vstack([self.kept_y, Y])
        self.kept_p = np.vstack([self.kept_p, P])
        self.kept_island = np.concatenate([self.kept_island, island])
        self.seedable = np.concatenate([self.seedable, np.ones(len(Y), bool)])
        self.on_surface = np.concatenate([self.on_surface, np.ones(len(Y), bool)])

    def add_candidates(self, rays: Rays) -> None:
        """Ray crossings on the surface (not on a bound) become gap candidates."""
        first = 0
        for r in rays.results:
            owner = rays.owner[first:first + len(r.ok)]
            first += len(r.ok)
            hit = r.ok & ~r.on_bound
            self.pool_y = np.vstack([self.pool_y, r.points[hit]])
            self.pool_p = np.vstack([self.pool_p, r.profiled[hit]])
            self.pool_r = np.concatenate([self.pool_r, r.residual[hit]])
            self.pool_island = np.concatenate([self.pool_island, owner[hit]])

    def take_candidates(self, n: int, occupied: np.ndarray, min_distance: float
                        ) -> tuple[np.ndarray, ...]:
        """Up to ``n`` candidates far from the kept points and ``occupied``, removed from
        the pool: ``(Y, P, residual, island)``."""
        pick = np.zeros(0, int)
        if n > 0 and len(self.pool_y):
            spaced = self.run.spaced
            U = spaced.scaled(self.pool_y)
            d = np.minimum(spaced.distance(self.pool_y),
                           _distance_to(U, spaced.scaled(occupied)))
            pick = farthest_points(U, d, n, min_distance=min_distance)
        out = (self.pool_y[pick], self.pool_p[pick], self.pool_r[pick], self.pool_island[pick])
        keep = np.ones(len(self.pool_y), bool)
        keep[pick] = False
        self.pool_y, self.pool_p = self.pool_y[keep], self.pool_p[keep]
        self.pool_r, self.pool_island = self.pool_r[keep], self.pool_island[keep]
        return out

    def kept_seeds(self, n: int, occupied: np.ndarray) -> tuple[np.ndarray, ...]:
        """Up to ``n`` kept surface points, farthest from ``occupied``: ``(Y, P, island)``."""
        idx = np.flatnonzero(self.seedable)
        spaced = self.run.spaced
        U = spaced.scaled(self.kept_y[idx])
        pick = idx[farthest_points(U, _distance_to(U, spaced.scaled(occupied)), n)]
        return self.kept_y[pick], self.kept_p[pick], self.kept_island[pick]

    def edge_seeds(self, n: int, occupied: np.ndarray) -> tuple[np.ndarray, ...]:
        """Up to ``n`` kept points on hole edges (used once each), with headings into the
        holes (scaled): ``(Y, P, island, heading)``."""
        spaced = self.run.spaced
        if self.run.k == 2:
            idx, toward = curve_ends(spaced.scaled(self.kept_y), self.seedable, spaced.spacing,
                                     self._inside_probe)
            U = spaced.scaled(self.kept_y[idx])
            pick = farthest_points(U, _distance_to(U, spaced.scaled(occupied)), n)
            idx, toward = idx[pick], toward[pick]
        else:
            idx, toward = self.edges.select(spaced.scaled(self.kept_y), self.seedable,
                                            spaced.scaled(occupied), n, self._inside_probe)
        self.seedable[idx] = False
        return self.kept_y[idx], self.kept_p[idx], self.kept_island[idx], toward

    def _inside_probe(self, U: np.ndarray) -> np.ndarray:
        """Which scaled points lie inside the parameter bounds."""
        spaced = self.run.spaced
        return self.run.surface.inside_bounds(spaced.center + U * spaced.scale)


def gaps_stage(run: ContourRun, pool: SeedPool, rays: Rays
               ) -> Generator[ContourBatch, None, tuple[np.ndarray, ...]]:
    """Gap candidates from ``rays``; the farthest seed the chains.  Returns the chains'
    seeds ``(Y, P, island)`` (kept points farthest from the candidates fill up to
    ``n_chains``).

    With two axes the refined rays (:func:`.stages.angular_rays`) leave gaps only
    where the curve hides from every anchor: the chains start at the ends of the
    gaps (hole edges) only, and there are none when the curve is covered.
    """
    n_chains = run.settings.n_chains
    if run.k == 2:
        Y, P, island, _ = pool.edge_seeds(n_chains, np.zeros((0, run.k)))
        yield run.record("gaps", Y[:0], P[:0], from_radial=False, on_bound=np.zeros(0, bool),
                         residual=np.zeros(0), island=island[:0], n_done=len(Y),
                         n_total=n_chains)
        return Y, P, island
    pool.add_candidates(rays)
    Y, P, R, island = pool.take_candidates(n_chains, np.zeros((0, run.k)), run.spaced.spacing)
    keep = run.spaced.offer(Y)
    yield run.record("gaps", Y[keep], P[keep], from_radial=True,
                     on_bound=np.zeros(int(keep.sum()), bool), residual=R[keep],
                     island=island[keep], n_done=len(Y), n_total=n_chains)
    pool.keep(Y[keep], P[keep], island[keep])
    if len(Y) < n_chains:
        more_y, more_p, more_i = pool.kept_seeds(n_chains - len(Y), Y)
        Y, P = np.vstack([Y, more_y]), np.vstack([P, more_p])
        island = np.concatenate([island, more_i])
    return Y, P, island


def rattle_stage(run: ContourRun, pool: SeedPool, Y: np.ndarray, P: np.ndarray,
                 island: np.ndarray) -> Iterator[ContourBatch]:
    """Chains from ``Y`` (islands ``island``), round after round, until saturation."""
    s = run.settings
    n = len(Y)
    rngs = run.rng.rattle.spawn(n)
    state = rattle.init(rngs, run.surface, Y, P, scale=run.scale, step_size=s.step_size)
    run.count(n)
    chain_island = np.array(island, dtype=int)
    size = s.batch_size
    done, quiet = 0, 0
    while done < s.n_steps:
        m = min(s.sync_every, s.n_steps - done)
        options = dict(refresh_every=s.refresh_every, scale=run.scale, max_step=s.step_size,
                       tol=s.tol, max_iter=s.max_iter)
        calls = [((run.surface, _rows(state, slice(i, i + size)), rngs[i:i + size]),
                  dict(n_steps=m, first_step=done, **options)) for i in range(0, n, size)]
        segments = list(map_ordered(run.executor, advance_chains, calls))
        state = _concat([seg.state for seg in segments])
        rngs = [g for seg in segments for g in seg.rngs]
        run.count(sum(seg.n_evaluations for seg in segments))
        accepted = np.concatenate([seg.accepted for seg in segments], axis=1)
        step_idx, chain_idx = np.nonzero(accepted)
        cand, prof, res = (np.concatenate([getattr(seg, f) for seg in segments],
                                          axis=1)[step_idx, chain_idx]
                           for f in ("positions", "profiled", "residual"))
        keep = run.spaced.offer(cand)
        done += m
        Yk, Pk, Ik = cand[keep], prof[keep], chain_island[chain_idx[keep]]
        pool.keep(Yk, Pk, Ik)
        yield run.record("rattle", Yk, Pk, from_radial=False, on_bound=np.zeros(len(Yk), bool),
                         residual=res[keep], island=Ik, n_done=done, n_total=s.n_steps)
        if not run.budget_left():
            return
        if run.rescale_if_grown():
            pool.reset_edges()
        found = np.bincount(chain_idx[keep], minlength=n)
        rate = keep.sum() / max(1, len(cand))
        state, fresh = _restart(run, pool, state, rngs, chain_island, np.flatnonzero(found == 0))
        quiet = quiet + 1 if rate < s.saturation and not fresh else 0
        if quiet >= 2:
            run.message = (f"coverage saturated after {done} chain steps: fewer than "
                           f"{s.saturation:.3g} of the steps found uncovered surface")
            return
    run.message = f"ran all n_steps={s.n_steps} chain steps"


def _restart(run: ContourRun, pool: SeedPool, state: rattle.RattleState, rngs: list,
             chain_island: np.ndarray, idle: np.ndarray) -> tuple[rattle.RattleState, bool]:
    """Move idle chains to gap seeds; returns the state and whether gap candidates were used.

    ``chain_island`` is updated in place.
    """
    if idle.size == 0:
        return state, False
    h = run.spaced.spacing
    busy = np.delete(state.position, idle, axis=0)
    Y, P, _, island = pool.take_candidates(idle.size, busy, _RESTART_CLEARANCE * h)
    fresh = len(Y) > 0
    heading = np.full((len(Y), run.k), np.nan)
    if len(Y) < idle.size:
        ey, ep, ei, toward = pool.edge_seeds(idle.size - len(Y), np.vstack([busy, Y]))
        Y, P = np.vstack([Y, ey]), np.vstack([P, ep])
        island = np.concatenate([island, ei])
        heading = np.vstack([heading, toward])
    if len(Y) == 0:
        return state, fresh
    rows = idle[:len(Y)]
    chain_island[rows] = island
    sub = rattle.init([rngs[i] for i in rows], run.surface, Y, P, scale=run.scale,
                      step_size=run.settings.step_size)
    directed = np.all(np.isfinite(heading), axis=1)
    if directed.any():
        normal = sub.grad[directed] * run.scale
        normal /= np.linalg.norm(normal, axis=1, keepdims=True)
        t = heading[directed] - np.einsum("bk,bk->b", heading[directed], normal)[:, None] \
            * normal
        norm = np.linalg.norm(t, axis=1, keepdims=True)
        momentum = sub.momentum.copy()
        momentum[directed] = np.where(norm > 1e-12, t / np.maximum(norm, 1e-300),
                                      momentum[directed])
        sub = sub._replace(momentum=momentum)
    run.count(len(rows))
    fields = []
    for old, new in zip(state, sub, strict=True):
        merged = old.copy()
        merged[rows] = new
        fields.append(merged)
    return rattle.RattleState(*fields), fresh
