"""HistFactory workspaces in the editor, checked against pyhf itself and closed forms.

The seed's one-bin model (signal 5, background 10 +- 3.5 as a shapesys, observed n) has
its best fit in closed form: the Poisson term peaks at mu s + gamma b = n and the
auxiliary term at gamma = 1, so mu_hat = (n - b) / s, gamma_hat = 1.
"""

import copy
import json
from pathlib import Path

import numpy as np
import pytest

import model_core as mc
from components.likelihood_map import LikelihoodMap
from components.model_editor import ModelEditor
from components.profile_panel import ProfilePanel
from components.state import SessionState
from components.workspace_edit import as_upload, summary_frame
from model_core.examples import load_example
from tests.components.helpers import edit_cell, visible_alerts

pyhf = pytest.importorskip("pyhf")

DATA = Path(__file__).resolve().parents[1] / "data"
GAMMA = "uncorr_bkguncrt[0]"
# pyhf 0.7.6 validates with jsonschema's deprecated RefResolver
pytestmark = pytest.mark.filterwarnings("ignore:jsonschema.RefResolver:DeprecationWarning")


@pytest.fixture(scope="module", autouse=True)
def numpy_backend():
    pyhf.set_backend("numpy")


def pyhf_model(spec):
    """pyhf's model and data for a WorkspaceSpec (or a raw workspace) and its settings."""
    raw = spec.workspace if isinstance(spec, mc.WorkspaceSpec) else spec
    workspace = pyhf.Workspace(copy.deepcopy(dict(raw)))
    kwargs = {}
    if isinstance(spec, mc.WorkspaceSpec):
        kwargs["measurement_name"] = spec.measurement
        if spec.modifier_settings is not None:
            kwargs["modifier_settings"] = spec.modifier_settings
    model = workspace.model(**kwargs)
    return model, workspace.data(model)


def pyhf_nll(spec, x):
    model, data = pyhf_model(spec)
    return -float(model.logpdf(np.asarray(x, float), data)[0])


@pytest.fixture
def one_bin():
    state = SessionState(load_example("pyhf_one_bin"))
    return state, ModelEditor(state=state)


def test_one_bin_preset_is_shown(one_bin):
    state, editor = one_bin
    assert editor._workspace_card.visible and editor._params_card.visible
    summary = editor.workspace.summary.value
    assert summary["sample"].tolist() == ["background", "signal"]
    assert summary["modifiers"].tolist() == ["uncorr_bkguncrt (shapesys)", "mu (normfactor)"]
    assert editor.workspace.observations.table.value["observed"].tolist() == [15.0]
    params = editor.parameters.table.value
    assert params["parameter"].tolist() == ["mu", GAMMA]
    # pyhf's suggested bounds: mu in [0, 10], gamma in [1e-10, 10]
    model, _ = pyhf_model(state.spec)
    np.testing.assert_allclose(params[["lower", "upper"]].to_numpy(),
                               model.config.suggested_bounds())
    np.testing.assert_allclose(state.best.x, [1.0, 1.0], atol=1e-6)  # n = s + b
    assert not editor.workspace.measurement.visible  # one measurement: no selector
    assert not any(select.visible for select in editor.workspace.codes.values())


def test_observation_edit_moves_the_best_fit(one_bin):
    state, editor = one_bin
    edit_cell(editor.workspace.observations.table, 0, "observed", 20.0)
    assert state.error is None and state.spec.data(False).tolist() == [20.0]
    np.testing.assert_allclose(state.best.x, [2.0, 1.0], atol=1e-6)  # (20 - 10) / 5
    assert state.best.fun == pytest.approx(pyhf_nll(state.spec, state.best.x), rel=1e-10)


def test_bad_observation_is_reported_next_to_the_workspace(one_bin):
    state, editor = one_bin
    best = state.best
    edit_cell(editor.workspace.observations.table, 0, "observed", -3.0)
    assert visible_alerts(editor) == {"workspace"}
    assert "observations[0].data" in editor.alerts["workspace"].object
    assert state.best is best and editor.revert.visible
    editor.revert.clicks += 1
    assert editor.workspace.observations.table.value["observed"].tolist() == [15.0]


