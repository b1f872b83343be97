"""Settings of the contour finder and the resolution of axes, fixed and profiled parameters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..model import Model
from ..params import resolve_fixed

__all__ = ["DEFAULTS", "check_settings", "merged_bounds", "resolve_axes"]

#: Default settings, with what each one controls.
DEFAULTS: dict[str, Any] = {
    "n_radial": 2000,          # rays of the radial search (spread over the anchors)
    "n_chains": 100,           # RATTLE chains (0: radial search only, no chains, no filling)
    "n_steps": 4000,           # most steps per chain (fewer when coverage saturates)
    "step_size": 0.05,         # largest chain step, in the scaled metric (fraction of the extent)
    "n_gap_candidates": 3000,  # rays of the gap search
    "tol": 1e-9,               # |NLL - T| required at every point not on a bound
    "batch_size": 4096,        # rays or chains per batched call / work unit
    "n_starts": 16,            # starts of the maximum-likelihood fit
    "max_points": 20000,       # stop (status "budget_exhausted") after this many points
    "spacing": 0.008,          # least distance between points, in the scaled metric
    "sync_every": 20,          # chain steps between recording, restarts and batches
    "refresh_every": 10,       # chain steps between momentum refreshes
    "saturation": 0.2,         # end the chains when fewer steps than this give new points
    "n_anchors": 48,           # most starting points of rays (minima and valley points)
    "max_walk": 200,           # most steps of a valley walk in each direction
    "max_iter": 8,             # projection iterations per chain step
    "max_fill_rounds": 200,    # most rounds of the final hole filling (0: none)
}

_INTEGER = ("n_radial", "n_chains", "n_steps", "n_gap_candidates", "batch_size", "n_starts",
            "max_points", "sync_every", "refresh_every", "n_anchors", "max_walk", "max_iter",
            "max_fill_rounds")
_POSITIVE = ("step_size", "tol", "spacing")
_MINIMUM = {"n_radial": 1, "n_chains": 0, "n_steps": 0, "n_gap_candidates": 0, "batch_size": 1,
            "n_starts": 1, "max_points": 1, "sync_every": 1, "refresh_every": 1, "n_anchors": 1,
            "max_walk": 0, "max_iter": 1, "max_fill_rounds": 0}


def check_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults updated with ``settings``; a bad setting raises ``ValueError`` naming it."""
    unknown = sorted(set(settings) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown contour setting {unknown[0]!r}; known settings: "
                         + ", ".join(DEFAULTS))
    out = {**DEFAULTS, **settings}
    for name in _INTEGER:
        value = out[name]
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
                or value < _MINIMUM[name]:
            raise ValueError(f"setting {name}={value!r} must be an integer >= {_MINIMUM[name]}")
        out[name] = int(value)
    for name in _POSITIVE:
        value = out[name]
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) \
                or not np.isfinite(value) or value <= 0:
            raise ValueError(f"setting {name}={value!r} must be a positive number")
        out[name] = float(value)
    if not 0.0 <= float(out["saturation"]) < 1.0:
        raise ValueError(f"setting saturation={out['saturation']!r} must lie in [0, 1), "
                         "e.g. 0.2")
    out["saturation"] = float(out["saturation"])
    return out


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
