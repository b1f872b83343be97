"""Models and one full seed-configuration run shared by the contour tests."""

from __future__ import annotations

import numpy as np
import pytest

import model_core as mc
from model_core.examples import load_example

#: A linear signal in a multivariate normal: the NLL is exactly quadratic in (a, b, c).
ELLIPSOID_SPEC = {
    "kind": "multivariate_normal",
    "data": [30.0, 40.0, 50.0],
    "background": [20.0, 30.0, 40.0],
    "covariance": [[25.0, 5.0, 0.0], [5.0, 36.0, 4.0], [0.0, 4.0, 49.0]],
    "signal": {"templates": {"A": [5.0, 1.0, 0.5], "B": [1.0, 6.0, 1.0], "C": [0.5, 1.0, 7.0]},
               "expression": "a*A + b*B + c*C"},
    "parameters": {"mu": {"fixed": True}},
}


@pytest.fixture(scope="session")
def ellipsoid_fisher() -> np.ndarray:
    """``J^T Sigma^-1 J`` of :data:`ELLIPSOID_SPEC`: the NLL is ``NLL_min + d^T F d / 2``."""
    templates = ELLIPSOID_SPEC["signal"]["templates"]
    J = np.array([templates["A"], templates["B"], templates["C"]]).T
    return J.T @ np.linalg.inv(np.array(ELLIPSOID_SPEC["covariance"])) @ J


@pytest.fixture(scope="session")
def three_shapes():
    return mc.build_model(load_example("three_shapes"))


@pytest.fixture(scope="session")
def two_bin():
    return mc.build_model(load_example("two_bin_uncorrelated"))


@pytest.fixture(scope="session")
def ellipsoid():
    return mc.build_model(ELLIPSOID_SPEC)


@pytest.fixture(scope="session")
def seed_run(three_shapes):
    """The seed configuration of the issue (mu fixed at 1, c0 in [-50, 1]), with its batches."""
    batches = []
    result = mc.find_contour(three_shapes, 0.95, fixed={"mu": 1.0}, bounds={"c0": (-50, 1)},
                             rng=2024, on_batch=batches.append, n_radial=2000, n_chains=100,
                             n_steps=4000, step_size=0.05, n_gap_candidates=3000)
    return result, batches


@pytest.fixture(scope="session")
def seed_coverage(three_shapes, seed_run):
    return mc.contour_coverage(three_shapes, seed_run[0], rng=1)
