"""Profiles: one panel per free parameter with the 1-D scan and the profile overlaid.

The curves come from ``model_core.profile`` (``mode="scan"``: the others at
the best fit; ``mode="profile"``: the others re-fitted), the threshold from
``model_core.delta_chi2(CL, 1)``, the interval from ``ProfileResult.interval``.
They are recomputed after the map has been updated, only while the panel is on
screen, and (in a browser session) on a worker thread, so a slow profile never
delays the map or blocks the page.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import holoviews as hv
import numpy as np
import panel as pn
import param
from panel.viewable import Viewer

import model_core as mc

from . import plots
from .jobs import BackgroundJob, served
from .state import StateParameter, free_parameters

__all__ = ["ProfilePanel", "ParameterProfile"]


N_POINTS = 41
#: Each panel shows the profile out to this multiple of the CL threshold (at least 2 sigma).
LEVEL_MARGIN = 1.5


@dataclass(frozen=True, slots=True)
class ParameterProfile:
    """Scan and profile of one parameter, and the profile interval at the session's CL."""

    profile: mc.ProfileResult
    scan: mc.ProfileResult
    level: float
    confidence_level: float
    interval: tuple[float, float]
    scan_interval: tuple[float, float]
    bounds: tuple[float, float]


class ProfilePanel(Viewer):
    """1-D profiles of every free parameter of the session's model."""

    state = StateParameter()
    results = param.Dict(default={}, doc="ParameterProfile by parameter name.")
    active = param.Boolean(default=True, doc="""
        Whether the panel is on screen; while it is not, changes only mark it stale and
        the profiles are computed when it is shown again.""")
    elapsed = param.Number(default=0.0, doc="Seconds the last update took.")
    background = param.Boolean(default=None, allow_None=True, doc="""
        Compute on a worker thread; by default when served (in a browser session).""")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._ranges: dict[str, tuple[float, float]] = {}
        self._pending = False
        self._stale = False
        self._panes: dict[str, tuple[pn.pane.HoloViews, pn.widgets.StaticText, pn.Column]] = {}
        self._generation = 0
        self._job: BackgroundJob | None = None
        self._last: dict[str, ParameterProfile] = {}
        self.grid = pn.FlexBox(sizing_mode="stretch_width", css_classes=["le-profiles"])
        self.summary = pn.widgets.StaticText(value="", sizing_mode="stretch_width",
                                             css_classes=["le-info"])
        self.state.param.watch(self._schedule, ["best", "confidence_level"])
        if self.active:
            self.update()
        else:
            self._stale = True

    def _schedule(self, *events: Any) -> None:
        """Recompute on the next tick (once, however many edits arrive meanwhile)."""
        if not self.active:
            self._stale = True
            return
        if self._pending:
            return
        self._pending = True
        pn.state.execute(self.update, schedule=True)

    @param.depends("active", watch=True)
    def _shown(self) -> None:
        if self.active and self._stale:
            self._schedule()

    def update(self) -> None:
        """Recompute every parameter's scan, profile and interval.

        Served, the work runs on a worker thread and each parameter's curves appear as
        soon as they are ready (the page stays responsive meanwhile); a newer update
        supersedes a running one.  Without a session it runs here and now.
        """
        self._pending = self._stale = False
        self._generation += 1
        generation, start = self._generation, time.perf_counter()
        model, best, cl = self.state.model, self.state.best, self.state.confidence_level
        names = free_parameters(model)
        self.results = {k: v for k, v in self.results.items() if k in names}
        if self._job is not None:
            self._job.cancel()
        background = self.background if self.background is not None else served()
        if not background:
            self._publish(dict(self._compute(model, best, cl)), time.perf_counter() - start)
            return
        gathered: dict[str, ParameterProfile] = {}

        def receive(items: list[tuple[str, ParameterProfile]]) -> None:
            if generation == self._generation:
                gathered.update(items)
                self._publish({**self.results, **gathered}, None)

        def finished(status: str, error: BaseException | None) -> None:
            if generation == self._generation and status == "complete":
                self._publish({**self.results, **gathered}, time.perf_counter() - start)

        self._job = BackgroundJob()
        self._job.start(lambda cancel: self._compute(model, best, cl), receive, finished)

    def _compute(self, model: mc.Model, best: mc.FitResult, cl: float
                 ) -> Iterator[tuple[str, ParameterProfile]]:
        """Scan and profile of each free parameter, one at a time."""
        level = mc.delta_chi2(cl, 1)
        reach = LEVEL_MARGIN * max(level, mc.delta_chi2(mc.sigma_to_cl(2.0), 1))
        for name in free_parameters(model):
            i = model.index(name)
            lo, hi = self._range(model, best, name, reach)
            grid = np.unique(np.append(np.linspace(lo, hi, N_POINTS), best.x[i]))
            profile = mc.profile(model, name, grid, best=best, mode="profile")
            scan = mc.profile(model, name, grid, best=best, mode="scan")
            yield name, ParameterProfile(profile, scan, level, cl, profile.interval(cl),
                                         scan.interval(cl),
                                         tuple(float(b) for b in model.bounds[i]))

    def _publish(self, results: dict[str, ParameterProfile], elapsed: float | None) -> None:
        order = free_parameters(self.state.model)
        self.results = {k: results[k] for k in order if k in results}
        if elapsed is not None:
            self.elapsed = elapsed
        self._render()

    def _range(self, model: mc.Model, best: mc.FitResult, name: str, reach: float
               ) -> tuple[float, float]:
        """Keep the range while the best fit stays in its middle 80%; otherwise ask the core."""
        x = best.x[model.index(name)]
        old = self._ranges.get(name)
        if old is not None:
            lo, hi = old
            inner = 0.1 * (hi - lo)
            if lo + inner <= x <= hi - inner or (x in (lo, hi) and x in model.bounds[
                    model.index(name)]):
                return old
        others = [n for n in free_parameters(model) if n != name]
        lo, hi = mc.region_extent(model, name, best=best, delta=reach, minimise=others)
        if not hi > lo:
            lo, hi = lo - 0.5, hi + 0.5
        self._ranges[name] = (lo, hi)
        return lo, hi

    def _render(self) -> None:
        names = list(self.results)
        if list(self._panes) != names:
            # one card per parameter, kept while the parameter exists; its figure updates
            # in place
            self._panes = {name: self._panes.get(name) or self._card(name) for name in names}
            self.grid.objects = [self._panes[n][2] for n in names]
        for name, result in self.results.items():
            text, grid = self._panes[name][1], result.profile.grid
            text.value = (f"<b>{name}</b> ∈ "
                          f"{plots.format_interval(result.interval, grid, result.bounds)}"
                          f" <span class='le-muted'>(profile; scan: "
                          f"{plots.format_interval(result.scan_interval, grid, result.bounds)}"
                          "</span>")
        cl = self.state.confidence_level
        self.summary.value = (
            f"Solid: profile (others re-fitted) · dashed: scan (others at the best fit) · "
            f"orange line: Δχ² = {mc.delta_chi2(cl, 1):.3f}, the {100 * cl:.4g}% CL threshold "
            f"for one parameter · shaded: the profile interval · {1e3 * self.elapsed:.0f} ms")

    def _card(self, name: str) -> tuple[pn.pane.HoloViews, pn.widgets.StaticText, pn.Column]:
        figure = pn.pane.HoloViews(self._figure(name), linked_axes=False, margin=(0, 4))
        text = pn.widgets.StaticText(value="", css_classes=["le-interval"], margin=(0, 10))
        return figure, text, pn.Column(figure, text, css_classes=["le-profile-card"])

    def _figure(self, name: str) -> hv.DynamicMap:
        def render(results: dict[str, ParameterProfile]) -> hv.Overlay:
            result = results.get(name) or self._last[name]
            self._last[name] = result
            return plots.profile_plot(result.profile, result.scan, level=result.level,
                                      confidence_level=result.confidence_level)

        return hv.DynamicMap(render, streams=[
            hv.streams.Params(parameterized=self, parameters=["results"])]).opts(framewise=True)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self.summary, self.grid, sizing_mode="stretch_width")

