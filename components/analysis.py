"""Profiles, profile intervals and the fit summary of the session's model: data that the
Profiles and Fit summary views render.

Every free parameter gets its profile intervals at the levels on display and the fit
summary's levels (``model_core.summary.profile_intervals``: searched outwards until the
threshold is crossed, a bound is met or the search ends), and its profile and scan over
a range that shows the widest of them (``model_core.profile``).  The work runs in the
session's background lane ``"profiles"``, one parameter after another (each shown as soon
as it is ready); a newer model or level supersedes it.  While no view that shows the
results is on screen, changes only mark them stale.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import param
from panel.viewable import Viewer

import model_core as mc
from model_core.extent import quadratic_width
from model_core.summary import (
    SUMMARY_LEVELS,
    FitSummary,
    ProfileInterval,
    fit_summary,
    profile_intervals,
)

from . import plots
from .state import StateParameter, as_state, free_parameters

__all__ = ["Analysis", "AnalysisView", "ParameterProfile", "N_POINTS", "interval_levels"]

#: Points of each profile and scan (the interval ends and the best fit are added).
N_POINTS = 61
#: Each plot reaches this share of its widest interval beyond the interval's ends.
MARGIN = 0.2
#: An open side (no crossing, no bound) is drawn out to this multiple of the other side's
#: reach (or of the Hessian's width when both sides are open).
OPEN_SIDE = 3.0


@dataclass(frozen=True, slots=True)
class ParameterProfile:
    """Scan, profile and profile intervals of one parameter.

    Attributes
    ----------
    parameter : str
    profile, scan : ProfileResult
        The others re-fitted, and the others at the best fit.
    intervals : dict of float to ProfileInterval
        By confidence level.
    """

    parameter: str
    profile: mc.ProfileResult
    scan: mc.ProfileResult
    intervals: dict[float, ProfileInterval]


def interval_levels(confidence_level: float, sigmas: list[int]) -> tuple[float, ...]:
    """The levels whose intervals are wanted: those on display and the summary's."""
    shown = [level.confidence_level for level in plots.drawn_levels(confidence_level, sigmas)]
    return tuple(sorted({*shown, *SUMMARY_LEVELS}))


def plot_range(intervals: list[ProfileInterval], x0: float, width: float,
               bounds: tuple[float, float]) -> tuple[float, float]:
    """A range that shows every interval's ends (open sides: some way out), with a margin,
    within the parameter's bounds."""
    widest = max(intervals, key=lambda iv: iv.delta)
    reach = {}
    for side, (end, kind) in enumerate(((widest.lower, widest.lower_kind),
                                        (widest.upper, widest.upper_kind))):
        reach[side] = None if kind == "open" else abs(end - x0)
    known = [r for r in reach.values() if r is not None and r > 0]
    fallback = OPEN_SIDE * (max(known) if known else width)
    lo = x0 - (reach[0] if reach[0] is not None else fallback)
    hi = x0 + (reach[1] if reach[1] is not None else fallback)
    pad = MARGIN * (hi - lo) if hi > lo else max(1.0, abs(x0)) * 0.5
    lo, hi = max(lo - pad, bounds[0]), min(hi + pad, bounds[1])
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    return float(lo), float(hi)


def profiles(model: mc.Model, best: mc.FitResult, levels: tuple[float, ...]
             ) -> Iterator[ParameterProfile]:
    """The :class:`ParameterProfile` of every free parameter, one at a time."""
    for name in free_parameters(model):
        i = model.index(name)
        found = profile_intervals(model, name, levels, best=best)
        x0 = float(best.x[i])
        others = [j for j in range(model.npar) if j != i and not model.fixed[j]]
        width = quadratic_width(best.hess, i, others, max(iv.delta for iv in found), x0)
        bounds = (float(model.bounds[i, 0]), float(model.bounds[i, 1]))
        lo, hi = plot_range(list(found), x0, width, bounds)
        ends = [v for iv in found for v in (iv.lower, iv.upper) if lo <= v <= hi]
        grid = np.unique(np.concatenate([np.linspace(lo, hi, N_POINTS), [x0], ends]))
        yield ParameterProfile(name, mc.profile(model, name, grid, best=best, mode="profile"),
                               mc.profile(model, name, grid, best=best, mode="scan"),
                               {iv.confidence_level: iv for iv in found})


