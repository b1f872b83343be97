"""The coverage study's figures (plain Bokeh, built once and updated in place): the
histogram of the toys' ``q`` with the chi2_k expectation over it, and the empirical
coverage against the nominal confidence level with its Clopper-Pearson band and the
diagonal where Wilks' theorem holds.

The functions arrange a study's ``q`` for display; the statistics (Wilks' thresholds, the
Clopper-Pearson intervals, the toy-calibrated thresholds) come from ``model_core``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import param
from bokeh.core.properties import value
from bokeh.models import ColumnDataSource, Label, Legend, LegendItem, Range1d, Span, Whisker
from bokeh.plotting import figure
from panel.io.document import unlocked
from panel.viewable import Viewer
from scipy.stats import chi2

import model_core as mc
from model_core.toys import clopper_pearson, toy_quantile

from .coverage_run import CoverageRun
from .plots import format_level

__all__ = ["BAND_LEVELS", "CoverageFigures", "coverage_band", "coverage_curve",
           "expected_counts", "histogram", "histogram_edges"]

#: Bins of the histogram, from 0 to the chi2_k quantile at :data:`HISTOGRAM_TOP`.
N_BINS = 40
#: The histogram reaches this chi2_k quantile; larger q are counted in the last bin.
HISTOGRAM_TOP = 0.999
#: Nominal levels of the coverage curve (the empirical fraction is exact at each).
CURVE_LEVELS = np.linspace(0.0, 1.0, 201)
#: Nominal levels of the Clopper-Pearson band (each an exact binomial interval, 5 to 10 ms
#: apiece: not every point of the curve, and only once the study has ended).
BAND_LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
#: The band's level: one standard deviation, as the table's intervals.
BAND_LEVEL = 0.6827
STALE_MARK = "Stale (model changed) · "
WILKS_COLOR, CALIBRATED_COLOR = "#ff7f0e", "#9c27b0"
FIGURE_HEIGHT = 340


def histogram_edges(dof: int) -> np.ndarray:
    """Bin edges for ``q`` of a study with ``dof`` axes: :data:`N_BINS` bins from 0 to the
    chi2_dof quantile at :data:`HISTOGRAM_TOP`."""
    return np.linspace(0.0, mc.delta_chi2(HISTOGRAM_TOP, dof), N_BINS + 1)


def histogram(q: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts of the finite ``q`` in ``edges``; q beyond the last edge count in the last
    bin, and the (rounding-level) negatives in the first."""
    q = np.asarray(q, dtype=float)
    q = np.clip(q[np.isfinite(q)], edges[0], edges[-1])
    return np.histogram(q, edges)[0]


def expected_counts(edges: np.ndarray, dof: int, n: int) -> np.ndarray:
    """Toys per bin if ``q`` followed chi2_dof exactly (the last bin takes the tail)."""
    cdf = chi2.cdf(edges, dof)
    cdf[-1] = 1.0
    return n * np.diff(cdf)


def coverage_curve(q: np.ndarray, dof: int, levels: np.ndarray = CURVE_LEVELS) -> np.ndarray:
    """The fraction of the finite ``q`` with ``q <= chi2.ppf(CL, dof)`` at every nominal
    ``CL`` of ``levels`` (the empirical coverage of Wilks' region)."""
    q = np.sort(np.asarray(q, dtype=float)[np.isfinite(q)])
    if not q.size:
        return np.full(len(levels), np.nan)
    return np.searchsorted(q, chi2.ppf(levels, dof), side="right") / q.size


