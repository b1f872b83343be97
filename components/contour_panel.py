"""The contour runner: settings, Start/Cancel, progress, streamed plots, exports, coverage.

A run iterates ``model_core.iter_contour`` in a :class:`~components.jobs.BackgroundJob`
(one per session).  Batches reach :meth:`ContourPanel.receive` at most about
twice a second; the panel gathers them in a :class:`ContourData` and redraws the
plotly figures (a subsample while streaming when points are many).  The finder
is imported when Start is pressed, so the rest of the app works in a build
without it.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from itertools import combinations
from multiprocessing import get_context
from typing import Any

import numpy as np
import panel as pn
import param
from panel.viewable import Viewer

import model_core as mc

from . import contour_plots
from .contour_data import ContourData
from .contour_settings import ContourSettings, SettingsError
from .feedback import notify
from .jobs import BackgroundJob, JobBusy
from .state import SessionState

__all__ = ["ContourPanel", "FinderUnavailable", "contour_factory", "load_finder"]

#: Points drawn while a run streams, and once it has ended.
STREAM_LIMIT = 3000
FINAL_LIMIT = 20000
#: All pairwise projections up to this many axes; beyond, only the pairs of the picked axes.
ALL_PAIRS_UP_TO = 5


class FinderUnavailable(RuntimeError):
    """``model_core.iter_contour`` cannot be imported in this build."""


def load_finder() -> Callable[..., Iterator[Any]]:
    """``model_core.iter_contour``, imported now (raises :class:`FinderUnavailable`)."""
    try:
        from model_core import iter_contour
    except ImportError as exc:
        raise FinderUnavailable(
            "The contour finder (model_core.iter_contour) is not available in this build, so "
            "no run can start. Everything else in the app works without it.") from exc
    return iter_contour


def contour_factory(iter_contour: Callable[..., Iterator[Any]], model: mc.Model,
                    arguments: dict[str, Any], *, workers: int = 1,
                    ) -> Callable[[threading.Event], Iterator[Any]]:
    """A job factory: ``iter_contour(model, executor=..., **arguments)`` with a process pool
    of ``workers`` processes when ``workers > 1`` (shut down when the run ends)."""

    def run(cancel: threading.Event) -> Iterator[Any]:
        executor: Executor | None = None
        if workers > 1:
            executor = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))
        try:
            yield from iter_contour(model, executor=executor, **arguments)
        finally:
            if executor is not None:
                executor.shutdown(wait=False, cancel_futures=True)

    return run


class ContourPanel(Viewer):
    """Run the contour finder in the background and watch its points arrive."""

    state = param.ClassSelector(class_=SessionState)
    status = param.String(default="Ready.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.settings = ContourSettings(state=self.state,
                                        confidence_level=self.state.confidence_level)
        self.job = BackgroundJob()
        self.data = ContourData()
        self._run_info: dict[str, Any] = {}
        self._model: mc.Model | None = None
        self._arguments: dict[str, Any] = {}
        self.start_button = pn.widgets.Button(label="▶ Start", color="primary", width=110)
        self.cancel_button = pn.widgets.Button(label="■ Cancel", color="warning", width=110,
                                               disabled=True)
        self.progress = pn.indicators.Progress(value=0, max=1000, bar_color="primary",
                                               sizing_mode="stretch_width", height=18)
        self.progress_text = pn.widgets.StaticText(value="Ready.", css_classes=["le-progress-text"],
                                          sizing_mode="stretch_width")
        self.alert = pn.pane.Alert("", alert_type="warning", visible=False)
        self.pickers = [pn.widgets.Select(label=f"{axis} axis", options=[], width=110,
                                          visible=False) for axis in "xyz"]
        self.placeholder = pn.pane.HTML(
            "<div class='le-placeholder'>Press <b>Start</b>: the points appear here as the "
            "finder streams them, coloured by origin (radial search or constrained chains), "
            "with the pairwise projections and the residuals NLL − T below.</div>",
            sizing_mode="stretch_width")
        # the plotly panes join the page with the first points (plotly.js is slow to start)
        self.figures_area = pn.Column(self.placeholder, sizing_mode="stretch_width")
        plotly = dict(link_figure=False, sizing_mode="stretch_width",
                      config={"displaylogo": False})
        self.scatter = pn.pane.Plotly(None, height=480, **plotly)
        self.projections = pn.pane.Plotly(None, **plotly)
        self.residuals = pn.pane.Plotly(None, height=300, **plotly)
        self.exports = [
            pn.widgets.FileDownload(callback=self._csv, filename="contour.csv",
                                    label="CSV", color="light", width=90),
            pn.widgets.FileDownload(callback=self._npz, filename="contour.npz",
                                    label="NPZ", color="light", width=90),
            pn.widgets.FileDownload(callback=self._json, filename="contour.json",
                                    label="JSON", color="light", width=90),
            pn.widgets.FileDownload(callback=self._html, filename="contour_figures.html",
                                    label="Figures (HTML)", color="light", width=140),
        ]
        self.coverage_button = pn.widgets.Button(label="Check coverage", color="light",
                                                 disabled=True, width=140)
        self.coverage_text = pn.widgets.StaticText(value="", sizing_mode="stretch_width")
        self.coverage = pn.pane.Plotly(None, height=450, visible=False, **plotly)
        self.start_button.on_click(lambda event: self.start())
        self.cancel_button.on_click(lambda event: self.cancel())
        self.coverage_button.on_click(lambda event: self.check_coverage())
        for picker in self.pickers:
            picker.param.watch(lambda event: self._redraw(final=not self.job.running), "value")
        self.state.param.watch(self._sync_level, "confidence_level")
        self._set_exports(False)
        if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
            pn.state.on_session_destroyed(lambda context: self.job.cancel())

    def _sync_level(self, event: param.parameterized.Event) -> None:
        self.settings.confidence_level = event.new

    # ------------------------------------------------------------------ running
    def start(self, factory: Callable[[threading.Event], Iterator[Any]] | None = None) -> bool:
        """Start a run (``factory`` replaces the finder, for tests); False when refused."""
        if self.job.running:
            self._warn("A run is already in progress in this session: cancel it or wait for it "
                       "to finish before starting another.")
            return False
        try:
            arguments = self.settings.arguments()
            if factory is None:
                factory = contour_factory(load_finder(), self.state.model, arguments,
                                          workers=self.settings.workers)
        except (SettingsError, FinderUnavailable) as exc:
            self._warn(str(exc))
            return False
        self._model, self._arguments = self.state.model, arguments
        self._run_info = {"model": self.state.spec.name, "settings": {
            k: v for k, v in arguments.items() if k != "rng"} | {"seed": arguments["rng"],
                                                                "workers": self.settings.workers}}
        self.data = ContourData()
        try:
            self.job.start(factory, self.receive, self._finished)
        except JobBusy as exc:
            self._warn(str(exc))
            return False
        self.alert.visible = False
        self.coverage.visible = False
        self.coverage_text.value = ""
        self.start_button.disabled = True
        self.cancel_button.disabled = False
        self.coverage_button.disabled = True
        self._set_exports(False)
        self.status = "Starting…"
        self.progress.value = -1
        self.progress_text.value = self.status
        return True

    def cancel(self) -> None:
        """Stop the run after its current batch."""
        self.job.cancel()
        self.status = "Cancelling…"
        self.progress_text.value = self.status

    def receive(self, batches: list[Any]) -> None:
        """Take a push of batches from the job and redraw."""
        self.data.extend(batches)
        if self.data.fraction is not None:
            self.progress.value = int(1000 * self.data.fraction)
        self.status = (f"Stage <b>{self.data.stage}</b> · {self.data.n_done}/"
                       f"{self.data.n_total or '?'} · <b>{self.data.n_points}</b> points · "
                       f"{self.data.n_evaluations} NLL evaluations")
        self.progress_text.value = self.status
        self._update_pickers()
        self._redraw(final=False)

    def _finished(self, status: str, error: BaseException | None) -> None:
        self.start_button.disabled = False
        self.cancel_button.disabled = True
        self.progress.value = 1000 if status == "complete" else max(self.progress.value, 0)
        ending = {"complete": "Finished", "cancelled": "Cancelled", "failed": "Failed"}[status]
        self.status = (f"{ending}: <b>{self.data.n_points}</b> points, "
                       f"{self.data.n_evaluations} NLL evaluations")
        self.progress_text.value = self.status
        if error is not None:
            self._warn(f"The run failed: {type(error).__name__}: {error}")
        elif self.data.messages:
            self.alert.object = "<br>".join(self.data.messages)
            self.alert.alert_type = "info"
            self.alert.visible = True
        has_points = self.data.n_points > 0
        self._set_exports(has_points)
        self.coverage_button.disabled = not (has_points and self.data.k <= 3)
        self._redraw(final=True)

    # ------------------------------------------------------------------ drawing
    def _update_pickers(self) -> None:
        names = list(self.data.parameter_names)
        show = len(names) > 3
        for n, picker in enumerate(self.pickers):
            if picker.options != names:
                picker.options = names
                picker.value = names[n] if n < len(names) else None
            picker.visible = show

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

    def _redraw(self, *, final: bool) -> None:
        data = self.data
        if data.k == 0:
            return
        shown = contour_plots.subsample(data.n_points, FINAL_LIMIT if final else STREAM_LIMIT)
        points, radial, bound = data.points[shown], data.from_radial[shown], data.on_bound[shown]
        note = "" if len(shown) == data.n_points else f" (showing {len(shown)} of {data.n_points})"
        self.scatter.object = contour_plots.scatter_figure(
            points, radial, bound, data.parameter_names, data.theta_mle, self.display_axes(),
            title=f"{data.n_points} points on NLL = T{note}")
        if data.k >= 3:
            self.projections.object = contour_plots.projections_figure(
                points, radial, data.parameter_names, data.theta_mle, self.display_pairs())
        self.projections.visible = data.k >= 3
        if self.placeholder in self.figures_area.objects:
            self.figures_area.objects = [pn.Row(*self.pickers), self.scatter, self.projections,
                                         self.residuals, self.coverage]
        self.residuals.object = contour_plots.residual_figure(data.residuals[shown], radial)

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
        out["Residuals"] = contour_plots.residual_figure(data.residuals, data.from_radial)
        return out

    # ------------------------------------------------------------------ exports
    def _set_exports(self, enabled: bool) -> None:
        for button in self.exports:
            button.disabled = not enabled

    def _metadata(self) -> dict[str, Any]:
        return {**self._run_info, "status": self.job.status}

    def _csv(self) -> io.StringIO:
        return io.StringIO(self.data.to_csv())

    def _npz(self) -> io.BytesIO:
        return io.BytesIO(self.data.to_npz())

    def _json(self) -> io.StringIO:
        return io.StringIO(self.data.to_json(self._metadata()))

    def _html(self) -> io.StringIO:
        title = f"Contour of {self._run_info.get('model', 'the model')}"
        return io.StringIO(contour_plots.figures_html(self.figures(), title))

    # ------------------------------------------------------------------ coverage
    def check_coverage(self) -> bool:
        """Compare the points with a reference surface (k <= 3), in the background."""
        try:
            from model_core import contour_coverage
        except ImportError:
            self._warn("The coverage check (model_core.contour_coverage) is not available in "
                       "this build.")
            return False
        data, model = self.data, self._model
        where = {k: self._arguments[k] for k in ("confidence_level", "parameters", "fixed",
                                                 "bounds")}

        def run(cancel: threading.Event) -> Iterator[Any]:
            yield contour_coverage(model, data.points, **where)

        try:
            self.job.start(run, self._show_coverage)
        except JobBusy as exc:
            self._warn(str(exc))
            return False
        self.coverage_text.value = "Checking coverage…"
        return True

    def _show_coverage(self, reports: list[Any]) -> None:
        report = reports[-1]
        self.coverage_text.value = (f"Coverage score <b>{report.score:.3f}</b> · largest gap "
                                     f"<b>{report.largest_gap:.3g}</b>")
        self.coverage.object = contour_plots.coverage_figure(
            np.asarray(report.reference_points), np.asarray(report.covered, bool),
            self.data.points, self.data.parameter_names)
        self.coverage.visible = True

    # ------------------------------------------------------------------ layout
    def _warn(self, message: str) -> None:
        self.alert.object = message
        self.alert.alert_type = "warning"
        self.alert.visible = True
        notify(message, level="warning")

    def __panel__(self) -> pn.viewable.Viewable:
        run = pn.Column(
            self.settings.options_view(), pn.Row(self.start_button, self.cancel_button),
            self.progress, self.progress_text, width=350)
        results = pn.Row(
            pn.Column(pn.pane.HTML("<b>Export</b>", margin=(0, 5)), pn.Row(*self.exports[:3]),
                      self.exports[3]),
            pn.Column(pn.pane.HTML("<b>Coverage</b> <small>(k ≤ 3)</small>", margin=(0, 5)),
                      self.coverage_button, self.coverage_text, sizing_mode="stretch_width"),
            sizing_mode="stretch_width")
        return pn.Column(
            pn.Row(self.settings.roles_view(), run, sizing_mode="stretch_width"),
            self.alert, results, self.figures_area, sizing_mode="stretch_width")
