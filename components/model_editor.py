"""The model editor: presets, kind, name, bins, covariance, signal expression, parameters,
load/save.

The editor keeps a *draft* of the spec (JSON-ready data, possibly invalid).
Every edit produces a new draft and proposes it to the session state (built and fitted
off the page's loop in a served session; the newest edit wins); when
``model_core.load_spec`` rejects it, the message appears once, next to the field (named
as on screen), and the state keeps the last valid model, so the plots never break.
The counting-kind tables appear only for counting kinds; a HistFactory workspace gets its
own view (measurement, channels, observed counts, interpolation codes) and the same
parameters table.  Any model that HistFactory can express saves as a pyhf workspace too.

A signal expression that would turn a name into a new parameter (a typo for a template,
say) is held until the user confirms it; templates it leaves unused are pointed out.
While the name of the model is not one the user typed, it follows structural edits.

Handlers compare what a widget now shows with the draft, so the editor can set its
widgets from the draft without re-entering them.
"""

from __future__ import annotations

import html
import io
import json
import logging
import re
from functools import partial
from typing import Any

import panel as pn
import param
from panel.viewable import Viewer

import model_core as mc
from model_core.examples import load_example
from model_core.spec import KINDS, parameter_layout

from . import spec_edit, workspace_edit
from .editor_tables import BinsTable, CovarianceTable, ParametersTable
from .feedback import SECTIONS, correlation_error, describe, section_for
from .presets import presets
from .state import LANE as MODEL_LANE
from .state import StateParameter, is_counting
from .workspace_editor import WorkspaceEditor

log = logging.getLogger(__name__)

__all__ = ["ModelEditor"]

_KIND_LABELS = {
    "uncorrelated_background": "Poisson, uncorrelated background",
    "correlated_background": "Poisson, correlated background",
    "multivariate_normal": "Multivariate normal",
}
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: The preset selector's first entry (the model in use may not be a preset).
CHOOSE = "Choose a preset…"
#: Sections whose errors show in an alert box (the expression's show in its feedback line).
_ALERTS = tuple(s for s in SECTIONS if s != "expression")


