"""The hand-written HistFactory Hessian against autograd and against pyhf's own logpdf."""

from __future__ import annotations

import numpy as np
import pytest
from autograd import hessian
from hf_workspaces import SINGLE_TYPES, irregular, mixed, preset, single_type

import model_core as mc
from model_core.workspace import synthetic_workspace

CASES = {**{t: (lambda t=t: single_type(t)) for t in SINGLE_TYPES},
         "mixed": mixed, "irregular": irregular,
         "multi_channel": lambda: preset("multi_channel"),
         "pyhf_one_bin": lambda: preset("pyhf_one_bin"),
         "every_modifier": lambda: synthetic_workspace(
             n_channels=4, n_bins=3, n_normsys=5, n_histosys=4, n_staterror_channels=1,
             n_shapesys_channels=1, n_shapefactor_channels=1, rng=2)}
SETTINGS = {"default": None,
            "code1-code0": {"normsys": {"interpcode": "code1"},
                            "histosys": {"interpcode": "code0"}}}


def _points(model: mc.Model, n: int) -> np.ndarray:
    """Random points inside the bounds, reaching |alpha| > 1 for normsys and histosys."""
    lo, hi = model.bounds[:, 0], model.bounds[:, 1]
    width = np.where(model.init == 0.0, 1.8, 0.25 * np.abs(model.init) + 0.05)
    low, high = np.maximum(lo, model.init - width), np.minimum(hi, model.init + width)
    return low + (high - low) * np.random.default_rng(17).random((n, model.npar))


@pytest.mark.parametrize("settings", list(SETTINGS))
@pytest.mark.parametrize("case", list(CASES))
def test_hessian_equals_autograds(case, settings):
    model = mc.build_model(CASES[case](), modifier_settings=SETTINGS[settings])
    assert model.hand_written_hessian
    X = _points(model, 5)
    ours = model.hessian(X)
    traced = model.likelihood  # autograd differentiates the traced hand-written gradient
    for x, h in zip(X, ours, strict=True):
        reference = hessian(lambda p: traced(p[None])[0])(x)
        np.testing.assert_allclose(h, reference, rtol=1e-10, atol=1e-10 * np.abs(reference).max())
    np.testing.assert_array_equal(ours[2], model.hessian(X[2]))


@pytest.mark.filterwarnings("ignore:jsonschema.RefResolver:DeprecationWarning")
@pytest.mark.parametrize("case", ["mixed", "multi_channel", "every_modifier"])
def test_hessian_of_toy_rows_equals_pyhfs_numerical_hessian(case):
    pyhf = pytest.importorskip("pyhf")
    pyhf.set_backend("numpy")
    raw = CASES[case]()
    model = mc.build_model(raw)
    pmodel = pyhf.Workspace(raw).model()
    toys = mc.sample_toys(model, model.init, 2, rng=5)
    X = _points(model, 2)
    ours = model.on_data(toys).hessian(X)
    for i in range(2):
        data = np.concatenate([toys.main[i], toys.aux[i]])
        reference = mc.numerical_hessian(lambda p, d=data: -pmodel.logpdf(p, d)[0], X[i])
        np.testing.assert_allclose(ours[i], reference, rtol=1e-5,
                                   atol=1e-6 * np.abs(reference).max())


def test_unbinned_models_keep_autograds_hessian():
    from model_core.examples import load_example

    model = mc.build_model(load_example("unbinned_demo"))
    assert not model.hand_written_hessian
    x = mc.fit(model).x
    np.testing.assert_allclose(model.hessian(x), mc.numerical_hessian(model.nll, x), rtol=1e-5,
                               atol=1e-6)
