"""What the toys add to the likelihood map, beside Wilks' contours: the toy-calibrated
Delta chi-square of a two-axis coverage study (the contour of the map's surface at that
level), and the toy-calibrated region of a Neyman construction over the map's axes (the
contour ``p-value = 1 - CL`` of its grid, at the page's level: the p-values do not depend
on it).

Each is drawn only while it belongs to the model on screen and to the map's two axes.
"""

from __future__ import annotations

from typing import Any

import param
from panel.io.document import unlocked

from .calibrated_region import CalibratedRun
from .coverage_run import CoverageRun
from .plots import contour_segments, format_level

__all__ = ["MapOverlays", "calibrated_level"]


def calibrated_level(run: CoverageRun, axes: tuple[str, str],
                     confidence_level: float) -> float | None:
    """The toy-calibrated Delta chi-square at ``confidence_level`` of the session's study
    when it is a study of the map's two ``axes`` of the model on screen, else None."""
    study = run.current
    if study is None or study.dof != 2 or set(study.parameters) != set(axes):
        return None
    return study.calibrated_threshold(confidence_level)


class MapOverlays(param.Parameterized):
    """Draws the toy-calibrated level and region on a :class:`LikelihoodMap`."""

    map = param.Parameter(doc="The LikelihoodMap drawn on.")
    coverage = param.ClassSelector(class_=CoverageRun)
    calibrated = param.ClassSelector(class_=CalibratedRun)
    level = param.Number(default=None, allow_None=True, doc="""
        The toy-calibrated Delta chi-square drawn (None when none is).""")
    region = param.Boolean(default=False, doc="The calibrated region is drawn.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.map.param.watch(self._redraw, ["grid", "x_axis", "y_axis"])
        self.map.state.param.watch(self._redraw, "confidence_level")
        self.coverage.param.watch(self._redraw, ["study", "stale"])
        self.calibrated.param.watch(self._redraw, ["p_value", "stale"])
        self._redraw()

    def _redraw(self, *events: Any) -> None:
        with unlocked():
            self.draw()

    def draw(self) -> None:
        view, figure = self.map, self.map.figure
        grid, state = view.grid, view.state
        if grid is None:
            figure.overlay("calibrated_level", None)
            figure.overlay("calibrated_region", None)
            self.param.update(level=None, region=False)
            return
        cl = state.confidence_level
        axes = tuple(grid.parameters)
        level = calibrated_level(self.coverage, axes, cl)
        if level is None:
            figure.overlay("calibrated_level", None)
        else:
            dchi2 = 2.0 * (grid.nll - state.best.fun)
            figure.overlay("calibrated_level", contour_segments(
                grid.x_values, grid.y_values, dchi2, level),
                f"toys: {format_level(cl)} CL at truth (Δχ² = {level:.2f})")
        region = self.calibrated
        drawn = region.drawable and set(region.parameters) == set(axes)
        if drawn:
            xs, ys, p_value = region.xs, region.ys, region.p_value
            if list(region.parameters) != list(axes):
                xs, ys, p_value = ys, xs, p_value.T
            figure.overlay("calibrated_region", contour_segments(xs, ys, p_value, 1.0 - cl),
                           region.label(cl))
        else:
            figure.overlay("calibrated_region", None)
        self.param.update(level=level, region=bool(drawn))

    def segments(self, name: str) -> int:
        """Segments drawn for the overlay ``name``."""
        return len(self.map.figure.overlay_sources[name].data["x0"])

