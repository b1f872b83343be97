"""The contour run's figures: the points in 3-D (2-D for two axes, a line for one; pick
three axes beyond three), the pairwise projections and the residual histogram.

While a run streams, every delivery redraws a sample of the points in the scatter (the
layout kept, so only the data go to the browser) and the slower projections and
residuals at most every :data:`SLOW_FIGURES_EVERY` seconds; once it has ended, every
figure shows every point (up to :data:`FINAL_LIMIT`), drawn a moment after the page has
said that the run ended.  Before any run, empty figures over the chosen axes show the
best fit.  A stale run (the model or the level changed since) says so in its titles.
"""

from __future__ import annotations

import time
from itertools import combinations
from typing import Any

import numpy as np
import panel as pn
import param
from panel.viewable import Viewer

from . import contour_plots
from .contour_run import ENDED, ContourRun
from .contour_settings import ContourSettings

__all__ = ["ALL_PAIRS_UP_TO", "ContourFigures", "FINAL_LIMIT", "STREAM_LIMIT"]

#: Points drawn while a run streams, and once it has ended.  A software-rendered 3-D scene
#: takes ~0.3 s per update in headless chromium (and ~2 s for 10,000 points in every
#: figure): few points while streaming, the slower figures rarely.
STREAM_LIMIT = 1000
FINAL_LIMIT = 10000
SLOW_FIGURES_EVERY = 2.0
#: All pairwise projections up to this many axes; beyond, only the pairs of the picked axes.
ALL_PAIRS_UP_TO = 5
STALE_MARK = "Stale (model or level changed) · "


