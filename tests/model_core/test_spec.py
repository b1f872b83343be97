"""Model specs: validation messages name the field, the value and the fix; JSON round trips."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import model_core as mc
from model_core.examples import example_names, load_example
from model_core.spec import parameter_layout


def test_defaults_and_parameter_order(three_shapes_spec, two_bin_spec):
    spec = mc.load_spec(three_shapes_spec)
    assert spec.parameter_names == ("mu", "c0", "c1", "c2")
    assert spec.bins == ("SR1", "SR2")
    names, init, bounds, fixed = parameter_layout(spec)
    np.testing.assert_array_equal(init, [1.0, 1.0, 1.0, 1.0])
    assert bounds[1].tolist() == [-50.0, 1.0]
    assert np.isinf(bounds[0]).all() and not fixed.any()
    two = mc.load_spec(two_bin_spec)
    assert two.parameter_names == ("mu", "theta_0", "theta_1")
    assert two.expression == "S"  # one template and no expression: the signal is the template
    np.testing.assert_array_equal(parameter_layout(two)[1], [1.0, 0.0, 0.0])


@pytest.mark.parametrize("name", example_names())
def test_examples_round_trip_through_json(name, tmp_path):
    spec = load_example(name)
    path = tmp_path / "spec.json"
    path.write_text(spec.to_json())
    again = mc.load_spec(path)
    assert again.to_dict() == spec.to_dict()
    assert mc.load_spec(spec.to_json()).to_dict() == spec.to_dict()


def test_infinite_bounds_survive_json(two_bin_spec):
    two_bin_spec["parameters"] = {"mu": {"bounds": [0, None], "init": 0.5}}
    spec = mc.load_spec(two_bin_spec)
    assert spec.parameters["mu"].bounds == (0.0, math.inf)
    assert spec.to_dict()["parameters"]["mu"]["bounds"] == [0.0, None]
    assert json.loads(spec.to_json())["parameters"]["mu"] == {"init": 0.5, "bounds": [0.0, None]}


def _error(spec) -> mc.SpecError:
    with pytest.raises(mc.SpecError) as info:
        mc.load_spec(spec)
    message = str(info.value)
    assert info.value.field in message and "Fix:" in message
    return info.value


def test_negative_yield(two_bin_spec):
    two_bin_spec["background"][1] = -4.0
    err = _error(two_bin_spec)
    assert err.field == "background[1]" and err.value == -4.0
    assert "must not be negative" in str(err) and ">= 0" in err.fix


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "12", None, True])
def test_non_numbers(two_bin_spec, bad):
    two_bin_spec["data"][0] = bad
    err = _error(two_bin_spec)
    assert err.field == "data[0]"
    assert "number" in err.problem


def test_wrong_lengths(two_bin_spec):
    two_bin_spec["background_uncertainty"] = [12.0]
    err = _error(two_bin_spec)
    assert err.field == "background_uncertainty"
    assert "1 entries but there are 2 bins" in err.problem
    two_bin_spec["background_uncertainty"] = [12.0, 16.0]
    two_bin_spec["signal"]["templates"]["S"] = [1.0, 2.0, 3.0]
    assert _error(two_bin_spec).field == "signal.templates.S"
    two_bin_spec["signal"]["templates"]["S"] = [1.0, 2.0]
    two_bin_spec["bins"] = ["a"]
    assert "1 names but data has 2" in _error(two_bin_spec).problem


def test_non_symmetric_covariance_shows_pair_and_fix(three_shapes_spec):
    three_shapes_spec["covariance"] = [[144.0, 13.0], [25.0, 256.0]]  # as printed in seed 004
    err = _error(three_shapes_spec)
    assert err.field == "covariance[0][1]"
    assert "covariance[0][1] = 13 but covariance[1][0] = 25" in err.problem
    assert "(C + C.T) / 2" in err.fix and "19" in err.fix


def test_non_positive_definite_covariance_shows_smallest_eigenvalue(three_shapes_spec):
    three_shapes_spec["covariance"] = [[144.0, 200.0], [200.0, 256.0]]
    err = _error(three_shapes_spec)
    smallest = np.linalg.eigvalsh([[144.0, 200.0], [200.0, 256.0]]).min()
    assert "not positive definite" in err.problem
    assert f"{smallest:.6g}" in err.problem


@pytest.mark.parametrize(
    ("covariance", "field", "fragment"),
    [
        ([[144.0, 13.0]], "covariance", "2x2"),
        ([[144.0, 13.0], [13.0]], "covariance", "2x2"),
        ([[0.0, 0.0], [0.0, 256.0]], "covariance[0][0]", "positive"),
        ("[[1]]", "covariance", "list of rows"),
    ],
)
def test_malformed_covariance(three_shapes_spec, covariance, field, fragment):
    three_shapes_spec["covariance"] = covariance
    err = _error(three_shapes_spec)
    assert err.field == field and fragment in err.problem


def test_kind_and_background_fields(two_bin_spec):
    two_bin_spec["kind"] = "gaussian_process"
    err = _error(two_bin_spec)
    assert err.field == "kind" and "uncorrelated_background" in err.fix
    two_bin_spec["kind"] = "correlated_background"
    assert _error(two_bin_spec).field == "background_uncertainty"  # not used by this kind
    del two_bin_spec["background_uncertainty"]
    err = _error(two_bin_spec)
    assert err.field == "covariance" and "required" in err.problem


def test_unknown_fields_and_names(two_bin_spec):
    two_bin_spec["backgrond"] = [1, 2]
    assert _error(two_bin_spec).field == "backgrond"
    del two_bin_spec["backgrond"]
    two_bin_spec["parameters"] = {"nu": {"init": 1.0}}
    err = _error(two_bin_spec)
    assert err.field == "parameters.nu" and "mu, theta_0, theta_1" in err.fix
    two_bin_spec["parameters"] = {"mu": {"initial": 1.0}}
    assert _error(two_bin_spec).field == "parameters.mu.initial"


def test_bounds_and_init(two_bin_spec):
    two_bin_spec["parameters"] = {"mu": {"bounds": [2.0, 1.0]}}
    err = _error(two_bin_spec)
    assert err.field == "parameters.mu.bounds" and "below" in err.problem
    two_bin_spec["parameters"] = {"mu": {"bounds": [2.0, 3.0]}}  # default init 1.0 is outside
    err = _error(two_bin_spec)
    assert err.field == "parameters.mu.init" and "outside the bounds [2, 3]" in err.problem
    two_bin_spec["parameters"] = {"theta_0": {"bounds": [-5, 5], "init": 6}}
    assert _error(two_bin_spec).value == 6
    two_bin_spec["parameters"] = {"mu": {"fixed": "yes"}}
    assert _error(two_bin_spec).field == "parameters.mu.fixed"


def test_expression_errors_surface_as_spec_errors(three_shapes_spec):
    three_shapes_spec["signal"]["expression"] = "c0*A + c1**2*B + c2*"
    err = _error(three_shapes_spec)
    assert isinstance(err, mc.ExpressionError)
    assert err.field == "signal.expression" and err.position == len("c0*A + c1**2*B + c2*")
    three_shapes_spec["signal"]["expression"] = "c0*c1"
    assert "uses no template" in _error(three_shapes_spec).problem
    three_shapes_spec["signal"]["expression"] = "mu*A"
    assert "POI 'mu'" in _error(three_shapes_spec).problem
    del three_shapes_spec["signal"]["expression"]
    assert "more than one template" in _error(three_shapes_spec).problem


@pytest.mark.parametrize("bad_name", ["exp", "theta_0", "2A", "mu"])
def test_reserved_template_names(two_bin_spec, bad_name):
    two_bin_spec["signal"]["templates"] = {bad_name: [1.0, 2.0]}
    assert _error(two_bin_spec).field == f"signal.templates.{bad_name}"


def test_malformed_json_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"kind": "multivariate_normal", "data": [1, 2,]}')
    with pytest.raises(mc.SpecError, match="malformed JSON .* line 1 column") as info:
        mc.load_spec(path)
    assert "Fix:" in str(info.value)
    with pytest.raises(mc.SpecError, match="no such file"):
        mc.load_spec(tmp_path / "missing.json")
    with pytest.raises(mc.SpecError, match="must be a JSON object"):
        mc.load_spec([1, 2])


def test_zero_bins_and_duplicate_bin_names(two_bin_spec):
    spec = dict(two_bin_spec, data=[], background=[], background_uncertainty=[], bins=[])
    spec["signal"] = {"templates": {"S": []}}
    assert "at least one bin" in _error(spec).problem
    two_bin_spec["bins"] = ["SR", "SR"]
    assert "unique" in _error(two_bin_spec).problem
