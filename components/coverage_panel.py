"""The Coverage tab: does the Wilks region cover its confidence level for the model on
screen?  The truth and the parameters' roles (the contour finder's table: axis, profiled,
fixed; the value column is the truth the toys are drawn at, the best fit by default), the
number of toys, the levels and the seed; Start and Cancel with a progress bar; the
histogram of ``q`` and the coverage curve as the toys stream in; a table per level; the
exports.  Every part is a view of the session's
:class:`~components.coverage_run.CoverageRun`."""

from __future__ import annotations

import html
import io
from collections.abc import Callable
from typing import Any

import panel as pn
import param
from panel.viewable import Viewer

from .contour_settings import RolesTable, SettingsError
from .coverage_figures import CoverageFigures
from .coverage_run import (
    ENDED,
    LANE,
    CoverageRun,
    format_levels,
    page_levels,
    parse_levels,
    study_arguments,
)
from .jobs import Work
from .plots import format_level

__all__ = ["CoveragePanel", "progress_line", "summary_table"]

ROLES_HEADER = ("<b>Truth and roles</b> <small>(value: the truth the toys are drawn at, the "
                "best fit by default; role: region axis, profiled in every toy's fit, or "
                "fixed at value)</small>")
EXPORTS = (".json", ".csv")
_ENDINGS = {"complete": "Finished", "cancelled": "Cancelled", "failed": "Failed"}


def progress_line(run: CoverageRun) -> str:
    """The progress line (HTML) for the study's status."""
    if run.status == "idle":
        return "Ready."
    failed = (f" · <span class='le-warn'>{run.n_failed:,} failed fit"
              f"{'s' if run.n_failed != 1 else ''} (not counted)</span>" if run.n_failed else "")
    count = f"<b class='le-count'>{run.n_done:,}</b> of {run.n_total:,} toys"
    if run.status in ("running", "cancelling"):
        line = (f"{count} fitted · {run.elapsed:.1f} s{failed}" if run.n_done else
                "Starting: fitting the observed data…")
        return ("Cancelling… · " + line) if run.status == "cancelling" else line
    if run.study is None:
        return "Failed."
    return (f"{_ENDINGS.get(run.status, run.status)}: {count} in {run.study.elapsed:.1f} s"
            f"{failed}")


def summary_table(run: CoverageRun) -> str:
    """The study's coverage per level (HTML table)."""
    rows = run.summary()
    if not rows:
        return ""
    study = run.study
    head = ("<tr><th>CL</th><th>Wilks Δχ²<sub>k</sub></th><th>coverage</th>"
            "<th>68.27% interval</th><th>toy-calibrated Δχ²</th></tr>")
    body = "".join(
        f"<tr><td>{format_level(r['confidence_level'])}</td>"
        f"<td>{r['wilks_threshold']:.4g}</td><td><b>{100 * r['coverage']:.2f}%</b></td>"
        f"<td>[{100 * r['coverage_low']:.2f}%, {100 * r['coverage_high']:.2f}%]</td>"
        f"<td>{r['calibrated_threshold']:.4g}</td></tr>" for r in rows)
    failed = (f"{study.n_failed:,} toy fit{'s' if study.n_failed != 1 else ''} failed and "
              f"{'are' if study.n_failed != 1 else 'is'} not counted (toys "
              f"{', '.join(str(i) for i in study.failed[:10])}"
              f"{'…' if study.n_failed > 10 else ''})." if study.n_failed else
              "every toy's fit converged.")
    return (f"<table class='le-fit le-coverage-table'>{head}{body}</table>"
            f"<div class='le-muted'>{study.n_ok:,} toys, k = {study.dof} "
            f"({', '.join(study.parameters)}); {failed}</div>")


