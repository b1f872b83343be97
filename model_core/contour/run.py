"""The explicit context of one contour search: what every stage reads and updates.

A :class:`ContourRun` holds the surface being traced, the settings, one random
stream per stage (spawned before any work, so a stage's draws never depend on
another's), the points found so far (:class:`PointStore`) with the evenly
spaced set that guards them, the point budget and the counters.  Stages are
plain generator functions of a run (:mod:`.stages`, :mod:`.explore`,
:mod:`.chains`, :mod:`.fill`, :mod:`.faces`): they read these fields and
report every new point through :meth:`ContourRun.record`, which returns the
:class:`~.results.ContourBatch` they yield.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from ..model import Model
from ..random import RngLike, as_generator
from ..stats import delta_chi2
from .dispatch import as_executor, map_ordered, ray_unit
from .islands import CONTACT, merge_islands
from .radial import RayResult
from .results import ContourBatch, ContourResult, Stage
from .settings import ContourSettings, merged_bounds, resolve_axes
from .spacing import SpacedPoints
from .surface import ContourSurface

__all__ = ["ContourRun", "PointStore", "RngStreams", "RESCALE_GROWTH"]

#: The spacing metric is re-scaled once the region found has grown by more than this
#: share of its extent along some axis (a non-convex region seen first from one side).
RESCALE_GROWTH = 0.1
#: With one axis the "surface" is a set of isolated points: keep every distinct one.
_SPACING_K1 = 1e-7


@dataclass(frozen=True, slots=True)
class RngStreams:
    """One generator per stage, spawned from the run's root in this order."""

    mle: np.random.Generator
    explore: np.random.Generator
    radial: np.random.Generator
    gaps: np.random.Generator
    rattle: np.random.Generator
    fill: np.random.Generator
    faces: np.random.Generator
    probe: np.random.Generator

    @classmethod
    def spawn(cls, root: np.random.Generator) -> RngStreams:
        return cls(*root.spawn(len(fields(cls))))


class PointStore:
    """The points found so far, in the order they were reported.

    Each part holds ``(Y, from_radial, on_bound, residual, full, island)``.
    """

    def __init__(self, k: int, npar: int) -> None:
        self.k, self.npar = k, npar
        self._parts: list[tuple[np.ndarray, ...]] = []
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def add(self, Y: np.ndarray, from_radial: np.ndarray, on_bound: np.ndarray,
            residual: np.ndarray, full: np.ndarray, island: np.ndarray) -> None:
        if len(Y):
            self._parts.append((Y, from_radial, on_bound, residual, full, island))
            self._n += len(Y)

    def _stacked(self, i: int, empty: np.ndarray) -> np.ndarray:
        return np.concatenate([p[i] for p in self._parts]) if self._parts else empty

    @property
    def points(self) -> np.ndarray:
        return self._stacked(0, np.zeros((0, self.k)))

    @property
    def from_radial(self) -> np.ndarray:
        return self._stacked(1, np.zeros(0, bool))

    @property
    def on_bound(self) -> np.ndarray:
        return self._stacked(2, np.zeros(0, bool))

    @property
    def residual(self) -> np.ndarray:
        return self._stacked(3, np.zeros(0))

    @property
    def full(self) -> np.ndarray:
        return self._stacked(4, np.zeros((0, self.npar)))

    @property
    def island(self) -> np.ndarray:
        return self._stacked(5, np.zeros(0, int))


