"""The contour runner: settings, Start/Cancel, progress, streamed plots, exports, coverage.

A run calls ``model_core.find_contour`` in a :class:`~components.jobs.BackgroundJob`
(one per session): every ``ContourBatch`` it hands to ``on_batch`` is streamed
to the page, at most about twice a second, and the final ``ContourResult``
arrives last.  ``should_stop`` polls the job's cancel event, so Cancel (or a
closed tab) stops the run after its current batch.  The panel gathers the
batches in a :class:`ContourData` and redraws the plotly figures (a subsample
while streaming when points are many).  The result exports through
``model_core.save_contour``; the coverage check (``model_core.contour_coverage``)
runs on the same worker.
"""

from __future__ import annotations

import html
import io
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import panel as pn
import param
from panel.viewable import Viewer

import model_core as mc

from . import contour_plots
from .contour_data import ContourData
from .contour_settings import PROFILED_NOTE, ContourSettings, SettingsError
from .feedback import notify
from .jobs import BackgroundJob, JobBusy, Work, call_later, served
from .state import StateParameter

__all__ = ["ContourPanel", "contour_work", "export_bytes"]

#: Points drawn while a run streams, and once it has ended.  A software-rendered 3-D scene
#: takes ~0.3 s per update in headless chromium (and ~2 s for 10,000 points in every
#: figure): few points while streaming, the slower figures rarely.
STREAM_LIMIT = 1000
FINAL_LIMIT = 10000
SLOW_FIGURES_EVERY = 2.0
#: All pairwise projections up to this many axes; beyond, only the pairs of the picked axes.
ALL_PAIRS_UP_TO = 5
#: The coverage view reports the covered fraction within these relative distances.
COVERAGE_DISTANCES = (0.01, 0.02)


def contour_work(model: mc.Model, arguments: dict[str, Any], *, workers: int = 1,
                 finder: Callable[..., mc.ContourResult] | None = None) -> Work:
    """Job work: ``find_contour(model, **arguments)``, emitting every batch, returning the
    result; a thread pool of ``workers`` threads runs its batches when ``workers > 1``."""
    finder = finder or mc.find_contour

    def work(cancel: threading.Event, emit: Callable[[Any], None]) -> mc.ContourResult:
        held: list[Any] = []

        def on_batch(batch: mc.ContourBatch) -> None:
            # a batch without points (the fit's) waits for the first points, so that the
            # first push to the page, which the throttle lets through at once, draws them
            held.append(batch)
            if len(batch.points):
                for item in held:
                    emit(item)
                held.clear()

        executor = (ThreadPoolExecutor(max_workers=workers, thread_name_prefix="le-contour")
                    if workers > 1 else None)
        try:
            return finder(model, should_stop=cancel.is_set, on_batch=on_batch,
                          executor=executor, **arguments)
        finally:
            for item in held:
                emit(item)
            if executor is not None:
                executor.shutdown(wait=False, cancel_futures=True)

    return work


def export_bytes(result: mc.ContourResult, suffix: str) -> bytes:
    """``result`` written by ``model_core.save_contour`` in the format of ``suffix``."""
    with tempfile.TemporaryDirectory(prefix="le-contour-") as folder:
        path = mc.save_contour(result, Path(folder) / f"contour{suffix}")
        return path.read_bytes()


