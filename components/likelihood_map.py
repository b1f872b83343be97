"""The likelihood map: NLL or Delta chi-square over two parameters, with contours,
gradient arrows and the best fit.

The figure (:class:`~components.map_figure.MapFigure`, plain Bokeh) is built
once: an accepted edit recomputes the grid (``model_core.nll_grid``) and the
figure's data are replaced in place, keeping the user's zoom.  Only a change of
axes or of range fits the view to the new grid.  The range is chosen from the
best fit and the Hessian (``model_core.region_extent``, which copes with flat
directions) when the axes change, when the best fit leaves the range, or on
request.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import panel as pn
import param
from panel.io.document import unlocked
from panel.viewable import Viewer

import model_core as mc

from . import plots
from .map_figure import MapFigure
from .state import StateParameter, free_parameters

__all__ = ["LikelihoodMap"]

_QUANTITIES = {"Δχ²": "dchi2", "NLL": "nll"}
_OTHERS = {"fixed at the best fit": "fixed", "profiled (re-fitted)": "profile"}
RESOLUTION = {"fixed": 81, "profile": 31}
#: The range shows the region out to this multiple of the largest contour level.
RANGE_MARGIN = 1.6


class LikelihoodMap(Viewer):
    """The NLL surface over two chosen parameters of the session's model."""

    state = StateParameter()
    x_axis = param.Selector(objects=[], label="x axis")
    y_axis = param.Selector(objects=[], label="y axis")
    quantity = param.Selector(default="dchi2", objects=list(_QUANTITIES.values()))
    others = param.Selector(default="fixed", objects=list(_OTHERS.values()),
                            label="Other parameters")
    x_range = param.Range(default=(0.0, 1.0), label="x range")
    y_range = param.Range(default=(0.0, 1.0), label="y range")
    auto_range = param.Event(label="Auto range")
    grid = param.ClassSelector(class_=mc.GridResult, allow_None=True, doc="""
        The grid on display (None when the model has fewer than two free parameters).""")
    frame = param.Integer(default=0, doc="Incremented when the view is fitted to a new range.")
    message = param.String(default="")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._quiet = False
        self.figure = MapFigure()
        self.pane = pn.pane.Bokeh(self.figure.figure)
        # a widget, not an HTML pane: updating a pane re-sends its stylesheets, which makes
        # Bokeh re-walk the whole document (~100 ms per edit)
        self.info = pn.widgets.StaticText(value="", css_classes=["le-info"],
                                          sizing_mode="stretch_width")
        self.notice = pn.pane.Alert("", alert_type="info", visible=False)
        self.sliders = {name: pn.widgets.EditableRangeSlider.from_param(
            self.param[name], start=0.0, end=1.0, step=0.01, format="0[.][000]",
            sizing_mode="stretch_width", margin=(2, 10)) for name in ("x_range", "y_range")}
        self.state.param.watch(self._on_model, "best")
        self.state.param.watch(self._on_level, "confidence_level")
        self._on_model()

    # ------------------------------------------------------------------ computing
    def _on_model(self, *events: Any) -> None:
        free = free_parameters(self.state.model)
        if len(free) < 2:
            self.grid = None
            self.pane.visible = False
            self.notice.object = ("The map needs two free parameters: unfix one in the "
                                  "Parameters table.")
            self.notice.visible = True
            return
        self.notice.visible = False
        self.pane.visible = True
        x, y = self.x_axis, self.y_axis
        if x not in free:
            x = free[0]
        if y not in free or y == x:
            y = next(n for n in free if n != x)
        axes_changed = (x, y) != (self.x_axis, self.y_axis) or \
            list(self.param.x_axis.objects) != free
        self._set_quietly(x_axis=x, y_axis=y, objects=free)
        best = self.state.best.x
        outside = not (self.x_range[0] <= best[self.state.model.index(x)] <= self.x_range[1]
                       and self.y_range[0] <= best[self.state.model.index(y)] <= self.y_range[1])
        self.recompute(new_range=axes_changed or outside)

    def _set_quietly(self, *, objects: list[str], **values: Any) -> None:
        self._quiet = True
        try:
            self.param.x_axis.objects = objects
            self.param.y_axis.objects = objects
            self.param.update(**values)
        finally:
            self._quiet = False

    @param.depends("x_axis", "y_axis", "others", "auto_range", watch=True)
    def _on_axes(self) -> None:
        if self._quiet or self.grid is None and len(free_parameters(self.state.model)) < 2:
            return
        if self.x_axis == self.y_axis:
            free = free_parameters(self.state.model)
            self._set_quietly(objects=free, y_axis=next(n for n in free if n != self.x_axis))
        self.recompute(new_range=True)

    @param.depends("x_range", "y_range", watch=True)
    def _on_range(self) -> None:
        if not self._quiet:
            self.recompute(new_range=False, new_frame=True)

    @param.depends("x_range", "y_range", watch=True)
    def _sync_sliders(self) -> None:
        """Let each slider reach a little beyond the current range (typed values may go
        anywhere)."""
        for name, slider in self.sliders.items():
            lo, hi = getattr(self, name)
            pad = 0.5 * (hi - lo)
            slider.param.update(start=lo - pad, end=hi + pad, step=(hi - lo) / 200)

    def _on_level(self, event: Any) -> None:
        self._draw(reset_range=False)

    @param.depends("quantity", watch=True)
    def _on_quantity(self) -> None:
        self._draw(reset_range=False)

    def suggested_range(self, name: str) -> tuple[float, float]:
        """Where the region of the largest drawn contour ends along ``name``, with a margin."""
        model, best = self.state.model, self.state.best
        delta = max(level.delta for level in plots.map_levels(self.state.confidence_level))
        other = self.y_axis if name == self.x_axis else self.x_axis
        minimise = [n for n in free_parameters(model) if n != name]
        if self.others == "fixed":
            minimise = [other]
        lo, hi = mc.region_extent(model, name, best=best, delta=delta, minimise=minimise)
        centre = best.x[model.index(name)]
        lo, hi = centre - RANGE_MARGIN * (centre - lo), centre + RANGE_MARGIN * (hi - centre)
        low_bound, high_bound = model.bounds[model.index(name)]
        lo, hi = max(lo, low_bound), min(hi, high_bound)
        if not hi > lo:  # the best fit sits on a bound with nothing beyond: show a unit step
            lo, hi = (lo, lo + 1.0) if np.isfinite(low_bound) else (hi - 1.0, hi)
        return float(lo), float(hi)

    def recompute(self, *, new_range: bool, new_frame: bool = False) -> None:
        """Compute the grid for the current axes (and a new automatic range if asked)."""
        model, best = self.state.model, self.state.best
        start = time.perf_counter()
        if new_range:
            self._quiet = True
            try:
                self.param.update(x_range=self.suggested_range(self.x_axis),
                                  y_range=self.suggested_range(self.y_axis))
            finally:
                self._quiet = False
        n = RESOLUTION[self.others]
        xs, ys = np.linspace(*self.x_range, n), np.linspace(*self.y_range, n)
        grid = mc.nll_grid(model, (self.x_axis, self.y_axis), xs, ys, mode=self.others,
                           at=best.x)
        elapsed = time.perf_counter() - start
        fixed_text = ", ".join(f"{name} = {best.x[i]:.4g}" for i, name in
                               enumerate(model.parameter_names)
                               if name not in (self.x_axis, self.y_axis))
        how = "fixed at" if self.others == "fixed" else "profiled; best fit"
        finite = np.isfinite(grid.nll)
        failed = int((~grid.success & finite).sum())
        self.message = (f"others {how}: {fixed_text or '—'} · NLL<sub>min</sub> = {best.fun:.6g}"
                        f" · {n}×{n} grid, computed in {1e3 * elapsed:.0f} ms"
                        + (f" · {failed} points did not converge" if failed else "")
                        + (" · grey: some expected rate ≤ 0 (likelihood zero)"
                           if not finite.all() else ""))
        self.info.value = self.message
        self.grid = grid
        if new_range or new_frame:
            self.frame += 1
        self._draw(reset_range=new_range or new_frame)

    # ------------------------------------------------------------------ display
    def _draw(self, *, reset_range: bool) -> None:
        """Show the current grid (nothing when there is none)."""
        grid = self.grid
        if grid is None:
            return
        best, model = self.state.best, self.state.model
        bx, by = (best.x[model.index(p)] for p in grid.parameters)
        layers = plots.map_layers(grid, (bx, by), best.fun, quantity=self.quantity,
                                  levels=plots.map_levels(self.state.confidence_level))
        # a plain Bokeh figure changed from a Panel callback: dispatch its changes to the
        # page (Panel's own widgets do this themselves)
        with unlocked():
            self.figure.show(layers, reset_range=reset_range)

    def controls(self) -> pn.viewable.Viewable:
        """Axis, quantity, mode and range widgets, in two rows above the map."""
        compact = dict(sizing_mode="stretch_width", margin=(2, 5))
        return pn.Column(
            pn.Row(pn.widgets.Select.from_param(self.param.x_axis, width=90, margin=(2, 5)),
                   pn.widgets.Select.from_param(self.param.y_axis, width=90, margin=(2, 5)),
                   pn.Column(pn.pane.HTML("<small>Colour</small>", margin=(0, 5)),
                             pn.widgets.RadioButtonGroup.from_param(
                                 self.param.quantity, options=_QUANTITIES, color="light",
                                 width=120, margin=(2, 5))),
                   pn.Column(pn.pane.HTML("<small>Other parameters</small>", margin=(0, 5)),
                             pn.widgets.RadioButtonGroup.from_param(
                                 self.param.others, options=_OTHERS, color="light",
                                 **compact), sizing_mode="stretch_width"),
                   sizing_mode="stretch_width"),
            pn.Row(self.sliders["x_range"], self.sliders["y_range"],
                   pn.widgets.Button.from_param(self.param.auto_range, color="light",
                                                width=100, margin=(18, 5, 2, 5)),
                   sizing_mode="stretch_width"),
            sizing_mode="stretch_width", css_classes=["le-controls"])

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self.controls(), self.notice, self.pane, self.info,
                         sizing_mode="stretch_width")
