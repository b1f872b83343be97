"""Profiles and scans: profile <= scan, profile = refit with the parameter fixed, intervals."""

from __future__ import annotations

import numpy as np
import pytest

import model_core as mc
from model_core.examples import load_example


@pytest.fixture(scope="module")
def two_bin() -> mc.Model:
    return mc.build_model(load_example("two_bin_uncorrelated"))


def test_profile_never_above_scan_and_touches_the_global_minimum(two_bin):
    best = mc.fit(two_bin)
    grid = np.sort(np.append(np.linspace(-4, 2, 60), best["mu"]))
    prof = mc.profile(two_bin, "mu", grid, best=best)
    scan = mc.profile(two_bin, "mu", grid, best=best, mode="scan")
    assert prof.success.all()
    # at mu < -3.3 the best-fit backgrounds give a negative rate: the scan is +inf there,
    # while the profile moves theta to keep the rates positive
    assert np.isposinf(scan.nll[grid < -3.3]).all() and scan.success[grid > -3].all()
    assert np.all(prof.nll <= scan.nll + 1e-12)
    assert prof.nll.min() == pytest.approx(best.fun, abs=1e-12)
    assert np.argmin(prof.nll) == np.searchsorted(grid, best["mu"])
    assert np.all(prof.delta_chi2 >= -1e-10)


def test_profile_equals_refit_with_parameter_fixed(two_bin):
    """As iminuit's test_mnprofile: each profile point is an independent constrained fit."""
    grid = np.array([-3.0, -1.5, 0.0, 1.0])
    prof = mc.profile(two_bin, "mu", grid)
    for value, nll, x in zip(grid, prof.nll, prof.x, strict=True):
        refit = mc.fit(two_bin, fixed={"mu": value})
        assert nll == pytest.approx(refit.fun, abs=1e-10)
        np.testing.assert_allclose(x, refit.x, atol=1e-7)
        assert x[0] == value


def test_interval_of_an_exactly_quadratic_profile():
    """Linear-signal Gaussian: a parabolic profile, the interval is mu_hat +- sqrt(D) sigma."""
    model = mc.build_model({
        "kind": "multivariate_normal", "data": [12.0, 9.0], "background": [10.0, 8.0],
        "covariance": [[4.0, 1.0], [1.0, 9.0]], "signal": {"templates": {"S": [2.0, 1.0]}}})
    best = mc.fit(model)
    sigma = best.errors["mu"]
    grid = np.linspace(best["mu"] - 4 * sigma, best["mu"] + 4 * sigma, 801)
    prof = mc.profile(model, "mu", grid, best=best)
    for cl, n_sigma in ((0.6826894921370859, 1.0), (0.95, 1.959963984540054)):
        lo, hi = prof.interval(cl)
        assert lo == pytest.approx(best["mu"] - n_sigma * sigma, abs=1e-4 * sigma)
        assert hi == pytest.approx(best["mu"] + n_sigma * sigma, abs=1e-4 * sigma)
    narrow = mc.profile(model, "mu", grid[390:411], best=best)
    assert np.isnan(narrow.interval(0.95)).all()  # not crossed inside the grid


def test_profile_follows_a_curved_valley_with_two_basins():
    """Signal k**2 * A in one bin plus a second parameter: profiling k crosses k = 0."""
    model = mc.build_model({
        "kind": "multivariate_normal", "data": [14.0, 5.0], "background": [10.0, 4.0],
        "covariance": [[1.0, 0.0], [0.0, 1.0]],
        "signal": {"templates": {"A": [1.0, 0.0], "B": [0.0, 1.0]}, "expression": "k**2*A + m*B"},
        "parameters": {"mu": {"fixed": True}}})
    grid = np.linspace(-3, 3, 61)
    prof = mc.profile(model, "k", grid)
    expected = 0.5 * (4.0 - grid**2) ** 2 + np.log(2 * np.pi)  # m absorbs bin 2 exactly
    np.testing.assert_allclose(prof.nll, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(prof.x[:, 2], 1.0, atol=1e-8)


def test_inputs_not_mutated_and_errors(two_bin):
    best = mc.fit(two_bin)
    x_before, init_before = best.x.copy(), two_bin.init.copy()
    grid = np.linspace(-1, 1, 5)
    mc.profile(two_bin, "theta_0", grid, best=best)
    np.testing.assert_array_equal(best.x, x_before)
    np.testing.assert_array_equal(two_bin.init, init_before)
    with pytest.raises(ValueError, match="unfix it"):
        mc.profile(two_bin, "mu", grid, fixed={"mu": 1.0})
    with pytest.raises(ValueError, match="mode"):
        mc.profile(two_bin, "mu", grid, mode="minos")
    with pytest.raises(ValueError, match="finite"):
        mc.profile(two_bin, "mu", [0.0, np.nan])
    with pytest.raises(KeyError, match="unknown parameter"):
        mc.profile(two_bin, "nu", grid)
