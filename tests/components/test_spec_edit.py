"""Draft edits: each keeps the spec loadable and means what the editor says."""

import numpy as np
import pytest

import model_core as mc
from components import spec_edit
from model_core.examples import load_example


@pytest.fixture
def mvn():
    return load_example("three_shapes").to_dict()


@pytest.fixture
def poisson():
    return load_example("two_bin_uncorrelated").to_dict()


def test_bins_frame_round_trip(mvn):
    frame = spec_edit.bins_frame(mvn)
    assert list(frame.columns) == ["bin", "data", "background", "uncertainty", "t:A", "t:B",
                                   "t:C"]
    # the covariance kinds show sqrt of the diagonal
    assert frame["uncertainty"].tolist() == [12.0, 16.0]
    frame.loc[1, "t:B"] = 20.0
    out = spec_edit.apply_bins_frame(mvn, frame)
    assert mc.load_spec(out).templates["B"] == (6.0, 20.0)
    assert out["covariance"] == mvn["covariance"]  # uncertainty not written back


def test_uncorrelated_uncertainty_is_written_back(poisson):
    frame = spec_edit.bins_frame(poisson)
    frame.loc[0, "uncertainty"] = 7.5
    assert mc.load_spec(spec_edit.apply_bins_frame(poisson, frame)).background_uncertainty == (
        7.5, 16.0)


def test_add_and_remove_bin(mvn):
    added = spec_edit.add_bin(mvn)
    spec = mc.load_spec(added)
    assert spec.n_bins == 3 and spec.bins[-1] == "bin3"
    cov = np.array(spec.covariance)
    assert cov[2, 2] == 256.0 and cov[2, :2].tolist() == [0.0, 0.0]
    removed = mc.load_spec(spec_edit.remove_bin(added, 0))
    assert removed.bins == ("SR2", "bin3")
    assert np.array(removed.covariance).tolist() == [[256.0, 0.0], [0.0, 256.0]]


def test_remove_bin_renumbers_nuisance_overrides(poisson):
    poisson = spec_edit.add_bin(poisson)
    poisson["parameters"] = {"theta_0": {"init": 0.1}, "theta_2": {"init": 0.3}}
    out = spec_edit.remove_bin(poisson, 1)
    assert out["parameters"] == {"theta_0": {"init": 0.1}, "theta_1": {"init": 0.3}}
    assert mc.load_spec(out).parameters["theta_1"].init == 0.3


def test_kind_switch_converts_the_background(poisson, mvn):
    correlated = spec_edit.set_kind(poisson, "correlated_background")
    assert mc.load_spec(correlated).covariance == ((144.0, 0.0), (0.0, 256.0))
    back = spec_edit.set_kind(correlated, "uncorrelated_background")
    assert mc.load_spec(back).background_uncertainty == (12.0, 16.0)
    mvn_to_poisson = mc.load_spec(spec_edit.set_kind(mvn, "uncorrelated_background"))
    assert mvn_to_poisson.background_uncertainty == (12.0, 16.0)


def test_switch_to_mvn_drops_nuisance_overrides(poisson):
    poisson["parameters"] = {"theta_0": {"init": 0.2}, "mu": {"init": 0.5}}
    out = spec_edit.set_kind(poisson, "multivariate_normal")
    assert out["parameters"] == {"mu": {"init": 0.5}}
    assert mc.load_spec(out).parameter_names == ("mu",)


@pytest.mark.parametrize("mode", ["covariance", "correlation"])
def test_matrix_edit_is_mirrored(mvn, mode):
    frame = spec_edit.matrix_frame(mvn, mode)
    value = 40.0 if mode == "covariance" else 0.25
    frame.iloc[1, 0] = value
    draft, shown = spec_edit.apply_matrix_edit(mvn, frame, 1, 0, mode)
    assert shown.iloc[0, 1] == shown.iloc[1, 0] == value
    cov = np.array(mc.load_spec(draft).covariance)
    expected = value if mode == "covariance" else value * 12.0 * 16.0
    assert cov[0, 1] == cov[1, 0] == pytest.approx(expected)
    assert np.diag(cov).tolist() == [144.0, 256.0]


def test_correlation_mode_sigma_edit_keeps_correlation(mvn):
    frame = spec_edit.matrix_frame(mvn, "correlation")
    rho = frame.iloc[0, 1]
    frame.iloc[0, 0] = 6.0
    draft, _ = spec_edit.apply_matrix_edit(mvn, frame, 0, 0, "correlation")
    cov = np.array(draft["covariance"])
    assert cov[0, 0] == 36.0
    assert cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1]) == pytest.approx(rho)


def test_negative_sigma_reaches_load_spec_as_an_error(mvn):
    frame = spec_edit.matrix_frame(mvn, "correlation")
    frame.iloc[0, 0] = -3.0
    draft, _ = spec_edit.apply_matrix_edit(mvn, frame, 0, 0, "correlation")
    with pytest.raises(mc.SpecError) as info:
        mc.load_spec(draft)
    assert info.value.field == "covariance[0][0]"


def test_parameters_row_becomes_an_override(mvn):
    model = mc.build_model(mvn)
    frame = spec_edit.parameters_frame(list(model.parameter_names), model.init, model.bounds,
                                       model.fixed)
    assert np.isnan(frame.loc[2, "lower"])  # c1 has no bound
    frame.loc[2, ["init", "lower", "fixed"]] = [0.5, 0.0, True]
    out = spec_edit.apply_parameters_frame(mvn, frame, 2)
    c1 = mc.load_spec(out).parameters["c1"]
    assert (c1.init, c1.bounds, c1.fixed) == (0.5, (0.0, np.inf), True)


def test_prune_drops_overrides_of_vanished_shape_parameters(mvn):
    mvn["signal"]["expression"] = "k*A + c2*C"
    out = spec_edit.prune_parameters(mvn)
    assert set(out["parameters"]) == {"mu", "c2"}
    assert mc.load_spec(out).parameter_names == ("mu", "k", "c2")