class ContourRun:
    """One contour search: its surface, settings, random streams, points, budget and counters.

    Build it with :meth:`start`.  Every attribute is public; stages update
    ``n_evaluations`` (:meth:`count`), ``warnings``, ``notes``, ``status`` and
    ``message``, and report points through :meth:`record`.

    Attributes
    ----------
    settings : ContourSettings
    surface : ContourSurface
        The (profiled) NLL over the axes; its level ``T`` is set by the ``mle`` stage.
    k : int
    confidence_level, delta : float
    executor : Executor or None
    rng : RngStreams
    points : PointStore
    spaced : SpacedPoints or None
        The evenly spaced set guarding the points (from the ``radial`` stage on).
    theta_mle, nll_min, threshold : the best fit and the level.
    minima : ndarray (m, k)
        Minima inside the region, best first; ``minima_nll`` their NLL and
        ``minima_profiled`` the profiled parameters there.  Each
        starts as its own island; every point carries the index of its minimum.
    status, message, stage : how the run stands.
    warnings, notes : list of str
    n_evaluations : int
        Rows evaluated so far (one per row of every batched call).
    search_box : ndarray (k, 2) or None
        Set by the ``explore`` stage.
    uncovered : float or None
        Estimated uncovered share of the surface when the budget stopped the run.
    """

    def __init__(self, settings: ContourSettings, surface: ContourSurface,
                 confidence_level: float, executor: Any, root: np.random.Generator) -> None:
        self.settings = settings
        self.surface = surface
        self.k = surface.k
        self.confidence_level = float(confidence_level)
        self.delta = delta_chi2(confidence_level, self.k)
        self.executor = as_executor(executor)
        seq = getattr(root.bit_generator, "seed_seq", None)
        entropy = getattr(seq, "entropy", None)
        self.seed_entropy = int(entropy) if isinstance(entropy, (int, np.integer)) else None
        self.rng = RngStreams.spawn(root)
        self.t0 = time.perf_counter()
        self.points = PointStore(self.k, surface.model.npar)
        self.spaced: SpacedPoints | None = None
        self.status, self.message = "complete", ""
        self.stage: Stage = "mle"
        self.warnings: list[str] = []
        self.notes: list[str] = []
        self.n_evaluations = 0
        self.theta_mle = np.full(self.k, np.nan)
        self.nll_min = self.threshold = float("nan")
        self.minima = np.zeros((0, self.k))
        self.minima_nll = np.zeros(0)
        self.minima_profiled = np.zeros((0, surface.m))
        self.search_box: np.ndarray | None = None
        self.uncovered: float | None = None

    @classmethod
    def start(cls, model: Model, confidence_level: float, parameters: Sequence[str] | None,
              fixed: Mapping[str, float] | None,
              bounds: Mapping[str, Sequence[float | None]] | None, rng: RngLike, executor: Any,
              settings: Mapping[str, Any] | ContourSettings) -> ContourRun:
        """A run of ``model`` with every argument checked (bad ones raise ``ValueError``)."""
        checked = settings if isinstance(settings, ContourSettings) else \
            ContourSettings.from_mapping(settings)
        axes, fixed_idx = resolve_axes(model, parameters, fixed)
        surface = ContourSurface(model, axes, fixed_idx, merged_bounds(model, bounds))
        return cls(checked, surface, confidence_level, executor, as_generator(rng))

    def on_plane(self, axis: int, value: float, nll_min: float) -> ContourRun:
        """A run of the same level ``T`` on the bound plane ``axis = value`` (``k - 1`` axes),
        with this run's metric restricted to the plane and its remaining budget.

        ``nll_min`` is the lowest NLL on the plane: the plane's own ``Delta`` is
        ``2 (T - nll_min)``, which sizes its rays.
        """
        surface = self.surface
        axes = [int(a) for i, a in enumerate(surface.axes) if i != axis]
        fixed = {**surface.fixed, int(surface.axes[axis]): float(value)}
        plane = ContourSurface(surface.model, axes, fixed, surface.all_bounds, self.threshold)
        settings = replace(self.settings, n_explore=0, max_points=max(self.room, 1))
        child = ContourRun(settings, plane, self.confidence_level, self.executor,
                           self.rng.faces.spawn(1)[0])
        child.delta = 2.0 * (self.threshold - nll_min)
        child.nll_min, child.threshold = nll_min, self.threshold
        keep = np.arange(self.k) != axis
        child.set_metric(self.spaced.center[keep], self.spaced.scale[keep])
        return child

    # -- counters and budget -----------------------------------------------------------------
    def count(self, n_evaluations: int) -> None:
        """Add rows evaluated by a stage."""
        self.n_evaluations += int(n_evaluations)

    @property
    def n_points(self) -> int:
        return len(self.points)

    @property
    def room(self) -> int:
        """How many more points the budget allows."""
        return max(self.settings.max_points - self.n_points, 0)

    def budget_left(self) -> bool:
        """Whether more points may be found; marks the run ``budget_exhausted`` when not."""
        if self.room > 0:
            return True
        if self.status == "complete":
            self.status = "budget_exhausted"
            self.message = (f"stopped at max_points={self.settings.max_points} points; raise it "
                            "(or the spacing) for a complete surface")
        return False

    # -- points -----------------------------------------------------------------------------
    def set_metric(self, lo: np.ndarray, extent: np.ndarray) -> None:
        """Fix (or re-fix) the scaled metric: each axis divided by the region's ``extent``.

        Points already found keep guarding their neighbourhoods in the new metric.
        """
        fallback = extent.max() if extent.max() > 0 else 1.0
        scale = np.where(extent > 1e-9 * fallback, extent, fallback)
        spacing = _SPACING_K1 if self.k == 1 else self.settings.spacing
        spaced = SpacedPoints(lo, scale, spacing)
        spaced.insert(self.points.points)
        self.spaced = spaced

    @property
    def scale(self) -> np.ndarray | None:
        return None if self.spaced is None else self.spaced.scale

    def rescale_if_grown(self) -> bool:
        """Re-fix the metric when the points found reach beyond the current scale."""
        Y = self.points.points
        if self.spaced is None or len(Y) == 0:
            return False
        lo, hi = Y.min(axis=0), Y.max(axis=0)
        if not np.any(hi - lo > (1.0 + RESCALE_GROWTH) * self.spaced.scale):
            return False
        self.set_metric(lo, np.maximum(hi - lo, self.spaced.scale))
        note = "the spacing metric was re-scaled to the extent of the region found"
        self.notes[:] = [n for n in self.notes if not n.startswith(note)]
        self.notes.append(f"{note} ({', '.join(f'{v:.4g}' for v in self.spaced.scale)})")
        return True

    def record(self, stage: Stage, Y: np.ndarray, P: np.ndarray, *, from_radial: bool,
               on_bound: np.ndarray, residual: np.ndarray, island: np.ndarray,
               n_done: int, n_total: int, message: str = "") -> ContourBatch:
        """Store new points (as many as the budget allows) and return their batch."""
        self.stage = stage
        room = self.room
        Y, P, on_bound = Y[:room], P[:room], np.asarray(on_bound, bool)[:room]
        residual, island = residual[:room], np.asarray(island, int)[:room]
        full = self.surface.full(Y, P) if len(Y) else np.zeros((0, self.surface.model.npar))
        radial = np.full(len(Y), from_radial)
        self.points.add(Y, radial, on_bound, residual, full, island)
        return ContourBatch(stage, Y, radial, on_bound, residual, int(n_done), int(n_total),
                            self.n_points, self.n_evaluations, self.surface.axis_names,
                            self.theta_mle.copy(), self.nll_min, self.threshold, message,
                            full_points=full, warnings=tuple(self.warnings))

    # -- rays --------------------------------------------------------------------------------
    def solve_rays(self, origins: np.ndarray, directions: np.ndarray, profiled: np.ndarray,
                   predictors: np.ndarray | None = None,
                   start: tuple[np.ndarray, np.ndarray] | None = None) -> list[RayResult]:
        """Rays in chunks of ``batch_size``, on the executor; results in order."""
        size = self.settings.batch_size
        r_init = float(np.sqrt(self.delta))
        calls = [((self.surface, origins[i:i + size], directions[i:i + size],
                   profiled[i:i + size], r_init, self.settings.tol,
                   None if predictors is None else predictors[i:i + size],
                   None if start is None else (start[0][i:i + size], start[1][i:i + size])), {})
                 for i in range(0, len(origins), size)]
        results = list(map_ordered(self.executor, ray_unit, calls))
        self.count(sum(r.n_evaluations for r in results))
        return results

    # -- the end -----------------------------------------------------------------------------
    def cancel(self) -> None:
        self.status = "cancelled"
        self.message = f"cancelled during the {self.stage} stage"

    def result(self) -> ContourResult:
        """The points and everything known about the run, as a frozen result."""
        store = self.points
        points, island = store.points, store.island
        islands: tuple = ((), island)
        if len(self.minima):
            scaled = self.spaced.scaled(points) if self.spaced is not None else points
            radius = CONTACT * self.spaced.spacing if self.spaced is not None else 0.0
            islands = merge_islands(scaled, island, self.minima, self.minima_nll, radius)
        message = self.message or f"{len(points)} points"
        names = self.surface.model.parameter_names
        settings = {**self.settings.as_dict(),
                    "fixed": {names[i]: v for i, v in self.surface.fixed.items()},
                    "profiled": list(self.surface.profiled_names),
                    "all_parameters": list(names),
                    "bounds": {n: tuple(float(v) for v in b) for n, b in
                               zip(self.surface.axis_names, self.surface.bounds, strict=True)}}
        return ContourResult(
            theta_mle=self.theta_mle, nll_min=self.nll_min, threshold=self.threshold,
            delta=self.delta, contour_points=points, from_radial=store.from_radial,
            parameter_names=self.surface.axis_names, confidence_level=self.confidence_level,
            dof=self.k, residuals=store.residual, on_bound=store.on_bound,
            full_points=store.full, stage=self.stage, status=self.status, message=message,
            warnings=tuple(self.warnings), n_evaluations=int(self.n_evaluations),
            elapsed=time.perf_counter() - self.t0, minima=self.minima,
            seed_entropy=self.seed_entropy, settings=settings,
            scale=None if self.scale is None else self.scale.copy(), notes=tuple(self.notes),
            islands=islands[0], island=islands[1],
            search_box=None if self.search_box is None else self.search_box.copy(),
            uncovered=self.uncovered)

    def done(self) -> ContourBatch:
        """The last batch: no points, and the result."""
        result = self.result()
        return ContourBatch("done", np.zeros((0, self.k)), np.zeros(0, bool), np.zeros(0, bool),
                            np.zeros(0), 1, 1, self.n_points, self.n_evaluations,
                            self.surface.axis_names, self.theta_mle.copy(), self.nll_min,
                            self.threshold, result.message,
                            full_points=np.zeros((0, self.surface.model.npar)),
                            warnings=result.warnings, result=result)
