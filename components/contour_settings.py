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

from .state import SessionState

__all__ = ["ContourSettings", "SettingsError", "roles_frame", "run_arguments"]

ROLES = ("axis", "profiled", "fixed")


class SettingsError(ValueError):
    """Settings that cannot start a run; the message says what to change."""


def roles_frame(model: mc.Model, best: mc.FitResult) -> pd.DataFrame:
    """Default roles: parameters the model fixes stay fixed (at their value), the others
    are contour axes; values start at the best fit, bounds at the model's."""
    bounds = model.bounds
    return pd.DataFrame({
        "parameter": list(model.parameter_names),
        "role": ["fixed" if f else "axis" for f in model.fixed],
        "value": np.asarray(best.x, dtype=float),
        "lower": np.where(np.isfinite(bounds[:, 0]), bounds[:, 0], np.nan),
        "upper": np.where(np.isfinite(bounds[:, 1]), bounds[:, 1], np.nan),
    })


def run_arguments(frame: pd.DataFrame, *, confidence_level: float, seed: int,
                  settings: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for ``model_core.iter_contour`` (the model and executor aside).

    Raises
    ------
    SettingsError
        No axis, a fixed parameter without a finite value, or bounds out of order.
    """
    axes = [str(p) for p, r in zip(frame["parameter"], frame["role"], strict=True) if r == "axis"]
    if not axes:
        raise SettingsError("choose at least one parameter with role 'axis'")
    fixed, bounds = {}, {}
    for record in frame.itertuples(index=False):
        if record.role not in ROLES:
            raise SettingsError(f"{record.parameter}: role must be one of {', '.join(ROLES)}")
        if record.role == "fixed":
            if not math.isfinite(record.value):
                raise SettingsError(f"{record.parameter}: a fixed parameter needs a finite value")
            fixed[record.parameter] = float(record.value)
            continue
        lo = -math.inf if math.isnan(record.lower) else float(record.lower)
        hi = math.inf if math.isnan(record.upper) else float(record.upper)
        if not lo < hi:
            raise SettingsError(f"{record.parameter}: the lower bound ({lo:g}) must be below the "
                                f"upper bound ({hi:g})")
        bounds[record.parameter] = (lo, hi)
    return dict(confidence_level=float(confidence_level), parameters=axes, fixed=fixed,
                bounds=bounds, rng=int(seed), **settings)


class ContourSettings(Viewer):
    """Widgets for the finder's options and the parameters' roles."""

    state = param.ClassSelector(class_=SessionState)
    confidence_level = param.Number(default=0.95, bounds=(0.5, 0.9999), step=0.01,
                                    label="Confidence level")
    n_radial = param.Integer(default=200, bounds=(4, 100_000), label="Rays")
    n_chains = param.Integer(default=20, bounds=(0, 10_000), label="Chains")
    n_steps = param.Integer(default=200, bounds=(1, 1_000_000), label="Steps per chain")
    step_size = param.Number(default=0.05, bounds=(1e-6, 10.0), label="Step size")
    seed = param.Integer(default=42, bounds=(0, None), label="Seed")
    workers = param.Integer(default=1, bounds=(1, 64), label="Worker processes")
    active = param.Boolean(default=True, doc="""
        Whether the settings are on screen; while they are not, a new model only marks the
        roles table stale (it is refreshed when shown or when a run starts).""")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.roles = pn.widgets.Tabulator(
            pd.DataFrame(), show_index=False, sizing_mode="stretch_width", sortable=False,
            layout="fit_data_stretch",
            editors={"parameter": None, "role": {"type": "list", "values": list(ROLES)},
                     "value": {"type": "number", "step": "any"},
                     "lower": {"type": "number", "step": "any"},
                     "upper": {"type": "number", "step": "any"}},
            formatters={"value": NumberFormatter(format="0[.][0000]"),
                        "lower": NumberFormatter(format="0[.][0000]", nan_format="−∞"),
                        "upper": NumberFormatter(format="0[.][0000]", nan_format="+∞")},
            configuration={"columnDefaults": {"headerSort": False}})
        self._stale = False
        self.state.param.watch(self._model_changed, "revision")
        self._reset_roles()

    def _model_changed(self, *events: Any) -> None:
        if self.active:
            self._reset_roles()
        else:
            self._stale = True

    @param.depends("active", watch=True)
    def _shown(self) -> None:
        if self.active and self._stale:
            self._reset_roles()

    def _reset_roles(self) -> None:
        """New model: default roles (kept when the parameters are the same)."""
        self._stale = False
        frame = roles_frame(self.state.model, self.state.best)
        old = self.roles.value
        if isinstance(old, pd.DataFrame) and list(old.get("parameter", [])) == list(
                frame["parameter"]):
            frame["role"] = old["role"].to_numpy()
        self.roles.value = frame

    @property
    def finder_settings(self) -> dict[str, Any]:
        return dict(n_radial=self.n_radial, n_chains=self.n_chains, n_steps=self.n_steps,
                    step_size=self.step_size)

    def arguments(self) -> dict[str, Any]:
        """``iter_contour`` keyword arguments (raises :class:`SettingsError`)."""
        if self._stale:
            self._reset_roles()
        return run_arguments(self.roles.value, confidence_level=self.confidence_level,
                             seed=self.seed, settings=self.finder_settings)

    def roles_view(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.pane.HTML("<b>Parameters</b> <small>(role: contour axis, profiled, or fixed at "
                         "value; bounds limit the search)</small>", margin=(0, 5)),
            self.roles, sizing_mode="stretch_width")

    def options_view(self) -> pn.viewable.Viewable:
        number = dict(width=105, margin=(2, 5))
        return pn.Column(
            pn.Row(pn.widgets.FloatInput.from_param(self.param.confidence_level, **number),
                   pn.widgets.IntInput.from_param(self.param.seed, **number),
                   pn.widgets.IntInput.from_param(self.param.workers, **number)),
            pn.Row(pn.widgets.IntInput.from_param(self.param.n_radial, **number),
                   pn.widgets.IntInput.from_param(self.param.n_chains, **number)),
            pn.Row(pn.widgets.IntInput.from_param(self.param.n_steps, **number),
                   pn.widgets.FloatInput.from_param(self.param.step_size, **number)))

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Row(self.roles_view(), self.options_view(), sizing_mode="stretch_width")
