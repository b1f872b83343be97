"""How well a set of contour points covers the true surface ``NLL = T`` (k <= 3).

The reference surface is built independently of the contour finder: the
(profiled) NLL on a fine grid over a box around the region, its level set by
marching cubes (k = 3, :func:`skimage.measure.marching_cubes`), marching
squares (k = 2, :func:`skimage.measure.find_contours`) or sign changes (k = 1),
every vertex refined onto ``NLL = T`` by Newton steps along the gradient.  The
surface is then sampled uniformly by area (by length for k = 2), each sample
refined onto ``NLL = T`` as well.

Distances are measured with every axis divided by the extent of the reference
surface along it.  This stays meaningful when the Hessian is singular: a
whitened metric would collapse a flat valley to a point.  The box grows until
the surface no longer touches a side that is not a parameter bound.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree
from skimage.measure import find_contours, marching_cubes

from ..model import Model
from ..random import RngLike, as_generator
from .radial import project_to_level
from .results import ContourResult
from .settings import merged_bounds, resolve_axes
from .surface import ContourSurface

__all__ = ["ContourCoverage", "ReferenceSurface", "contour_coverage", "reference_surface"]

_RESOLUTION = {1: 4001, 2: 401, 3: 97}
#: Coarser default grids when every grid point needs an inner fit (profiled parameters).
_RESOLUTION_PROFILED = {1: 1001, 2: 121, 3: 41}
_CHUNK = 65536


@dataclass(frozen=True, slots=True, eq=False)
class ReferenceSurface:
    """The true surface ``NLL = T`` within a box, as a mesh and area-uniform samples.

    Attributes
    ----------
    parameter_names : tuple of str
    threshold : float
    vertices : ndarray (n, k)
        Mesh vertices on ``NLL = T``.
    faces : ndarray (f, k)
        Vertex indices: triangles (k = 3), segments (k = 2), none (k = 1).
    samples : ndarray (N, k)
        Points sampled uniformly by area (length) and refined onto ``NLL = T``.
    lo, hi : ndarray (k,)
        Bounding box of the surface; ``hi - lo`` is the extent used as the metric.
    box : ndarray (k, 2)
        The grid's box.
    """

    parameter_names: tuple[str, ...]
    threshold: float
    vertices: np.ndarray
    faces: np.ndarray
    samples: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    box: np.ndarray

    @property
    def extent(self) -> np.ndarray:
        span = self.hi - self.lo
        return np.where(span > 0, span, 1.0)


@dataclass(frozen=True, slots=True, eq=False)
class ContourCoverage:
    """Coverage of a reference surface by contour points (:func:`contour_coverage`).

    Attributes
    ----------
    distance : float
        The relative distance of ``covered``.
    covered : float
        Fraction of the reference samples within ``distance`` of some contour point.
    distances, fractions : tuple of float
        Covered fraction at each of several relative distances.
    largest_gap : float
        Largest distance from a reference sample to the nearest contour point
        (relative to the extent).
    sample_distance : ndarray (N,)
        Each reference sample's relative distance to the nearest contour point.
    reference : ReferenceSurface
    n_points : int
        Contour points compared.
    norm : {"euclidean", "max"}
    """

    distance: float
    covered: float
    distances: tuple[float, ...]
    fractions: tuple[float, ...]
    largest_gap: float
    sample_distance: np.ndarray
    reference: ReferenceSurface
    n_points: int
    norm: str

    @property
    def samples(self) -> np.ndarray:
        """The reference samples ``(N, k)``."""
        return self.reference.samples

    def fraction_within(self, distance: float) -> float:
        """Fraction of the reference samples within ``distance`` (relative) of a point."""
        return float(np.mean(self.sample_distance <= distance))

    def __repr__(self) -> str:
        within = ", ".join(f"{f:.4f} within {d:.0%}"
                           for d, f in zip(self.distances, self.fractions, strict=True))
        return (f"ContourCoverage({self.n_points} points vs {len(self.sample_distance)} reference "
                f"samples: {within}; largest gap {self.largest_gap:.2%} of the extent, "
                f"{self.norm} norm)")


def reference_surface(model: Model, parameters: Sequence[str], threshold: float, *,
                      fixed: Mapping[str, float] | None = None,
                      bounds: Mapping[str, Sequence[float | None]] | None = None,
                      box: np.ndarray | None = None, resolution: int | None = None,
                      n_samples: int = 20000, rng: RngLike = None,
                      tol: float = 1e-9) -> ReferenceSurface:
    """The surface ``NLL = T`` over ``parameters`` (k <= 3), parameters not fixed being profiled.

    ``box (k, 2)`` is the starting grid box (it grows while the surface touches
    a side that is not a parameter bound); by default the parameter bounds,
    where finite, else ``[-10, 10]``.  ``resolution`` is the number of grid
    points per axis (default 97, 401, 4001 for k = 3, 2, 1; 41, 121, 1001 when
    parameters are profiled, since every grid point then needs an inner fit).
    """
    axes, fixed_idx = resolve_axes(model, parameters, fixed)
    k = len(axes)
    if k > 3:
        raise ValueError(f"a reference surface needs at most 3 axes, got {k}; choose up to 3 "
                         "parameters")
    surface = ContourSurface(model, axes, fixed_idx, merged_bounds(model, bounds), threshold)
    limits = surface.bounds
    if box is None:
        box = np.where(np.isfinite(limits), limits, np.array([-10.0, 10.0]))
    box = np.clip(np.array(box, dtype=float), limits[:, 0:1], limits[:, 1:2])
    n = resolution or (_RESOLUTION_PROFILED if surface.m else _RESOLUTION)[k]
    generator = as_generator(rng)
    for _ in range(6):
        vertices, faces, grow = _mesh(surface, box, n)
        if not grow.any():
            break
        span = box[:, 1] - box[:, 0]
        box = np.clip(box + np.where(grow, 0.5 * span[:, None], 0.0) * [-1.0, 1.0],
                      limits[:, 0:1], limits[:, 1:2])
    if len(vertices) == 0:
        raise ValueError(f"NLL = {threshold} does not cross the box {box.tolist()}: check the "
                         "threshold and the bounds")
    vertices, _, _, ok, _ = project_to_level(surface, vertices, tol=tol)
    # Newton steps may end a hair outside a bound the surface meets
    lo = np.maximum(vertices[ok].min(axis=0), limits[:, 0])
    hi = np.minimum(vertices[ok].max(axis=0), limits[:, 1])
    extent = np.where(hi - lo > 0, hi - lo, 1.0)
    samples = _sample(vertices, faces, extent, n_samples, generator)
    samples, _, _, ok_s, _ = project_to_level(surface, samples, tol=tol)
    samples = samples[ok_s & surface.inside_bounds(samples)]
    names = tuple(model.parameter_names[i] for i in axes)
    return ReferenceSurface(names, float(threshold), vertices, faces, samples, lo, hi, box)


def _grid_values(surface: ContourSurface, axes_values: list[np.ndarray]) -> np.ndarray:
    mesh = np.stack(np.meshgrid(*axes_values, indexing="ij"), axis=-1)
    flat = mesh.reshape(-1, len(axes_values))
    out = np.empty(len(flat))
    for i in range(0, len(flat), _CHUNK):
        out[i:i + _CHUNK] = surface.value(flat[i:i + _CHUNK])[0]
    values = out.reshape(mesh.shape[:-1])
    return np.where(np.isfinite(values), values, surface.threshold + 1e6)


def _mesh(surface: ContourSurface, box: np.ndarray, n: int
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertices, faces, and which box sides ``(k, 2)`` the surface touches that are not bounds."""
    k = len(box)
    axes_values = [np.linspace(lo, hi, n) for lo, hi in box]
    values = _grid_values(surface, axes_values)
    T = surface.threshold
    step = (box[:, 1] - box[:, 0]) / (n - 1)
    if k == 1:
        v = values
        cross = np.flatnonzero((v[:-1] - T) * (v[1:] - T) < 0)
        frac = (T - v[cross]) / (v[cross + 1] - v[cross])
        vertices = (box[0, 0] + (cross + frac) * step[0])[:, None]
        faces = np.zeros((0, 1), int)
    elif k == 2:
        lines = find_contours(values, T)
        vertices = np.vstack(lines) * step + box[:, 0] if lines else np.zeros((0, 2))
        starts = np.cumsum([0] + [len(line) for line in lines[:-1]])
        faces = np.vstack([np.column_stack([s + np.arange(len(line) - 1),
                                            s + np.arange(1, len(line))])
                           for s, line in zip(starts, lines, strict=True)]) \
            if lines else np.zeros((0, 2), int)
    else:
        if values.min() >= T or values.max() <= T:
            return np.zeros((0, 3)), np.zeros((0, 3), int), np.zeros((3, 2), bool)
        verts, faces, _, _ = marching_cubes(values, T, spacing=tuple(step))
        vertices = verts + box[:, 0]
    if len(vertices) == 0:
        return vertices, faces, np.zeros((k, 2), bool)
    limits = surface.bounds
    near_lo = np.any(vertices <= box[:, 0] + 1.01 * step, axis=0) & (box[:, 0] > limits[:, 0])
    near_hi = np.any(vertices >= box[:, 1] - 1.01 * step, axis=0) & (box[:, 1] < limits[:, 1])
    return vertices, faces, np.column_stack([near_lo, near_hi])


