"""The contour finder's tab: settings, run control, exports, coverage and figures, each a
view of the session's :class:`~components.contour_run.ContourRun` (its status, points
and result as data)."""

from __future__ import annotations

from typing import Any

import panel as pn
import param
from panel.viewable import Viewer

from .contour_controls import ContourControls
from .contour_coverage import ContourCoverage
from .contour_exports import ContourExports
from .contour_figures import ContourFigures
from .contour_run import ContourRun
from .contour_settings import PROFILED_NOTE, ContourSettings, SettingsError
from .jobs import Work

__all__ = ["ContourPanel"]


class ContourPanel(Viewer):
    """Run the contour finder in the background and watch its points arrive."""

    run = param.ClassSelector(class_=ContourRun)
    active = param.Boolean(default=True, doc="""
        Whether the tab is on screen: off screen, the figures wait.""")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.settings = ContourSettings(state=self.run.state, active=self.active)
        self.controls = ContourControls(run=self.run, start=self.start)
        self.figures = ContourFigures(run=self.run, settings=self.settings)
        self.coverage = ContourCoverage(run=self.run, seed=lambda: self.settings.seed)
        self.exports = ContourExports(run=self.run, figures=self._figures)
        self.profiled_note = pn.pane.HTML(PROFILED_NOTE, visible=False, margin=(4, 5),
                                          css_classes=["le-alert", "le-alert-warning"])
        self.settings.roles.param.watch(self._roles_changed, "value")
        self._roles_changed()

    def _figures(self) -> dict[str, Any]:
        """Every figure of the run (the coverage check's too, once made), for the HTML
        export."""
        figures = self.figures.figures()
        if self.coverage.figure.visible and self.coverage.figure.object is not None:
            figures["Coverage"] = self.coverage.figure.object
        return figures

    @param.depends("active", watch=True)
    def _shown(self) -> None:
        self.settings.active = self.active

    def _roles_changed(self, *events: Any) -> None:
        self.profiled_note.visible = self.settings.has_profiled

    def start(self, work: Work | None = None) -> bool:
        """Start a run with the settings on screen (``work`` replaces the finder, for
        tests); False, with the reason shown, when refused."""
        self.controls.clear()
        try:
            arguments = self.settings.arguments()
        except SettingsError as exc:
            self.run.refused = str(exc)
            return False
        return self.run.start(arguments, settings={"workers": self.settings.workers},
                              workers=self.settings.workers, work=work)

    def __panel__(self) -> pn.viewable.Viewable:
        run = pn.Column(self.settings.options_view(), self.controls, width=370)
        results = pn.Row(self.exports, self.coverage, sizing_mode="stretch_width")
        return pn.Column(
            pn.Row(pn.Column(self.settings.roles_view(), self.profiled_note,
                             sizing_mode="stretch_width"), run, sizing_mode="stretch_width"),
            self.controls.alert, self.controls.stale, self.controls.notes, results,
            self.figures, self.coverage.figure, sizing_mode="stretch_width")
