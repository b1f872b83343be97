"""The page's one confidence-level control, and the Gaussian-equivalent levels drawn beside it.

The level is typed in percent (whole steps with the arrows, so the values stay as
typed: 95, 90, 68.27) and kept in the session state as a fraction; the map, the
profiles, the fit summary's shading and the contour finder all read it from there.
"""

from __future__ import annotations

from typing import Any

import panel as pn
import param
from panel.viewable import Viewer

from .state import SIGMAS, StateParameter

__all__ = ["LevelControl"]

#: Digits kept of a typed percentage (0.01% steps at most: 68.27, 99.73).
PERCENT_DIGITS = 4


class LevelControl(Viewer):
    """Confidence level (percent) and which sigma levels are drawn too."""

    state = StateParameter()

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        low, high = self.state.param.confidence_level.bounds
        self.percent = pn.widgets.FloatInput(
            label="Confidence level (%)", value=self._as_percent(self.state.confidence_level),
            start=100 * low, end=100 * high, step=1, width=150, format="0[.][00]",
            css_classes=["le-cl"],
            description="The region shaded in the profiles, the dashed orange line of the map "
            "and the profiles, and the level the contour finder maps.")
        self.sigmas = pn.widgets.CheckButtonGroup(
            value=list(self.state.sigmas),
            options={f"{n}σ": n for n in SIGMAS}, color="light", width=150,
            css_classes=["le-sigmas"])
        self.percent.param.watch(self._typed, "value")
        self.sigmas.param.watch(self._picked, "value")
        self.state.param.watch(self._changed, ["confidence_level", "sigmas"])

    @staticmethod
    def _as_percent(level: float) -> float:
        return round(100 * level, PERCENT_DIGITS)

    def _typed(self, event: param.parameterized.Event) -> None:
        if event.new is not None:
            self.state.confidence_level = round(event.new / 100, PERCENT_DIGITS + 2)

    def _picked(self, event: param.parameterized.Event) -> None:
        self.state.sigmas = sorted(event.new)

    def _changed(self, *events: Any) -> None:
        self.percent.value = self._as_percent(self.state.confidence_level)
        self.sigmas.value = list(self.state.sigmas)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Row(self.percent,
                      pn.Column(pn.pane.HTML("<small>Also draw</small>", margin=(0, 5)),
                                self.sigmas),
                      css_classes=["le-levels"])
