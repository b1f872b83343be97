"""Errors as the editor shows them: fields named as on screen, values as typed."""

import numpy as np
import pytest

import model_core as mc
from components.feedback import correlation_error, describe, field_label, format_value

DRAFT = {"bins": ["SR1", "SR2"], "workspace": {"observations": [{"name": "singlechannel"}]}}


@pytest.mark.parametrize("field, label", [
    ("background[0]", "b, bin SR1"), ("data[1]", "n, bin SR2"),
    ("background_uncertainty[1]", "σ_b, bin SR2"), ("signal.templates.A[0]", "A, bin SR1"),
    ("signal.templates.A", "template A"), ("covariance[0][1]", "covariance of bins SR1 and SR2"),
    ("covariance[1][1]", "variance of bin SR2"), ("signal.expression", "signal expression"),
    ("parameters.c0.bounds", "c0: bounds"), ("parameters.mu.init", "mu: init"),
    ("observations[0].data[0]", "observed n, singlechannel bin 0"), ("kind", "kind"),
])
def test_fields_are_named_as_on_screen(field, label):
    assert field_label(field, DRAFT) == label


@pytest.mark.parametrize("value, text", [
    (np.float64(-5.0), "-5"), (2.5, "2.5"), (np.float64(0.1), "0.1"), (np.int64(3), "3"),
    (float("nan"), "nan"), ([1.0, np.float64(2.5)], "[1, 2.5]"), ("abc", "abc"), (True, "true"),
    (1e20, "1e+20"),
])
def test_values_as_typed(value, text):
    assert format_value(value) == text


def test_a_spec_error_reads_as_on_screen():
    draft = {"kind": "multivariate_normal", "bins": ["SR1", "SR2"], "data": [36, 33],
             "background": [-5.0, 48.0], "covariance": [[144.0, 13.0], [13.0, 256.0]],
             "signal": {"templates": {"A": [1.0, 2.0]}}}
    with pytest.raises(mc.SpecError) as info:
        mc.load_spec(draft)
    message = describe(info.value, draft)
    assert message.startswith("<b>b, bin SR1</b>: must not be negative (got <code>-5</code>)")


def test_a_covariance_beyond_its_variances_is_a_correlation_error():
    draft = {"bins": ["SR1", "SR2"], "covariance": [[144.0, 200.0], [200.0, 256.0]]}
    error = mc.SpecError("covariance", "the matrix is not positive definite (smallest "
                         "eigenvalue -12)", draft["covariance"], "reduce ...")
    found = correlation_error(draft, error)
    assert found.field == "correlation of bins SR1 and SR2"
    assert "correlation of 1.04" in found.problem and "below 192" in found.fix
    # a matrix whose pairs are all fine but that is not positive definite keeps its message
    three = {"bins": ["a", "b", "c"], "covariance": [[1, 0.9, -0.9], [0.9, 1, 0.9],
                                                     [-0.9, 0.9, 1]]}
    assert correlation_error(three, error) is None
