"""The likelihood map's Bokeh figure, built once and updated in place.

A live map must follow every edit quickly.  Rebuilding the plot (or refreshing
a HoloViews ``DynamicMap``) makes Bokeh re-walk every model of the page on the
server and re-create glyphs in the browser; here an update replaces the data of
a few ``ColumnDataSource`` objects and a handful of text and colour properties,
so only those travel to the browser, and the ranges (the user's zoom) are left
alone unless a new range is asked for.

The figure fills the width it is given; the legend and the colour bar sit outside the
data.  Gradient arrows are drawn twice, a dark halo under a white line, so that they
show on every colour of the palette.
"""

from __future__ import annotations

import numpy as np
from bokeh.core.properties import value
from bokeh.core.property.descriptors import UnsetValueError
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

from .plots import Level, MapLayers, arrow_segments
from .state import SIGMAS

__all__ = ["MAP_HEIGHT", "MapFigure", "level_style"]

#: Height of the map in pixels (its width follows the page).
MAP_HEIGHT = 620
#: One line slot per level that can be drawn: the sigma levels and the chosen CL.
N_LEVELS = len(SIGMAS) + 1
#: Line colours of the sigma levels (light, on the mostly dark palette) and of the CL line.
SIGMA_COLORS = {1: "#ffffff", 2: "#c6dbef", 3: "#bcbddc"}
CL_COLOR = "#ff7f0e"
#: The CL line is dashed and drawn last: a sigma line at (nearly) the same level shows
#: through its gaps.
CL_DASH = [8, 6]
_EMPTY_SEGMENTS = {"x0": [], "y0": [], "x1": [], "y1": []}
#: Lines drawn over the map besides the levels, by name: the toy-calibrated Delta chi-square
#: of a coverage study, and the toy-calibrated region of a Neyman construction.
OVERLAY_STYLES = {
    "calibrated_level": {"line_color": "#e040fb", "line_dash": [2, 4], "line_width": 3.0},
    "calibrated_region": {"line_color": "#ff1744", "line_dash": "solid", "line_width": 3.0},
}