def test_parameters_table_works_for_workspaces(one_bin):
    state, editor = one_bin
    edit_cell(editor.parameters.table, 0, "upper", 3.0)
    assert state.model.bounds[0].tolist() == [0.0, 3.0]
    edit_cell(editor.parameters.table, 1, "fixed", True)
    assert state.model.fixed.tolist() == [False, True]
    assert state.spec.parameters[GAMMA].fixed
    edit_cell(editor.parameters.table, 1, "fixed", False)
    assert state.model.fixed.tolist() == [False, False]


def test_unfixing_a_parameter_the_measurement_fixes():
    raw = json.loads((DATA / "good_workspace.json").read_text())
    config = raw["measurements"][0]["config"]["parameters"]
    config.append({"name": "jes", "fixed": True})
    state = SessionState(mc.load_workspace(raw))
    editor = ModelEditor(state=state)
    row = list(state.model.parameter_names).index("jes")
    assert state.model.fixed[row]
    edit_cell(editor.parameters.table, row, "fixed", False)
    assert state.error is None and not state.model.fixed[row]


def test_measurement_selector():
    raw = json.loads((DATA / "good_workspace.json").read_text())
    second = copy.deepcopy(raw["measurements"][0])
    second["name"] = "tight"
    second["config"]["parameters"] = [{"name": "mu", "bounds": [[0.0, 2.0]]}]
    raw["measurements"].append(second)
    state = SessionState(mc.load_workspace(raw))
    editor = ModelEditor(state=state)
    assert editor.workspace.measurement.visible
    assert editor.workspace.measurement.options == [m["name"] for m in raw["measurements"]]
    editor.workspace.measurement.value = "tight"
    assert state.spec.measurement == "tight"
    assert state.model.bounds[state.model.index("mu")].tolist() == [0.0, 2.0]


@pytest.mark.parametrize("mtype, code", [("normsys", "code1"), ("histosys", "code0")])
def test_interpolation_codes_match_pyhf(mtype, code):
    state = SessionState(load_example("multi_channel"))
    editor = ModelEditor(state=state)
    assert all(select.visible for select in editor.workspace.codes.values())
    assert editor.workspace.codes[mtype].value == {"normsys": "code4",
                                                   "histosys": "code4p"}[mtype]
    x = state.model.init + np.random.default_rng(1).normal(0, 0.3, state.model.npar) * (
        ~np.isin(np.arange(state.model.npar), [state.model.index("lumi")]))
    before = float(state.model.nll(x))
    editor.workspace.codes[mtype].value = code
    codes = state.spec.modifier_settings
    assert codes[mtype] == {"interpcode": code} and len(codes) == 2
    after = float(state.model.nll(x))
    assert after != pytest.approx(before, rel=1e-12)  # the code matters at this point
    assert after == pytest.approx(pyhf_nll(state.spec, x), rel=1e-10)


def test_upload_of_a_raw_pyhf_workspace():
    state = SessionState()
    editor = ModelEditor(state=state)
    editor.upload.filename = "good_workspace.json"
    editor.upload.value = (DATA / "good_workspace.json").read_bytes()
    assert state.error is None and state.spec.kind == "histfactory"
    assert state.spec.name == "good_workspace"
    raw = json.loads((DATA / "good_workspace.json").read_text())
    assert state.best.fun == pytest.approx(pyhf_nll(raw, state.best.x), rel=1e-10)
    assert editor._workspace_card.visible


BAD_FILES = ["bad_missing_key", "bad_wrong_length", "bad_unknown_modifier",
             "bad_modifier_shape", "bad_unknown_poi", "bad_truncated",
             "bad_missing_observations", "bad_version"]


@pytest.mark.parametrize("name", BAD_FILES)
def test_bad_workspace_upload_keeps_the_model(name):
    state = SessionState()
    editor = ModelEditor(state=state)
    best, spec = state.best, state.spec
    editor.upload.filename = f"{name}.json"
    editor.upload.value = (DATA / f"{name}.json").read_bytes()
    assert visible_alerts(editor) == {"upload"}
    message = editor.alerts["upload"].object
    with pytest.raises(mc.SpecError) as raised:
        mc.load_spec(as_upload((DATA / f"{name}.json").read_bytes(), f"{name}.json"))
    assert raised.value.field.removeprefix("workspace.") in message  # the JSON path
    assert f"{name}.json" in message and "Fix:" in message
    assert state.best is best and state.spec is spec


