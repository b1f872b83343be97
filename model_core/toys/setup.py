"""What every toy study settles before drawing toys: axes, fixed values, starts, streams."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..contour.settings import resolve_axes
from ..fit import fit
from ..model import Model
from ..random import RngLike, as_generator
from ..results import FitResult
from ..stats import delta_chi2
from .data import UNBINNED_MODES, seed_entropy

__all__ = ["StudySetup", "check_count", "check_inside_bounds", "prepare"]

#: Starts of the fit to the observed data that looks for separate minima.
N_STARTS = 16
#: Most separate observed minima used as extra starts of every toy's fit.
MAX_BASINS = 4
#: Toys per work unit (one batched fit).
BATCH_SIZE = 1000
#: Work units in flight on an executor.
IN_FLIGHT = 8


@dataclass(frozen=True, slots=True, eq=False)
class StudySetup:
    """Settled inputs of a toy study.

    Attributes
    ----------
    model : the observed model.
    axes : indices of the region's axes; fixed : index to value; profiled : the others.
    bounds : (npar, 2) bounds of every fit.
    best : the multi-start fit to the observed data (with ``fixed``).
    basins : (S, npar) its separate minima, when it has several (extra starts of every toy).
    confidence_levels : tuple of float; thresholds : ``chi2.ppf(CL, k)`` for each.
    rng_toys : the generator the toys' streams are spawned from.
    seed_entropy : entropy of the root seed, or None.
    unbinned : how unbinned channels are treated (see :func:`~.data.sample_toys`).
    """

    model: Model
    axes: tuple[int, ...]
    fixed: dict[int, float]
    bounds: np.ndarray
    best: FitResult
    basins: np.ndarray
    confidence_levels: tuple[float, ...]
    thresholds: np.ndarray
    rng_toys: np.random.Generator
    seed_entropy: int | None
    unbinned: str

    @property
    def dof(self) -> int:
        return len(self.axes)

    @property
    def axis_names(self) -> tuple[str, ...]:
        return tuple(self.model.parameter_names[i] for i in self.axes)

    @property
    def fixed_names(self) -> dict[str, float]:
        return {self.model.parameter_names[i]: v for i, v in self.fixed.items()}

    def starts_besides(self, truth: np.ndarray) -> np.ndarray:
        """The basins that are not ``truth (npar,)`` itself (within 1e-6 of each scale)."""
        scale = np.maximum(1.0, np.abs(truth))
        far = np.max(np.abs(self.basins - truth) / scale, axis=1) > 1e-6
        return self.basins[far]


def check_count(name: str, value: Any) -> int:
    """A positive integer setting, or ``ValueError`` naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_inside_bounds(model: Model, x: np.ndarray, bounds: np.ndarray, what: str) -> None:
    """``ValueError`` naming the first parameter of ``x`` outside ``bounds``."""
    outside = np.flatnonzero((x < bounds[:, 0]) | (x > bounds[:, 1]))
    if outside.size:
        i = int(outside[0])
        raise ValueError(f"{what}: {model.parameter_names[i]} = {x[i]:g} lies outside its "
                         f"bounds [{bounds[i, 0]:g}, {bounds[i, 1]:g}]; choose a value inside")


def prepare(model: Model, parameters: Sequence[str] | str | None,
            fixed: Mapping[str, float] | None, confidence_levels: Sequence[float] | float,
            rng: RngLike, unbinned: str) -> StudySetup:
    """Resolve the axes and fixed parameters, fit the observed data and split ``rng``."""
    if unbinned not in UNBINNED_MODES:
        raise ValueError(f"unbinned must be one of {UNBINNED_MODES}, got {unbinned!r}")
    axes, fixed_idx = resolve_axes(model, parameters, fixed)
    levels = tuple(float(cl) for cl in np.atleast_1d(np.asarray(confidence_levels, dtype=float)))
    if not levels:
        raise ValueError("confidence_levels is empty; give at least one, e.g. (0.68, 0.95)")
    thresholds = np.array([delta_chi2(cl, len(axes)) for cl in levels])
    root = as_generator(rng)
    rng_fit, rng_toys = root.spawn(2)
    names = model.parameter_names
    best = fit(model, fixed={names[i]: v for i, v in fixed_idx.items()}, n_starts=N_STARTS,
               rng=rng_fit)
    # one minimum needs no extra start: every toy's fit starts at its own truth
    several = best.success and len(best.minima_x) > 1
    basins = best.minima_x[:MAX_BASINS] if several else np.zeros((0, model.npar))
    return StudySetup(model, tuple(axes), fixed_idx, model.bounds.copy(), best, basins, levels,
                      thresholds, rng_toys, seed_entropy(root), unbinned)
