"""The model editor drives the state; the map follows accepted edits only."""

import json

import numpy as np
import pytest

import model_core as mc
from components.likelihood_map import LikelihoodMap
from components.model_editor import ModelEditor
from model_core.examples import EXAMPLES_DIR, load_example
from tests.components.helpers import edit_cell, visible_alerts


@pytest.fixture
def views(state):
    return ModelEditor(state=state), LikelihoodMap(state=state)


def test_data_edit_updates_model_and_map(state, views):
    editor, view = views
    before = view.grid
    edit_cell(editor.bins.table, 0, "data", 45.0)
    assert state.spec.data == (45.0, 33.0)
    assert state.error is None and not visible_alerts(editor)
    assert state.spec.name == "Three signal shapes (multivariate normal)"  # not structural
    # the map now holds the NLL of the edited model, computed independently here
    reference = mc.nll_grid(mc.build_model(state.spec), before.parameters, view.grid.x_values,
                            view.grid.y_values, at=state.best.x)
    np.testing.assert_allclose(view.grid.nll, reference.nll, rtol=1e-12)
    assert not np.allclose(view.grid.nll, before.nll)


@pytest.mark.parametrize("column, value, label, shown", [
    ("data", -4.0, "n, bin SR1", "-4"), ("background", np.nan, "b, bin SR1", "nan"),
    ("t:A", np.inf, "A, bin SR1", "inf"),
], ids=["negative yield", "NaN", "infinite template"])
def test_bad_cell_shows_error_and_keeps_model(state, views, column, value, label, shown):
    editor, view = views
    best, grid = state.best, view.grid
    edit_cell(editor.bins.table, 0, column, value)
    assert visible_alerts(editor) == {"bins"}
    message = editor.alerts["bins"].object
    # named as on screen, the value as typed (no np.float64(...))
    assert f"<b>{label}</b>" in message and f"<code>{shown}</code>" in message
    assert "np." not in message
    assert state.best is best and view.grid is grid
    assert editor.revert.visible and "rejected" in editor.status.value
    editor.revert.clicks += 1
    assert not visible_alerts(editor) and state.error is None
    assert "model in use" in editor.status.value
    assert np.isfinite(editor.bins.table.value.loc[0, column])  # the model in use again


def test_non_positive_definite_covariance(state, views):
    editor, view = views
    best, grid = state.best, view.grid
    edit_cell(editor.matrix.table, 0, "SR2", 500.0)  # |rho| = 500 / (12 * 16) > 1
    assert visible_alerts(editor) == {"covariance"}
    message = editor.alerts["covariance"].object
    # said as the correlation it is, with the limit that would fix it
    assert "<b>correlation of bins SR1 and SR2</b>" in message
    assert f"a correlation of {500 / 192:.3g}" in message and "below 192" in message
    # the edit is mirrored in the table, and the model is unchanged
    assert editor.matrix.table.value.loc[1, "SR1"] == 500.0
    assert state.best is best and view.grid is grid


def test_a_correlation_above_one_is_reported_as_a_correlation(state, views):
    editor, _ = views
    editor.covariance_mode = "correlation"
    edit_cell(editor.matrix.table, 0, "SR2", 1.5)
    message = editor.alerts["covariance"].object
    assert "<b>correlation of bins SR1 and SR2</b>" in message and "<code>1.5</code>" in message
    assert "between −1 and 1" in message


def test_covariance_edit_is_mirrored_into_the_model(state, views):
    editor, _ = views
    edit_cell(editor.matrix.table, 1, "SR1", -20.0)
    assert state.spec.covariance == ((144.0, -20.0), (-20.0, 256.0))


def test_bad_expression_shows_position(state, views):
    editor, view = views
    best, grid = state.best, view.grid
    editor.expression.value_input = "c0*A + * c1"
    assert "le-bad-box" in editor.expression_feedback.value
    assert "<pre class='expr-caret'>c0*A + * c1\n       ^</pre>" in editor.expression_feedback.value
    editor.expression.value = "c0*A + * c1"
    feedback = editor.expression_feedback.value
    assert feedback.count("syntax error") == 1 and "Not applied" in feedback  # one copy
    assert not visible_alerts(editor)
    assert state.best is best and view.grid is grid
    editor.expression.value_input = "c0*A + c1**2*B + c2*C"  # fixed: the error goes
    assert "le-bad-box" not in editor.expression_feedback.value
    assert "✓ parses" in editor.expression_feedback.value