class Analysis(param.Parameterized):
    """The session model's profiles, intervals and fit summary (a data store, no widgets)."""

    state = StateParameter()
    results = param.Dict(default={}, doc="ParameterProfile by parameter name.")
    summary = param.ClassSelector(class_=FitSummary, allow_None=True, doc="""
        Values, Hessian errors, correlations; profile intervals once every parameter's are
        in (at the summary's levels and those on display).""")
    levels = param.List(default=[], item_type=float,
                        doc="The confidence levels of the intervals.")
    revision = param.Integer(default=-1, doc="The model revision of the newest results.")
    computing = param.Boolean(default=False, doc="A newer set of results is on its way.")
    wanted = param.List(default=[], doc="""
        Views on screen that show these results; while there are none, changes only mark
        the results stale (they are computed when a view is shown).""")
    stale = param.Boolean(default=True, doc="The results do not match the model on screen.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.state.param.watch(self._changed, ["best", "confidence_level", "sigmas"])

    def want(self, view: str, shown: bool) -> None:
        """Say whether ``view`` is on screen (it then needs up-to-date results)."""
        wanted = [v for v in self.wanted if v != view] + ([view] if shown else [])
        self.wanted = wanted
        if wanted and self.stale:
            self.update()

    def _changed(self, *events: Any) -> None:
        self.stale = True
        if self.wanted:
            self.update()

    def update(self) -> None:
        """Recompute everything in the background (a running update is superseded)."""
        state = self.state
        model, best, revision = state.model, state.best, state.revision
        levels = interval_levels(state.confidence_level, state.sigmas)
        self.stale = False
        names = free_parameters(model)
        # the Hessian part at once; the profiles as they come (the previous ones stay on
        # screen meanwhile, marked as updating)
        self.param.update(
            summary=fit_summary(model, best, SUMMARY_LEVELS, intervals={}),
            results={k: v for k, v in self.results.items() if k in names}, computing=True)
        gathered: dict[str, ParameterProfile] = {}

        def work(cancel: Any, emit: Any) -> None:
            for item in profiles(model, best, levels):
                if cancel.is_set():
                    return
                emit(item)

        def arrived(items: list[ParameterProfile]) -> None:
            gathered.update((item.parameter, item) for item in items)
            current = {**self.results, **gathered}
            self.param.update(results={k: current[k] for k in names if k in current},
                              revision=revision, levels=list(levels))

        def done(status: str, error: BaseException | None) -> None:
            if status != "complete":
                self.computing = False
                return
            intervals = {k: tuple(v.intervals[cl] for cl in SUMMARY_LEVELS)
                         for k, v in gathered.items()}
            self.param.update(summary=fit_summary(model, best, SUMMARY_LEVELS,
                                                  intervals=intervals), computing=False)

        state.jobs.submit("profiles", work, arrived, done, supersede=True, min_interval=0.2)


class AnalysisView(Viewer):
    """A view of the session's :class:`Analysis`, drawn while on screen.

    ``state=`` (a :class:`~components.state.SessionState` or anything that makes one) is a
    notebook's shortcut for ``analysis=SessionState(...).analysis``.
    """

    analysis = param.ClassSelector(class_=Analysis)
    active = param.Boolean(default=True, doc="Whether the panel is on screen.")

    def __init__(self, **params: Any) -> None:
        if "state" in params:
            params["analysis"] = as_state(params.pop("state")).analysis
        super().__init__(**params)
