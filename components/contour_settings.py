"""Settings of a contour run: the role of every parameter and the finder's options.

:func:`run_arguments` turns them into the keyword arguments of
``model_core.iter_contour`` (contour axes, fixed values, bounds, confidence
level, seed and the finder's settings).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.models.widgets.tables import NumberFormatter
from panel.viewable import Viewer

import model_core as mc
from model_core.contour.settings import DEFAULTS

from .state import StateParameter

__all__ = ["PROFILED_NOTE", "ContourSettings", "RolesTable", "SettingsError", "default_axes",
           "roles_frame", "roles_of", "run_arguments"]

ROLES = ("axis", "profiled", "fixed")


class SettingsError(ValueError):
    """Settings that cannot start a run; the message says what to change."""


#: With more free parameters than this, the defaults keep two axes and profile the rest.
MAX_DEFAULT_AXES = 3
#: Shown while some parameter is profiled.
PROFILED_NOTE = (
    "Profiled parameters are re-fitted at every point the finder tries: a profiled contour "
    "takes tens of seconds for two axes and minutes for three. Lower the rays, chains and "
    "steps (or fix the parameters) for a quick look.")


def default_axes(model: mc.Model) -> list[str]:
    """Every free parameter when there are at most three; else the POI (when free) and the
    next free parameter, the others being profiled."""
    free = [n for n, f in zip(model.parameter_names, model.fixed, strict=True) if not f]
    if len(free) <= MAX_DEFAULT_AXES:
        return free
    poi = model.parameter_names[model.poi_index] if model.poi_index is not None else None
    first = [poi] if poi in free else []
    return first + [n for n in free if n not in first][:2 - len(first)]


def roles_frame(model: mc.Model, best: mc.FitResult) -> pd.DataFrame:
    """Default roles: parameters the model fixes stay fixed (at their value), the
    :func:`default_axes` are contour axes, any other is profiled; values start at the best
    fit, bounds at the model's."""
    bounds = model.bounds
    axes = set(default_axes(model))
    return pd.DataFrame({
        "parameter": list(model.parameter_names),
        "role": ["fixed" if f else "axis" if n in axes else "profiled"
                 for n, f in zip(model.parameter_names, model.fixed, strict=True)],
        "value": np.asarray(best.x, dtype=float),
        "lower": np.where(np.isfinite(bounds[:, 0]), bounds[:, 0], np.nan),
        "upper": np.where(np.isfinite(bounds[:, 1]), bounds[:, 1], np.nan),
    })


def roles_of(frame: pd.DataFrame) -> tuple[list[str], dict[str, float]]:
    """The axes and the fixed values (name to value) of a roles table.

    Raises
    ------
    SettingsError
        No axis, an unknown role, or a fixed parameter without a finite value.
    """
    axes = [str(p) for p, r in zip(frame["parameter"], frame["role"], strict=True) if r == "axis"]
    if not axes:
        raise SettingsError("choose at least one parameter with role 'axis'")
    fixed = {}
    for record in frame.itertuples(index=False):
        if record.role not in ROLES:
            raise SettingsError(f"{record.parameter}: role must be one of {', '.join(ROLES)}")
        if record.role == "fixed":
            if not math.isfinite(record.value):
                raise SettingsError(f"{record.parameter}: a fixed parameter needs a finite value")
            fixed[record.parameter] = float(record.value)
    return axes, fixed