def coverage_band(q: np.ndarray, dof: int, levels: tuple[float, ...] = BAND_LEVELS,
                  level: float = BAND_LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper Clopper-Pearson limits (at ``level``) of the coverage at ``levels``."""
    q = np.asarray(q, dtype=float)
    q = q[np.isfinite(q)]
    covered = (q[:, None] <= chi2.ppf(levels, dof)).sum(axis=0)
    limits = np.array([clopper_pearson(int(k), q.size, level) for k in covered])
    return limits[:, 0], limits[:, 1]


class CoverageFigures(Viewer):
    """The histogram of ``q`` and the coverage curve of the session's study."""

    run = param.ClassSelector(class_=CoverageRun)
    drawn = param.Integer(default=0, doc="Toys in the histogram on display.")
    active = param.Boolean(default=True, doc="""
        Whether the figures are on screen; while they are not, they are drawn when shown.""")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.bins = ColumnDataSource({"left": [], "right": [], "top": [], "expected": []})
        self.density = ColumnDataSource({"x": [], "y": []})
        hist = figure(height=FIGURE_HEIGHT, sizing_mode="stretch_width", min_width=320,
                      title="q = 2 (NLL(truth) − NLL_min) of the toys",
                      x_range=Range1d(0.0, 1.0), y_range=Range1d(0.0, 1.0),
                      tools="save", toolbar_location=None, x_axis_label="q",
                      y_axis_label="toys per bin")
        bars = hist.quad(left="left", right="right", top="top", bottom=0.0, source=self.bins,
                         fill_color="#9ecae1", line_color="#3182bd")
        curve = hist.line("x", "y", source=self.density, color="#d62728", line_width=2)
        self.thresholds = {name: (Span(dimension="height", location=0.0, line_width=2,
                                       line_color=color, line_dash=dash, visible=False),
                                  Label(x=0.0, y=0.0, text="",
                                        text_font_size="11px", text_color=color,
                                        x_offset=4, visible=False))
                           for name, color, dash in (("wilks", WILKS_COLOR, "dashed"),
                                                     ("calibrated", CALIBRATED_COLOR, "solid"))}
        for span, label in self.thresholds.values():
            hist.add_layout(span)
            hist.add_layout(label)
        self.histogram_items = [LegendItem(label="toys", renderers=[bars]),
                                LegendItem(label="χ²_k expectation", renderers=[curve])]
        hist.add_layout(Legend(items=self.histogram_items, location="top_right",
                               label_text_font_size="11px"), "center")
        hist.title.text_font_style = "bold"
        self.histogram_figure = hist

        self.curve = ColumnDataSource({"x": [], "y": []})
        self.band = ColumnDataSource({"x": [], "low": [], "high": []})
        self.points = ColumnDataSource({"x": [], "y": [], "low": [], "high": []})
        cov = figure(height=FIGURE_HEIGHT, sizing_mode="stretch_width", min_width=320,
                     title="Coverage of the Wilks region", x_range=Range1d(0.0, 1.0),
                     y_range=Range1d(0.0, 1.0), tools="save", toolbar_location=None,
                     x_axis_label="nominal confidence level",
                     y_axis_label="empirical coverage")
        band = cov.varea(x="x", y1="low", y2="high", source=self.band, fill_color="#1f77b4",
                         fill_alpha=0.2)
        diagonal = cov.line([0, 1], [0, 1], color="#555555", line_dash="dashed", line_width=1.5)
        line = cov.line("x", "y", source=self.curve, color="#1f77b4", line_width=2)
        dots = cov.scatter("x", "y", source=self.points, size=8, color="#1f77b4")
        cov.add_layout(Whisker(base="x", lower="low", upper="high", source=self.points,
                               line_color="#1f77b4"))
        cov.add_layout(Legend(items=[
            LegendItem(label="Wilks holds (diagonal)", renderers=[diagonal]),
            LegendItem(label="toys", renderers=[line]),
            LegendItem(label="68.27% Clopper-Pearson", renderers=[band]),
            LegendItem(label="the study's levels", renderers=[dots])],
            location="top_left", label_text_font_size="11px"), "center")
        cov.title.text_font_style = "bold"
        self.coverage_figure = cov
        self.run.param.watch(self._redraw, ["pushes", "status", "stale"])
        self.run.state.param.watch(self._redraw, "confidence_level")
        self.param.watch(self._redraw, "active")
        self._redraw()

    def _redraw(self, *events: Any) -> None:
        if self.active:
            with unlocked():
                self.draw()

    def draw(self) -> None:
        """Draw the toys so far (nothing before a study)."""
        run = self.run
        q, dof = run.q, run.dof
        if not dof:
            return
        finite = q[np.isfinite(q)]
        n = int(finite.size)
        edges = histogram_edges(dof)
        counts = histogram(q, edges)
        expected = expected_counts(edges, dof, n)
        self.bins.data = {"left": edges[:-1], "right": edges[1:], "top": counts,
                          "expected": expected}
        x = np.linspace(edges[0], edges[-1], 400)[1:]
        width = edges[1] - edges[0]
        top = max(float(counts.max(initial=0)), float(expected.max(initial=0)), 1.0) * 1.15
        self.density.data = {"x": x, "y": np.minimum(n * width * chi2.pdf(x, dof), 2 * top)}
        hist = self.histogram_figure
        hist.x_range.update(start=0.0, end=float(edges[-1]))
        hist.y_range.update(start=0.0, end=top)
        stale = STALE_MARK if run.stale else ""
        ending = "" if run.status in ("running", "cancelling") else " (ended)"
        hist.title.text = (f"{stale}{n:,} toys{ending}: q = 2 (NLL(truth) − NLL_min), "
                           f"k = {dof}")
        self.histogram_items[1].label = value(f"χ²_{dof} expectation")
        cl = run.state.confidence_level
        lines = {"wilks": (mc.delta_chi2(cl, dof), f"Wilks {format_level(cl)}"),
                 "calibrated": (toy_quantile(q, cl) if n else float("nan"),
                                f"toys {format_level(cl)}")}
        # labels halfway up, beside the lines (the legend holds the top right corner)
        for height, (name, (location, text)) in zip((0.6, 0.5), lines.items(), strict=True):
            span, label = self.thresholds[name]
            shown = bool(np.isfinite(location))
            span.visible = label.visible = shown
            if shown:
                span.location = float(location)
                label.update(x=float(location), y=height * top, text=f"{text}: "
                             f"{location:.3g}")
        self.curve.data = {"x": CURVE_LEVELS, "y": coverage_curve(q, dof)}
        ended = run.status not in ("running", "cancelling")
        if n and ended:
            # the band takes an exact interval per level: drawn once, when the study ends
            low, high = coverage_band(q, dof)
            self.band.data = {"x": list(BAND_LEVELS), "low": low, "high": high}
        elif self.band.data["x"]:
            self.band.data = {"x": [], "low": [], "high": []}
        if n:
            levels = run.confidence_levels
            at = coverage_curve(q, dof, np.asarray(levels))
            low, high = coverage_band(q, dof, tuple(levels))
            self.points.data = {"x": list(levels), "y": at, "low": low, "high": high}
        self.coverage_figure.title.text = (f"{stale}Coverage of the Wilks region (k = {dof}, "
                                           f"{n:,} toys)")
        self.drawn = n
