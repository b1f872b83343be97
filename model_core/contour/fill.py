"""Filling the last small holes: one-step RATTLE moves from kept points into uncovered surface.

Chains cover a surface like a coupon collector: the last small holes take
most of the steps.  This stage fills them directly.  From every kept point a
few constrained steps (:func:`.rattle.step`, projection onto ``NLL = T``
included) of length ``1.5 * spacing`` are tried in random tangent directions
(drawn for a whole round at once, run in parts); the landing points farther
than ``spacing`` from every kept point are kept, and become the sources of the
next round, so the covered part grows like a front until no proposal lands in
uncovered surface.  Every kept point therefore has the same guarantee as a
chain point: ``|NLL - T| <= tol``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from typing import TYPE_CHECKING

import numpy as np

from . import rattle
from .dispatch import map_ordered, step_unit
from .results import ContourBatch
from .run import ContourRun
from .spacing import SpacedPoints
from .surface import ContourSurface

if TYPE_CHECKING:
    from .chains import SeedPool

__all__ = ["fill_rounds", "fill_stage"]

#: Moves tried from every source per round: enough directions that a hole next to a
#: point is found in a round or two, few enough that a covered patch costs little.
_DIRECTIONS = 6
#: Length of a move, in spacings: beyond the spacing (so a landing point can be new)
#: and below two (so it cannot jump over a one-spacing hole).
_REACH = 1.5
#: A round's moves are reported in parts of at least this many, so that a round from
#: a hundred thousand points streams (and can be cancelled) instead of taking seconds.
_MOVES_PER_PART = 16384


def fill_stage(run: ContourRun, pool: SeedPool) -> Iterator[ContourBatch]:
    """Fill the holes the chains left, from every kept point on the surface."""
    s = run.settings
    n_before = run.n_points
    surface = pool.on_surface
    rounds = fill_rounds(run.surface, run.spaced, pool.kept_y[surface], pool.kept_p[surface],
                         pool.kept_island[surface], run.rng.fill, tol=s.tol,
                         max_iter=s.max_iter, max_rounds=s.max_fill_rounds,
                         budget=lambda: run.room, executor=run.executor,
                         batch_size=s.batch_size)
    for n_round, Y, P, R, island, n_eval in rounds:
        run.count(n_eval)
        yield run.record("fill", Y, P, from_radial=False, on_bound=np.zeros(len(Y), bool),
                         residual=R, island=island, n_done=n_round, n_total=0)
        pool.keep(Y, P, island)
        if not run.budget_left():
            return
    run.notes.append(f"{run.n_points - n_before} points filled holes")


def fill_rounds(surface: ContourSurface, spaced: SpacedPoints, sources: np.ndarray,
                profiled: np.ndarray, labels: np.ndarray, rng: np.random.Generator, *,
                tol: float, max_iter: int, max_rounds: int, budget: Callable[[], int],
                executor: Executor | None = None, batch_size: int = 4096
                ) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]]:
    """Rounds of hole filling; yields ``(round, points, profiled, residual, labels,
    n_evaluations)`` for every part of a round.

    ``sources (N, k)`` are the kept points on the surface to start from, with
    ``labels (N,)`` (islands) passed on to the points they find; ``budget()``
    gives how many more points may be kept.  The moves of a round
    run in chunks of ``batch_size`` on ``executor`` and are offered to ``spaced``
    part by part in their fixed order (directions are drawn before dispatch, so
    the outcome depends on none of these).
    """
    scale = spaced.scale
    reach = _REACH * spaced.spacing
    k = surface.k
    value, grad, prof = surface.value_and_grad(sources, profiled)
    n_eval = len(sources)
    per_part = max(1, -(-_MOVES_PER_PART // batch_size))
    for n_round in range(1, max_rounds + 1):
        n = len(sources)
        if n == 0 or budget() <= 0:
            return
        rows = np.repeat(np.arange(n), _DIRECTIONS)
        normal = grad[rows] * scale
        normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-300)
        draws = rng.standard_normal((len(rows), k))
        tangent = draws - np.einsum("bk,bk->b", draws, normal)[:, None] * normal
        tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-300)
        state = rattle.RattleState(sources[rows], tangent, value[rows], grad[rows], prof[rows],
                                   np.full(len(rows), reach), np.zeros(len(rows)))
        calls = [((surface, rattle.RattleState(*(f[i:i + batch_size] for f in state)), scale,
                   reach, tol, max_iter), {}) for i in range(0, len(rows), batch_size)]
        found: list[rattle.RattleState] = []
        found_labels: list[np.ndarray] = []
        row_labels = labels[rows]
        for first in range(0, len(calls), per_part):
            if budget() <= 0:
                break
            parts = list(map_ordered(executor, step_unit, calls[first:first + per_part]))
            moved = rattle.RattleState(*(np.concatenate(f) for f in zip(*(p[0] for p in parts),
                                                                        strict=True)))
            residual = np.concatenate([p[1].residual for p in parts])
            n_eval += sum(p[1].n_evaluations for p in parts)
            idx = np.flatnonzero(np.concatenate([p[1].accepted for p in parts]))
            keep = idx[spaced.offer(moved.position[idx])][:max(budget(), 0)]
            found.append(rattle.RattleState(*(f[keep] for f in moved)))
            found_labels.append(row_labels[first * batch_size:][keep])
            yield (n_round, moved.position[keep], moved.profiled[keep], residual[keep],
                   found_labels[-1], n_eval)
            n_eval = 0
        sources, value, grad, prof = (np.concatenate([getattr(f, name) for f in found])
                                      for name in ("position", "value", "grad", "profiled"))
        labels = np.concatenate(found_labels)