def test_a_name_that_is_not_a_template_is_held_until_confirmed(state, views):
    """Issue: "c0*A + c1**2*B + c2*D" silently made D a parameter and left C unused."""
    editor, _ = views
    spec = state.spec
    editor.expression.value_input = "c0*A + c1**2*B + c2*D"
    feedback = editor.expression_feedback.value
    assert "D is not a template (templates: A, B, C); it will be a new parameter" in feedback
    assert "template C is not used" in feedback
    editor.expression.value = "c0*A + c1**2*B + c2*D"
    assert state.spec is spec and editor.pending_expression  # not applied yet
    assert editor.confirm_expression.visible and "Not applied yet" in \
        editor.expression_feedback.value
    editor.keep_editing.clicks += 1
    assert not editor.pending_expression and state.spec is spec
    editor.expression.value = "c0*A + c1**2*B + c2*C"  # the intended expression: no question
    assert state.spec is spec
    editor.expression.value = "c0*A + c1**2*B + c2*D"
    editor.confirm_expression.clicks += 1  # the user means it
    assert state.model.parameter_names == ("mu", "c0", "c1", "c2", "D")
    assert "template C is not used" in editor.expression_feedback.value


def test_expression_edit_changes_parameters(state, views):
    editor, view = views
    editor.expression.value = "k*A + c2*C"
    assert editor.pending_expression == "k*A + c2*C"  # k is new: confirmed first
    editor.confirm_expression.clicks += 1
    assert state.model.parameter_names == ("mu", "k", "c2")
    assert list(editor.parameters.table.value["parameter"]) == ["mu", "k", "c2"]
    assert (view.x_axis, view.y_axis) == ("k", "c2")


def test_template_in_use_cannot_be_removed(state, views):
    editor, _ = views
    spec = state.spec
    editor.remove_template.value = "B"
    editor.remove_template_button.clicks += 1
    assert visible_alerts(editor) == {"bins"} and "uses this template" in \
        editor.alerts["bins"].object
    assert state.spec is spec


def test_add_template_and_bin(state, views):
    editor, _ = views
    editor.template_name.value = "D"
    editor.add_template.clicks += 1
    assert state.spec.templates["D"] == (0.0, 0.0)
    editor.add_bin.clicks += 1
    assert state.spec.n_bins == 3
    assert len(editor.bins.table.value) == 3 and len(editor.matrix.table.value) == 3


def test_kind_switch(state, views):
    editor, _ = views
    editor.kind.value = "correlated_background"
    assert state.spec.kind == "correlated_background"
    assert "theta_0" in state.model.parameter_names


def test_parameters_table_fixes_a_parameter(state, views):
    editor, view = views
    edit_cell(editor.parameters.table, 3, "fixed", True)  # c2
    assert state.model.fixed.tolist() == [True, False, False, True]
    assert view.param.x_axis.objects == ["c0", "c1"]


def test_bad_bounds_are_reported(state, views):
    editor, _ = views
    best = state.best
    edit_cell(editor.parameters.table, 1, "upper", -60.0)  # below the lower bound -50
    assert visible_alerts(editor) == {"parameters"}
    assert state.best is best


def test_malformed_upload(state, views):
    editor, _ = views
    best = state.best
    editor.upload.filename = "broken.json"
    editor.upload.value = b'{"kind": "multivariate_normal", "data": [1,'
    assert visible_alerts(editor) == {"upload"}  # next to the file input
    assert "malformed JSON" in editor.alerts["upload"].object
    assert "broken.json" in editor.alerts["upload"].object
    assert state.best is best


@pytest.mark.parametrize("content, message", [
    (b"\xff\xfe\x00binary", "not UTF-8 text"),
    (b"[1, 2, 3]", "does not hold a JSON object"),
    # a path in an upload is content, never a file the server opens
    (str(EXAMPLES_DIR / "two_bin_uncorrelated.json").encode(), "does not hold a JSON object"),
])
def test_upload_that_is_not_a_json_object(state, views, content, message):
    editor, _ = views
    best, spec = state.best, state.spec
    editor.upload.filename = "odd.json"
    editor.upload.value = content
    assert visible_alerts(editor) == {"upload"}
    assert message in editor.alerts["upload"].object and "odd.json" in \
        editor.alerts["upload"].object
    assert state.best is best and state.spec is spec


