"""Coverage studies against closed forms: Wilks exact, exact enumeration, a physical bound."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import xlogy
from scipy.stats import chi2, kstest, norm, poisson

import model_core as mc

#: Coverage tolerances: the Clopper-Pearson interval at this level (3 sigma).
BAND = 0.9973


def _linear_gaussian() -> mc.Model:
    """Three Gaussian bins, a linear two-parameter signal: Wilks' theorem holds exactly."""
    return mc.build_model({
        "kind": "multivariate_normal", "data": [21.0, 33.0, 12.0],
        "background": [20.0, 30.0, 10.0],
        "covariance": [[16.0, 4.0, 0.0], [4.0, 25.0, 3.0], [0.0, 3.0, 9.0]],
        "signal": {"templates": {"A": [6.0, 2.0, 1.0], "B": [1.0, 5.0, 4.0]},
                   "expression": "c0*A + c1*B"},
        "parameters": {"mu": {"fixed": True}}})


def _within_band(study: mc.CoverageStudy, cl: float, exact: float) -> None:
    lo, hi = study.coverage_interval(cl, level=BAND)
    assert lo <= exact <= hi, (cl, study.coverage.get(cl), exact, (lo, hi))


@pytest.mark.parametrize("axes", [["c0", "c1"], ["c0"]])
def test_wilks_is_exact_for_a_linear_gaussian_model(axes):
    model = _linear_gaussian()
    levels = (0.1, 0.5, 0.68, 0.9, 0.95, 0.99)
    study = mc.coverage_study(model, parameters=axes, confidence_levels=levels, n_toys=3000,
                              rng=2)
    assert study.dof == len(axes) and study.n_failed == 0 and study.status == "complete"
    for cl in levels:
        _within_band(study, cl, cl)
        assert study.coverage[cl] == study.covered(cl) / 3000
    assert kstest(study.q, chi2(len(axes)).cdf).pvalue > 1e-3
    # the calibrated threshold is the chi-square quantile, up to the toys' statistics
    assert study.calibrated_threshold(0.68) == pytest.approx(chi2.ppf(0.68, len(axes)),
                                                             rel=0.06)


def _one_bin_workspace(signal: float, background: float, mu_low: float) -> dict:
    """One Poisson bin, rate mu * signal + background, no nuisance parameter."""
    return {"version": "1.0.0",
            "channels": [{"name": "SR", "samples": [
                {"name": "signal", "data": [signal],
                 "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
                {"name": "background", "data": [background], "modifiers": []}]}],
            "observations": [{"name": "SR", "data": [4.0]}],
            "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": [
                {"name": "mu", "bounds": [[mu_low, 10.0]]}]}}]}


def _q_poisson(n: np.ndarray, rate: float, best_rate: np.ndarray) -> np.ndarray:
    """``2 (NLL(rate) - NLL(best_rate))`` of one Poisson count."""
    return 2.0 * (rate - best_rate - xlogy(n, rate) + xlogy(n, best_rate))


def test_one_poisson_bin_at_small_counts_matches_exact_enumeration():
    # rate = 4 mu + 2 with mu >= -0.5: the best rate is n itself, down to n = 0
    model = mc.build_model(_one_bin_workspace(4.0, 2.0, -0.5))
    truth, rate = np.array([0.5]), 4.0
    levels = (0.68, 0.9, 0.95)
    study = mc.coverage_study(model, at=truth, confidence_levels=levels, n_toys=4000, rng=8)
    toys = mc.sample_toys(model, truth, 4000, rng=study.seed_entropy)
    n = np.arange(80)
    q_n = _q_poisson(n, rate, n)
    counts = toys.main[:, 0].astype(int)
    assert study.n_failed == 0
    # every toy's q is the closed form of its count ...
    assert np.all(np.isfinite(study.q))
    assert len(np.unique(counts)) > 8
    for level in levels:
        exact = float(np.sum(poisson.pmf(n, rate) * (q_n <= chi2.ppf(level, 1))))
        _within_band(study, level, exact)
        assert abs(exact - level) > 0.01  # discreteness: Wilks is visibly off at these counts


