"""The model editor's tables: bins, covariance matrix, parameters and a workspace's
observed counts.

Each table shows part of the editor's draft and turns a user's edit into a new
draft, which it hands to ``submit`` (the editor then asks the session state to
validate and use it).  Edits are read in a watcher on the Tabulator's
``value`` (Panel 1.9's ``on_edit`` is racy), by comparing with the frame shown
last; frames are only re-sent to the browser when their content changed.

A change of a table's columns makes the browser build the table anew, and Panel's
Tabulator drops data that arrives while a table is being built (its ``setData`` returns
early until the build has finished).  Sent as separate messages, new columns and then
new rows could therefore leave a table with headers and no rows, for good, since an
unchanged frame is never sent again: the rows of the "Observed counts" table after a
workspace preset.  Columns and rows therefore always travel in one message, and tables
whose columns never change get them once, when they are made.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.models.widgets.tables import BooleanFormatter, NumberFormatter
from panel.viewable import Viewer

from . import spec_edit, workspace_edit
from .spec_edit import TEMPLATE_PREFIX

__all__ = ["BinsTable", "CovarianceTable", "ObservationsTable", "ParametersTable",
           "changed_cells"]

Submit = Callable[[dict[str, Any], str], None]


def _number() -> NumberFormatter:
    """A new number formatter: one per table, never shared (a Tabulator watches its
    formatters, so a module-level one would keep every session's tables alive)."""
    return NumberFormatter(format="0[.][000000]", nan_format="NaN")


def changed_cells(old: pd.DataFrame, new: pd.DataFrame) -> list[tuple[int, int]]:
    """``(row, column)`` positions whose values differ (NaN equals NaN)."""
    if old.shape != new.shape:
        return []
    a, b = old.to_numpy(dtype=object), new.to_numpy(dtype=object)
    out = []
    for i, j in zip(*np.nonzero(a != b), strict=True):
        x, y = a[i, j], b[i, j]
        both_nan = (isinstance(x, float) and isinstance(y, float) and np.isnan(x) and np.isnan(y))
        if not both_nan:
            out.append((int(i), int(j)))
    return out


def _same(old: pd.DataFrame | None, new: pd.DataFrame) -> bool:
    if old is None or old.shape != new.shape or list(old.columns) != list(new.columns):
        return False
    if list(old.index) != list(new.index):
        return False
    for column in new.columns:
        a, b = old[column].to_numpy(), new[column].to_numpy()
        if a.dtype.kind == "f" and b.dtype.kind == "f":
            if not np.allclose(a, b, rtol=1e-12, atol=0.0, equal_nan=True):
                return False
        elif not np.array_equal(a, b):
            return False
    return True


class _Table(Viewer):
    """A Tabulator over a frame derived from the draft."""

    submit = param.Callable(doc="Called with (new draft, section) after an edit.")

    _section = "general"

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._shown: pd.DataFrame | None = None
        self._draft: dict[str, Any] = {}
        self._structure: Any = None
        columns = self._columns()
        self.table = pn.widgets.Tabulator(
            columns.pop("value", pd.DataFrame()), show_index=False, selectable=1,
            sizing_mode="stretch_width", layout="fit_data_stretch", sortable=False,
            css_classes=["le-table"],
            configuration={"clipboard": False, "columnDefaults": {"headerSort": False}},
            **columns)
        self.table.param.watch(self._on_value, "value")

    def _columns(self) -> dict[str, Any]:
        """The table's fixed columns (value, titles, editors, formatters), when it has
        them."""
        return {}

    def _show(self, frame: pd.DataFrame, **table_params: Any) -> None:
        """Send ``frame`` (with any new column settings, in one message) to the table
        unless it already shows the same content."""
        if _same(self._shown, frame) and not table_params:
            return
        self._shown = frame.copy()  # the value watcher then sees no edit
        with pn.io.hold():
            self.table.param.update(value=frame, **table_params)

    def _on_value(self, event: param.parameterized.Event) -> None:
        if self._shown is None:
            return
        frame = event.new.copy()
        cells = changed_cells(self._shown, frame)
        self._shown = frame.copy()
        if cells:
            self._edited(frame, cells)

    def _edited(self, frame: pd.DataFrame, cells: list[tuple[int, int]]) -> None:
        raise NotImplementedError

    def __panel__(self) -> pn.viewable.Viewable:
        return self.table


class BinsTable(_Table):
    """Bins: name, data, background, background uncertainty and one column per template."""

    _section = "bins"

    def refresh(self, draft: dict[str, Any]) -> None:
        self._draft = draft
        frame = spec_edit.bins_frame(draft)
        editable_sigma = draft["kind"] == "uncorrelated_background"
        templates = [c for c in frame.columns if c.startswith(TEMPLATE_PREFIX)]
        titles = {"bin": "bin", "data": "n", "background": "b", "uncertainty": "σ_b"}
        titles.update({c: c[len(TEMPLATE_PREFIX):] for c in templates})
        editors: dict[str, Any] = {"bin": {"type": "input"}}
        editors.update({c: {"type": "number", "step": "any"} for c in frame.columns[1:]})
        if not editable_sigma:
            editors["uncertainty"] = None
        formatters = {c: _number() for c in frame.columns[1:]}
        structure = (list(frame.columns), editable_sigma)
        if structure != self._structure:
            self._structure = structure
            self._show(frame, titles=titles, editors=editors, formatters=formatters)
        else:
            self._show(frame)

    @property
    def selected_row(self) -> int | None:
        return self.table.selection[0] if self.table.selection else None

    def _edited(self, frame: pd.DataFrame, cells: list[tuple[int, int]]) -> None:
        self.submit(spec_edit.apply_bins_frame(self._draft, frame), self._section)


class CovarianceTable(_Table):
    """The covariance matrix; an edit is mirrored across the diagonal.

    With ``mode="correlation"`` the diagonal holds standard deviations and the
    off-diagonal cells correlations.
    """

    mode = param.Selector(default="covariance", objects=["covariance", "correlation"])

    _section = "covariance"

    def refresh(self, draft: dict[str, Any]) -> None:
        self._draft = draft
        if draft.get("covariance") is None:
            return
        frame = spec_edit.matrix_frame(draft, self.mode).reset_index(names="bin ")
        columns = list(frame.columns)
        editors: dict[str, Any] = {"bin ": None}
        editors.update({c: {"type": "number", "step": "any"} for c in columns[1:]})
        if columns != self._structure:
            self._structure = columns
            self._show(frame, editors=editors, formatters={c: _number() for c in columns[1:]},
                       frozen_columns=["bin "])
        else:
            self._show(frame)

    @param.depends("mode", watch=True)
    def _mode_changed(self) -> None:
        if self._draft:
            self.refresh(self._draft)

    def _edited(self, frame: pd.DataFrame, cells: list[tuple[int, int]]) -> None:
        draft = self._draft
        matrix = frame.set_index("bin ")
        for row, column in cells:
            if column == 0:
                continue
            draft, matrix = spec_edit.apply_matrix_edit(draft, matrix, row, column - 1, self.mode)
        mirrored = matrix.reset_index(names="bin ")
        self._show(mirrored)
        self.submit(draft, self._section)


class ParametersTable(_Table):
    """Parameters: initial value, bounds (empty for none) and fixed."""

    _section = "parameters"

    def _columns(self) -> dict[str, Any]:
        return dict(
            value=spec_edit.parameters_frame([], np.zeros(0), np.zeros((0, 2)), np.zeros(0)),
            editors={"parameter": None, "init": {"type": "number", "step": "any"},
                     "lower": {"type": "number", "step": "any"},
                     "upper": {"type": "number", "step": "any"}, "fixed": {"type": "tickCross"}},
            formatters={"init": _number(),
                        "lower": NumberFormatter(format="0[.][000000]", nan_format="−∞"),
                        "upper": NumberFormatter(format="0[.][000000]", nan_format="+∞"),
                        "fixed": BooleanFormatter()},
            titles={"lower": "lower", "upper": "upper"})

    def refresh(self, draft: dict[str, Any], names: list[str], init: np.ndarray,
                bounds: np.ndarray, fixed: np.ndarray) -> None:
        self._draft = draft
        self._show(spec_edit.parameters_frame(names, init, bounds, fixed))

    def _edited(self, frame: pd.DataFrame, cells: list[tuple[int, int]]) -> None:
        draft = self._draft
        apply = (workspace_edit.apply_parameters if draft.get("kind") == "histfactory"
                 else spec_edit.apply_parameters_frame)
        for row in sorted({r for r, _ in cells}):
            draft = apply(draft, frame, row)
        self.submit(draft, self._section)


class ObservationsTable(_Table):
    """Observed counts of the binned channels: one row per channel and bin."""

    _section = "workspace"

    def _columns(self) -> dict[str, Any]:
        return dict(value=workspace_edit.observations_frame({"workspace": {"observations": []}}),
                    editors={"channel": None, "bin": None,
                             "observed": {"type": "number", "step": "any"}},
                    formatters={"observed": _number()}, titles={"observed": "observed n"})

    def refresh(self, draft: dict[str, Any]) -> None:
        self._draft = draft
        self._show(workspace_edit.observations_frame(draft))

    def _edited(self, frame: pd.DataFrame, cells: list[tuple[int, int]]) -> None:
        self.submit(workspace_edit.apply_observations(self._draft, frame), self._section)