def test_save_as_pyhf_workspace_for_counting_models():
    state = SessionState()  # multivariate normal: HistFactory cannot express it
    editor = ModelEditor(state=state)
    assert editor.save_workspace.disabled
    assert "multivariate normal" in editor.export_note.value
    editor.preset.value = "two_bin_uncorrelated"
    assert not editor.save_workspace.disabled and editor.export_note.value == ""
    raw = json.loads(editor._saved_workspace().getvalue())
    assert editor.save_workspace.filename.endswith("_workspace.json")
    # pyhf gives the same NLL at the same parameters (the export is exact for this kind)
    x = state.best.x + np.array([0.2, -0.3, 0.4])
    model, data = pyhf_model(raw)
    order = [list(model.config.par_names).index(n) for n in state.model.parameter_names]
    pars = np.empty(len(order))
    pars[order] = x
    assert float(state.model.nll(x)) == pytest.approx(-float(model.logpdf(pars, data)[0]),
                                                      rel=1e-10)


def test_save_as_pyhf_workspace_for_workspaces(one_bin):
    state, editor = one_bin
    edit_cell(editor.parameters.table, 0, "upper", 4.0)
    raw = json.loads(editor._saved_workspace().getvalue())
    model, _ = pyhf_model(raw)
    assert model.config.suggested_bounds()[0] == [0.0, 4.0]  # the override is kept
    assert raw == mc.to_workspace(state.spec)


def test_seed_gradient_map_over_mu_and_gamma(one_bin):
    state, _ = one_bin
    view = LikelihoodMap(state=state)
    assert (view.x_axis, view.y_axis) == ("mu", GAMMA)
    view.param.update(x_range=(0.5, 1.5), y_range=(0.5, 1.5))  # the seed's view
    grid = view.grid
    model, data = pyhf_model(state.spec)
    rng = np.random.default_rng(4)
    for iy, ix in rng.integers(0, len(grid.x_values), size=(5, 2)):
        x = np.array([grid.x_values[ix], grid.y_values[iy]])
        assert grid.nll[iy, ix] == pytest.approx(-float(model.logpdf(x, data)[0]), rel=1e-10)
        # the arrows follow -grad NLL = grad log L: central differences of pyhf's logpdf
        h = 1e-6
        numeric = [(float(model.logpdf(x + h * e, data)[0])
                    - float(model.logpdf(x - h * e, data)[0])) / (2 * h) for e in np.eye(2)]
        np.testing.assert_allclose(-grid.grad[iy, ix], numeric, rtol=1e-5, atol=1e-7)
    fig = view.figure
    best = fig.best_source.data
    np.testing.assert_allclose([best["x"][0], best["y"][0]], [1.0, 1.0], atol=1e-6)
    assert len(fig.arrow_source.data["x0"]) > 3 * 100  # over 100 arrows, three strokes each


def test_profile_of_mu_matches_pyhf_profile():
    state = SessionState(load_example("pyhf_two_bin_shapesys"))
    panel = ProfilePanel(analysis=state.analysis)
    assert state.jobs.wait(timeout=300)
    result = panel.analysis.results["mu"].profile
    model, data = pyhf_model(state.spec)
    for mu in result.grid[[5, 20, 30]]:
        _, twice_nll = pyhf.infer.mle.fixed_poi_fit(mu, data, model, return_fitted_val=True,
                                                    tolerance=1e-10)
        nll = result.nll[list(result.grid).index(mu)]
        assert nll == pytest.approx(float(twice_nll) / 2, rel=1e-7)


def test_summary_of_an_unbinned_channel():
    spec = load_example("unbinned_demo")
    frame = summary_frame(spec)
    assert frame.loc[frame["channel"] == "SR", "kind"].tolist() == ["unbinned", "unbinned"]
    assert frame.loc[frame["channel"] == "SR", "size"].iloc[0] == "61 events"