def run_arguments(frame: pd.DataFrame, *, confidence_level: float, seed: int,
                  settings: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for ``model_core.iter_contour`` (the model and executor aside).

    Raises
    ------
    SettingsError
        No axis, a fixed parameter without a finite value, or bounds out of order.
    """
    axes, fixed = roles_of(frame)
    bounds = {}
    for record in frame.itertuples(index=False):
        if record.role == "fixed":
            continue
        lo = -math.inf if math.isnan(record.lower) else float(record.lower)
        hi = math.inf if math.isnan(record.upper) else float(record.upper)
        if not lo < hi:
            raise SettingsError(f"{record.parameter}: the lower bound ({lo:g}) must be below the "
                                f"upper bound ({hi:g})")
        bounds[record.parameter] = (lo, hi)
    return dict(confidence_level=float(confidence_level), parameters=axes, fixed=fixed,
                bounds=bounds, rng=int(seed), **settings)


class RolesTable(Viewer):
    """The parameters' roles (axis, profiled or fixed), values and bounds, as an editable
    table; reset to :func:`roles_frame` whenever the model changes (the roles kept while
    the parameters stay the same).

    The table follows the model even while it is off screen: a tab shown with a table of an
    older model and updated in the same step sometimes kept the old rows in the browser.
    """

    state = StateParameter()
    header = param.String(default="<b>Parameters</b> <small>(role: contour axis, profiled, "
                          "or fixed at value; bounds limit the search)</small>")
    show_bounds = param.Boolean(default=True, doc="Whether the bounds columns are shown.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.widget = pn.widgets.Tabulator(
            pd.DataFrame(), show_index=False, sizing_mode="stretch_width", sortable=False,
            layout="fit_data_stretch",
            hidden_columns=[] if self.show_bounds else ["lower", "upper"],
            editors={"parameter": None, "role": {"type": "list", "values": list(ROLES)},
                     "value": {"type": "number", "step": "any"},
                     "lower": {"type": "number", "step": "any"},
                     "upper": {"type": "number", "step": "any"}},
            formatters={"value": NumberFormatter(format="0[.][0000]"),
                        "lower": NumberFormatter(format="0[.][0000]", nan_format="−∞"),
                        "upper": NumberFormatter(format="0[.][0000]", nan_format="+∞")},
            configuration={"columnDefaults": {"headerSort": False}})
        self.state.param.watch(self.reset, "revision")
        self.reset()

    def reset(self, *events: Any) -> None:
        """Default roles and values for the model in use (the roles kept when the
        parameters are the same)."""
        frame = roles_frame(self.state.model, self.state.best)
        old = self.widget.value
        if isinstance(old, pd.DataFrame) and list(old.get("parameter", [])) == list(
                frame["parameter"]):
            frame["role"] = old["role"].to_numpy()
        self.widget.value = frame

    def frame(self) -> pd.DataFrame:
        """The table, checked against the parameters the model fixes.

        Raises
        ------
        SettingsError
            A parameter the model fixes given another role.
        """
        frame = self.widget.value
        model = self.state.model
        for name, role in zip(frame["parameter"], frame["role"], strict=True):
            if role != "fixed" and name in model.parameter_names and model.fixed[
                    model.index(name)]:
                raise SettingsError(f"{name} is fixed in the model, so it cannot be an axis "
                                    f"or profiled: set its role to fixed, or untick "
                                    f"'fixed' in the editor's Parameters table")
        return frame

    @property
    def has_profiled(self) -> bool:
        frame = self.widget.value
        return bool(len(frame)) and bool((frame["role"] == "profiled").any())

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(pn.pane.HTML(self.header, margin=(0, 5)), self.widget,
                         sizing_mode="stretch_width")


class ContourSettings(Viewer):
    """Widgets for the finder's options and the parameters' roles."""

    state = StateParameter()
    n_radial = param.Integer(default=DEFAULTS["n_radial"], bounds=(1, 1_000_000), label="Rays",
                             doc="Rays of the radial search from the best fit.")
    n_chains = param.Integer(default=DEFAULTS["n_chains"], bounds=(0, 100_000),
                             label="Chains", doc="Constrained (RATTLE) chains filling the gaps "
                             "the rays left; 0 for the radial search only.")
    n_steps = param.Integer(default=DEFAULTS["n_steps"], bounds=(0, 10_000_000),
                            label="Steps per chain", doc="Most steps per chain (fewer when "
                            "the surface is covered).")
    step_size = param.Number(default=DEFAULTS["step_size"], bounds=(1e-6, 10.0),
                             label="Step size", doc="Largest chain step, as a fraction of the "
                             "region's extent.")
    spacing = param.Number(default=DEFAULTS["spacing"], bounds=(1e-5, 1.0), label="Spacing",
                           doc="Least distance between two points, as a fraction of the "
                           "region's extent: larger gives fewer points, sooner.")
    max_points = param.Integer(default=DEFAULTS["max_points"], bounds=(1, 10_000_000),
                               label="Most points", doc="The run stops after this many points.")
    seed = param.Integer(default=42, bounds=(0, None), label="Seed",
                         doc="The same seed gives the same points.")
    workers = param.Integer(default=1, bounds=(1, 64), label="Worker threads", doc=(
        "Threads that run batches of rays and chains (each traces its own derivatives)."))
    active = param.Boolean(default=True, doc="""
        Whether the contour tab is on screen (its figures wait while it is not; the roles
        table follows every model either way).""")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.table = RolesTable(state=self.state)
        self.roles = self.table.widget
        self.level_note = pn.widgets.StaticText(value="", css_classes=["le-level-note"],
                                                margin=(4, 5))
        self.state.param.watch(self._level_changed, "confidence_level")
        self._level_changed()

    def _level_changed(self, *events: Any) -> None:
        self.level_note.value = (
            f"Confidence level <b>{100 * self.state.confidence_level:.4g}%</b> "
            "<span class='le-muted'>(the page's, set at the top): the contour is "
            "NLL = NLL<sub>min</sub> + χ²<sub>k</sub> quantile / 2</span>")

    @property
    def finder_settings(self) -> dict[str, Any]:
        return dict(n_radial=self.n_radial, n_chains=self.n_chains, n_steps=self.n_steps,
                    step_size=self.step_size, spacing=self.spacing,
                    max_points=self.max_points)

    def arguments(self) -> dict[str, Any]:
        """``iter_contour`` keyword arguments (raises :class:`SettingsError`)."""
        return run_arguments(self.table.frame(), confidence_level=self.state.confidence_level,
                             seed=self.seed, settings=self.finder_settings)

    @property
    def has_profiled(self) -> bool:
        return self.table.has_profiled

    def roles_view(self) -> pn.viewable.Viewable:
        return self.table

    def options_view(self) -> pn.viewable.Viewable:
        number = dict(width=105, margin=(2, 5))

        def widget(kind: type, name: str) -> pn.widgets.Widget:
            parameter = self.param[name]
            return kind.from_param(parameter, description=parameter.doc, **number)

        return pn.Column(
            self.level_note,
            pn.Row(widget(pn.widgets.IntInput, "seed"),
                   widget(pn.widgets.IntInput, "workers")),
            pn.Row(widget(pn.widgets.IntInput, "n_radial"),
                   widget(pn.widgets.IntInput, "n_chains"),
                   widget(pn.widgets.IntInput, "max_points")),
            pn.Row(widget(pn.widgets.IntInput, "n_steps"),
                   widget(pn.widgets.FloatInput, "step_size"),
                   widget(pn.widgets.FloatInput, "spacing")))

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Row(self.roles_view(), self.options_view(), sizing_mode="stretch_width")
