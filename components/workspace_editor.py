"""The editor's view of a HistFactory workspace: measurement, channels and samples,
observed counts, interpolation codes.

Each edit maps the editor's draft (the ``kind: histfactory`` wrapper) to a new
draft with :mod:`.workspace_edit` and hands it to ``submit``; the session state
validates it with ``model_core.load_spec`` and keeps the previous model when it
is rejected.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import panel as pn
import param
from panel.viewable import Viewer

import model_core as mc
from model_core.workspace import resolve_modifier_settings

from . import workspace_edit
from .editor_tables import ObservationsTable

__all__ = ["WorkspaceEditor"]

_CODE_HELP = {
    "normsys": "normsys (normalisation systematics): code4 is pyhf's default (smooth, "
               "exponential beyond ±1σ); code1 is piecewise exponential.",
    "histosys": "histosys (shape systematics): code4p is pyhf's default (smooth inside ±1σ, "
                "linear beyond); code0 is piecewise linear.",
}


class WorkspaceEditor(Viewer):
    """Measurement selector, channel summary, observations and interpolation codes."""

    submit = param.Callable(doc="Called with (new draft, section) after an edit.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._draft: dict[str, Any] = {}
        self.description = pn.pane.HTML("", css_classes=["le-muted"], margin=(0, 5),
                                        sizing_mode="stretch_width")
        self.measurement = pn.widgets.Select(label="Measurement", options=[],
                                             sizing_mode="stretch_width")
        self.summary = pn.widgets.Tabulator(
            pd.DataFrame(), show_index=False, disabled=True, sizing_mode="stretch_width",
            layout="fit_data_stretch", sortable=False, css_classes=["le-table"],
            configuration={"columnDefaults": {"headerSort": False}}, max_height=260)
        self.observations = ObservationsTable(submit=self._submit)
        self.codes = {mtype: pn.widgets.Select(
            label=f"{mtype} interpolation", options=list(codes), width=180,
            description=_CODE_HELP[mtype]) for mtype, codes in
            workspace_edit.INTERPOLATION_CODES.items()}
        self.measurement.param.watch(self._on_measurement, "value")
        for mtype, select in self.codes.items():
            select.param.watch(lambda event, mtype=mtype: self._on_code(mtype, event.new),
                               "value")

    def _submit(self, draft: dict[str, Any], section: str) -> None:
        self.submit(draft, section)

    def refresh(self, draft: dict[str, Any], spec: mc.WorkspaceSpec) -> None:
        """Show ``draft`` (its structure from ``spec``, the workspace in use)."""
        self._draft = draft  # first: the selectors' handlers compare with it
        names = [m["name"] for m in draft["workspace"]["measurements"]]
        self.measurement.param.update(options=names, value=draft.get("measurement", names[0]))
        self.measurement.visible = len(names) > 1
        codes = resolve_modifier_settings(draft.get("modifier_settings"))
        used = workspace_edit.modifier_types(spec)
        for mtype, select in self.codes.items():
            select.value = codes[mtype]
            select.visible = mtype in used
        self.description.object = draft.get("description", "")
        self.description.visible = bool(self.description.object)
        frame = workspace_edit.summary_frame(spec)
        if not _same_frame(self.summary.value, frame):
            self.summary.value = frame
        self.observations.refresh(draft)

    def _on_measurement(self, event: param.parameterized.Event) -> None:
        names = [m["name"] for m in self._draft["workspace"]["measurements"]]
        if event.new == self._draft.get("measurement", names[0]):
            return
        self.submit(workspace_edit.set_measurement(self._draft, event.new), "workspace")

    def _on_code(self, mtype: str, code: str) -> None:
        if code == resolve_modifier_settings(self._draft.get("modifier_settings"))[mtype]:
            return
        self.submit(workspace_edit.set_interpolation(self._draft, mtype, code), "workspace")

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            self.description, self.measurement,
            pn.pane.HTML("<small>Channels and samples</small>", margin=(0, 5)), self.summary,
            pn.pane.HTML("<small>Observed counts (edit a cell)</small>", margin=(6, 5, 0, 5)),
            self.observations,
            pn.Row(*self.codes.values(), sizing_mode="stretch_width"),
            sizing_mode="stretch_width")


def _same_frame(old: Any, new: pd.DataFrame) -> bool:
    return isinstance(old, pd.DataFrame) and old.equals(new)