def test_toy_q_equals_the_closed_form_of_its_count():
    model = mc.build_model(_one_bin_workspace(4.0, 2.0, -0.5))
    truth = np.array([0.5])
    toys = mc.sample_toys(model, truth, 500, rng=3)
    fits = mc.toys.fit_toys(model, toys, truth, axes=[0], fixed={}, bounds=model.bounds)
    n = toys.main[:, 0]
    np.testing.assert_allclose(fits.q, _q_poisson(n, 4.0, n), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(4.0 * fits.x_min[:, 0] + 2.0, n, atol=1e-6)


def test_a_gaussian_constrained_background_matches_enumeration_and_quadrature():
    s, b, sigma, mu_t = 3.0, 8.0, 2.0, 1.0
    model = mc.build_model({
        "kind": "uncorrelated_background", "data": [11.0], "background": [b],
        "background_uncertainty": [sigma], "signal": {"templates": {"S": [s]}}})
    levels = (0.68, 0.95)
    study = mc.coverage_study(model, at=[mu_t, 0.0], parameters=["mu"],
                              confidence_levels=levels, n_toys=4000, rng=5)
    assert study.n_failed == 0

    # q(n, a) in closed form: unconditionally rate = n and theta = a; with mu = mu_t the
    # profiled theta solves rate^2 + (sigma^2 - rate0 - a sigma) rate - sigma^2 n = 0
    n = np.arange(0, 90)[:, None]
    a = np.linspace(-9.0, 9.0, 36001)[None, :]
    rate0 = mu_t * s + b
    half_b = 0.5 * (sigma**2 - rate0 - a * sigma)
    rate = -half_b + np.sqrt(half_b**2 + sigma**2 * n)
    theta = (rate - rate0) / sigma
    q = 2.0 * (rate - xlogy(n, rate) + 0.5 * (theta - a) ** 2 - (n - xlogy(n, n)))
    weight = poisson.pmf(n, rate0) * norm.pdf(a)
    for level in levels:
        exact = float(np.trapezoid(np.sum(weight * (q <= chi2.ppf(level, 1)), axis=0),
                                   a.ravel()))
        _within_band(study, level, exact)


def test_a_parameter_at_its_bound_follows_the_chi_bar_square_mixture():
    # one Gaussian bin, mu >= 0, truth mu = 0: q = 0 half the time, chi2_1 otherwise
    model = mc.build_model({
        "kind": "multivariate_normal", "data": [10.0], "background": [10.0],
        "covariance": [[4.0]], "signal": {"templates": {"S": [3.0]}},
        "parameters": {"mu": {"bounds": [0.0, 50.0]}}})
    levels = (0.6, 0.68, 0.9, 0.95)
    study = mc.coverage_study(model, at=[0.0], confidence_levels=levels, n_toys=4000, rng=1)
    assert np.mean(study.q == 0.0) == pytest.approx(0.5, abs=0.03)
    for level in levels:
        _within_band(study, level, 0.5 + 0.5 * level)
        # the calibrated threshold is the mixture's quantile, chi2.ppf(2 CL - 1, 1)
        assert study.calibrated_threshold(level) == pytest.approx(
            chi2.ppf(2 * level - 1, 1), rel=0.1, abs=0.02)


def test_the_study_streams_cancels_and_reports():
    model = _linear_gaussian()
    batches = list(mc.iter_coverage_study(model, parameters=["c0"], n_toys=250, rng=1,
                                          batch_size=100))
    assert [b.n_done for b in batches] == [100, 200, 250]
    assert [b.start for b in batches] == [0, 100, 200]
    full = mc.coverage_study(model, parameters=["c0"], n_toys=250, rng=1, batch_size=100)
    np.testing.assert_array_equal(np.concatenate([b.q for b in batches]), full.q)
    last = batches[-1]
    assert last.coverage == full.coverage and last.parameters == ("c0",)
    seen = []
    cancelled = mc.coverage_study(model, parameters=["c0"], n_toys=250, rng=1, batch_size=100,
                                  on_batch=seen.append, should_stop=lambda: len(seen) >= 2)
    assert cancelled.status == "cancelled" and len(cancelled.q) == 200
    np.testing.assert_array_equal(cancelled.q, full.q[:200])
    summary = full.to_dict()
    assert summary["n_done"] == 250 and len(summary["q"]) == 250
    assert summary["coverage"]["0.95"] == full.coverage[0.95]


def test_failed_fits_are_reported_not_dropped():
    # a counting bin without events has no maximum-likelihood estimate (its rate would have
    # to reach 0, where the counting kinds' NLL is infinite): exactly those toys fail
    model = mc.build_model({
        "kind": "uncorrelated_background", "data": [1.0], "background": [0.5],
        "background_uncertainty": [0.1], "signal": {"templates": {"S": [1.0]}}})
    truth = np.array([0.5, 0.0])
    toys = mc.sample_toys(model, truth, 200, rng=4)
    fits = mc.toys.fit_toys(model, toys, truth, axes=[0], fixed={}, bounds=model.bounds)
    empty = toys.main[:, 0] == 0
    assert 40 < empty.sum() < 100
    np.testing.assert_array_equal(fits.success, ~empty)
    assert np.isnan(fits.q[empty]).all() and np.isfinite(fits.q[~empty]).all()
    study = mc.coverage_study(model, at=truth, parameters=["mu"], n_toys=200, rng=4)
    assert study.n_failed + study.n_ok == 200 and 40 < study.n_failed < 100
    assert np.isnan(study.q[study.failed]).all()
    ok = np.isfinite(study.q)
    assert study.coverage[0.95] == np.mean(study.q[ok] <= chi2.ppf(0.95, 1))
    assert study.to_dict()["n_failed"] == study.n_failed


def test_bad_arguments_name_the_problem():
    model = _linear_gaussian()
    with pytest.raises(ValueError, match="n_toys"):
        mc.coverage_study(model, n_toys=0)
    with pytest.raises(ValueError, match="confidence_level"):
        mc.coverage_study(model, confidence_levels=(0.5, 1.5))
    with pytest.raises(ValueError, match="'mu' is both fixed"):
        mc.coverage_study(model, parameters=["mu"])
    with pytest.raises(ValueError, match="c0 = 99 lies outside"):
        mc.coverage_study(_bounded(), at={"c0": 99.0})
    with pytest.raises(KeyError, match="unknown parameter 'nope'"):
        mc.coverage_study(model, at={"nope": 1.0})


def _bounded() -> mc.Model:
    spec = _linear_gaussian().spec.to_dict()
    spec["parameters"]["c0"] = {"bounds": [-5.0, 5.0]}
    return mc.build_model(spec)