class CoveragePanel(Viewer):
    """Run a coverage study in the background and watch its toys arrive."""

    run = param.ClassSelector(class_=CoverageRun)
    n_toys = param.Integer(default=1000, bounds=(1, 1_000_000), label="Toys",
                           doc="Pseudo-experiments drawn at the truth and fitted.")
    levels = param.String(default="", label="Confidence levels (%)", doc=(
        "Percentages separated by commas; by default the page's level and the sigma "
        "levels drawn beside it."))
    seed = param.Integer(default=42, bounds=(0, None), label="Seed",
                         doc="The same seed gives the same toys.")
    active = param.Boolean(default=True, doc="""
        Whether the tab is on screen: off screen, the figures wait.""")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        state = self.run.state
        self.table = RolesTable(state=state, header=ROLES_HEADER, show_bounds=False)
        self._default_levels = format_levels(page_levels(state.confidence_level, state.sigmas))
        if not self.levels:
            self.levels = self._default_levels
        self.start_button = pn.widgets.Button(label="▶ Start", color="primary", width=110)
        self.cancel_button = pn.widgets.Button(label="■ Cancel", color="warning", width=110,
                                               disabled=True)
        self.progress = pn.indicators.Progress(value=0, max=1000, bar_color="primary",
                                               sizing_mode="stretch_width", height=18,
                                               css_classes=["le-progress",
                                                            "le-coverage-progress"])
        self.progress_text = pn.widgets.StaticText(
            value="Ready.", sizing_mode="stretch_width",
            css_classes=["le-progress-text", "le-coverage-progress-text"])
        self.alert = pn.pane.HTML("", visible=False, sizing_mode="stretch_width",
                                  css_classes=["le-alert", "le-alert-warning",
                                               "le-coverage-alert"])
        self.stale = pn.pane.HTML("", visible=False, sizing_mode="stretch_width",
                                  css_classes=["le-alert", "le-alert-danger",
                                               "le-coverage-stale"])
        self.summary = pn.pane.HTML("", sizing_mode="stretch_width",
                                    css_classes=["le-coverage-summary"])
        self.downloads = {suffix: pn.widgets.FileDownload(
            callback=self._exporter(suffix), filename=f"coverage{suffix}",
            label=suffix[1:].upper(), color="light", width=80, disabled=True)
            for suffix in EXPORTS}
        self.figures = CoverageFigures(run=self.run, active=self.active)
        self.start_button.on_click(lambda event: self.start())
        self.cancel_button.on_click(lambda event: self.run.cancel())
        self.run.param.watch(self._render, ["status", "pushes", "stale", "study"])
        self.run.param.watch(self._message, ["refused", "failure"])
        state.jobs.watch_lane(LANE, self._render)
        state.param.watch(self._page_levels, ["confidence_level", "sigmas"])
        self._render()

    @param.depends("active", watch=True)
    def _shown(self) -> None:
        self.figures.active = self.active

    def _page_levels(self, *events: Any) -> None:
        """Follow the page's levels until the user types others."""
        state = self.run.state
        default = format_levels(page_levels(state.confidence_level, state.sigmas))
        if self.levels == self._default_levels:
            self.levels = default
        self._default_levels = default

    def start(self, work: Work | None = None) -> bool:
        """Start a study with the settings on screen (``work`` replaces the study, for
        tests); False, with the reason shown, when refused."""
        self.alert.visible = False
        state = self.run.state
        try:
            # the page's own levels exactly (the text shows them rounded) unless typed
            levels = (page_levels(state.confidence_level, state.sigmas)
                      if self.levels == self._default_levels else parse_levels(self.levels))
            arguments = study_arguments(self.table.frame(), confidence_levels=levels,
                                        n_toys=self.n_toys, seed=self.seed)
        except SettingsError as exc:
            self.run.refused = str(exc)
            return False
        return self.run.start(arguments, work=work)

    def _render(self, *events: Any) -> None:
        run = self.run
        self.start_button.disabled = run.running
        self.cancel_button.disabled = run.status != "running"
        self.progress.param.update(value=int(1000 * run.progress),
                                   bar_color="success" if run.status == "complete"
                                   else "primary")
        self.progress_text.value = progress_line(run)
        self.summary.object = summary_table(run) if run.status in ENDED else ""
        self.stale.object = (f"<b>This study is stale</b>: {html.escape(run.stale)}. Press "
                             "Start to study the model on screen.")
        self.stale.visible = bool(run.stale)
        for button in self.downloads.values():
            button.disabled = not run.exportable

    def _message(self, event: param.parameterized.Event) -> None:
        if event.new:
            self.alert.object = html.escape(event.new)
            self.alert.visible = True

    def _exporter(self, suffix: str) -> Callable[[], io.BytesIO]:
        return lambda: io.BytesIO(self.run.export(suffix))

    def settings_view(self) -> pn.viewable.Viewable:
        number = dict(width=105, margin=(2, 5))

        def widget(kind: type, name: str, **options: Any) -> pn.widgets.Widget:
            parameter = self.param[name]
            return kind.from_param(parameter, description=parameter.doc,
                                   **{**number, **options})

        return pn.Column(
            pn.Row(widget(pn.widgets.IntInput, "n_toys"), widget(pn.widgets.IntInput, "seed")),
            widget(pn.widgets.TextInput, "levels", width=220),
            pn.Row(self.start_button, self.cancel_button), self.progress, self.progress_text,
            pn.pane.HTML("<b>Export</b> <small>(q of every toy and the summary, with the "
                         "model, truth, axes, levels, toys and seed)</small>", margin=(0, 5)),
            pn.Row(*self.downloads.values()), width=370)

    def __panel__(self) -> pn.viewable.Viewable:
        figures = pn.Row(pn.pane.Bokeh(self.figures.histogram_figure,
                                       sizing_mode="stretch_width"),
                         pn.pane.Bokeh(self.figures.coverage_figure,
                                       sizing_mode="stretch_width"),
                         sizing_mode="stretch_width", css_classes=["le-coverage-figures"])
        return pn.Column(
            pn.Row(self.table, self.settings_view(), sizing_mode="stretch_width"),
            self.alert, self.stale, self.summary, figures, sizing_mode="stretch_width")

