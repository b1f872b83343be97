"""Profiled contours: against a dense grid of inner fits, iminuit's ``mncontour`` and
independent fits, on a counting model and on a HistFactory workspace."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

import model_core as mc
from model_core.workspace import synthetic_workspace

#: Two bins, correlated background: the contour over (mu, theta_0), theta_1 profiled.
CORRELATED = {
    "kind": "correlated_background", "data": [62, 70], "background": [50.0, 48.0],
    "covariance": [[25.0, 5.0], [5.0, 36.0]],
    "signal": {"templates": {"S": [12.0, 15.0]}, "expression": "S"},
}


@pytest.fixture(scope="module")
def correlated():
    model = mc.build_model(CORRELATED)
    return model, mc.find_contour(model, parameters=["mu", "theta_0"], rng=0)


def _refit(model, names, points):
    """The NLL at ``points`` with every other parameter fitted afresh (``model_core.fit``)."""
    return np.array([mc.fit(model, fixed=dict(zip(names, p, strict=True))).fun
                     for p in points])


def test_profiled_contour_against_a_dense_grid(correlated):
    model, result = correlated
    assert result.status == "complete" and result.settings["profiled"] == ["theta_1"]
    assert np.all(np.abs(result.residuals) <= 1e-9)
    # the profiled parameter at each point is the inner fit's solution
    rows = np.linspace(0, len(result.contour_points) - 1, 8).astype(int)
    refit = _refit(model, ("mu", "theta_0"), result.contour_points[rows])
    assert refit == pytest.approx(np.full(len(rows), result.threshold), abs=1e-9)
    assert np.all(refit <= model.nll(result.full_points[rows]) + 1e-12)
    reference = mc.reference_surface(model, ["mu", "theta_0"], result.threshold,
                                     box=np.array([[-3.0, 6.0], [-4.0, 4.0]]), rng=0)
    cov = mc.contour_coverage(model, result.contour_points, reference=reference)
    assert cov.fraction_within(0.01) >= 0.99 and cov.largest_gap < 0.02
    # the reference's extent is the surface's: our metric agrees with it
    assert result.scale == pytest.approx(reference.extent, rel=0.01)


def test_profiled_contour_against_iminuit(correlated):
    iminuit = pytest.importorskip("iminuit")
    model, result = correlated
    minuit = iminuit.Minuit(lambda x: float(model.nll(np.asarray(x))), model.init.copy(),
                            name=model.parameter_names)
    minuit.errordef = iminuit.Minuit.LIKELIHOOD
    minuit.migrad()
    assert minuit.fval == pytest.approx(result.nll_min, abs=1e-6)
    points = minuit.mncontour("mu", "theta_0", cl=0.95, size=60)[:-1]
    assert len(result.contour_points) >= len(points)
    # MINUIT's points lie on our curve to its own accuracy (|NLL - T| up to ~0.05 here)
    refit = _refit(model, ("mu", "theta_0"), points)
    gap = cKDTree(result.contour_points / result.scale).query(points / result.scale)[0]
    assert np.all(np.abs(refit - result.threshold) < 0.1)
    assert np.all(gap < 0.02)
    # and ours are exact where MINUIT's are not
    assert np.max(np.abs(result.residuals)) < 1e-3 * np.max(np.abs(refit - result.threshold))


@pytest.mark.slow
def test_histfactory_contour_with_ten_nuisances_profiled():
    raw = synthetic_workspace(n_channels=4, n_bins=5, n_normsys=6, n_histosys=4,
                              n_staterror_channels=0, lumi=True, rng=7)
    model = mc.build_model(raw)
    assert model.npar == 12
    result = mc.find_contour(model, parameters=["mu", "lumi"], rng=0)
    assert result.status == "complete" and len(result.settings["profiled"]) == 10
    assert np.all(np.abs(result.residuals[~result.on_bound]) <= 1e-9)
    rows = np.linspace(0, len(result.contour_points) - 1, 5).astype(int)
    refit = _refit(model, ("mu", "lumi"), result.contour_points[rows])
    assert refit == pytest.approx(np.full(len(rows), result.threshold), abs=1e-8)
    box = np.column_stack([result.theta_mle - result.scale, result.theta_mle + result.scale])
    # every grid point and reference sample needs an inner fit of 10 parameters: a coarse
    # grid and 500 samples (a curve a few extents long: samples 1% apart or closer)
    reference = mc.reference_surface(model, ["mu", "lumi"], result.threshold, box=box,
                                     resolution=41, n_samples=500, rng=0)
    cov = mc.contour_coverage(model, result.contour_points, reference=reference)
    assert cov.fraction_within(0.01) >= 0.99 and cov.largest_gap < 0.02
