"""The ``faces`` stage: where the region meets a parameter bound, its face, evenly sampled.

The boundary of a region cut by a bound ``y_j >= b`` is the level set
``NLL = T`` inside the bounds *and* the face: the points of the plane
``y_j = b`` with ``NLL <= T``.  Rays reaching the bound give a few face
points, chains reflect off it: neither samples it.  For every finite bound
whose plane the points found come near, this stage

1. descends (one batched fit on the plane, ``y_j`` fixed at ``b``) from the
   points nearest the plane to the face's minima;
2. traces the face's **edge** (the level set ``NLL = T`` within the plane) by
   running the finder's own stages on the plane, with ``k - 1`` axes, the same
   level and the same metric (a face's own faces, where two bounds meet, come
   with it);
3. fills the face's **interior** with a square lattice of pitch ``spacing``
   (in the scaled metric) over the edge's bounding box, keeping the lattice
   points with ``NLL <= T`` (faces of up to :data:`MAX_LATTICE_DIM` dimensions;
   a lattice that would outgrow the point budget is left out, with a note).

Every point is offered to the run's evenly spaced set, so the face is sampled
as evenly as the surface and never crowds it; face points are flagged
``on_bound`` (edge points also have ``|NLL - T| <= tol``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from scipy.spatial import cKDTree

from ..fit import fit
from .anchors import Anchors
from .gaps import farthest_points
from .results import ContourBatch
from .run import ContourRun
from .stages import INSIDE_MARGIN, add_minima, distinct_rows

__all__ = ["FACE_STARTS", "MAX_LATTICE_DIM", "NEAR_PLANE", "faces_stage"]

#: Points found within this many spacings of a bound plane seed its face's descents.
NEAR_PLANE = 2.0
#: Most descents per face (spread farthest-point style over the points near the plane).
FACE_STARTS = 16
#: The lattice's pitch exceeds the spacing by this share, so that neighbours are never
#: refused by rounding.
_PITCH_MARGIN = 1e-9
#: Faces of more dimensions (k >= 4) get their edge only: a lattice filling a volume at
#: the spacing would hold millions of points.
MAX_LATTICE_DIM = 2

Trace = Callable[..., Iterator[ContourBatch]]


def faces_stage(run: ContourRun, trace: Trace) -> Iterator[ContourBatch]:
    """Every face where the region meets a finite bound; ``trace`` runs the stages on a plane."""
    sides = [(axis, float(value)) for axis in range(run.k)
             for value in run.surface.bounds[axis] if np.isfinite(value)]
    n_before = run.n_points
    n_faces = 0
    for n_done, (axis, value) in enumerate(sides, 1):
        if not run.budget_left():
            return
        found = yield from _face(run, trace, axis, value, n_done, len(sides))
        n_faces += found
    if n_faces:
        run.notes.append(f"{n_faces} bound face{'s' if n_faces > 1 else ''} sampled: "
                         f"{run.n_points - n_before} points")


def _plane_minima(run: ContourRun, axis: int, value: float
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Minima of the NLL on the plane ``axis = value`` below ``T`` (plane axes, profiled,
    NLL), found from the points nearest the plane, and those points' indices."""
    surface, spaced = run.surface, run.spaced
    store = run.points
    Y, full = store.points, store.full
    gap = np.abs(Y[:, axis] - value) / spaced.scale[axis]
    near = np.flatnonzero(gap <= NEAR_PLANE * spaced.spacing)
    empty = (np.zeros((0, run.k - 1)), np.zeros((0, surface.m)), np.zeros(0), near)
    if near.size == 0:
        return empty
    U = spaced.scaled(Y[near])
    pick = near[farthest_points(U, np.full(len(near), np.inf), FACE_STARTS)]
    starts = full[pick].copy()
    index = int(surface.axes[axis])
    starts[:, index] = value
    names = surface.model.parameter_names
    fixed = {names[i]: v for i, v in surface.fixed.items()} | {names[index]: value}
    bounds = {n: tuple(b) for n, b in zip(names, surface.all_bounds, strict=True)}
    best = fit(surface.model, fixed=fixed, bounds=bounds, init=starts[0], starts=starts[1:],
               hessian="differences")
    run.count(best.nfev)
    inside = np.isfinite(best.minima_fun) & (best.minima_fun
                                             < run.threshold - INSIDE_MARGIN * run.delta)
    if not (best.success and inside.any()):
        return empty
    plane_axes = [int(a) for i, a in enumerate(surface.axes) if i != axis]
    x = best.minima_x[inside]
    keep = distinct_rows(x[:, plane_axes], scale=spaced.scale[np.arange(run.k) != axis])
    return x[keep][:, plane_axes], x[keep][:, surface.profiled], best.minima_fun[inside][keep], \
        near


