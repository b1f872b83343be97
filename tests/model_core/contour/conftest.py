"""Models and one full seed-configuration run shared by the contour tests."""

from __future__ import annotations

import numpy as np
import pytest
from region_models import ELLIPSOID_SPEC
from region_models import ellipsoid_fisher as fisher_matrix

import model_core as mc
from model_core.examples import load_example


@pytest.fixture(scope="session")
def ellipsoid_fisher() -> np.ndarray:
    """``J^T Sigma^-1 J`` of :data:`ELLIPSOID_SPEC`: the NLL is ``NLL_min + d^T F d / 2``."""
    return fisher_matrix()


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
