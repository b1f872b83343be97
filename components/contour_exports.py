"""Exports of the contour run: the points as CSV, NPZ and JSON (through
``model_core.save_contour``, with the run's provenance: model spec, confidence level,
settings, seed, app version) and the figures as one offline HTML page."""

from __future__ import annotations

import html
import io
import json
from collections.abc import Callable
from typing import Any

import panel as pn
import param
from panel.viewable import Viewer

from . import contour_plots
from .contour_run import LANE, ContourRun

__all__ = ["ContourExports"]

FORMATS = (".csv", ".npz", ".json")


class ContourExports(Viewer):
    """Download buttons, enabled while the run has points of the model on screen."""

    run = param.ClassSelector(class_=ContourRun)
    figures = param.Callable(doc="Returns the figures to export, by title.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.buttons = {
            suffix: pn.widgets.FileDownload(
                callback=self._exporter(suffix), filename=f"contour{suffix}",
                label=suffix[1:].upper(), color="light", width=80, disabled=True)
            for suffix in FORMATS}
        self.buttons[".html"] = pn.widgets.FileDownload(
            callback=self._html, filename="contour_figures.html", label="Figures (HTML)",
            color="light", width=140, disabled=True)
        self.note = pn.widgets.StaticText(value="", css_classes=["le-muted"],
                                          sizing_mode="stretch_width", margin=(0, 5))
        self.run.param.watch(self._render, ["status", "stale", "result"])
        self.run.state.jobs.watch_lane(LANE, self._render)
        self._render()

    def _render(self, *events: Any) -> None:
        enabled = self.run.exportable
        for button in self.buttons.values():
            button.disabled = not enabled
        provenance = self.run.provenance
        self.note.value = "" if not enabled else (
            f"Each file records the model (“{html.escape(provenance['model_name'])}”), the "
            f"confidence level, the settings, seed {provenance['seed']} and app version "
            f"{html.escape(provenance['app_version'])}.")

    def _exporter(self, suffix: str) -> Callable[[], io.BytesIO]:
        return lambda: io.BytesIO(self.run.export(suffix))

    def _html(self) -> io.StringIO:
        provenance = self.run.provenance
        title = f"Contour of {provenance.get('model_name', 'the model')}"
        page = contour_plots.figures_html(self.figures(), title)
        record = html.escape(json.dumps(provenance, indent=1))
        return io.StringIO(page.replace(
            "</body>", f"<h2>Provenance</h2><pre class='provenance'>{record}</pre></body>"))

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(pn.pane.HTML("<b>Export</b>", margin=(0, 5)),
                         pn.Row(*(self.buttons[s] for s in FORMATS)), self.buttons[".html"],
                         self.note, width=330)
