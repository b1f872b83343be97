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
    # the map now holds the NLL of the edited model, computed independently here
    reference = mc.nll_grid(mc.build_model(state.spec), before.parameters, view.grid.x_values,
                            view.grid.y_values, at=state.best.x)
    np.testing.assert_allclose(view.grid.nll, reference.nll, rtol=1e-12)
    assert not np.allclose(view.grid.nll, before.nll)


@pytest.mark.parametrize("column, value, field", [
    ("data", -4.0, "data[0]"), ("background", np.nan, "background[0]"),
    ("t:A", np.inf, "signal.templates.A[0]"),
], ids=["negative yield", "NaN", "infinite template"])
def test_bad_cell_shows_error_and_keeps_model(state, views, column, value, field):
    editor, view = views
    best, grid = state.best, view.grid
    edit_cell(editor.bins.table, 0, column, value)
    assert visible_alerts(editor) == {"bins"}
    assert field in editor.alerts["bins"].object
    assert state.best is best and view.grid is grid
    assert editor.revert.visible
    editor.revert.clicks += 1
    assert not visible_alerts(editor) and state.error is None
    assert "model in use" in editor.status.value
    assert editor.bins.table.value.loc[0, column] == pytest.approx(
        editor.bins.table.value.loc[0, column])  # the table shows the model in use again
    assert np.isfinite(editor.bins.table.value.loc[0, column])


def test_non_positive_definite_covariance(state, views):
    editor, view = views
    best, grid = state.best, view.grid
    edit_cell(editor.matrix.table, 0, "SR2", 500.0)  # |rho| = 500 / (12 * 16) > 1
    assert visible_alerts(editor) == {"covariance"}
    assert "positive definite" in editor.alerts["covariance"].object
    # the edit is mirrored in the table, and the model is unchanged
    assert editor.matrix.table.value.loc[1, "SR1"] == 500.0
    assert state.best is best and view.grid is grid


def test_covariance_edit_is_mirrored_into_the_model(state, views):
    editor, _ = views
    edit_cell(editor.matrix.table, 1, "SR1", -20.0)
    assert state.spec.covariance == ((144.0, -20.0), (-20.0, 256.0))


def test_bad_expression_shows_position(state, views):
    editor, view = views
    best, grid = state.best, view.grid
    editor.expression.value_input = "c0*A + * c1"
    assert "le-bad-box" in editor.expression_feedback.value
    assert "expr-caret" in editor.expression_feedback.value
    editor.expression.value = "c0*A + * c1"
    assert visible_alerts(editor) == {"expression"}
    assert "^" in editor.alerts["expression"].object
    assert state.best is best and view.grid is grid


def test_expression_edit_changes_parameters(state, views):
    editor, view = views
    editor.expression.value = "k*A + c2*C"
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
    assert editor.preset.value == "(current)"
    assert not editor._matrix_card.visible
    assert (view.x_axis, view.y_axis) == ("mu", "theta_0")


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
