"""How much of the surface a run stopped by the point budget left uncovered.

RATTLE chains whose momenta are refreshed move freely on ``NLL = T`` at
constant speed and, once they have forgotten where they started, spend equal
time on equal areas (in the scaled metric).  Their steps vary in length, so
each position is weighted by the length of the step that reached it; the
weighted share of positions farther than ``spacing`` from every kept point
estimates the share of the surface the points do not cover.
:func:`estimate_uncovered` runs :data:`PROBE_CHAINS` short chains from kept
points drawn at random (their own random stream) and counts after a burn-in.
Starting from
covered points biases the estimate low when the chains mix slowly: it is a
floor, reported as an estimate.
"""

from __future__ import annotations

import numpy as np

from . import rattle
from .dispatch import advance_chains
from .run import ContourRun

__all__ = ["PROBE_BURN_IN", "PROBE_CHAINS", "PROBE_STEPS", "estimate_uncovered"]

#: Chains of the probe, steps each, and steps discarded before counting.
PROBE_CHAINS, PROBE_STEPS, PROBE_BURN_IN = 64, 150, 50


def estimate_uncovered(run: ContourRun) -> float | None:
    """The estimated uncovered share of the surface (``None`` with one axis or no points)."""
    store = run.points
    surface = ~store.on_bound
    if run.k < 2 or run.spaced is None or not surface.any():
        return None
    s = run.settings
    rng = run.rng.probe
    rows = rng.choice(np.flatnonzero(surface), size=PROBE_CHAINS)
    Y = store.points[rows]
    P = store.full[rows][:, run.surface.profiled]
    rngs = rng.spawn(PROBE_CHAINS)
    state = rattle.init(rngs, run.surface, Y, P, scale=run.scale, step_size=s.step_size)
    segment = advance_chains(run.surface, state, rngs, n_steps=PROBE_STEPS, first_step=0,
                             refresh_every=s.refresh_every, scale=run.scale,
                             max_step=s.step_size, tol=s.tol, max_iter=s.max_iter)
    run.count(PROBE_CHAINS + segment.n_evaluations)
    # chains adapt their step length: a position weighs as much as the path that led to it
    # (a time average of motion at constant speed), so short steps do not over-count
    positions = segment.positions.copy()
    positions[0] = np.where(segment.accepted[0][:, None], positions[0], Y)
    for j in range(1, len(positions)):
        positions[j] = np.where(segment.accepted[j][:, None], positions[j], positions[j - 1])
    before = np.concatenate([Y[None], positions[:-1]])
    length = np.linalg.norm((positions - before) / run.scale, axis=-1)[PROBE_BURN_IN:].ravel()
    counted = positions[PROBE_BURN_IN:].reshape(-1, run.k)
    if not length.sum() > 0:
        return None
    far = run.spaced.distance(counted) > run.spaced.spacing
    return float(np.sum(length * far) / np.sum(length))
