"""Run control of the contour finder: Start and Cancel, the progress bar and line, and what
the page has to say about the run (a refusal or failure, the finder's warnings and notes,
a result that no longer belongs to the model on screen)."""

from __future__ import annotations

import html
from typing import Any

import panel as pn
import param
from panel.viewable import Viewer

from .contour_run import ENDED, LANE, ContourRun

__all__ = ["ContourControls", "progress_line"]

_ENDINGS = {"complete": "Finished", "cancelled": "Cancelled", "failed": "Failed",
            "budget_exhausted": "Stopped at the point budget"}


def progress_line(run: ContourRun) -> str:
    """The progress line (HTML) for the run's status."""
    count = f"<b class='le-count'>{run.n_points:,}</b> points"
    if run.status == "idle":
        return "Ready."
    if run.status in ("running", "cancelling"):
        if not run.phase:
            return "Starting: fitting the best point…"
        total = f" {run.n_done} of {run.n_total}" if run.n_total else (
            f" round {run.n_done}" if run.n_done else "")
        line = (f"<b>{run.stage_label}</b>{total} · {count} · "
                f"{run.n_evaluations:,} NLL evaluations")
        if run.warnings:
            # listed in full when the run ends: an alert appearing mid-run moves the page,
            # and the browser then lays every figure out again while points stream
            n = len(run.warnings)
            line += (f" · <span class='le-warn'>⚠ {n} warning{'s' if n > 1 else ''}, listed "
                     "at the end</span>")
        return ("Cancelling… · " + line) if run.status == "cancelling" else line
    result = run.result
    if result is None:
        return f"Failed after {count}"
    during = f", during {run.stage_label}" if run.status == "cancelled" and run.phase else ""
    return (f"{_ENDINGS.get(run.status, run.status)}: {count} in {result.elapsed:.1f} s"
            f"{during} · {result.n_evaluations:,} NLL evaluations · T = {result.threshold:.6g}")


class ContourControls(Viewer):
    """Start, Cancel, progress and messages of the session's contour run."""

    run = param.ClassSelector(class_=ContourRun)
    start = param.Callable(doc="Called when Start is pressed (the panel gathers the settings).")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.start_button = pn.widgets.Button(label="▶ Start", color="primary", width=110)
        self.cancel_button = pn.widgets.Button(label="■ Cancel", color="warning",
                                               width=110, disabled=True)
        self.progress = pn.indicators.Progress(value=0, max=1000, bar_color="primary",
                                               sizing_mode="stretch_width", height=18,
                                               css_classes=["le-progress"])
        self.progress_text = pn.widgets.StaticText(value="Ready.",
                                                   css_classes=["le-progress-text"],
                                                   sizing_mode="stretch_width")
        self.alert = pn.pane.HTML("", visible=False, sizing_mode="stretch_width",
                                  css_classes=["le-alert", "le-alert-warning",
                                               "le-contour-alert"])
        self.notes = pn.pane.HTML("", visible=False, sizing_mode="stretch_width",
                                  css_classes=["le-alert", "le-alert-info", "le-contour-notes"])
        self.stale = pn.pane.HTML("", visible=False, sizing_mode="stretch_width",
                                  css_classes=["le-alert", "le-alert-danger", "le-stale"])
        self.start_button.on_click(lambda event: self.start())
        self.cancel_button.on_click(lambda event: self.run.cancel())
        self.run.param.watch(self._render, ["status", "pushes", "phase", "stale"])
        self.run.param.watch(self._message, ["refused", "failure"])
        self.run.state.jobs.watch_lane(LANE, self._render)
        self._render()

    def _render(self, *events: Any) -> None:
        run = self.run
        busy = run.running
        self.start_button.disabled = busy
        self.cancel_button.disabled = run.status not in ("running",)
        ended = run.status in ENDED
        self.progress.param.update(
            value=int(1000 * run.progress),
            bar_color="success" if run.status == "complete" else "primary")
        self.progress_text.value = progress_line(run)
        lines = [*run.warnings, *run.notes] if ended else []
        self.notes.object = "<br>".join(f"• {html.escape(line)}" for line in lines)
        self.notes.css_classes = ["le-alert", "le-contour-notes",
                                  "le-alert-warning" if run.warnings or run.status == "failed"
                                  else "le-alert-info"]
        self.notes.visible = bool(lines)
        self.stale.object = (f"<b>These results are stale</b>: {html.escape(run.stale)}. "
                             "Press Start to map the region of the model on screen.")
        self.stale.visible = bool(run.stale)

    def _message(self, event: param.parameterized.Event) -> None:
        if event.new:
            self.alert.object = html.escape(event.new)
            self.alert.visible = True

    def clear(self) -> None:
        """Hide the last refusal or failure (a new run starts)."""
        self.alert.visible = False

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(pn.Row(self.start_button, self.cancel_button), self.progress,
                         self.progress_text, width=370)
