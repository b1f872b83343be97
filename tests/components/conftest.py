"""Fixtures for the browserless component tests."""

import pytest

import model_core as mc
from components.state import SessionState

#: A linear-signal Gaussian model: its NLL is exactly quadratic in (a, b), so its contours,
#: extents and intervals have closed forms.
LINEAR = {
    "name": "linear Gaussian", "kind": "multivariate_normal", "data": [30.0, 40.0],
    "background": [5.0, 6.0], "covariance": [[4.0, 1.0], [1.0, 9.0]],
    "signal": {"templates": {"A": [10.0, 2.0], "B": [3.0, 8.0]}, "expression": "a*A + b*B"},
    "parameters": {"mu": {"fixed": True}},
}


@pytest.fixture
def state():
    """A fresh session state with the default model."""
    return SessionState()


@pytest.fixture
def linear_state():
    """A session state holding the linear Gaussian model."""
    return SessionState(mc.load_spec(LINEAR))
