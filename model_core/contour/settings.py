"""Settings of the contour finder and the resolution of axes, fixed and profiled parameters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from ..model import Model
from ..params import resolve_fixed

__all__ = ["DEFAULTS", "ContourSettings", "check_settings", "merged_bounds", "resolve_axes"]


@dataclass(frozen=True, slots=True)
class ContourSettings:
    """Every setting of one contour search, checked on construction.

    Attributes
    ----------
    n_radial : int
        Rays of the radial search, spread over the anchors.  With two axes the
        rays are spread evenly in angle and refined where neighbouring points
        lie farther apart than ``spacing``; ``n_radial`` is then their budget.
    n_chains : int
        RATTLE chains (0: radial search and bound faces only).
    n_steps : int
        Most steps per chain (fewer when coverage saturates).
    step_size : float
        Largest chain step, in the scaled metric (a fraction of the extent).
    n_gap_candidates : int
        Rays of the gap search.
    tol : float
        ``|NLL - T|`` required at every point not on a bound.
    batch_size : int
        Rays or chains per batched call (one work unit for the executor).
    n_starts : int
        Starts of the maximum-likelihood fit, spread over the parameter box.
    n_explore : int
        Points of each round of the search for separate regions (0: none).
    explore_reach : float
        Along axes without bounds, the search for separate regions reaches this
        many extents of the region found (on each side of it).
    max_points : int
        Stop (status ``"budget_exhausted"``) after this many points.  The default
        completes any convex region's surface (faces included) at the default
        spacing: points at least ``h`` apart cover at most ``sqrt(3) / 2 * h**2``
        of area each (hexagonal packing), and in the metric where the region's
        bounding box is the unit cube its surface has an area of at most 6.
    spacing : float
        Least distance between points, in the scaled metric.
    sync_every : int
        Chain steps between recording, restarts and batches.
    refresh_every : int
        Chain steps between momentum refreshes.
    saturation : float
        End the chains when fewer steps than this share give new points.
    n_anchors : int
        Most starting points of rays per island (its minimum and valley points).
    max_walk : int
        Most steps of a valley walk in each direction.
    max_iter : int
        Projection iterations per chain step.
    max_fill_rounds : int
        Most rounds of the final hole filling (0: none).
    faces : bool
        Sample the faces where the region meets a parameter bound.
    """

    n_radial: int = 2000
    n_chains: int = 100
    n_steps: int = 4000
    step_size: float = 0.05
    n_gap_candidates: int = 3000
    tol: float = 1e-9
    batch_size: int = 4096
    n_starts: int = 32
    n_explore: int = 2048
    explore_reach: float = 30.0
    max_points: int = 110_000
    spacing: float = 0.008
    sync_every: int = 20
    refresh_every: int = 10
    saturation: float = 0.2
    n_anchors: int = 48
    max_walk: int = 200
    max_iter: int = 8
    max_fill_rounds: int = 200
    faces: bool = True

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if item.type == "bool":
                if not isinstance(value, (bool, np.bool_)):
                    raise ValueError(f"setting {item.name}={value!r} must be True or False")
                object.__setattr__(self, item.name, bool(value))
            elif item.type == "int":
                least = _MINIMUM[item.name]
                if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
                        or value < least:
                    raise ValueError(f"setting {item.name}={value!r} must be an integer >= {least}")
                most = _MAXIMUM.get(item.name)
                if most is not None and value > most:
                    raise ValueError(f"setting {item.name}={value!r} exceeds its limit of "
                                     f"{most:,}: {_HELD[item.name]} are held in memory at once; "
                                     f"choose at most {most:,}")
                object.__setattr__(self, item.name, int(value))
            else:
                if isinstance(value, (bool, np.bool_)) or not isinstance(
                        value, (int, float, np.integer, np.floating)) or not np.isfinite(value):
                    raise ValueError(f"setting {item.name}={value!r} must be a finite number")
                object.__setattr__(self, item.name, float(value))
        for name in ("step_size", "tol", "spacing", "explore_reach"):
            if not getattr(self, name) > 0:
                raise ValueError(f"setting {name}={getattr(self, name)!r} must be a positive "
                                 "number")
        records = self.n_chains * self.sync_every
        if records > _MOST_CHAIN_RECORDS:
            raise ValueError(f"settings n_chains={self.n_chains} and sync_every={self.sync_every} "
                             f"record {records:,} chain steps per round, above the limit of "
                             f"{_MOST_CHAIN_RECORDS:,} (each is held in memory until the round "
                             "ends); lower either")
        if not 0.0 <= self.saturation < 1.0:
            raise ValueError(f"setting saturation={self.saturation!r} must lie in [0, 1), "
                             "e.g. 0.2")

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> ContourSettings:
        """The defaults updated with ``settings``; an unknown name raises ``ValueError``."""
        unknown = sorted(set(settings) - set(DEFAULTS))
        if unknown:
            raise ValueError(f"unknown contour setting {unknown[0]!r}; known settings: "
                             + ", ".join(DEFAULTS))
        return cls(**settings)

    def as_dict(self) -> dict[str, Any]:
        """The settings by name."""
        return asdict(self)


#: Least value of every integer setting.
_MINIMUM = {"n_radial": 1, "n_chains": 0, "n_steps": 0, "n_gap_candidates": 0, "batch_size": 1,
            "n_starts": 1, "n_explore": 0, "max_points": 1, "sync_every": 1, "refresh_every": 1,
            "n_anchors": 1, "max_walk": 0, "max_iter": 1, "max_fill_rounds": 0}

#: Most value of every integer setting that sizes arrays held at once (a bad value such
#: as 10**12 would otherwise end in a memory error, or take the machine's memory); the
#: app's widgets allow the same ranges.  What each one holds:
_HELD = {"n_radial": "the rays' points", "n_gap_candidates": "the gap rays' points",
         "n_chains": "the chains' states", "batch_size": "the rays or chains of one batch",
         "max_points": "the points found (with their full parameter vectors)",
         "n_explore": "the search's scan points", "n_starts": "the fit's starting points",
         "n_anchors": "the anchors' whitening maps", "max_walk": "the valley walk's points",
         "sync_every": "the chains' positions between two recordings"}
_MAXIMUM = {"n_radial": 1_000_000, "n_gap_candidates": 1_000_000, "n_chains": 100_000,
            "batch_size": 100_000, "max_points": 10_000_000, "n_explore": 1_000_000,
            "n_starts": 10_000, "n_anchors": 10_000, "max_walk": 100_000, "sync_every": 10_000}
#: Most chain steps recorded per round (``n_chains * sync_every``): each holds a position,
#: the profiled parameters and a residual until the round ends.
_MOST_CHAIN_RECORDS = 4_000_000

#: Default settings by name (see :class:`ContourSettings` for what each one controls).
DEFAULTS: dict[str, Any] = asdict(ContourSettings())


def check_settings(settings: Mapping[str, Any]) -> ContourSettings:
    """:meth:`ContourSettings.from_mapping`: a bad setting raises ``ValueError`` naming it."""
    return ContourSettings.from_mapping(settings)


def merged_bounds(model: Model, bounds: Mapping[str, Sequence[float | None]] | None
                  ) -> np.ndarray:
    """The model's bounds with ``bounds`` (by name, ``None`` for no bound) replacing them."""
    out = model.bounds.copy()
    for name, pair in (bounds or {}).items():
        index = model.index(name)
        try:
            lo, hi = pair
        except (TypeError, ValueError):
            raise ValueError(f"bounds of {name!r}: expected (low, high), got {pair!r}") from None
        lo = -np.inf if lo is None else float(lo)
        hi = np.inf if hi is None else float(hi)
        if not lo < hi:
            raise ValueError(f"bounds of {name!r}: low ({lo}) must be below high ({hi}); "
                             f"write e.g. {{{name!r}: ({min(lo, hi)}, {max(lo, hi)})}}")
        out[index] = (lo, hi)
    return out


def resolve_axes(model: Model, parameters: Sequence[str] | str | None,
                 fixed: Mapping[str, float] | None) -> tuple[list[int], dict[int, float]]:
    """Indices of the contour axes and the fixed parameters (index to value).

    The axes default to every parameter that is not fixed.
    """
    fixed_idx = resolve_fixed(model, fixed)
    if parameters is None:
        axes = [i for i in range(model.npar) if i not in fixed_idx]
    else:
        names = [parameters] if isinstance(parameters, str) else list(parameters)
        axes = [model.index(name) for name in names]
        if len(set(axes)) != len(axes):
            raise ValueError(f"parameters {names!r} name an axis twice; list each once")
        both = [model.parameter_names[i] for i in axes if i in fixed_idx]
        if both:
            raise ValueError(f"parameter {both[0]!r} is both fixed and a contour axis: remove it "
                             "from fixed (or unfix it in the spec) or from parameters")
    if not axes:
        raise ValueError("no contour axes: every parameter is fixed; unfix at least one or name "
                         "the axes with parameters=[...]")
    return axes, fixed_idx
