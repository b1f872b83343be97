"""One parameter's profile figure (plain Bokeh), built once and updated in place.

The profile (solid), the scan (dashed), one horizontal line per level on display
(labelled at the right edge; the chosen CL dashed, on top, so a sigma line at nearly the
same level shows through), and the chosen CL's profile interval shaded.  Every update
replaces data and a few properties of a fixed set of glyphs and annotations: nothing
accumulates however often the levels change.
"""

from __future__ import annotations

import numpy as np
from bokeh.models import BoxAnnotation, ColumnDataSource, Label, Range1d, Span
from bokeh.plotting import figure

from .analysis import ParameterProfile
from .plots import DCHI2_LABEL, Level
from .state import SIGMAS

__all__ = ["ProfileFigure", "level_color"]

#: Level slots: the sigma levels and the chosen CL.
N_LEVELS = len(SIGMAS) + 1
SIGMA_COLORS = {1: "#4d4d4d", 2: "#7f7f7f", 3: "#a6a6a6"}
CL_COLOR = "#ff7f0e"
#: The toy-calibrated threshold of a one-axis coverage study of the parameter.
CALIBRATED_COLOR = "#9c27b0"
#: The y axis shows this multiple of the highest level drawn.
TOP = 2.5


def level_color(level: Level) -> str:
    return CL_COLOR if level.sigma is None else SIGMA_COLORS.get(level.sigma, "#7f7f7f")


class ProfileFigure:
    """The figure of one parameter; :meth:`show` draws a result and the levels on display."""

    def __init__(self, name: str) -> None:
        self.profile_source = ColumnDataSource({"x": [], "y": []})
        self.scan_source = ColumnDataSource({"x": [], "y": []})
        fig = figure(height=250, sizing_mode="stretch_width", min_width=280, title=name,
                     x_range=Range1d(0.0, 1.0), y_range=Range1d(0.0, 1.0), tools="",
                     toolbar_location=None, x_axis_label=name, y_axis_label=DCHI2_LABEL)
        fig.title.text_font_style = "bold"
        self.shade = BoxAnnotation(fill_color="#1f77b4", fill_alpha=0.08, line_alpha=0,
                                   visible=False)
        fig.add_layout(self.shade)
        fig.line("x", "y", source=self.scan_source, color="#7f7f7f", line_dash="dashed",
                 line_width=2)
        fig.line("x", "y", source=self.profile_source, color="#1f77b4", line_width=2.5)
        self.lines = [Span(dimension="width", location=0.0, line_width=1.6, visible=False)
                      for _ in range(N_LEVELS)]
        self.labels = [Label(x=0.0, y=0.0, text="", text_font_size="11px", text_align="right",
                             text_baseline="bottom", x_offset=-4, visible=False)
                       for _ in range(N_LEVELS)]
        self.calibrated_line = Span(dimension="width", location=0.0, line_width=2,
                                    line_color=CALIBRATED_COLOR, line_dash=[2, 3],
                                    visible=False)
        self.calibrated_label = Label(x=0.0, y=0.0, text="", text_font_size="11px",
                                      text_align="left", text_baseline="bottom", x_offset=4,
                                      text_color=CALIBRATED_COLOR, visible=False)
        for span, label in zip([*self.lines, self.calibrated_line],
                               [*self.labels, self.calibrated_label], strict=True):
            fig.add_layout(span)
            fig.add_layout(label)
        self.figure = fig

    def show(self, result: ParameterProfile, levels: list[Level],
             confidence_level: float, calibrated: tuple[float, str] | None = None) -> None:
        """Draw ``result`` with a line per level of ``levels`` (for one parameter) and the
        interval at ``confidence_level`` shaded (when ``result`` has it); ``calibrated``
        is a toy-calibrated threshold and its label, drawn beside Wilks' one."""
        grid = result.profile.grid
        finite = np.isfinite
        self.profile_source.data = {"x": grid, "y": np.where(
            finite(result.profile.delta_chi2), result.profile.delta_chi2, np.nan)}
        self.scan_source.data = {"x": result.scan.grid, "y": np.where(
            finite(result.scan.delta_chi2), result.scan.delta_chi2, np.nan)}
        lo, hi = float(grid[0]), float(grid[-1])
        deltas = [level.delta(1) for level in levels]
        top = TOP * max([*deltas, *([calibrated[0]] if calibrated else [])])
        self.figure.x_range.update(start=lo, end=hi)
        self.figure.y_range.update(start=-0.04 * top, end=top)
        for n, (span, label) in enumerate(zip(self.lines, self.labels, strict=True)):
            shown = n < len(levels)
            span.visible = label.visible = shown
            if not shown:
                continue
            level, delta = levels[n], deltas[n]
            color = level_color(level)
            span.update(location=delta, line_color=color,
                        line_dash="dashed" if level.sigma is None else "solid")
            label.update(x=hi, y=delta, text=level.label, text_color=color,
                         text_baseline="top" if level.sigma is None else "bottom")
        shown = calibrated is not None
        self.calibrated_line.visible = self.calibrated_label.visible = shown
        if shown:
            self.calibrated_line.location = calibrated[0]
            self.calibrated_label.update(x=lo, y=calibrated[0], text=calibrated[1])
        interval = result.intervals.get(confidence_level)
        self.shade.visible = interval is not None
        if interval is not None:
            self.shade.update(left=max(interval.lower, lo), right=min(interval.upper, hi))