def level_style(level: Level) -> dict[str, object]:
    """Colour and dash of ``level``'s line."""
    if level.sigma is None:
        return {"line_color": CL_COLOR, "line_dash": CL_DASH}
    return {"line_color": SIGMA_COLORS.get(level.sigma, "#ffffff"), "line_dash": "solid"}


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
        fig = figure(sizing_mode="stretch_width", height=MAP_HEIGHT, min_width=360,
                     x_range=Range1d(0.0, 1.0), y_range=Range1d(0.0, 1.0),
                     tools="pan,wheel_zoom,box_zoom,reset,save", active_scroll="wheel_zoom",
                     toolbar_location="above", output_backend="canvas")
        fig.grid.visible = False
        fig.title.update(text_font_size="14px", text_font_style="bold")
        image = fig.image(image="image", x="x", y="y", dw="dw", dh="dh",
                          source=self.image_source, color_mapper=self.mapper)
        self.arrows = [
            fig.segment(x0="x0", y0="y0", x1="x1", y1="y1", source=self.arrow_source,
                        line_color="#1a1a1a", line_width=3.4, line_alpha=0.55),
            fig.segment(x0="x0", y0="y0", x1="x1", y1="y1", source=self.arrow_source,
                        line_color="white", line_width=1.4, line_alpha=0.95)]
        self.lines = [fig.segment(x0="x0", y0="y0", x1="x1", y1="y1", source=source,
                                  line_width=2.5) for source in self.line_sources]
        self.overlay_sources = {name: ColumnDataSource(dict(_EMPTY_SEGMENTS))
                                for name in OVERLAY_STYLES}
        overlays = {name: fig.segment(x0="x0", y0="y0", x1="x1", y1="y1",
                                      source=self.overlay_sources[name], **style)
                    for name, style in OVERLAY_STYLES.items()}
        self.overlay_items = {name: LegendItem(label=" ", renderers=[line])
                              for name, line in overlays.items()}
        self._overlays_shown: list[str] = []
        best = fig.scatter(x="x", y="y", source=self.best_source, marker="star", size=20,
                           fill_color="#e6194b", line_color="white", line_width=1.5)
        self.hover = HoverTool(renderers=[image], tooltips=[("x", "$x"), ("y", "$y")])
        fig.add_tools(self.hover)
        self.level_items = [LegendItem(label=" ", renderers=[line]) for line in self.lines]
        self._level_items: list[LegendItem] = []
        self.fixed_items = [LegendItem(label="−∇NLL (ascent of log L)", renderers=self.arrows),
                            LegendItem(label="best fit", renderers=[best])]
        self.legend = Legend(items=list(self.fixed_items), location="top_left",
                             label_text_font_size="12px", spacing=2, padding=6,
                             border_line_alpha=0, title="Δχ² levels (2 parameters)",
                             title_text_font_size="12px")
        self.colorbar = ColorBar(color_mapper=self.mapper, title="Δχ²", width=16)
        fig.add_layout(self.colorbar, "right")
        fig.add_layout(self.legend, "right")
        self.figure = fig

    def overlay(self, name: str, segments: tuple[np.ndarray, ...] | None, label: str = "") -> None:
        """Draw the overlay ``name`` (a key of :data:`OVERLAY_STYLES`) as ``segments``
        ``(x0, y0, x1, y1)`` with ``label`` in the legend; None takes it off."""
        source, item = self.overlay_sources[name], self.overlay_items[name]
        if segments is None:
            source.data = dict(_EMPTY_SEGMENTS)
            self._overlays_shown = [n for n in self._overlays_shown if n != name]
        else:
            source.data = dict(zip(("x0", "y0", "x1", "y1"), segments, strict=True))
            if getattr(item.label, "value", None) != label:
                item.label = value(label)
            if name not in self._overlays_shown:
                self._overlays_shown = [n for n in OVERLAY_STYLES
                                        if n in self._overlays_shown or n == name]
        self._set_legend()

    def _set_legend(self) -> None:
        items = [*self._level_items, *(self.overlay_items[n] for n in self._overlays_shown),
                 *self.fixed_items]
        if self.legend.items != items:
            self.legend.items = items

    @property
    def frame(self) -> tuple[float, float]:
        """Width and height of the data area in the browser (square until it is known)."""
        try:
            width, height = self.figure.inner_width, self.figure.inner_height
        except UnsetValueError:  # not drawn yet: the browser sends the size once it has
            return 1.0, 1.0
        return (float(width), float(height)) if width and height else (1.0, 1.0)

    @staticmethod
    def view_of(layers: MapLayers) -> tuple[tuple[float, float], tuple[float, float]]:
        """The x and y ranges that show the whole grid (pixels centred on its points)."""
        x, y = layers.x, layers.y
        dx = (x[-1] - x[0]) / max(len(x) - 1, 1)
        dy = (y[-1] - y[0]) / max(len(y) - 1, 1)
        return (x[0] - dx / 2, x[-1] + dx / 2), (y[0] - dy / 2, y[-1] + dy / 2)

    def show(self, layers: MapLayers, *, reset_range: bool) -> None:
        """Draw ``layers`` (computed for :attr:`frame`); with ``reset_range``, fit the view
        to the grid."""
        x, y = layers.x, layers.y
        (x_lo, x_hi), (y_lo, y_hi) = self.view_of(layers)
        extent = (x_lo, x_hi, y_lo, y_hi)
        # float32 halves what goes to the browser
        self.image_source.data = {
            "image": [np.asarray(layers.z, dtype=np.float32)], "x": [extent[0]],
            "y": [extent[2]], "dw": [extent[1] - extent[0]], "dh": [extent[3] - extent[2]]}
        self.mapper.update(low=layers.clim[0], high=layers.clim[1])
        items = []
        for n, (renderer, source, item) in enumerate(zip(self.lines, self.line_sources,
                                                         self.level_items, strict=True)):
            if n >= len(layers.lines):
                source.data = dict(_EMPTY_SEGMENTS)
                continue
            level, delta, x0, y0, x1, y1 = layers.lines[n]
            source.data = {"x0": x0, "y0": y0, "x1": x1, "y1": y1}
            renderer.glyph.update(**level_style(level))
            label = f"{level.label} (Δχ² = {delta:.2f})"
            if getattr(item.label, "value", None) != label:
                item.label = value(label)
            items.append(item)
        self._level_items = items
        self._set_legend()
        span = (x[-1] - x[0], y[-1] - y[0])
        x0, y0, x1, y1 = arrow_segments(layers.arrows, span, frame=self.frame)
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