def _face(run: ContourRun, trace: Trace, axis: int, value: float, n_done: int, n_total: int
          ) -> Iterator[ContourBatch]:
    """One face: its edge (the stages on the plane), then its interior lattice; returns
    whether the region meets this bound."""
    Y_min, P_min, nll_min, near = _plane_minima(run, axis, value)
    if len(Y_min) == 0:
        return False
    plane = run.on_plane(axis, value, float(nll_min.min()))
    anchors: Anchors | None = add_minima(plane, Y_min, P_min, nll_min)
    run.count(plane.n_evaluations)
    plane.n_evaluations = 0
    # face points belong to the island of the nearest point found near the plane
    labels = run.points.island[near]
    tree = cKDTree(run.spaced.scaled(run.points.points[near]))
    for batch in trace(plane, anchors, explore=False):
        run.count(plane.n_evaluations)
        plane.n_evaluations = 0
        if not len(batch.points):
            continue
        Y = np.insert(batch.points, axis, value, axis=1)
        keep = run.spaced.offer(Y)
        yield run.record("faces", Y[keep], batch.full_points[keep][:, run.surface.profiled],
                         from_radial=False, on_bound=np.ones(int(keep.sum()), bool),
                         residual=batch.residuals[keep],
                         island=labels[tree.query(run.spaced.scaled(Y[keep]))[1]],
                         n_done=n_done, n_total=n_total)
        if not run.budget_left():
            return True
    edge = plane.points
    if len(edge) and run.k - 1 <= MAX_LATTICE_DIM and run.budget_left():
        yield from _interior(run, axis, value, edge.points, edge.full, labels, tree, n_done,
                             n_total)
    elif len(edge) and run.k - 1 > MAX_LATTICE_DIM:
        run.notes.append(f"the face on the bound {run.surface.axis_names[axis]} = {value:g} "
                         f"has {run.k - 1} dimensions: its edge is sampled, not its interior")
    return True


def _interior(run: ContourRun, axis: int, value: float, edge: np.ndarray, edge_full: np.ndarray,
              labels: np.ndarray, tree: cKDTree, n_done: int, n_total: int
              ) -> Iterator[ContourBatch]:
    """The lattice points of the face's interior (``NLL <= T``), in raster order."""
    spaced, surface = run.spaced, run.surface
    others = np.arange(run.k) != axis
    center, scale = spaced.center[others], spaced.scale[others]
    U = (edge - center) / scale
    pitch = spaced.spacing * (1.0 + _PITCH_MARGIN)
    lo, hi = U.min(axis=0), U.max(axis=0)
    ticks = [np.arange(a, b + 0.5 * pitch, pitch) for a, b in zip(lo, hi, strict=True)]
    if np.prod([len(t) for t in ticks]) > run.settings.max_points:
        run.notes.append(f"the face on the bound {run.surface.axis_names[axis]} = {value:g} "
                         "needs more lattice points than max_points: its interior is left out")
        return
    grid = np.stack(np.meshgrid(*ticks, indexing="ij"), axis=-1).reshape(-1, len(ticks))
    Y_plane = center + grid * scale
    nearest = cKDTree(U).query(grid)[1]
    warm = edge_full[nearest][:, surface.profiled]
    Y = np.insert(Y_plane, axis, value, axis=1)
    inside_bounds = surface.inside_bounds(Y)
    Y, warm = Y[inside_bounds], warm[inside_bounds]
    nll, P = surface.value(Y, warm)
    run.count(len(Y))
    inside = nll <= run.threshold
    Y, P, residual = Y[inside], P[inside], nll[inside] - run.threshold
    keep = spaced.offer(Y)
    yield run.record("faces", Y[keep], P[keep], from_radial=False,
                     on_bound=np.ones(int(keep.sum()), bool), residual=residual[keep],
                     island=labels[tree.query(spaced.scaled(Y[keep]))[1]], n_done=n_done,
                     n_total=n_total)
