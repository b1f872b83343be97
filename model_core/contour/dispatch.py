"""Work units of the contour finder and their dispatch to an executor.

Every unit is a module-level function of picklable arguments (the
:class:`~.surface.ContourSurface` pickles through the model's spec; chain
generators pickle with their state and come back updated), so any
``concurrent.futures.Executor`` can run them: a thread pool, a process pool, or
a Dask ``distributed`` client (``client.get_executor()``, or the client itself).
Results are always collected in submission order (:mod:`model_core.dispatch`),
so the outcome does not depend on the executor or on how many units run at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..dispatch import as_executor, map_ordered
from . import rattle
from .radial import RayResult, solve_rays
from .surface import ContourSurface

__all__ = ["ChainSegment", "advance_chains", "as_executor", "map_ordered", "ray_unit",
           "step_unit"]


def ray_unit(surface: ContourSurface, origins: np.ndarray, directions: np.ndarray,
             profiled: np.ndarray, r_init: float, tol: float,
             predictors: np.ndarray | None = None,
             start: tuple[np.ndarray, np.ndarray] | None = None) -> RayResult:
    """Solve one chunk of rays (see :func:`~.radial.solve_rays`)."""
    return solve_rays(surface, origins, directions, profiled=profiled, r_init=r_init, tol=tol,
                      predictors=predictors, start=start)


def step_unit(surface: ContourSurface, state: rattle.RattleState, scale: np.ndarray,
              max_step: float, tol: float, max_iter: int
              ) -> tuple[rattle.RattleState, rattle.RattleInfo]:
    """One RATTLE step of a chunk of independent moves (see :mod:`.fill`)."""
    return rattle.step(state, surface, scale=scale, max_step=max_step, tol=tol,
                       max_iter=max_iter)


@dataclass(frozen=True, slots=True, eq=False)
class ChainSegment:
    """A chunk of chains advanced by several steps.

    Attributes
    ----------
    state : final :class:`~.rattle.RattleState`; rngs : the chains' generators, advanced;
    positions : (n_steps, B, k); profiled : (n_steps, B, m); residual : (n_steps, B);
    accepted : (n_steps, B) the chain moved at that step (only then is a position valid);
    n_evaluations : rows evaluated.
    """

    state: rattle.RattleState
    rngs: list
    positions: np.ndarray
    profiled: np.ndarray
    residual: np.ndarray
    accepted: np.ndarray
    n_evaluations: int


def advance_chains(surface: ContourSurface, state: rattle.RattleState, rngs: list, *,
                   n_steps: int, first_step: int, refresh_every: int, scale: np.ndarray,
                   max_step: float, tol: float, max_iter: int) -> ChainSegment:
    """Advance a chunk of chains ``n_steps`` steps, refreshing momenta on a global schedule."""
    n, k = state.position.shape
    m = state.profiled.shape[1]
    positions = np.full((n_steps, n, k), np.nan)
    profiled = np.full((n_steps, n, m), np.nan)
    residual = np.full((n_steps, n), np.nan)
    accepted = np.zeros((n_steps, n), bool)
    n_eval = 0
    for j in range(n_steps):
        if (first_step + j) % refresh_every == 0:
            state = rattle.refresh(rngs, state, scale)
        state, info = rattle.step(state, surface, scale=scale, max_step=max_step, tol=tol,
                                  max_iter=max_iter)
        n_eval += info.n_evaluations
        accepted[j] = info.accepted
        positions[j] = np.where(info.accepted[:, None], state.position, np.nan)
        profiled[j] = np.where(info.accepted[:, None], state.profiled, np.nan)
        residual[j] = info.residual
    return ChainSegment(state, rngs, positions, profiled, residual, accepted, n_eval)
