"""The toy-calibrated region on the likelihood map: a Neyman construction
(``model_core.calibrated_grid``) on a coarse grid over the map's two axes and range,
streamed row by row, drawn next to Wilks' contour.

:class:`CalibratedRun` holds it as data (one construction per session, in the background
lane ``"calibrated"``; Cancel stops it after the current row); :class:`CalibratedControls`
is its row of widgets under the map.  The other parameters are treated as the map treats
them: fixed at the best fit, or profiled (re-fitted at every grid point and in every
toy's fit).  A new model takes the region off the map and says why.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import panel as pn
import param
from panel.viewable import Viewer

import model_core as mc
from model_core.toys import CalibratedGrid, CalibratedRow

from .jobs import JobBusy, Work
from .plots import format_level
from .state import StateParameter, free_parameters

__all__ = ["CalibratedControls", "CalibratedRun", "LANE", "calibrated_work"]

LANE = "calibrated"
ENDED = ("complete", "cancelled", "failed")


def calibrated_work(model: mc.Model, arguments: dict[str, Any]) -> Work:
    """Job work: ``calibrated_grid(model, **arguments)``, emitting every row, returning the
    grid."""

    def work(cancel: threading.Event, emit: Callable[[Any], None]) -> CalibratedGrid:
        return mc.calibrated_grid(model, should_stop=cancel.is_set, on_batch=emit,
                                  **arguments)

    return work


class CalibratedRun(param.Parameterized):
    """The session's toy-calibrated region (a data store: the map and the controls draw it)."""

    state = StateParameter()
    status = param.Selector(default="idle", objects=["idle", "running", "cancelling", *ENDED])
    parameters = param.List(default=[], item_type=str, doc="The grid's (x, y) axes.")
    xs = param.Array(default=np.zeros(0))
    ys = param.Array(default=np.zeros(0))
    p_value = param.Array(default=np.zeros((0, 0)), doc="""
        P(q >= q_observed) under each grid point's toys, (ny, nx); NaN where not computed.""")
    confidence_level = param.Number(default=0.95, doc="""
        The page's level when the construction started (the map draws the region at the
        page's level from the same p-values).""")
    n_toys = param.Integer(default=0, doc="Toys per grid point.")
    others = param.String(default="", doc="How the other parameters were treated.")
    rows_done = param.Integer(default=0)
    progress = param.Number(default=0.0, bounds=(0.0, 1.0))
    failure = param.String(default="")
    refused = param.String(default="")
    result = param.ClassSelector(class_=CalibratedGrid, allow_None=True)
    stale = param.String(default="", doc="""
        Why the region was taken off the map ('' while it belongs to the model on screen).""")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._revision: int | None = None
        self.state.param.watch(self._model_changed, "revision")

    @property
    def running(self) -> bool:
        return self.state.jobs.running(LANE)

    @property
    def drawable(self) -> bool:
        """Some rows of the model on screen are in."""
        return self.rows_done > 0 and not self.stale

    def inside(self, confidence_level: float | None = None) -> np.ndarray:
        """The toy-calibrated region so far at ``confidence_level`` (default: the level it
        was started at): grid points whose p-value exceeds 1 - CL.  The p-values do not
        depend on the level, so any level can be drawn from them."""
        cl = self.confidence_level if confidence_level is None else confidence_level
        with np.errstate(invalid="ignore"):
            return self.p_value > 1.0 - cl

    def start(self, parameters: tuple[str, str], xs: np.ndarray, ys: np.ndarray, *,
              n_toys: int, seed: int, profiled: bool, work: Work | None = None) -> bool:
        """Start the construction on the grid ``ys x xs`` of ``parameters`` at the page's
        level; the others are profiled, or fixed at the best fit; False, with
        :attr:`refused` saying why, when it cannot start."""
        if self.running:
            self.refused = ("The calibrated region is already being computed: cancel it or "
                            "wait for it to finish.")
            return False
        state = self.state
        model, best = state.model, state.best
        fixed = {} if profiled else {name: float(best.x[model.index(name)])
                                     for name in free_parameters(model)
                                     if name not in parameters}
        arguments = dict(parameters=tuple(parameters), xs=np.asarray(xs, float),
                         ys=np.asarray(ys, float), n_toys=int(n_toys),
                         confidence_levels=(state.confidence_level,), fixed=fixed,
                         rng=int(seed))
        work = work or calibrated_work(model, arguments)
        self._revision = state.revision
        self.param.update(
            status="running", parameters=list(parameters), xs=arguments["xs"],
            ys=arguments["ys"], p_value=np.full((len(ys), len(xs)), np.nan),
            confidence_level=state.confidence_level, n_toys=int(n_toys),
            others="profiled" if profiled else "fixed at the best fit", rows_done=0,
            progress=0.0, failure="", refused="", result=None, stale="")
        try:
            state.jobs.submit(LANE, work, self.receive, self._ended)
        except JobBusy as exc:
            self.param.update(status="idle", refused=str(exc))
            return False
        return True

    def cancel(self) -> None:
        """Stop after the current row."""
        if self.running:
            self.state.jobs.cancel(LANE)
            self.status = "cancelling"

    def receive(self, items: list[Any]) -> None:
        """Take finished rows (and, last, the grid) from the worker."""
        self.refused = ""  # the run it refused to replace is going on
        rows = [item for item in items if isinstance(item, CalibratedRow)]
        for item in items:
            if isinstance(item, CalibratedGrid):
                self.result = item
        if not rows:
            return
        p_value = self.p_value.copy()
        for row in rows:
            p_value[row.row] = row.p_value
        updates: dict[str, Any] = dict(p_value=p_value, rows_done=rows[-1].n_rows_done)
        if self.status == "running":
            updates["progress"] = rows[-1].n_rows_done / rows[-1].n_rows
        self.param.update(**updates)

    def _ended(self, status: str, error: BaseException | None) -> None:
        result = self.result
        if error is not None or result is None:
            self.param.update(status="failed", progress=0.0, failure=(
                f"The calibrated region failed: {type(error).__name__}: {error}"
                if error is not None else "The calibrated region ended without a result."))
            return
        self.param.update(status=result.status, p_value=result.p_value,
                          rows_done=result.rows_done,
                          progress=1.0 if result.status == "complete" else 0.0)

    def _model_changed(self, *events: Any) -> None:
        if self._revision is None or self.state.revision == self._revision:
            return
        self.cancel()
        self.stale = ("the model has changed since it was computed: it was taken off the "
                      "map; press Calibrated region to compute it for the model on screen")

    def label(self, confidence_level: float) -> str:
        """The region's legend entry at ``confidence_level``."""
        n = f"{len(self.xs)}×{len(self.ys)}"
        return (f"toys: region at {format_level(confidence_level)} CL ({n} grid, "
                f"{self.n_toys} toys per point)")