class ContourPanel(Viewer):
    """Run the contour finder in the background and watch its points arrive."""

    state = StateParameter()
    status = param.String(default="Ready.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.settings = ContourSettings(state=self.state,
                                        confidence_level=self.state.confidence_level)
        self.job = BackgroundJob()
        self.data = ContourData()
        self.coverage_result: mc.ContourCoverage | None = None
        self._model: mc.Model | None = None
        self.start_button = pn.widgets.Button(label="▶ Start", color="primary", width=110)
        self.cancel_button = pn.widgets.Button(label="■ Cancel", color="warning",
                                               width=110, disabled=True)
        self.progress = pn.indicators.Progress(value=0, max=1000, bar_color="primary",
                                               sizing_mode="stretch_width", height=18,
                                               css_classes=["le-progress"])
        self.progress_text = pn.widgets.StaticText(value="Ready.",
                                                   css_classes=["le-progress-text"],
                                                   sizing_mode="stretch_width")
        self.alert = pn.pane.Alert("", alert_type="warning", visible=False,
                                   css_classes=["le-contour-alert"])
        self.notes = pn.pane.Alert("", alert_type="info", visible=False,
                                   css_classes=["le-contour-notes"])
        self.profiled_note = pn.pane.Alert(PROFILED_NOTE, alert_type="warning", visible=False,
                                           margin=(4, 5))
        self.pickers = [pn.widgets.Select(label=f"{axis} axis", options=[], width=120,
                                          visible=False) for axis in "xyz"]
        self.placeholder = pn.pane.HTML(
            "<div class='le-placeholder'>Choose at least one contour axis in the table, then "
            "press <b>Start</b>.</div>", sizing_mode="stretch_width")
        # the plotly panes join the page when the tab is first shown (plotly.js takes a
        # while to set up a WebGL scene; better then than on Start)
        self.figures_area = pn.Column(self.placeholder, sizing_mode="stretch_width")
        self._stale_figures = False
        self._drawn_points = -1
        self._slow_drawn_at = -float("inf")
        plotly = dict(link_figure=False, sizing_mode="stretch_width",
                      config={"displaylogo": False})
        self.scatter = pn.pane.Plotly(None, height=480, css_classes=["le-scatter"], **plotly)
        self.projections = pn.pane.Plotly(None, css_classes=["le-projections"], **plotly)
        self.residuals = pn.pane.Plotly(None, height=300, css_classes=["le-residuals"],
                                        **plotly)
        self.exports = {
            suffix: pn.widgets.FileDownload(
                callback=lambda suffix=suffix: self._export(suffix), filename=f"contour{suffix}",
                label=suffix[1:].upper(), color="light", width=80)
            for suffix in (".csv", ".npz", ".json")}
        self.exports[".html"] = pn.widgets.FileDownload(
            callback=self._html, filename="contour_figures.html", label="Figures (HTML)",
            color="light", width=140)
        self.coverage_button = pn.widgets.Button(
            label="Check coverage", color="light", disabled=True, width=140,
            description="Compare the points with the surface NLL = T found independently on a "
            "grid (k ≤ 3); takes a second or two, longer with profiled parameters.")
        self.coverage_text = pn.widgets.StaticText(value="", sizing_mode="stretch_width",
                                                   css_classes=["le-coverage-text"])
        self.coverage = pn.pane.Plotly(None, height=520, visible=False,
                                       css_classes=["le-coverage"], **plotly)
        self.start_button.on_click(lambda event: self.start())
        self.cancel_button.on_click(lambda event: self.cancel())
        self.coverage_button.on_click(lambda event: self.check_coverage())
        self._setting_pickers = False
        for picker in self.pickers:
            picker.param.watch(self._picked, "value")
        self.state.param.watch(self._sync_level, "confidence_level")
        self.settings.roles.param.watch(self._roles_changed, "value")
        self.settings.param.watch(self._shown, "active")
        self._roles_changed()
        self._set_exports(False)
        if served():
            pn.state.on_session_destroyed(lambda context: self.job.cancel())

    def _sync_level(self, event: param.parameterized.Event) -> None:
        self.settings.confidence_level = event.new

    def _roles_changed(self, *events: Any) -> None:
        self.profiled_note.visible = self.settings.has_profiled
        if self.data.k == 0:
            self._preview()

    def _shown(self, *events: Any) -> None:
        if not self.settings.active:
            return
        if self.data.k == 0:
            self._preview()
        elif self._stale_figures:
            self._redraw(final=not self.job.running, force=True)

    def _preview(self) -> None:
        """Empty figures over the chosen axes, the best fit marked, before any run."""
        if not self.settings.active:
            return
        frame = self.settings.roles.value
        axes = [str(n) for n, r in zip(frame["parameter"], frame["role"], strict=True)
                if r == "axis"] if len(frame) else []
        if not axes:
            self.figures_area.objects = [self.placeholder]
            return
        model, best = self.state.model, self.state.best
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
        if self.placeholder in self.figures_area.objects:
            self.figures_area.objects = [pn.Row(*self.pickers), self.scatter, self.projections,
                                         self.residuals, self.coverage]

    # ------------------------------------------------------------------ running
    def start(self, work: Work | None = None) -> bool:
        """Start a run (``work`` replaces the finder's job, for tests); False when refused."""
        if self.job.running:
            self._warn("A run is already in progress in this session: cancel it or wait for it "
                       "to finish before starting another.")
            return False
        try:
            arguments = self.settings.arguments()
        except SettingsError as exc:
            self._warn(str(exc))
            return False
        model = self.state.model
        if work is None:
            work = contour_work(model, arguments, workers=self.settings.workers)
        self._model = model
        self.data = ContourData()
        # the projections and residuals join in later: the first push draws the scatter alone
        self._drawn_points, self._slow_drawn_at = -1, time.monotonic()
        self.coverage_result = None
        # the page shows the run before it starts (without a session, the job may end
        # before job.run returns)
        for alert in (self.alert, self.notes, self.coverage):
            alert.visible = False
        self.coverage_text.value = ""
        self._set_running(True)
        self.status = "Starting: fitting the best point…"
        self.progress.value = 0
        self.progress_text.value = self.status
        try:
            self.job.run(work, self.receive, self._finished)
        except JobBusy as exc:
            self._set_running(False)
            self._warn(str(exc))
            return False
        return True

    def _set_running(self, running: bool) -> None:
        self.start_button.disabled = running
        self.cancel_button.disabled = not running
        self.coverage_button.disabled = True
        self._set_exports(False)

    def cancel(self) -> None:
        """Stop the run after its current batch."""
        if not self.job.running:
            return
        self.job.cancel()
        self.status = "Cancelling…"
        self.progress_text.value = self.status

    def receive(self, items: list[Any]) -> None:
        """Take a push of batches (and, last, the result) from the job and redraw."""
        data = self.data
        data.extend(items)
        if data.k == 0:
            return
        self.progress.value = int(1000 * data.progress)
        if data.result is None:
            total = f" {data.n_done} of {data.n_total}" if data.n_total else (
                f" round {data.n_done}" if data.n_done else "")
            self.status = (f"<b>{data.stage_label}</b>{total} · "
                           f"<b class='le-count'>{data.n_points}</b> points · "
                           f"{data.n_evaluations:,} NLL evaluations")
            self.progress_text.value = self.status
        if data.warnings:
            # listed in full when the run ends: an alert appearing mid-run moves the page,
            # and the browser then lays every figure out again while points stream
            count = len(data.warnings)
            self.progress_text.value += (f" · <span class='le-warn'>⚠ {count} warning"
                                         f"{'s' if count > 1 else ''}, listed at the end</span>")
        self._update_pickers()
        self._redraw(final=False)

    def _finished(self, status: str, error: BaseException | None) -> None:
        self.start_button.disabled = False
        self.cancel_button.disabled = True
        data, result = self.data, self.data.result
        if error is not None or result is None:
            self.progress.value = max(self.progress.value, 0)
            self.status = f"Failed after <b class='le-count'>{data.n_points}</b> points"
            self.progress_text.value = self.status
            if error is not None:
                self._warn(f"The run failed: {type(error).__name__}: {error}")
            return
        ending = {"complete": "Finished", "cancelled": "Cancelled", "failed": "Failed",
                  "budget_exhausted": "Stopped at the point budget"}.get(result.status,
                                                                          result.status)
        self.progress.value = 1000 if result.status in ("complete", "budget_exhausted") \
            else self.progress.value
        self.status = (f"{ending}: <b class='le-count'>{len(result.contour_points)}</b> points "
                       f"in {result.elapsed:.1f} s · {result.n_evaluations:,} NLL evaluations · "
                       f"T = {result.threshold:.6g}")
        self.progress_text.value = self.status
        self._show_notes([*result.warnings, result.message, *result.notes],
                         warning=bool(result.warnings) or result.status == "failed")
        has_points = len(result.contour_points) > 0
        self._set_exports(has_points)
        self.coverage_button.disabled = not (has_points and result.dof <= 3)
        data = self.data
        # the final figures (every point) take the browser a while to draw: sent a moment
        # later, so that the page shows that the run ended (and answers a click) first
        call_later(lambda: self._redraw(final=True) if self.data is data else None, 150)

    def _show_notes(self, lines: list[str] | tuple[str, ...], *, warning: bool) -> None:
        self.notes.object = "<br>".join(f"• {html.escape(line)}" for line in lines if line)
        self.notes.alert_type = "warning" if warning else "info"
        self.notes.visible = bool(self.notes.object)

    # ------------------------------------------------------------------ drawing
    def _picked(self, event: param.parameterized.Event) -> None:
        if not self._setting_pickers:
            self._redraw(final=not self.job.running, force=True)

    def _update_pickers(self) -> None:
        names = list(self.data.parameter_names)
        show = len(names) > 3
        self._setting_pickers = True
        try:
            for n, picker in enumerate(self.pickers):
                if picker.options != names:
                    picker.param.update(options=names,
                                        value=names[n] if n < len(names) else None)
                picker.visible = show
        finally:
            self._setting_pickers = False

    def display_axes(self) -> tuple[int, ...]:
        """Indices of the axes drawn in the scatter (the pickers' choice when k > 3)."""
        k = self.data.k
        if k <= 3:
            return tuple(range(k))
        names = list(self.data.parameter_names)
        chosen = [names.index(p.value) for p in self.pickers if p.value in names]
        return tuple(dict.fromkeys(chosen)) if len(set(chosen)) == 3 else (0, 1, 2)

    def display_pairs(self) -> list[tuple[int, int]]:
        if self.data.k <= ALL_PAIRS_UP_TO:
            return list(combinations(range(self.data.k), 2))
        return list(combinations(self.display_axes(), 2))

    def _redraw(self, *, final: bool, force: bool = False) -> None:
        """Draw the points: while streaming, a sample in the 3-D scatter at every push (the
        layout kept, so only the data go to the browser) and the projections and residuals
        at most every ``SLOW_FIGURES_EVERY`` seconds; everything once the run has ended."""
        data = self.data
        if data.k == 0:
            return
        if not self.settings.active:  # off screen: drawn when shown
            self._stale_figures = True
            return
        if not (final or force) and data.n_points == self._drawn_points:
            return  # nothing new (e.g. the fit's batch)
        self._stale_figures = False
        self._drawn_points = data.n_points
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
        self.scatter.height = 480 if data.k > 1 else 260
        self.scatter.object = contour_plots.scatter_figure(
            points, radial, bound, data.parameter_names, data.theta_mle, self.display_axes(),
            title=title)
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
        data = self.data
        out = {"Contour points": contour_plots.scatter_figure(
            data.points, data.from_radial, data.on_bound, data.parameter_names, data.theta_mle,
            self.display_axes())}
        if data.k >= 3:
            out["Pairwise projections"] = contour_plots.projections_figure(
                data.points, data.from_radial, data.parameter_names, data.theta_mle,
                self.display_pairs())
        out["Residuals"] = contour_plots.residual_figure(data.residuals, data.from_radial,
                                                         data.on_bound)
        if self.coverage.visible and self.coverage.object is not None:
            out["Coverage"] = self.coverage.object
        return out

    # ------------------------------------------------------------------ exports
    def _set_exports(self, enabled: bool) -> None:
        for button in self.exports.values():
            button.disabled = not enabled

    def _export(self, suffix: str) -> io.BytesIO:
        result = self.data.result
        if result is None:  # the buttons are disabled until a run has ended
            raise RuntimeError("no finished contour to export")
        return io.BytesIO(export_bytes(result, suffix))

    def _html(self) -> io.StringIO:
        name = self._model.name if self._model is not None else "the model"
        return io.StringIO(contour_plots.figures_html(self.figures(), f"Contour of {name}"))

    # ------------------------------------------------------------------ coverage
    def check_coverage(self) -> bool:
        """Compare the points with an independent reference surface (k <= 3), on the worker."""
        result, model = self.data.result, self._model
        if result is None or model is None or result.dof > 3:
            self._warn("The coverage check needs a finished contour with at most three axes.")
            return False
        seed = self.settings.seed

        def work(cancel: threading.Event, emit: Callable[[Any], None]) -> mc.ContourCoverage:
            return mc.contour_coverage(model, result, distance=COVERAGE_DISTANCES[0],
                                       distances=COVERAGE_DISTANCES, rng=seed)

        self.start_button.disabled = True
        self.coverage_button.disabled = True
        self.coverage_text.value = "Checking coverage: meshing NLL = T on a grid…"
        try:
            self.job.run(work, self._show_coverage, self._coverage_done)
        except JobBusy as exc:
            self._coverage_done("failed", None)
            self._warn(str(exc))
            return False
        return True

    def _coverage_done(self, status: str, error: BaseException | None) -> None:
        self.start_button.disabled = False
        self.coverage_button.disabled = False
        if error is not None:
            self.coverage_text.value = ""
            self._warn(f"The coverage check failed: {type(error).__name__}: {error}")

    def _show_coverage(self, reports: list[Any]) -> None:
        report: mc.ContourCoverage = reports[-1]
        self.coverage_result = report
        fractions = " · ".join(f"within {100 * d:g}%: <b>{100 * f:.1f}%</b>" for d, f in
                               zip(report.distances, report.fractions, strict=True))
        self.coverage_text.value = (
            f"Reference samples covered {fractions} · largest gap <b>{report.largest_gap:.3g}"
            f"</b> <span class='le-muted'>(distances relative to the surface's extent; "
            f"{len(report.samples)} samples)</span>")
        reference = report.reference
        covered = report.sample_distance <= COVERAGE_DISTANCES[0]
        shown = contour_plots.subsample(report.n_points, STREAM_LIMIT)
        self.coverage.object = contour_plots.coverage_figure(
            reference.vertices, reference.faces, reference.samples, covered,
            self.data.points[shown], self.data.parameter_names)
        self.coverage.visible = True

    # ------------------------------------------------------------------ layout
    def _warn(self, message: str) -> None:
        self.alert.object = html.escape(message)
        self.alert.visible = True
        notify(message, level="warning")

    def __panel__(self) -> pn.viewable.Viewable:
        run = pn.Column(
            self.settings.options_view(), pn.Row(self.start_button, self.cancel_button),
            self.progress, self.progress_text, width=370)
        results = pn.Row(
            pn.Column(pn.pane.HTML("<b>Export</b>", margin=(0, 5)),
                      pn.Row(*(self.exports[s] for s in (".csv", ".npz", ".json"))),
                      self.exports[".html"]),
            pn.Column(pn.pane.HTML("<b>Coverage</b> <small>(k ≤ 3)</small>", margin=(0, 5)),
                      self.coverage_button, self.coverage_text, sizing_mode="stretch_width"),
            sizing_mode="stretch_width")
        return pn.Column(
            pn.Row(pn.Column(self.settings.roles_view(), self.profiled_note,
                             sizing_mode="stretch_width"), run, sizing_mode="stretch_width"),
            self.alert, self.notes, results, self.figures_area, sizing_mode="stretch_width")