class ModelEditor(Viewer):
    """Edit the session's model; invalid edits are reported and never used."""

    state = StateParameter()
    draft = param.Dict(default={}, doc="The spec being edited (may be invalid).")
    covariance_mode = param.Selector(default="covariance", objects=["covariance", "correlation"],
                                     label="Edit the matrix as")
    pending_expression = param.String(default="", doc="""
        A signal expression held until the user confirms the new parameters it brings.""")
    name_source = param.Selector(default="preset", objects=["preset", "auto", "user"], doc="""
        Where the model's name came from: a loaded model, the editor (it then follows
        structural edits) or the user (it is kept).""")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.alerts = {s: pn.pane.HTML("", visible=False, sizing_mode="stretch_width",
                                       css_classes=["le-alert", "le-alert-danger", "le-error"],
                                       margin=(4, 5)) for s in _ALERTS}
        self.preset = pn.widgets.Select(
            label="Load a preset", value="", sizing_mode="stretch_width",
            options={CHOOSE: "", **{p.name: p.key for p in presets()}})
        self.description = pn.widgets.StaticText(value="", css_classes=["le-muted",
                                                                         "le-description"],
                                                 sizing_mode="stretch_width", margin=(0, 5))
        self.name_input = pn.widgets.TextInput(label="Name", sizing_mode="stretch_width")
        self.kind = pn.widgets.Select(label="Likelihood kind",
                                      options={v: k for k, v in _KIND_LABELS.items()},
                                      sizing_mode="stretch_width")
        self.upload = pn.widgets.FileInput(accept=".json", multiple=False,
                                           sizing_mode="stretch_width", css_classes=["le-upload"])
        self.download = pn.widgets.FileDownload(callback=self._saved_json, filename="model.json",
                                                label="Save spec (JSON)", color="primary",
                                                sizing_mode="stretch_width")
        self.save_workspace = pn.widgets.FileDownload(
            callback=self._saved_workspace, filename="workspace.json",
            label="Save as pyhf workspace", color="light", sizing_mode="stretch_width",
            description="The model as a pyhf 1.0.0 workspace (JSON), where HistFactory can "
            "express it")
        self.export_note = pn.widgets.StaticText(value="", css_classes=["le-muted"],
                                                 sizing_mode="stretch_width", margin=(0, 5))
        self.workspace = WorkspaceEditor(submit=self.submit)
        self.revert = pn.widgets.Button(label="Revert to the model in use", color="light",
                                        visible=False, sizing_mode="stretch_width")
        self.bins = BinsTable(submit=self.submit)
        self.matrix = CovarianceTable(submit=self.submit)
        self.parameters = ParametersTable(submit=self.submit)
        self.add_bin = pn.widgets.Button(label="+ bin", color="light", width=70)
        self.remove_bin = pn.widgets.Button(label="− bin", color="light", width=70,
                                            description="Remove the selected bin (or the last)")
        self.template_name = pn.widgets.TextInput(placeholder="name of a new template",
                                                  sizing_mode="stretch_width")
        self.add_template = pn.widgets.Button(label="+ template", color="light", width=110)
        self.remove_template = pn.widgets.Select(options=[], sizing_mode="stretch_width")
        self.remove_template_button = pn.widgets.Button(label="− template", color="light",
                                                        width=110)
        self.expression = pn.widgets.TextInput(label="Signal expression",
                                               sizing_mode="stretch_width")
        self.expression_feedback = pn.widgets.StaticText(value="", css_classes=["le-feedback"],
                                                         sizing_mode="stretch_width",
                                                         margin=(0, 5))
        self.confirm_expression = pn.widgets.Button(label="Use it: add the new parameter",
                                                    color="warning", visible=False,
                                                    sizing_mode="stretch_width")
        self.keep_editing = pn.widgets.Button(label="Keep editing", color="light",
                                              visible=False, width=120)
        self.mode_toggle = pn.widgets.RadioButtonGroup.from_param(
            self.param.covariance_mode, options={"covariance": "covariance",
                                                 "σ and correlations": "correlation"},
            color="light", sizing_mode="stretch_width")
        self.status = pn.widgets.StaticText(value="", css_classes=["le-status"],
                                            sizing_mode="stretch_width")
        self._json_view = pn.pane.JSON({}, depth=2, theme="light", sizing_mode="stretch_width")
        self._layout = self._build_layout()
        self._wire()
        self._reset_from_state()
        self._refresh_export()

    # ------------------------------------------------------------------ wiring
    def _wire(self) -> None:
        self.preset.param.watch(self._on_preset, "value")
        self.name_input.param.watch(self._on_name, "value")
        self.kind.param.watch(self._on_kind, "value")
        self.upload.param.watch(self._on_upload, "value")
        self.revert.on_click(self._on_revert)
        self.add_bin.on_click(lambda e: self.submit(spec_edit.add_bin(self.draft), "bins"))
        self.remove_bin.on_click(self._on_remove_bin)
        self.add_template.on_click(self._on_add_template)
        self.remove_template_button.on_click(self._on_remove_template)
        self.expression.param.watch(self._on_expression_typed, "value_input")
        self.expression.param.watch(self._on_expression, "value")
        self.confirm_expression.on_click(self._on_confirm_expression)
        self.keep_editing.on_click(lambda event: self._hold_expression(""))
        self.state.param.watch(self._on_state, "revision")
        self._json_card.param.watch(lambda event: self._show_json(), "collapsed")

    def _show_json(self) -> None:
        """The draft as JSON, sent to the page only while its card is open (a workspace
        can be large)."""
        if not self._json_card.collapsed and self._json_card.visible:
            self._json_view.object = self.draft

    def _on_state(self, event: param.parameterized.Event) -> None:
        self._reset_from_state()
        self._refresh_export()

    def _on_revert(self, event: Any) -> None:
        """Drop the rejected draft: the tables show the model in use again."""
        self.state.jobs.cancel(MODEL_LANE, discard=True)  # nor an edit still on its way
        self.state.error = None
        self.upload.clear()  # the browser forgets the file; the server side too
        self.upload.param.update(value=None, filename=None)
        self._hold_expression("")
        self._reset_from_state()

    # ------------------------------------------------------------------ drafts
    def submit(self, draft: dict[str, Any], section: str) -> None:
        """Propose ``draft`` (renamed when its name follows the edits); show the error next
        to ``section``'s field when rejected."""
        if self.name_source != "user" and spec_edit.structure(draft) != spec_edit.structure(
                self.state.spec_dict) and draft.get("kind") in KINDS:
            draft = {**draft, "name": spec_edit.auto_name(draft)}
            self.name_source = "auto"
        self.draft = draft

        def done(error: Exception | None) -> None:
            if error is not None:  # accepted: the state's revision refreshes the views
                self._refresh_views()
                self._show_error(error, section)

        self.state.request(draft, on_done=done)

    def _on_name(self, event: param.parameterized.Event) -> None:
        if event.new == self.draft.get("name"):
            return
        self.name_source = "user"
        self.submit({**self.draft, "name": event.new}, "general")

    def _reset_from_state(self) -> None:
        self.draft = self.state.spec_dict
        self._clear_errors()
        self._refresh_views()

    def _refresh_views(self) -> None:
        draft, spec = self.draft, self.state.spec
        counting = is_counting(spec) and draft.get("kind") in KINDS
        workspace = isinstance(spec, mc.WorkspaceSpec) and draft.get("kind") == "histfactory"
        for section in self._counting_sections:
            section.visible = counting
        self._workspace_card.visible = workspace
        self._params_card.visible = counting or workspace
        self.kind.visible = counting
        self._matrix_card.visible = counting and draft.get("covariance") is not None
        self._json_card.visible = not counting
        self.name_input.value = draft.get("name", "")
        self.description.value = html.escape(draft.get("description", "").split(". ", 1)[0])
        if workspace:
            self.workspace.refresh(draft, spec)
            model = self.state.model
            self.parameters.refresh(draft, list(model.parameter_names), model.init,
                                    model.bounds, model.fixed)
        if not counting:
            self._show_json()
            self._refresh_status()
            return
        self.kind.value = draft["kind"]
        self.bins.refresh(draft)
        self.matrix.mode = self.covariance_mode
        self.matrix.refresh(draft)
        self.remove_template.options = list(draft["signal"]["templates"])
        if not self.pending_expression:
            self.expression.value = draft["signal"].get("expression", "")
            self._expression_feedback(self.expression.value)
        names, init, bounds, fixed = _parameter_layout(draft, self.state.model)
        self.parameters.refresh(draft, names, init, bounds, fixed)
        self._refresh_status()

    @param.depends("covariance_mode", watch=True)
    def _mode_changed(self) -> None:
        self.matrix.mode = self.covariance_mode

    # ------------------------------------------------------------------ handlers
    def _on_preset(self, event: param.parameterized.Event) -> None:
        log.debug("preset %r chosen", event.new)
        if not event.new:
            return
        self.preset.value = ""
        self.state.request(load_example(event.new), new_model=True,
                           on_done=partial(self._loaded, section="general"))

    def _loaded(self, error: Exception | None, section: str, prefix: str = "") -> None:
        """A preset or a file has been proposed."""
        if error is not None:
            self._show_error(error, section, prefix=prefix, here=bool(prefix))
        else:
            self.name_source = "preset"

    def _on_kind(self, event: param.parameterized.Event) -> None:
        if event.new == self.draft.get("kind"):
            return
        self.submit(spec_edit.set_kind(self.draft, event.new), "general")

    def _on_upload(self, event: param.parameterized.Event) -> None:
        if event.new is None:
            return
        filename = self.upload.filename or "upload"
        prefix = f"<b>{html.escape(filename)}</b> — "
        try:
            source = workspace_edit.as_upload(event.new, filename)
        except mc.SpecError as exc:  # not JSON at all: the state never saw it
            self.state.error = exc
            self._loaded(exc, "upload", prefix)
        else:
            self.state.request(source, new_model=True,
                               on_done=partial(self._loaded, section="upload", prefix=prefix))

    def _on_remove_bin(self, event: Any) -> None:
        row = self.bins.selected_row
        index = len(self.draft["data"]) - 1 if row is None else row
        self.submit(spec_edit.remove_bin(self.draft, index), "bins")

    def _on_add_template(self, event: Any) -> None:
        name = (self.template_name.value_input or self.template_name.value or "").strip()
        if not _IDENT.match(name):
            self._show_error(mc.SpecError("signal.templates", "a template needs a name made of "
                                          "letters, digits and _", name or "(empty)",
                                          "type a name like D in the box, then press + template"),
                             "bins")
            return
        if name in self.draft["signal"]["templates"]:
            self._show_error(mc.SpecError("signal.templates", "a template with this name exists",
                                          name, "choose another name"), "bins")
            return
        self.template_name.value = ""
        self.submit(spec_edit.add_template(self.draft, name), "bins")

    def _on_remove_template(self, event: Any) -> None:
        name = self.remove_template.value
        if name is None:
            return
        expression = self.draft["signal"].get("expression", "")
        if re.search(rf"\b{re.escape(name)}\b", expression):
            self._show_error(mc.SpecError(f"signal.templates.{name}", "the signal expression "
                                          "uses this template", expression,
                                          f"remove {name} from the expression first"), "bins")
            return
        self.submit(spec_edit.remove_template(self.draft, name), "bins")

    # ------------------------------------------------------------------ expression
    def _expression_notes(self, text: str) -> tuple[list[str], list[str]]:
        templates = list(self.draft["signal"]["templates"])
        return spec_edit.expression_notes(text, templates, self.state.model.parameter_names)

    def _expression_feedback(self, text: str) -> None:
        """The line under the expression: ✓ and its parameters, what it would add or leave
        unused, or the parse error with a caret (which replaces any earlier error)."""
        try:
            new, unused = self._expression_notes(text)
        except mc.ExpressionError as exc:
            self.expression_feedback.value = f"<div class='le-bad-box'>{describe(exc)}</div>"
            return
        templates = ", ".join(self.draft["signal"]["templates"])
        shape = spec_edit.expression_notes(text, list(self.draft["signal"]["templates"]),
                                           ())[0]
        lines = [f"<span class='le-ok'>✓ parses</span>; shape parameters: "
                 f"<b>{html.escape(', '.join(shape) or 'none')}</b>"]
        lines += [f"<span class='le-warn'>⚠ {html.escape(name)} is not a template "
                  f"(templates: {html.escape(templates)}); it will be a new parameter</span>"
                  for name in new]
        lines += [f"<span class='le-warn'>⚠ template {html.escape(name)} is not used</span>"
                  for name in unused]
        self.expression_feedback.value = "<br>".join(lines)

    def _on_expression_typed(self, event: param.parameterized.Event) -> None:
        if event.new == self.expression.value:
            return  # nothing typed since it was entered: its feedback is on screen
        self._expression_feedback(event.new or "")

    def _on_expression(self, event: param.parameterized.Event) -> None:
        if event.new == self.draft["signal"].get("expression") and not self.pending_expression:
            return
        try:
            new, _ = self._expression_notes(event.new)
        except mc.ExpressionError:
            new = []  # the core reports it
        if new:
            self._hold_expression(event.new)
            return
        self._hold_expression("")
        self._submit_expression(event.new)

    def _hold_expression(self, text: str) -> None:
        """Hold ``text`` until the user confirms its new parameters ('' lets go)."""
        self.pending_expression = text
        self.confirm_expression.visible = self.keep_editing.visible = bool(text)
        if text:
            self._expression_feedback(text)
            self.expression_feedback.value += ("<br><b>Not applied yet</b>: use it as it is, "
                                               "or keep editing.")

    def _on_confirm_expression(self, event: Any) -> None:
        text = self.pending_expression
        self._hold_expression("")
        if text:
            self._submit_expression(text)

    def _submit_expression(self, text: str) -> None:
        draft = {**self.draft, "signal": {**self.draft["signal"], "expression": text}}
        self.submit(spec_edit.prune_parameters(draft), "expression")

    # ------------------------------------------------------------------ saving
    def _slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9_-]+", "_", self.state.spec.name).strip("_") or "model"

    def _saved_json(self) -> io.StringIO:
        self.download.filename = f"{self._slug()}.json"
        return io.StringIO(json.dumps(self.state.spec.to_dict(), indent=2))

    def _saved_workspace(self) -> io.StringIO:
        """The model in use as a pyhf workspace (the button is disabled when it has none)."""
        self.save_workspace.filename = f"{self._slug()}_workspace.json"
        return io.StringIO(json.dumps(mc.to_workspace(self.state.spec), indent=2))

    def _refresh_export(self) -> None:
        """Enable "Save as pyhf workspace" when the model has an equivalent workspace, else
        say why not."""
        try:
            mc.to_workspace(self.state.spec)
        except mc.SpecError as exc:
            self.save_workspace.disabled = True
            self.export_note.value = f"No pyhf workspace for this model: {describe(exc)}"
            return
        self.save_workspace.disabled = False
        self.export_note.value = ""

    # ------------------------------------------------------------------ messages
    def _show_error(self, error: BaseException, section: str, prefix: str = "",
                    here: bool = False) -> None:
        """Show ``error`` once: next to the field it names (next to ``section`` when
        ``here`` or when it names none)."""
        if isinstance(error, mc.SpecError):
            error = correlation_error(self.draft, error, self.covariance_mode) or error
        field = getattr(error, "field", "")
        target = section_for(field) if field and not here else section
        if field.startswith("correlation"):
            target = "covariance"
        if target == "covariance" and self.draft.get("covariance") is None:
            target = "general"
        if target in ("workspace", "bins", "expression") and not self._section_shown(target):
            target = "general"
        for name, alert in self.alerts.items():
            alert.visible = name == target
        kept = "<div class='le-kept'>Not applied: the plots still show the last valid model.</div>"
        if target == "expression":
            self.expression_feedback.value = (f"<div class='le-bad-box'>{prefix}"
                                              f"{describe(error, self.draft)}</div>{kept}")
        else:
            self.alerts[target].object = prefix + describe(error, self.draft) + kept
        self.revert.visible = True
        self._refresh_status()

    def _clear_errors(self) -> None:
        for alert in self.alerts.values():
            alert.visible = False
        self.revert.visible = False

    def _section_shown(self, section: str) -> bool:
        card = {"workspace": self._workspace_card, "bins": self._counting_sections[0],
                "expression": self._counting_sections[1]}[section]
        return card.visible

    def _refresh_status(self) -> None:
        best, spec = self.state.best, self.state.spec
        name = html.escape(spec.name)
        if self.state.error is not None:
            self.status.value = ("<span class='le-bad'>✗ last edit rejected</span> · in use: "
                                 f"<b>{name}</b>")
            return
        flag = "✓" if best.success else "⚠"
        self.status.value = (f"<span class='le-ok'>{flag} model in use</span>: <b>{name}</b>"
                             f" · NLL<sub>min</sub> = {best.fun:.6g}")

    # ------------------------------------------------------------------ layout
    def _build_layout(self) -> pn.viewable.Viewable:
        bins_card = pn.Card(
            self.alerts["bins"], self.bins,
            pn.Row(self.add_bin, self.remove_bin, sizing_mode="stretch_width"),
            pn.Row(self.template_name, self.add_template, sizing_mode="stretch_width"),
            pn.Row(self.remove_template, self.remove_template_button,
                   sizing_mode="stretch_width"),
            title="Bins and signal templates", sizing_mode="stretch_width", collapsible=True)
        self._matrix_card = pn.Card(
            self.alerts["covariance"], self.mode_toggle, self.matrix,
            pn.pane.HTML("<small>Edits are mirrored across the diagonal. In σ-and-correlation "
                         "mode the diagonal holds standard deviations.</small>"),
            title="Background covariance", sizing_mode="stretch_width", collapsible=True)
        signal_card = pn.Card(self.expression, self.expression_feedback,
                              pn.Row(self.confirm_expression, self.keep_editing,
                                     sizing_mode="stretch_width"),
                              title="Signal", sizing_mode="stretch_width", collapsible=True)
        self._params_card = pn.Card(self.alerts["parameters"], self.parameters,
                                    title="Parameters", sizing_mode="stretch_width",
                                    collapsible=True)
        self._workspace_card = pn.Card(self.alerts["workspace"], self.workspace,
                                       title="HistFactory workspace",
                                       sizing_mode="stretch_width", collapsible=True)
        self._json_card = pn.Card(self._json_view, title="Spec as JSON (read-only)",
                                  collapsed=True, sizing_mode="stretch_width")
        self._counting_sections = [bins_card, signal_card]
        general = pn.Column(
            self.status, self.alerts["general"], self.revert,
            pn.Row(self.preset, self.kind, sizing_mode="stretch_width"), self.name_input,
            self.description,
            pn.pane.HTML("<small>Load a model: a spec or a pyhf workspace (JSON)</small>",
                         margin=(4, 5, 0, 5)),
            self.upload, self.alerts["upload"],
            pn.Row(self.download, self.save_workspace, sizing_mode="stretch_width"),
            self.export_note, sizing_mode="stretch_width")
        return pn.Column(general, self._workspace_card, bins_card, self._matrix_card,
                         signal_card, self._params_card, self._json_card,
                         sizing_mode="stretch_width", css_classes=["le-editor"])

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout


def _parameter_layout(draft: dict[str, Any], model: mc.Model):
    """Names, init, bounds and fixed mask for the parameters table: from the draft when it
    is a valid spec, else from the model in use."""
    try:
        spec = mc.load_spec(draft)
    except mc.SpecError:
        return list(model.parameter_names), model.init, model.bounds, model.fixed
    names, init, bounds, fixed = parameter_layout(spec)
    return list(names), init, bounds, fixed