class CalibratedControls(Viewer):
    """Compute the toy-calibrated region over the map's axes and range."""

    run = param.ClassSelector(class_=CalibratedRun)
    map = param.Parameter(doc="The LikelihoodMap whose axes, range and mode are used.")
    n_points = param.Integer(default=11, bounds=(2, 101), label="Grid points per side",
                             doc="The grid is coarse: every point draws and fits its toys.")
    n_toys = param.Integer(default=100, bounds=(10, 100_000), label="Toys per point")
    seed = param.Integer(default=42, bounds=(0, None), label="Seed")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.start_button = pn.widgets.Button(label="Calibrated region", color="light",
                                              width=150, margin=(18, 5, 2, 5))
        self.cancel_button = pn.widgets.Button(label="■ Cancel", color="warning", width=100,
                                               disabled=True, margin=(18, 5, 2, 5))
        self.text = pn.widgets.StaticText(value="", sizing_mode="stretch_width",
                                          css_classes=["le-info", "le-calibrated-text"])
        self.start_button.on_click(lambda event: self.start())
        self.cancel_button.on_click(lambda event: self.run.cancel())
        self.run.param.watch(self._render, ["status", "rows_done", "stale", "refused",
                                            "failure"])
        self.run.state.jobs.watch_lane(LANE, self._render)
        self.run.state.param.watch(self._render, "confidence_level")
        self._render()

    def start(self, work: Work | None = None) -> bool:
        """Compute the region on the map's current axes and range."""
        view = self.map
        if view.grid is None:
            self.run.refused = "The map needs two free parameters for a calibrated region."
            return False
        xs = np.linspace(*view.x_range, self.n_points)
        ys = np.linspace(*view.y_range, self.n_points)
        return self.run.start((view.x_axis, view.y_axis), xs, ys, n_toys=self.n_toys,
                              seed=self.seed, profiled=view.others == "profile", work=work)

    def _render(self, *events: Any) -> None:
        run = self.run
        self.start_button.disabled = run.running
        self.cancel_button.disabled = run.status != "running"
        n_rows = len(run.ys)
        if run.refused:
            text = html.escape(run.refused)
        elif run.stale:
            text = f"Toy-calibrated region: {html.escape(run.stale)}."
        elif run.status == "failed":
            text = html.escape(run.failure)
        elif run.status == "idle":
            text = ("Toy-calibrated region: a Neyman construction on a coarse grid over the "
                    "map's axes and range (toys at every grid point), drawn beside Wilks' "
                    "contour.")
        else:
            state = {"running": "computing", "cancelling": "cancelling",
                     "complete": "done", "cancelled": "cancelled"}[run.status]
            text = (f"Toy-calibrated region ({state}): {run.rows_done} of {n_rows} rows · "
                    f"{run.n_toys} toys per point · others {run.others} · inside: "
                    f"{int(run.inside(self.map.state.confidence_level).sum())} of "
                    f"{run.rows_done * len(run.xs)} points at "
                    f"{format_level(self.map.state.confidence_level)} CL")
        self.text.value = text

    def __panel__(self) -> pn.viewable.Viewable:
        number = dict(width=110, margin=(2, 5))
        return pn.Row(
            pn.widgets.IntInput.from_param(self.param.n_points, **number),
            pn.widgets.IntInput.from_param(self.param.n_toys, **number),
            pn.widgets.IntInput.from_param(self.param.seed, **number),
            self.start_button, self.cancel_button, self.text, sizing_mode="stretch_width",
            css_classes=["le-calibrated"])
