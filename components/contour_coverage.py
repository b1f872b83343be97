"""The coverage check of a contour run (k <= 3): how much of an independently meshed
surface ``NLL = T`` the points come near, and a figure of the surface, the points and the
reference samples no point covers."""

from __future__ import annotations

import math
from typing import Any

import panel as pn
import param
from panel.viewable import Viewer

from . import contour_plots
from .contour_figures import STREAM_LIMIT
from .contour_run import COVERAGE_DISTANCES, LANE, ContourRun

__all__ = ["ContourCoverage", "format_fraction"]

EXPLANATION = ("Compares the points with the surface NLL = T found independently on a grid "
               "(k ≤ 3); takes a second or two, longer with profiled parameters.")


def format_fraction(covered: int, total: int) -> str:
    """``covered`` of ``total`` as a percentage that never reads 100% while some are not
    covered (nor 0% while some are): rounded towards the truth's side."""
    if total == 0:
        return "—"
    percent = 100.0 * covered / total
    shown = math.floor(percent * 10) / 10 if covered < total else 100.0
    if covered and shown == 0.0:
        shown = 0.1
    return f"{shown:.1f}%"


class ContourCoverage(Viewer):
    """Check coverage: the button, the numbers and the figure."""

    run = param.ClassSelector(class_=ContourRun)
    seed = param.Callable(doc="Returns the seed of the reference samples.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.button = pn.widgets.Button(label="Check coverage", color="light", disabled=True,
                                        width=140)
        self.explanation = pn.widgets.StaticText(value=EXPLANATION, css_classes=["le-muted"],
                                                 sizing_mode="stretch_width", margin=(0, 5))
        self.text = pn.widgets.StaticText(value="", sizing_mode="stretch_width",
                                          css_classes=["le-coverage-text"])
        self.figure = pn.pane.Plotly(None, height=520, visible=False, link_figure=False,
                                     sizing_mode="stretch_width", config={"displaylogo": False},
                                     css_classes=["le-coverage"])
        self.button.on_click(lambda event: self.run.check_coverage(self.seed()))
        self.run.param.watch(self._render, ["status", "stale", "coverage", "coverage_status"])
        self.run.state.jobs.watch_lane(LANE, self._render)
        self._render()

    def _render(self, *events: Any) -> None:
        run = self.run
        result = run.result
        self.button.disabled = not (run.exportable and result.dof <= 3)
        report = run.coverage
        if run.coverage_status == "checking":
            self.text.value = "Checking coverage: meshing NLL = T on a grid…"
        elif report is None or run.stale:
            self.text.value = ""
        else:
            self.text.value = self.describe(report)
        self.figure.visible = report is not None and not run.stale
        if report is not None and not run.stale and events and any(
                e.name == "coverage" for e in events):
            data = run.data
            covered = report.sample_distance <= COVERAGE_DISTANCES[0]
            shown = contour_plots.subsample(data.n_points, STREAM_LIMIT)
            self.figure.object = contour_plots.coverage_figure(
                report.reference.vertices, report.reference.faces, report.reference.samples,
                covered, data.points[shown], data.parameter_names)

    @staticmethod
    def describe(report: Any) -> str:
        """The coverage numbers (HTML): covered samples per distance, the largest gap."""
        total = len(report.samples)
        parts = []
        for distance in report.distances:
            covered = int((report.sample_distance <= distance).sum())
            parts.append(f"within {100 * distance:g}%: <b>{format_fraction(covered, total)}</b>"
                         f" ({covered:,} of {total:,})")
        missed = int((report.sample_distance > report.distances[0]).sum())
        return (f"Reference samples covered {' · '.join(parts)} · largest gap "
                f"<b>{report.largest_gap:.3g}</b> <span class='le-muted'>(distances relative "
                f"to the surface's extent; {missed} sample{'s' if missed != 1 else ''} not "
                f"covered within {100 * report.distances[0]:g}%, in red)</span>")

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(pn.pane.HTML("<b>Coverage</b> <small>(k ≤ 3)</small>", margin=(0, 5)),
                         self.button, self.explanation, self.text, sizing_mode="stretch_width")
