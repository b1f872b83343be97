"""The likelihood map's Bokeh figure, built once and updated in place.

A live map must follow every edit quickly.  Rebuilding the plot (or refreshing
a HoloViews ``DynamicMap``) makes Bokeh re-walk every model of the page on the
server and re-create glyphs in the browser; here an update replaces the data of
a few ``ColumnDataSource`` objects and a handful of text and colour properties,
so only those travel to the browser, and the ranges (the user's zoom) are left
alone unless a new range is asked for.
"""

from __future__ import annotations

import numpy as np
from bokeh.core.properties import value
from bokeh.models import (
    ColorBar,
    ColumnDataSource,
    HoverTool,
    Legend,
    LegendItem,
    LinearColorMapper,
    Range1d,
)
from bokeh.palettes import Viridis256
from bokeh.plotting import figure

from .plots import MAP_SIZE, MapLayers, arrow_segments

__all__ = ["MapFigure"]

#: Contour levels drawn (1 sigma, 2 sigma, the chosen CL).
N_LEVELS = 3
_EMPTY_SEGMENTS = {"x0": [], "y0": [], "x1": [], "y1": []}


class MapFigure:
    """A heatmap with contour lines, gradient arrows and the best fit, over two parameters.

    Call :meth:`show` with new :class:`~components.plots.MapLayers`; ``reset_range``
    fits the view to the grid (new axes or range), else the user's zoom stays.
    """

    def __init__(self) -> None:
        self.image_source = ColumnDataSource({"image": [], "x": [], "y": [], "dw": [],
                                              "dh": []})
        self.line_sources = [ColumnDataSource(dict(_EMPTY_SEGMENTS)) for _ in range(N_LEVELS)]
        self.arrow_source = ColumnDataSource(dict(_EMPTY_SEGMENTS))
        self.best_source = ColumnDataSource({"x": [], "y": []})
        self.mapper = LinearColorMapper(palette=Viridis256, low=0.0, high=1.0,
                                        high_color="#fde725", nan_color="#d9d9d9")
        fig = figure(frame_width=MAP_SIZE, frame_height=MAP_SIZE, width=MAP_SIZE + 170,
                     height=MAP_SIZE + 80, x_range=Range1d(0.0, 1.0),
                     y_range=Range1d(0.0, 1.0), tools="pan,wheel_zoom,box_zoom,reset,save",
                     active_scroll="wheel_zoom", toolbar_location="right",
                     output_backend="canvas")
        fig.grid.visible = False
        fig.title.update(text_font_size="14px", text_font_style="bold")
        image = fig.image(image="image", x="x", y="y", dw="dw", dh="dh",
                          source=self.image_source, color_mapper=self.mapper)
        self.lines = [fig.segment(x0="x0", y0="y0", x1="x1", y1="y1", source=source,
                                  line_width=2.5) for source in self.line_sources]
        arrows = fig.segment(x0="x0", y0="y0", x1="x1", y1="y1", source=self.arrow_source,
                             line_color="white", line_width=1.4, line_alpha=0.85)
        best = fig.scatter(x="x", y="y", source=self.best_source, marker="star", size=20,
                           fill_color="#e6194b", line_color="white", line_width=1.5)
        self.hover = HoverTool(renderers=[image], tooltips=[("x", "$x"), ("y", "$y")])
        fig.add_tools(self.hover)
        self.legend_items = [LegendItem(label=" ", renderers=[line]) for line in self.lines]
        self.legend_items += [LegendItem(label="−∇NLL (ascent of log L)", renderers=[arrows]),
                              LegendItem(label="best fit", renderers=[best])]
        fig.add_layout(Legend(
            items=self.legend_items, location="top_left", background_fill_color="#17324d",
            background_fill_alpha=0.55, label_text_color="white",
            label_text_font_size="11px", spacing=0, padding=4, border_line_alpha=0))
        self.colorbar = ColorBar(color_mapper=self.mapper, title="Δχ²", width=20)
        fig.add_layout(self.colorbar, "right")
        self.figure = fig

    def show(self, layers: MapLayers, *, reset_range: bool) -> None:
        """Draw ``layers``; with ``reset_range``, fit the view to the grid."""
        x, y = layers.x, layers.y
        dx = (x[-1] - x[0]) / max(len(x) - 1, 1)
        dy = (y[-1] - y[0]) / max(len(y) - 1, 1)
        # pixels centred on the grid points; float32 halves what goes to the browser
        extent = (x[0] - dx / 2, x[-1] + dx / 2, y[0] - dy / 2, y[-1] + dy / 2)
        self.image_source.data = {
            "image": [np.asarray(layers.z, dtype=np.float32)], "x": [extent[0]],
            "y": [extent[2]], "dw": [extent[1] - extent[0]], "dh": [extent[3] - extent[2]]}
        self.mapper.update(low=layers.clim[0], high=layers.clim[1])
        for renderer, source, item, (level, x0, y0, x1, y1) in zip(
                self.lines, self.line_sources, self.legend_items, layers.lines, strict=False):
            source.data = {"x0": x0, "y0": y0, "x1": x1, "y1": y1}
            renderer.glyph.update(line_color=level.color, line_dash=level.dash)
            label = f"{level.label} (Δχ²={level.delta:.2f})"
            if getattr(item.label, "value", None) != label:
                item.label = value(label)
        span = (x[-1] - x[0], y[-1] - y[0])
        x0, y0, x1, y1 = arrow_segments(layers.arrows, span)
        self.arrow_source.data = {"x0": x0, "y0": y0, "x1": x1, "y1": y1}
        self.best_source.data = {"x": [layers.best[0]], "y": [layers.best[1]]}
        px, py = layers.parameters
        fig = self.figure
        if fig.title.text != layers.title:
            fig.title.text = layers.title
        if fig.xaxis[0].axis_label != px or fig.yaxis[0].axis_label != py:
            fig.xaxis.axis_label, fig.yaxis.axis_label = px, py
        if self.colorbar.title != layers.quantity_label:
            self.colorbar.title = layers.quantity_label
        tooltips = [(px, "$x"), (py, "$y"), (layers.quantity_label, "@image")]
        if self.hover.tooltips != tooltips:
            self.hover.tooltips = tooltips
        if reset_range:
            for axis, (lo, hi) in ((fig.x_range, extent[:2]), (fig.y_range, extent[2:])):
                axis.update(start=lo, end=hi, reset_start=lo, reset_end=hi)
