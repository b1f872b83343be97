"""The fit summary, as iminuit shows one in a notebook: the fit's status, every free
parameter's value, Hessian error and MINOS-style profile intervals at 68.27% (1 sigma)
and 95%, and the correlation matrix as a heat map.

The view renders the session's :class:`~components.analysis.Analysis`; the Hessian part
follows the model at once, the intervals as soon as the background work has them.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import panel as pn
import param
from bokeh.models import ColumnDataSource, FactorRange, LinearColorMapper
from bokeh.palettes import RdBu11
from bokeh.plotting import figure
from panel.io.document import unlocked

from model_core.summary import FitSummary, ProfileInterval

from . import plots
from .analysis import AnalysisView

__all__ = ["FitPanel", "interval_cells", "status_rows"]

#: Pixels per row and column of the correlation map.
CELL = 56
_MARK = {True: "<span class='le-ok'>✓</span>", False: "<span class='le-bad'>✗</span>"}


def status_rows(summary: FitSummary) -> list[tuple[str, str, bool | None]]:
    """The fit's status as ``(what, value, good)`` rows (``good`` None: information)."""
    return [
        ("NLL<sub>min</sub>", f"{summary.fun:.8g}", None),
        ("EDM", f"{summary.edm:.3g}", summary.edm < 1e-6),
        ("valid minimum", summary.message, summary.success),
        ("Hessian positive definite", "yes" if summary.has_posdef_hessian else
         "no: some combination of parameters is not constrained (Hessian errors undefined)",
         summary.has_posdef_hessian),
        ("at a bound", ", ".join(summary.at_bound) or "none", not summary.at_bound),
    ]


def _end(value: float, kind: str, best: float) -> str:
    if kind == "open":
        return "none"
    text = f"{value - best:+.3g}"
    return text + {"bound": " (bound)", "edge": " (edge)"}.get(kind, "")


def interval_cells(interval: ProfileInterval | None) -> tuple[str, str]:
    """The lower and upper MINOS-style errors of ``interval`` as table cells."""
    if interval is None:
        return "…", "…"
    return (_end(interval.lower, interval.lower_kind, interval.value),
            _end(interval.upper, interval.upper_kind, interval.value))


class FitPanel(AnalysisView):
    """The fit summary of the session's model."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.status = pn.widgets.StaticText(value="", css_classes=["le-fit-status"],
                                            sizing_mode="stretch_width")
        self.table = pn.widgets.StaticText(value="", css_classes=["le-fit-table"],
                                           sizing_mode="stretch_width")
        self.source = ColumnDataSource({"x": [], "y": [], "rho": [], "text": [],
                                        "color": []})
        self.mapper = LinearColorMapper(palette=list(reversed(RdBu11)), low=-1.0, high=1.0,
                                        nan_color="#eeeeee")
        fig = figure(x_range=FactorRange(), y_range=FactorRange(), width=CELL * 4 + 80,
                     height=CELL * 4 + 60, tools="hover", toolbar_location=None,
                     tooltips=[("", "@y, @x"), ("correlation", "@text")],
                     title="Correlations (from the Hessian)")
        fig.rect("x", "y", width=1, height=1, source=self.source, line_color="white",
                 fill_color={"field": "rho", "transform": self.mapper})
        fig.text("x", "y", text="text", source=self.source, text_align="center",
                 text_baseline="middle", text_font_size="12px", text_color="color")
        fig.grid.visible = False
        fig.axis.axis_line_color = None
        fig.axis.major_tick_line_color = None
        fig.xaxis.major_label_orientation = 0.8
        self.heatmap = fig
        self.analysis.param.watch(self._render, ["summary", "computing"])
        self._shown()

    @param.depends("active", watch=True)
    def _shown(self) -> None:
        self.analysis.want("fit", self.active)
        self._render()

    def _render(self, *events: Any) -> None:
        summary = self.analysis.summary
        if not self.active or summary is None:
            return
        self.status.value = "<table class='le-fit'>" + "".join(
            f"<tr><th>{what}</th><td>{'' if good is None else _MARK[good]} "
            f"{html.escape(value)}</td></tr>"
            for what, value, good in status_rows(summary)) + "</table>"
        levels = [plots.format_level(cl) for cl in summary.confidence_levels]
        model = self.analysis.state.model
        head = ("<tr><th>parameter</th><th>value</th><th>Hessian error</th>"
                + "".join(f"<th colspan=2>profile interval {cl} (− / +)</th>" for cl in levels)
                + "<th>bounds</th></tr>")
        rows = []
        for n, name in enumerate(summary.parameter_names):
            error = summary.errors[n]
            cells = [f"<td><b>{html.escape(name)}</b></td>", f"<td>{summary.values[n]:.5g}</td>",
                     f"<td>{'—' if np.isnan(error) else f'{error:.3g}'}</td>"]
            for interval in summary.intervals.get(name, (None,) * len(levels)):
                cells += [f"<td>{cell}</td>" for cell in interval_cells(interval)]
            lo, hi = model.bounds[model.index(name)]
            cells.append(f"<td>[{lo:g}, {hi:g}]</td>" if np.isfinite([lo, hi]).any() else
                         "<td>—</td>")
            rows.append("<tr>" + "".join(cells) + "</tr>")
        note = (" <i>computing the profile intervals…</i>" if self.analysis.computing
                or not summary.intervals else "")
        self.table.value = (f"<table class='le-fit'>{head}{''.join(rows)}</table>"
                            f"<div class='le-muted'>Hessian errors: √diag(H⁻¹); profile "
                            f"intervals: where the profile crosses Δχ² = χ²₁ quantile (as "
                            f"MINOS){note}</div>")
        self._heatmap(summary)

    def _heatmap(self, summary: FitSummary) -> None:
        names = list(summary.parameter_names)
        rho = summary.correlation
        xs, ys, values, text, color = [], [], [], [], []
        for i, a in enumerate(names):
            for j, b in enumerate(names):
                value = float(rho[i, j])
                xs.append(b)
                ys.append(a)
                values.append(value)
                text.append("—" if np.isnan(value) else f"{value:.2f}")
                color.append("white" if abs(value) > 0.6 else "black")
        with unlocked():
            fig = self.heatmap
            if list(fig.x_range.factors) != names:
                fig.x_range.factors = names
                fig.y_range.factors = list(reversed(names))
                fig.update(width=CELL * len(names) + 90, height=CELL * len(names) + 70)
            self.source.data = {"x": xs, "y": ys, "rho": values, "text": text, "color": color}

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Row(pn.Column(self.status, self.table, sizing_mode="stretch_width"),
                      pn.pane.Bokeh(self.heatmap), sizing_mode="stretch_width")