class ContourFigures(Viewer):
    """The figures of the session's contour run."""

    run = param.ClassSelector(class_=ContourRun)
    settings = param.ClassSelector(class_=ContourSettings)
    drawn = param.Integer(default=-1, doc="Points in the scatter on display.")
    final = param.Boolean(default=False, doc="The figures show every point of an ended run.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.pickers = [pn.widgets.Select(label=f"{axis} axis", options=[], width=120,
                                          visible=False) for axis in "xyz"]
        self.placeholder = pn.pane.HTML(
            "<div class='le-placeholder'>Choose at least one contour axis in the table, then "
            "press <b>Start</b>.</div>", sizing_mode="stretch_width")
        plotly = dict(link_figure=False, sizing_mode="stretch_width",
                      config={"displaylogo": False})
        self.scatter = pn.pane.Plotly(None, height=480, css_classes=["le-scatter"], **plotly)
        self.projections = pn.pane.Plotly(None, css_classes=["le-projections"], **plotly)
        self.residuals = pn.pane.Plotly(None, height=300, css_classes=["le-residuals"],
                                        **plotly)
        # the plotly panes join the page when the tab is first shown (plotly.js takes a
        # while to set up a WebGL scene; better then than on Start)
        self.area = pn.Column(self.placeholder, sizing_mode="stretch_width")
        self._slow_drawn_at = -float("inf")
        self._drawn_axes: tuple[int, ...] = ()
        for picker in self.pickers:
            picker.param.watch(self._picked, "value")
        self.run.param.watch(self._streamed, "pushes")
        self.run.param.watch(self._status, "status")
        self.run.param.watch(self._restyle, "stale")
        self.settings.roles.param.watch(self._roles_changed, "value")
        self.settings.param.watch(self._shown, "active")
        self._shown()

    # ------------------------------------------------------------------ triggers
    def _shown(self, *events: Any) -> None:
        if not self.settings.active:
            return
        if self.run.data.k == 0:
            self._preview()
        else:
            self.redraw(final=self.run.status in ENDED, force=True)

    def _roles_changed(self, *events: Any) -> None:
        if self.run.data.k == 0:
            self._preview()

    def _streamed(self, *events: Any) -> None:
        self._update_pickers()
        if self.run.status in ("running", "cancelling"):
            self.redraw(final=False)

    def _status(self, event: param.parameterized.Event) -> None:
        if event.new == "running":
            self.final = False
            self._slow_drawn_at = time.monotonic()  # the first push draws the scatter alone
        elif event.new in ENDED and self.run.data.k:
            data = self.run.data
            # the final figures (every point) take the browser a while to draw: sent on the
            # next tick, so that the page shows that the run ended (and answers a click) first
            pn.state.execute(lambda: self.redraw(final=True) if self.run.data is data
                             else None, schedule=True)

    def _restyle(self, *events: Any) -> None:
        if self.run.data.k:
            self.redraw(final=self.final, force=True)

    def _picked(self, event: param.parameterized.Event) -> None:
        if self.run.data.k and self.display_axes() != self._drawn_axes:
            self.redraw(final=self.run.status in ENDED, force=True)

    # ------------------------------------------------------------------ drawing
    def _preview(self) -> None:
        """Empty figures over the chosen axes, the best fit marked, before any run."""
        if not self.settings.active:
            return
        frame = self.settings.roles.value
        axes = [str(n) for n, r in zip(frame["parameter"], frame["role"], strict=True)
                if r == "axis"] if len(frame) else []
        if not axes:
            self.area.objects = [self.placeholder]
            return
        state = self.run.state
        model, best = state.model, state.best
        names = tuple(axes)
        k = len(names)
        theta = np.array([best.x[model.index(n)] for n in names])
        empty = np.zeros((0, k))
        shown = tuple(range(min(k, 3)))
        self.scatter.height = 480 if k > 1 else 260
        self.scatter.object = contour_plots.scatter_figure(
            empty, np.zeros(0, bool), np.zeros(0, bool), names, theta, shown,
            title="Press Start: the points appear here as the finder streams them")
        self.projections.visible = k >= 3
        if k >= 3:
            self.projections.object = contour_plots.projections_figure(
                empty, np.zeros(0, bool), names, theta,
                list(combinations(shown, 2)) if k > ALL_PAIRS_UP_TO else None)
        self.residuals.object = contour_plots.residual_figure(np.zeros(0), np.zeros(0, bool),
                                                              np.zeros(0, bool))
        self._show_figures()

    def _show_figures(self) -> None:
        if self.placeholder in self.area.objects:
            self.area.objects = [pn.Row(*self.pickers), self.scatter, self.projections,
                                 self.residuals]

    def _update_pickers(self) -> None:
        names = list(self.run.data.parameter_names)
        for n, picker in enumerate(self.pickers):
            if picker.options != names:
                picker.param.update(options=names, value=names[n] if n < len(names) else None)
            picker.visible = len(names) > 3

    def display_axes(self) -> tuple[int, ...]:
        """Indices of the axes drawn in the scatter (the pickers' choice when k > 3)."""
        k = self.run.data.k
        if k <= 3:
            return tuple(range(k))
        names = list(self.run.data.parameter_names)
        chosen = [names.index(p.value) for p in self.pickers if p.value in names]
        return tuple(dict.fromkeys(chosen)) if len(set(chosen)) == 3 else (0, 1, 2)

    def display_pairs(self) -> list[tuple[int, int]]:
        if self.run.data.k <= ALL_PAIRS_UP_TO:
            return list(combinations(range(self.run.data.k), 2))
        return list(combinations(self.display_axes(), 2))

    def redraw(self, *, final: bool, force: bool = False) -> None:
        """Draw the points: a sample while streaming, everything once the run has ended."""
        data = self.run.data
        if data.k == 0 or not self.settings.active:  # off screen: drawn when shown
            return
        if not (final or force) and data.n_points == self.drawn:
            return  # nothing new (e.g. the fit's batch)
        shown = contour_plots.subsample(data.n_points, FINAL_LIMIT if final else STREAM_LIMIT)
        points, radial, bound = data.points[shown], data.from_radial[shown], data.on_bound[shown]
        if final:
            note = "" if len(shown) == data.n_points else \
                f" (showing {len(shown)} of {data.n_points})"
            title = f"{data.n_points} points on NLL = T{note}"
        else:
            # the same title at every push: a new layout would redraw the whole 3-D scene
            title = (f"Points on NLL = T as they arrive (a sample of at most {STREAM_LIMIT} "
                     "while the run streams)")
        if self.run.stale:
            title = STALE_MARK + title
        self._drawn_axes = self.display_axes()
        self.scatter.height = 480 if data.k > 1 else 260
        self.scatter.object = contour_plots.scatter_figure(
            points, radial, bound, data.parameter_names, data.theta_mle, self._drawn_axes,
            title=title)
        self.param.update(drawn=data.n_points, final=final)
        self._show_figures()
        now = time.monotonic()
        if not (final or force) and now - self._slow_drawn_at < SLOW_FIGURES_EVERY:
            return
        self._slow_drawn_at = now
        if data.k >= 3:
            self.projections.object = contour_plots.projections_figure(
                points, radial, data.parameter_names, data.theta_mle, self.display_pairs())
        self.projections.visible = data.k >= 3
        self.residuals.object = contour_plots.residual_figure(data.residuals[shown], radial, bound)

    def figures(self) -> dict[str, Any]:
        """The current figures (every point), for the HTML export."""
        data = self.run.data
        out = {"Contour points": contour_plots.scatter_figure(
            data.points, data.from_radial, data.on_bound, data.parameter_names, data.theta_mle,
            self.display_axes())}
        if data.k >= 3:
            out["Pairwise projections"] = contour_plots.projections_figure(
                data.points, data.from_radial, data.parameter_names, data.theta_mle,
                self.display_pairs())
        out["Residuals"] = contour_plots.residual_figure(data.residuals, data.from_radial,
                                                         data.on_bound)
        return out

    def __panel__(self) -> pn.viewable.Viewable:
        return self.area