def test_upload_and_save_round_trip(state, views):
    editor, _ = views
    spec = load_example("two_bin_uncorrelated")
    editor.upload.value = json.dumps(spec.to_dict()).encode()
    assert state.spec.name == spec.name
    saved = json.loads(editor._saved_json().getvalue())
    assert mc.load_spec(saved).to_dict() == spec.to_dict()
    assert editor.download.filename == "Two_bins_uncorrelated_background.json"


def test_preset(state, views):
    editor, view = views
    editor.preset.value = "two_bin_uncorrelated"
    assert state.spec.kind == "uncorrelated_background"
    assert editor.preset.value == ""
    assert not editor._matrix_card.visible
    assert (view.x_axis, view.y_axis) == ("mu", "theta_0")
    # readable names, the teaching example first, and a line on the model in use
    labels = list(editor.preset.options)
    assert labels[:2] == ["Choose a preset…", "One-bin counting experiment"]
    assert "Two bins, uncorrelated background" in labels
    assert editor.description.value.startswith("The two-bin counting experiment")


def test_the_one_bin_counting_model_is_editable(state, views):
    editor, _ = views
    editor.preset.value = "one_bin_counting"
    table = editor.bins.table
    assert table.value[["data", "background", "uncertainty", "t:s"]].values.tolist() == [
        [15.0, 10.0, 3.5, 5.0]]
    assert table.titles["data"] == "n" and table.titles["uncertainty"] == "σ_b"
    edit_cell(table, 0, "uncertainty", 2.0)
    assert state.spec.background_uncertainty == (2.0,)
    assert state.best["mu"] == pytest.approx(1.0, abs=1e-6)  # n = b + s still


def test_the_name_follows_structural_edits_until_the_user_names_the_model(state, views):
    editor, _ = views
    editor.preset.value = "two_bin_uncorrelated"
    editor.remove_bin.clicks += 1
    assert state.spec.name == "One bin, uncorrelated background"
    edit_cell(editor.bins.table, 0, "data", 20.0)  # not structural: the name stays
    assert state.spec.name == "One bin, uncorrelated background"
    editor.name_input.value = "My teaching model"
    editor.add_bin.clicks += 1
    assert state.spec.name == "My teaching model"


def test_warm_start_never_refuses_a_valid_model(state, views):
    """Issue: two_bin_uncorrelated, one bin removed, n = 15, then b = 10 was refused ("the
    likelihood is zero everywhere the fit looked"), and every later edit too."""
    editor, _ = views
    editor.preset.value = "two_bin_uncorrelated"
    editor.remove_bin.clicks += 1
    edit_cell(editor.bins.table, 0, "data", 15.0)
    edit_cell(editor.bins.table, 0, "background", 10.0)
    assert state.error is None and state.spec.background == (10.0,)
    edit_cell(editor.bins.table, 0, "uncertainty", 3.5)
    edit_cell(editor.bins.table, 0, "t:S", 5.0)
    assert state.error is None and not visible_alerts(editor)
    direct = mc.fit(mc.build_model(state.spec), n_starts=4, rng=1)
    assert state.best.fun == pytest.approx(direct.fun, abs=1e-9)
    assert state.best["mu"] == pytest.approx(1.0, abs=1e-6)


def test_revert_clears_the_upload(state, views):
    editor, _ = views
    editor.upload.filename = "broken.json"
    editor.upload.value = b'{"kind": "multivariate_normal", "data": [1,'
    assert visible_alerts(editor) == {"upload"}
    editor.revert.clicks += 1
    assert editor.upload.value is None and not editor.upload.filename


def test_workspace_spec_shows_its_own_view(state, views):
    editor, view = views
    editor.preset.value = "pyhf_two_bin_shapesys"
    assert state.spec.kind == "histfactory"
    assert editor._workspace_card.visible and editor._params_card.visible
    assert not editor.kind.visible and not editor._matrix_card.visible
    assert not any(card.visible for card in editor._counting_sections)
    assert editor._json_card.visible and editor._json_card.collapsed
    editor._json_card.collapsed = False
    assert editor._json_view.object["kind"] == "histfactory"
    assert view.grid is not None  # the map works for any model
    editor.preset.value = "three_shapes"
    assert editor.kind.visible and editor._matrix_card.visible
    assert not editor._workspace_card.visible and not editor._json_card.visible
