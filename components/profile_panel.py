"""Profiles: one figure per free parameter with the 1-D scan and the profile overlaid, the
levels on display and each parameter's profile intervals in words.

The view renders the session's :class:`~components.analysis.Analysis` (computed in the
background while the view is on screen); each parameter's figure is built once and
updated in place.
"""

from __future__ import annotations

from typing import Any

import panel as pn
import param
from panel.io.document import unlocked

from . import plots
from .analysis import AnalysisView
from .coverage_run import CoverageRun
from .profile_figure import ProfileFigure, level_color

__all__ = ["ProfilePanel", "calibrated_line", "interval_lines"]


def interval_lines(result: Any, levels: list[plots.Level]) -> list[tuple[plots.Level, str]]:
    """``(level, "[lo, hi]" in words)`` for each level that ``result`` has an interval for."""
    return [(level, plots.format_interval(result.intervals[level.confidence_level]))
            for level in levels if level.confidence_level in result.intervals]


def calibrated_line(run: CoverageRun, name: str,
                    confidence_level: float) -> tuple[float, str] | None:
    """The toy-calibrated Delta chi-square at ``confidence_level`` and its label, when the
    session's study is a one-axis study of ``name`` on the model on screen."""
    study = run.current
    if study is None or study.parameters != (name,):
        return None
    level = study.calibrated_threshold(confidence_level)
    return level, f"toys: {plots.format_level(confidence_level)} CL at truth ({level:.2f})"


class ProfilePanel(AnalysisView):
    """1-D profiles of every free parameter of the session's model."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._cards: dict[str, tuple[ProfileFigure, pn.widgets.StaticText, pn.Column]] = {}
        self.grid = pn.FlexBox(sizing_mode="stretch_width", css_classes=["le-profiles"])
        self.summary = pn.widgets.StaticText(value="", sizing_mode="stretch_width",
                                             css_classes=["le-info"])
        self.analysis.param.watch(self._render, ["results", "computing"])
        self.analysis.state.param.watch(self._render, ["confidence_level", "sigmas"])
        self.analysis.state.coverage.param.watch(self._render, ["study", "stale"])
        self._shown()

    @param.depends("active", watch=True)
    def _shown(self) -> None:
        self.analysis.want("profiles", self.active)
        self._render()

    def _render(self, *events: Any) -> None:
        if not self.active:
            return
        state, results = self.analysis.state, self.analysis.results
        levels = plots.drawn_levels(state.confidence_level, state.sigmas)
        names = list(results)
        if list(self._cards) != names:
            # one card per parameter, kept while the parameter exists
            self._cards = {name: self._cards.get(name) or self._card(name) for name in names}
            self.grid.objects = [self._cards[n][2] for n in names]
        with unlocked():
            for name, result in results.items():
                figure, text, _ = self._cards[name]
                figure.show(result, levels, state.confidence_level,
                            calibrated_line(state.coverage, name, state.confidence_level))
                text.value = f"<b>{name}</b><br>" + "<br>".join(
                    f"<span style='color:{level_color(level)}'>■</span> {level.label}: {words}"
                    for level, words in interval_lines(result, levels))
        cl = plots.format_level(state.confidence_level)
        self.summary.value = (
            "Solid: profile (others re-fitted) · dashed: scan (others at the best fit) · "
            "one line per level, Δχ² for one parameter · shaded: the profile interval at "
            f"{cl}" + self._calibrated_note()
            + (" · <b>updating…</b>" if self.analysis.computing else ""))

    def _calibrated_note(self) -> str:
        study = self.analysis.state.coverage.current
        if study is None or study.dof != 1:
            return ""
        return (f" · dotted purple: the toy-calibrated threshold of the coverage study of "
                f"{study.parameters[0]} ({len(study.q):,} toys)")

    def _card(self, name: str) -> tuple[ProfileFigure, pn.widgets.StaticText, pn.Column]:
        figure = ProfileFigure(name)
        text = pn.widgets.StaticText(value="", css_classes=["le-interval"], margin=(0, 10),
                                     sizing_mode="stretch_width")
        card = pn.Column(pn.pane.Bokeh(figure.figure, sizing_mode="stretch_width"), text,
                         css_classes=["le-profile-card"], sizing_mode="stretch_width",
                         min_width=320, max_width=560)
        return figure, text, card

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self.summary, self.grid, sizing_mode="stretch_width")
