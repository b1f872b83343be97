"""The ``gaps`` and ``rattle`` stages: seeding chains in gaps, running them, stopping on saturation.

Chains advance in rounds of ``sync_every`` steps (in chunks of ``batch_size``
chains, each chunk one work unit for the executor).  After each round the
accepted positions are offered to the evenly spaced point set in a fixed
order (step, then chain), so the kept points never depend on the chunking.

Chains that found nothing new in a round are restarted (:mod:`.gaps`): first
at unused gap candidates farthest from the kept points and the other chains,
then at the edges of holes in the covered part, heading into the hole.  The
stage ends when, for two rounds running, fewer than ``saturation`` of the
steps find uncovered surface and no gap candidate is left, or after
``n_steps`` steps, or at ``max_points``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
from scipy.spatial import cKDTree

from . import rattle
from .anchors import Anchors
from .dispatch import advance_chains, map_ordered
from .fill import fill_rounds
from .gaps import HoleEdges, farthest_points
from .results import ContourBatch

if TYPE_CHECKING:
    from .finder import _Run

__all__ = ["ChainRunner"]


def _rows(state: rattle.RattleState, rows: slice | np.ndarray) -> rattle.RattleState:
    return rattle.RattleState(*(field[rows] for field in state))


def _concat(states: list[rattle.RattleState]) -> rattle.RattleState:
    return rattle.RattleState(*(np.concatenate(f) for f in zip(*states, strict=True)))


def _distance_to(points: np.ndarray, others: np.ndarray) -> np.ndarray:
    if len(others) == 0:
        return np.full(len(points), 1e300)
    return cKDTree(others).query(points)[0]


class ChainRunner:
    """Runs the gap and chain stages of a :class:`~.finder._Run`."""

    def __init__(self, run: _Run, anchors: Anchors) -> None:
        self.run = run
        self.anchors = anchors
        self.s = run.s
        k, m = run.k, run.surface.m
        self.pool_y, self.pool_p, self.pool_r = np.zeros((0, k)), np.zeros((0, m)), np.zeros(0)
        parts = [p for p in run._parts if len(p[0])]
        self.kept_y = np.vstack([p[0] for p in parts]) if parts else np.zeros((0, k))
        self.kept_p = (np.vstack([p[4][:, run.surface.profiled] for p in parts]) if parts
                       else np.zeros((0, m)))
        self.on_surface = (np.concatenate([~p[2] for p in parts]) if parts
                           else np.zeros(0, bool))
        self.seedable = self.on_surface.copy()
        self.edges = HoleEdges(run.spaced.spacing)

    def _keep(self, Y: np.ndarray, P: np.ndarray) -> None:
        self.kept_y = np.vstack([self.kept_y, Y])
        self.kept_p = np.vstack([self.kept_p, P])
        self.seedable = np.concatenate([self.seedable, np.ones(len(Y), bool)])
        self.on_surface = np.concatenate([self.on_surface, np.ones(len(Y), bool)])

    def _take_pool(self, n: int, occupied: np.ndarray, min_distance: float) -> np.ndarray:
        """Indices of up to ``n`` pool points far from the kept points and ``occupied``."""
        if n <= 0 or len(self.pool_y) == 0:
            return np.zeros(0, int)
        spaced = self.run.spaced
        U = spaced.scaled(self.pool_y)
        d = np.minimum(spaced.distance(self.pool_y), _distance_to(U, spaced.scaled(occupied)))
        return farthest_points(U, d, n, min_distance=min_distance)

    def _pop_pool(self, pick: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        out = self.pool_y[pick], self.pool_p[pick], self.pool_r[pick]
        keep = np.ones(len(self.pool_y), bool)
        keep[pick] = False
        self.pool_y, self.pool_p, self.pool_r = self.pool_y[keep], self.pool_p[keep], \
            self.pool_r[keep]
        return out

    def _kept_seeds(self, n: int, occupied: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``n`` kept surface points, farthest from ``occupied``."""
        idx = np.flatnonzero(self.seedable)
        spaced = self.run.spaced
        U = spaced.scaled(self.kept_y[idx])
        pick = idx[farthest_points(U, _distance_to(U, spaced.scaled(occupied)), n)]
        return self.kept_y[pick], self.kept_p[pick]

    def stages(self) -> Iterator[ContourBatch]:
        """Gap seeds, then chain rounds."""
        run, s = self.run, self.s
        n_chains = s["n_chains"]
        if s["n_gap_candidates"]:
            results = run._solve_rays(self.anchors, run.rng_gaps, s["n_gap_candidates"])
            hit = [r.ok & ~r.on_bound for r in results]
            self.pool_y = np.concatenate([r.points[h] for r, h in zip(results, hit, strict=True)])
            self.pool_p = np.concatenate([r.profiled[h] for r, h in zip(results, hit,
                                                                        strict=True)])
            self.pool_r = np.concatenate([r.residual[h] for r, h in zip(results, hit,
                                                                        strict=True)])
        pick = self._take_pool(n_chains, np.zeros((0, run.k)), run.spaced.spacing)
        Y, P, R = self._pop_pool(pick)
        keep = run.spaced.offer(Y)
        yield run._batch("gaps", Y[keep], P[keep], True, np.zeros(int(keep.sum()), bool), R[keep],
                         len(pick), n_chains)
        self._keep(Y[keep], P[keep])
        if len(Y) < n_chains:
            more_y, more_p = self._kept_seeds(n_chains - len(Y), Y)
            Y, P = np.vstack([Y, more_y]), np.vstack([P, more_p])
        if len(Y) == 0 or not run._budget_left():
            return
        yield from self._chains(Y, P)
        if run.status == "complete":
            yield from self._fill()

    def _fill(self) -> Iterator[ContourBatch]:
        """Fill the holes the chains left (:mod:`.fill`)."""
        run, s = self.run, self.s
        n_before = run.n_points
        rounds = fill_rounds(run.surface, run.spaced, self.kept_y[self.on_surface],
                             self.kept_p[self.on_surface], run.rng_fill, tol=s["tol"],
                             max_iter=s["max_iter"], max_rounds=s["max_fill_rounds"],
                             budget=lambda: s["max_points"] - run.n_points,
                             executor=run.executor, batch_size=s["batch_size"])
        for n_round, Y, P, R, n_eval in rounds:
            run.n_eval += n_eval
            yield run._batch("gaps", Y, P, False, np.zeros(len(Y), bool), R, n_round, 0)
            if not run._budget_left():
                return
        run.end_message += f"; {run.n_points - n_before} points filled holes"

    def _chains(self, Y: np.ndarray, P: np.ndarray) -> Iterator[ContourBatch]:
        run, s = self.run, self.s
        n = len(Y)
        rngs = run.rng_rattle.spawn(n)
        state = rattle.init(rngs, run.surface, Y, P, scale=run.scale, step_size=s["step_size"])
        run.n_eval += n
        size = s["batch_size"]
        options = dict(refresh_every=s["refresh_every"], scale=run.scale,
                       max_step=s["step_size"], tol=s["tol"], max_iter=s["max_iter"])
        done, quiet = 0, 0
        while done < s["n_steps"]:
            m = min(s["sync_every"], s["n_steps"] - done)
            calls = [((run.surface, _rows(state, slice(i, i + size)), rngs[i:i + size]),
                      dict(n_steps=m, first_step=done, **options)) for i in range(0, n, size)]
            segments = list(map_ordered(run.executor, advance_chains, calls))
            state = _concat([seg.state for seg in segments])
            rngs = [g for seg in segments for g in seg.rngs]
            run.n_eval += sum(seg.n_evaluations for seg in segments)
            accepted = np.concatenate([seg.accepted for seg in segments], axis=1)
            step_idx, chain_idx = np.nonzero(accepted)
            cand, prof, res = (np.concatenate([getattr(seg, f) for seg in segments],
                                              axis=1)[step_idx, chain_idx]
                               for f in ("positions", "profiled", "residual"))
            keep = run.spaced.offer(cand)
            done += m
            Yk, Pk = cand[keep], prof[keep]
            self._keep(Yk, Pk)
            yield run._batch("rattle", Yk, Pk, False, np.zeros(len(Yk), bool), res[keep], done,
                             s["n_steps"])
            if not run._budget_left():
                return
            found = np.bincount(chain_idx[keep], minlength=n)
            rate = keep.sum() / max(1, len(cand))
            state, fresh = self._restart(state, rngs, np.flatnonzero(found == 0))
            quiet = quiet + 1 if rate < s["saturation"] and not fresh else 0
            if quiet >= 2:
                run.end_message = (f"coverage saturated after {done} chain steps: fewer than "
                                   f"{s['saturation']:.3g} of the steps found uncovered surface")
                return
        run.end_message = f"ran all n_steps={s['n_steps']} chain steps"

    def _restart(self, state: rattle.RattleState, rngs: list, idle: np.ndarray
                 ) -> tuple[rattle.RattleState, bool]:
        """Move idle chains to gap seeds; returns the state and whether gap candidates were used."""
        run = self.run
        if idle.size == 0:
            return state, False
        h = run.spaced.spacing
        busy = np.delete(state.position, idle, axis=0)
        Y, P, _ = self._pop_pool(self._take_pool(idle.size, busy, 2.0 * h))
        fresh = len(Y) > 0
        heading = np.full((len(Y), run.k), np.nan)
        if len(Y) < idle.size:
            idx, toward = self.edges.select(run.spaced.scaled(self.kept_y), self.seedable,
                                            run.spaced.scaled(np.vstack([busy, Y])),
                                            idle.size - len(Y), self._inside_probe)
            self.seedable[idx] = False
            Y, P = np.vstack([Y, self.kept_y[idx]]), np.vstack([P, self.kept_p[idx]])
            heading = np.vstack([heading, toward])
        if len(Y) == 0:
            return state, fresh
        rows = idle[:len(Y)]
        sub = rattle.init([rngs[i] for i in rows], run.surface, Y, P, scale=run.scale,
                          step_size=self.s["step_size"])
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
        run.n_eval += len(rows)
        fields = []
        for old, new in zip(state, sub, strict=True):
            merged = old.copy()
            merged[rows] = new
            fields.append(merged)
        return rattle.RattleState(*fields), fresh

    def _inside_probe(self, U: np.ndarray) -> np.ndarray:
        """Which scaled points lie inside the parameter bounds."""
        spaced = self.run.spaced
        return self.run.surface.inside_bounds(spaced.center + U * spaced.scale)
