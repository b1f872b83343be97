"""Shared fixtures for the core tests: the seed models as specs and models."""

from __future__ import annotations

import copy

import pytest
from hypothesis import settings

import model_core as mc
from model_core.examples import load_example

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=40)
settings.load_profile("ci")

#: Seed 000 (spey gradient tutorial): two bins, uncorrelated background.
TWO_BIN = {
    "kind": "uncorrelated_background",
    "bins": ["SR1", "SR2"],
    "data": [36, 33],
    "background": [50.0, 48.0],
    "background_uncertainty": [12.0, 16.0],
    "signal": {"templates": {"S": [12.0, 15.0]}},
}

#: Seed 004 (spey multi-parameter contours), with the symmetric covariance.
THREE_SHAPES = {
    "kind": "multivariate_normal",
    "bins": ["SR1", "SR2"],
    "data": [36, 33],
    "background": [50.0, 48.0],
    "covariance": [[144.0, 13.0], [13.0, 256.0]],
    "signal": {
        "templates": {"A": [12.0, 15.0], "B": [6.0, 16.0], "C": [20.0, 10.0]},
        "expression": "c0*A + c1**2*B + c2*C",
    },
    "parameters": {"c0": {"bounds": [-50.0, 1.0]}},
}


@pytest.fixture
def two_bin_spec() -> dict:
    return copy.deepcopy(TWO_BIN)


@pytest.fixture
def three_shapes_spec() -> dict:
    return copy.deepcopy(THREE_SHAPES)


@pytest.fixture(params=["two_bin_uncorrelated", "three_shapes", "three_shapes_correlated"])
def example_model(request) -> mc.Model:
    return mc.build_model(load_example(request.param))
