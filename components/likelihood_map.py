"""The likelihood map: NLL or Delta chi-square over two parameters, with contours at the
levels on display, gradient arrows and the best fit.

The figure (:class:`~components.map_figure.MapFigure`, plain Bokeh) is built
once: an accepted edit recomputes the grid (``model_core.nll_grid``) and the
figure's data are replaced in place, keeping the user's zoom.  The range is chosen
from the best fit and the Hessian (``model_core.region_extent``, which copes with flat
directions) when the axes change, when the best fit leaves the range, when a new model
is loaded (unless the user has zoomed or typed a range), or on request.

With the other parameters profiled, every grid point is a fit: a coarse grid is drawn
first and a fine one replaces it when ready.  In a served session the grids are computed
in the session's background lane ``"map"`` (a newer request supersedes the older one,
whose grids are dropped unseen) and the loop only draws them; without a session, the
first grid is computed at once.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import numpy as np
import panel as pn
import param
from panel.io.document import unlocked
from panel.links import Callback
from panel.viewable import Viewer

import model_core as mc

from . import plots
from .jobs import served
from .map_figure import MapFigure
from .state import StateParameter, free_parameters

__all__ = ["FINE_PROFILE", "LANE", "LikelihoodMap", "RESOLUTION"]

_QUANTITIES = {"Δχ²": "dchi2", "NLL": "nll"}
_OTHERS = {"fixed at the best fit": "fixed", "profiled (re-fitted)": "profile"}
#: Grid points per side drawn at once: a fixed-parameter grid costs little; a profiled one
#: is a fit per point, so it starts coarse ...
RESOLUTION = {"fixed": 81, "profile": 31}
#: ... and is replaced by this finer one from the background (a narrow valley then spans
#: several pixels instead of one blocky step).
FINE_PROFILE = 81
#: The range shows the region out to this multiple of the largest contour level.
RANGE_MARGIN = 1.6
_VIEW = ("x_axis", "y_axis", "others", "auto_range")
#: The background lane of the map's grids.
LANE = "map"
_RANGES = ("x_range", "y_range")


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
    user_zoomed = param.Boolean(default=False, doc="""
        The user zoomed, panned or typed a range since the last automatic one: a newly
        loaded model keeps it.""")
    elapsed = param.Number(default=0.0, doc="Seconds the grid on display took.")
    refining = param.Boolean(default=False, doc="A finer profiled grid is being computed.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.figure = MapFigure()
        self.pane = pn.pane.Bokeh(self.figure.figure, sizing_mode="stretch_width")
        # a widget, not an HTML pane: updating a pane re-sends its stylesheets, which makes
        # Bokeh re-walk the whole document (~100 ms per edit)
        self.info = pn.widgets.StaticText(value="", css_classes=["le-info"],
                                          sizing_mode="stretch_width")
        self.notice = pn.pane.HTML("", visible=False, css_classes=["le-notice"])
        self.sliders = {name: pn.widgets.EditableRangeSlider.from_param(
            self.param[name], start=0.0, end=1.0, step=0.01, format="0[.][000]",
            sizing_mode="stretch_width", margin=(2, 10)) for name in _RANGES}
        if served():
            pn.state.on_session_destroyed(self._forget_links)
        self._generation = self.state.generation
        #: the last automatic ranges, and the view (x and y start, end) the map last set
        self._auto: tuple[tuple[float, float], tuple[float, float]] | None = None
        self._set_view: tuple[tuple[float, float], tuple[float, float]] | None = None
        self.param.watch(self._inputs_changed, [*_VIEW, *_RANGES])
        self.state.param.watch(self._on_model, "best")
        self.state.follow(LANE, self._early_grid)
        self.state.param.watch(self._on_levels, ["confidence_level", "sigmas"])
        fig = self.figure.figure
        for n, axis in enumerate((fig.x_range, fig.y_range)):
            axis.on_change("start", partial(self._browser_range, n))
            axis.on_change("end", partial(self._browser_range, n))
        fig.on_change("inner_width", self._frame_changed)
        fig.on_change("inner_height", self._frame_changed)
        self._on_model()

    def _forget_links(self, session_context: Any) -> None:
        """Drop the range sliders' browser-side callbacks from Panel's class-level registry.

        An editable slider's text boxes carry a ``jscallback``; Panel keeps it in a
        ``WeakKeyDictionary`` whose value holds its own key, so the entry, the slider and
        (through the slider's link to this map's params) the whole session would outlive
        the session.
        """
        for slider in self.sliders.values():
            for part in slider.select():
                Callback.registry.pop(part, None)

    # ------------------------------------------------------------------ inputs
    def _on_model(self, *events: Any) -> None:
        free = free_parameters(self.state.model)
        new_model = self.state.generation != self._generation
        self._generation = self.state.generation
        if len(free) < 2:
            self.grid = None
            self.pane.visible = False
            self.notice.object = ("The map needs two free parameters: unfix one in the "
                                  "Parameters table.")
            self.notice.visible = True
            return
        self.notice.visible = False
        self.pane.visible = True
        x = self.x_axis if self.x_axis in free else free[0]
        y = self.y_axis if self.y_axis in free and self.y_axis != x else next(
            n for n in free if n != x)
        axes_changed = (x, y) != (self.x_axis, self.y_axis)
        model, best = self.state.model, self.state.best
        outside = not (self.x_range[0] <= best.x[model.index(x)] <= self.x_range[1]
                       and self.y_range[0] <= best.x[model.index(y)] <= self.y_range[1])
        updates: dict[str, Any] = dict(x_axis=x, y_axis=y)
        if axes_changed or outside or (new_model and not self.user_zoomed):
            updates.update(self._auto_ranges(x, y), user_zoomed=False)
        # new choices and the new axes reach the watchers together (an axis selector whose
        # value left its options picks another one meanwhile)
        with param.parameterized.batch_call_watchers(self):
            self.param.x_axis.objects = free
            self.param.y_axis.objects = free
            changed = self._update(**updates)
        if not changed:
            self.recompute(reset_range=False)

    def _update(self, **values: Any) -> bool:
        """Set params at once (one recompute); False when none of them changed."""
        changed = {k: v for k, v in values.items() if getattr(self, k) != v}
        self.param.update(**changed)
        return bool(set(changed) & {*_VIEW, *_RANGES})

    def _inputs_changed(self, *events: param.parameterized.Event) -> None:
        names = {event.name for event in events}
        if names & set(_VIEW) and not names & set(_RANGES):
            # a new view: choose its range (which brings us back here with the ranges)
            free = list(self.param.x_axis.objects)
            y = self.y_axis if self.y_axis != self.x_axis else next(
                n for n in free if n != self.x_axis)
            if not self._update(y_axis=y, user_zoomed=False,
                                **self._auto_ranges(self.x_axis, y)):
                self.recompute(reset_range=True)
            return
        if (self.x_range, self.y_range) != self._auto:
            self.user_zoomed = True  # typed into the range boxes
        self.recompute(reset_range=True)

    @param.depends("x_range", "y_range", watch=True)
    def _sync_sliders(self) -> None:
        """Let each slider reach a little beyond the current range (typed values may go
        anywhere)."""
        for name, slider in self.sliders.items():
            lo, hi = getattr(self, name)
            pad = 0.5 * (hi - lo)
            slider.param.update(start=lo - pad, end=hi + pad, step=(hi - lo) / 200)

    def _browser_range(self, n: int, attr: str, old: Any, new: Any) -> None:
        """A zoom or pan moves both ends of axis ``n``'s range away from the view this map
        set (while the map sets a view, one end at a time, an end always matches)."""
        if self._set_view is None:
            return
        axis = (self.figure.figure.x_range, self.figure.figure.y_range)[n]
        start, end = self._set_view[n]
        if axis.start != start and axis.end != end:
            self.user_zoomed = True

    def _frame_changed(self, attr: str, old: Any, new: Any) -> None:
        self._draw(reset_range=False)  # the arrows' directions depend on the frame's shape

    def _on_levels(self, *events: Any) -> None:
        self._draw(reset_range=False)

    @param.depends("quantity", watch=True)
    def _on_quantity(self) -> None:
        self._draw(reset_range=False)

    # ------------------------------------------------------------------ computing
    def _auto_ranges(self, x: str, y: str) -> dict[str, tuple[float, float]]:
        self._auto = (self.suggested_range(x, y), self.suggested_range(y, x))
        return {"x_range": self._auto[0], "y_range": self._auto[1]}

    def suggested_range(self, name: str, other: str | None = None) -> tuple[float, float]:
        """Where the region of the largest drawn contour ends along ``name`` (with ``other``
        the map's other axis), with a margin."""
        model, best = self.state.model, self.state.best
        other = other or (self.y_axis if name == self.x_axis else self.x_axis)
        levels = plots.drawn_levels(self.state.confidence_level, self.state.sigmas)
        delta = max(level.delta(2) for level in levels)
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

    def recompute(self, *, reset_range: bool) -> None:
        """Compute the grid for the current axes and range (with ``reset_range``, the view is
        fitted to it), a profiled one coarse, then fine.

        In a served session every grid is computed off the loop, which only draws it: after
        an edit the first one usually comes with the fit (see :meth:`_early_grid`), the
        others from the lane ``"map"`` (a newer request supersedes it).  Without a session
        the first grid is computed at once and only the finer one in the background.
        """
        jobs = self.state.jobs
        jobs.cancel(LANE, discard=True)
        sizes = [RESOLUTION[self.others]] + ([FINE_PROFILE] if self.others == "profile" else [])
        view = ((self.x_axis, self.y_axis), (self.x_range, self.y_range), self.others)
        compute = partial(_timed_grid, self.state.model, self.state.best.x, view[2], *view[:2],
                          last=sizes[-1])
        early = self.state.prepared.get(LANE)
        if early is not None and early[0] is self.state.model and early[1] == view:
            self._show_grid(early[2], reset_range=reset_range)  # computed beside the fit
            reset_range = False
            sizes.pop(0)
        elif not jobs.served:
            self._show_grid(compute(sizes.pop(0)), reset_range=reset_range)
            reset_range = False
        if not sizes:
            return

        def work(cancel: Any, emit: Any) -> None:
            for n in sizes:
                if cancel.is_set():
                    return
                emit(compute(n))

        def arrived(items: list[tuple[mc.GridResult, float, bool]]) -> None:
            nonlocal reset_range
            self._show_grid(items[-1], reset_range=reset_range)
            reset_range = False

        jobs.submit(LANE, work, arrived, supersede=True, poll=False)

    def _early_grid(self, model: mc.Model, best: mc.FitResult) -> tuple[Any, ...] | None:
        """The first grid a newly fitted model will need, computed on the fit's worker, when
        the view can stay as it is (its axes still free, the best fit inside its range);
        :meth:`recompute` uses it if the view is still that one."""
        axes, ranges, mode = (self.x_axis, self.y_axis), (self.x_range, self.y_range), self.others
        free = free_parameters(model)
        if axes[0] == axes[1] or not set(axes) <= set(free) or not all(
                lo <= best.x[model.index(p)] <= hi for p, (lo, hi) in zip(axes, ranges,
                                                                         strict=True)):
            return None
        last = FINE_PROFILE if mode == "profile" else RESOLUTION[mode]
        return model, (axes, ranges, mode), _timed_grid(model, best.x, mode, axes, ranges,
                                                        RESOLUTION[mode], last=last)

    def _show_grid(self, computed: tuple[mc.GridResult, float, bool], *,
                   reset_range: bool) -> None:
        grid, elapsed, last = computed
        self.param.update(grid=grid, elapsed=elapsed, refining=not last)
        if reset_range:
            self.frame += 1
        self._draw(reset_range=reset_range)

    # ------------------------------------------------------------------ display
    def _draw(self, *, reset_range: bool) -> None:
        """Show the current grid (nothing when there is none)."""
        grid = self.grid
        if grid is None:
            return
        best, model = self.state.best, self.state.model
        bx, by = (best.x[model.index(p)] for p in grid.parameters)
        levels = plots.drawn_levels(self.state.confidence_level, self.state.sigmas)
        layers = plots.map_layers(grid, (bx, by), best.fun, quantity=self.quantity,
                                  levels=levels, frame=self.figure.frame)
        self.info.value = self.describe()
        if reset_range:
            self._set_view = self.figure.view_of(layers)
        # a plain Bokeh figure changed from a Panel callback: dispatch its changes to the
        # page (Panel's own widgets do this themselves)
        with unlocked():
            self.figure.show(layers, reset_range=reset_range)

    def describe(self) -> str:
        """The line under the map: the other parameters, NLL_min, grid and what failed."""
        grid, model, best = self.grid, self.state.model, self.state.best
        n = len(grid.x_values)
        fixed_text = ", ".join(f"{name} = {best.x[i]:.4g}" for i, name in
                               enumerate(model.parameter_names) if name not in grid.parameters)
        how = "fixed at" if grid.mode == "fixed" else "profiled; best fit"
        finite = np.isfinite(grid.nll)
        failed = int((~grid.success & finite).sum())
        return (f"others {how}: {fixed_text or '—'} · NLL<sub>min</sub> = {best.fun:.6g}"
                f" · {n}×{n} grid, computed in {1e3 * self.elapsed:.0f} ms"
                + (" · a finer grid is on its way" if self.refining else "")
                + (f" · {failed} points did not converge" if failed else "")
                + (" · grey: some expected rate ≤ 0 (likelihood zero)"
                   if not finite.all() else ""))

    def controls(self) -> pn.viewable.Viewable:
        """Axis, quantity, mode and range widgets, in two rows above the map."""
        return pn.Column(
            pn.Row(pn.widgets.Select.from_param(self.param.x_axis, width=110, margin=(2, 5)),
                   pn.widgets.Select.from_param(self.param.y_axis, width=110, margin=(2, 5)),
                   pn.Column(pn.pane.HTML("<small>Colour</small>", margin=(0, 5)),
                             pn.widgets.RadioButtonGroup.from_param(
                                 self.param.quantity, options=_QUANTITIES, color="light",
                                 width=120, margin=(2, 5))),
                   pn.Column(pn.pane.HTML("<small>Other parameters</small>", margin=(0, 5)),
                             pn.widgets.RadioButtonGroup.from_param(
                                 self.param.others, options=_OTHERS, color="light",
                                 width=300, margin=(2, 5))),
                   sizing_mode="stretch_width"),
            pn.Row(self.sliders["x_range"], self.sliders["y_range"],
                   pn.widgets.Button.from_param(self.param.auto_range, color="light",
                                                width=100, margin=(18, 5, 2, 5)),
                   sizing_mode="stretch_width"),
            sizing_mode="stretch_width", css_classes=["le-controls"], margin=(2, 5))

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self.controls(), self.notice, self.pane, self.info,
                         sizing_mode="stretch_width")


def _timed_grid(model: mc.Model, at: np.ndarray, mode: str, axes: tuple[str, str],
                ranges: tuple[tuple[float, float], tuple[float, float]], n: int, *,
                last: int) -> tuple[mc.GridResult, float, bool]:
    """The ``n`` x ``n`` grid, the seconds it took, and whether it is the finest wanted."""
    start = time.perf_counter()
    xs, ys = (np.linspace(*r, n) for r in ranges)
    grid = mc.nll_grid(model, axes, xs, ys, mode=mode, at=at)
    return grid, time.perf_counter() - start, n == last