def _sample(vertices: np.ndarray, faces: np.ndarray, extent: np.ndarray, n: int,
            rng: np.random.Generator) -> np.ndarray:
    """``n`` points uniform by area (length) on the mesh, in the extent-scaled metric."""
    if faces.shape[1] <= 1 or len(faces) == 0:
        return vertices.copy()
    corners = vertices[faces] / extent
    if faces.shape[1] == 2:
        size = np.linalg.norm(corners[:, 1] - corners[:, 0], axis=1)
    else:
        size = 0.5 * np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0],
                                             corners[:, 2] - corners[:, 0]), axis=1)
    pick = rng.choice(len(faces), size=n, p=size / size.sum())
    a, b = rng.random(n), rng.random(n)
    if faces.shape[1] == 2:
        weights = np.column_stack([1.0 - a, a])
    else:
        flip = a + b > 1.0
        a, b = np.where(flip, 1.0 - a, a), np.where(flip, 1.0 - b, b)
        weights = np.column_stack([1.0 - a - b, a, b])
    return np.einsum("nf,nfk->nk", weights, vertices[faces[pick]])


def contour_coverage(model: Model, result: ContourResult | np.ndarray, *,
                     reference: ReferenceSurface | None = None, distance: float = 0.01,
                     distances: Sequence[float] = (0.01, 0.02), norm: str = "euclidean",
                     resolution: int | None = None, n_samples: int = 20000,
                     rng: RngLike = None) -> ContourCoverage:
    """Fraction of the true surface within ``distance`` of the contour points, and the largest gap.

    Parameters
    ----------
    model
        The likelihood the contour was found for.
    result
        A :class:`ContourResult` (its axes, fixed parameters, bounds and
        threshold are used), or points ``(N, k)`` together with ``reference``.
    reference
        A :func:`reference_surface` to reuse (e.g. to compare several results).
    distance, distances
        Relative distances (fractions of the surface's extent along each axis).
    norm
        ``"euclidean"`` distance in the extent-scaled metric, or ``"max"``
        (within ``distance`` of the extent along every axis).
    resolution, n_samples, rng
        Grid points per axis, reference samples, and their seed.
    """
    if norm not in ("euclidean", "max"):
        raise ValueError(f"norm must be 'euclidean' or 'max', got {norm!r}")
    if isinstance(result, ContourResult):
        points = result.contour_points
        if reference is None:
            settings = result.settings
            found = points[np.all(np.isfinite(points), axis=1)]
            box = None
            if len(found):
                span = np.ptp(found, axis=0)
                pad = np.where(span > 0, 0.25 * span, 1.0)
                box = np.column_stack([found.min(axis=0) - pad, found.max(axis=0) + pad])
            reference = reference_surface(model, result.parameter_names, result.threshold,
                                          fixed=settings.get("fixed"),
                                          bounds=settings.get("bounds"), box=box,
                                          resolution=resolution, n_samples=n_samples, rng=rng)
    elif reference is None:
        raise ValueError("pass reference=reference_surface(...) when result is an array of "
                         "points")
    else:
        points = np.asarray(result, dtype=float)
    extent = reference.extent
    if len(points) == 0:
        gap = np.full(len(reference.samples), np.inf)
    else:
        tree = cKDTree(points / extent)
        gap = tree.query(reference.samples / extent, p=np.inf if norm == "max" else 2)[0]
    levels = tuple(float(d) for d in distances)
    return ContourCoverage(float(distance), float(np.mean(gap <= distance)), levels,
                           tuple(float(np.mean(gap <= d)) for d in levels),
                           float(gap.max()) if len(gap) else float("nan"), gap, reference,
                           len(points), norm)
