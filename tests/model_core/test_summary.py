"""Fit summaries: profile intervals against closed forms and iminuit's MINOS, bounds, flat
and unconstrained directions, walls where the likelihood vanishes."""

import numpy as np
import pytest

import model_core as mc
from model_core.examples import load_example
from model_core.summary import SUMMARY_LEVELS, fit_summary, profile_intervals

#: Linear signal, Gaussian counts: the NLL is exactly quadratic in (a, b).
LINEAR = {
    "kind": "multivariate_normal", "data": [30.0, 40.0], "background": [5.0, 6.0],
    "covariance": [[4.0, 1.0], [1.0, 9.0]],
    "signal": {"templates": {"A": [10.0, 2.0], "B": [3.0, 8.0]}, "expression": "a*A + b*B"},
    "parameters": {"mu": {"fixed": True}},
}


def test_quadratic_nll_gives_the_closed_form():
    model = mc.build_model(LINEAR)
    best = mc.fit(model)
    m = np.array([[10.0, 3.0], [2.0, 8.0]])
    cov = np.linalg.inv(m.T @ np.linalg.inv(LINEAR["covariance"]) @ m)
    summary = fit_summary(model, best, (0.68, 0.95, 0.997))
    assert summary.parameter_names == ("a", "b")
    np.testing.assert_allclose(summary.errors, np.sqrt(np.diag(cov)), rtol=1e-9)
    rho = cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1])
    np.testing.assert_allclose(summary.correlation, [[1.0, rho], [rho, 1.0]], rtol=1e-9)
    assert summary.success and summary.has_posdef_hessian and summary.edm < 1e-12
    for n, name in enumerate(("a", "b")):
        for interval in summary.intervals[name]:
            half = np.sqrt(mc.delta_chi2(interval.confidence_level, 1) * cov[n, n])
            assert (interval.lower_kind, interval.upper_kind) == ("crossing", "crossing")
            assert interval.constrained
            np.testing.assert_allclose([interval.lower, interval.upper],
                                       [best.x[n + 1] - half, best.x[n + 1] + half], rtol=1e-7)


@pytest.mark.parametrize("cl", SUMMARY_LEVELS)
def test_matches_iminuit_minos(two_bin_spec, cl):
    iminuit = pytest.importorskip("iminuit")
    model = mc.build_model(two_bin_spec)
    m = iminuit.Minuit(lambda x: float(model.nll(x)), model.init, grad=model.grad)
    m.errordef = iminuit.Minuit.LIKELIHOOD
    m.strategy = 2
    m.tol = 1e-8
    m.migrad()
    m.minos(cl=cl)
    best = mc.fit(model)
    for n, name in enumerate(model.parameter_names):
        (ours,) = profile_intervals(model, name, (cl,), best=best)
        minos = m.merrors[n]
        assert minos.is_valid
        # MINOS stops within its tolerance (~1e-3 here); ours sit on the threshold, checked
        # by an independent refit at each end
        np.testing.assert_allclose(ours.errors, (minos.lower, minos.upper), rtol=2e-3)
        ends = mc.profile(model, name, [ours.lower, ours.upper], best=best)
        np.testing.assert_allclose(ends.delta_chi2, mc.delta_chi2(cl, 1), rtol=1e-6)


def test_a_bound_ends_the_interval_and_says_so():
    """pyhf's one-bin model: mu >= 0, and the 68% interval of mu reaches down to 0."""
    model = mc.build_model(load_example("pyhf_one_bin"))
    best = mc.fit(model)
    one_sigma, ninety_five = profile_intervals(model, "mu", SUMMARY_LEVELS, best=best)
    for interval in (one_sigma, ninety_five):
        assert (interval.lower, interval.lower_kind) == (0.0, "bound")
        assert interval.upper_kind == "crossing" and interval.constrained
        # the profile at the upper end sits on the threshold: an independent refit there
        point = mc.profile(model, "mu", [interval.upper], best=best)
        assert point.delta_chi2[0] == pytest.approx(interval.delta, rel=1e-6)
    assert ninety_five.upper > one_sigma.upper


def test_flat_valley_reaches_both_bounds():
    """The seed's three-shape model: c0 moves along an exact-fit valley to both bounds."""
    model = mc.build_model(load_example("three_shapes"))
    best = mc.fit(model)
    summary = fit_summary(model, best)
    c0 = summary.intervals["c0"][1]
    assert (c0.lower, c0.lower_kind, c0.upper, c0.upper_kind) == (-50.0, "bound", 1.0, "bound")
    assert not summary.has_posdef_hessian and np.isnan(summary.errors).all()
    assert np.isnan(summary.correlation).all()


def test_a_parameter_without_effect_is_open_on_both_sides():
    spec = {**LINEAR, "signal": {"templates": {"A": [10.0, 2.0], "Z": [0.0, 0.0]},
                                 "expression": "a*A + b*Z"}}
    model = mc.build_model(spec)
    best = mc.fit(model)
    summary = fit_summary(model, best)
    (b68, b95) = summary.intervals["b"]
    assert (b95.lower_kind, b95.upper_kind) == ("open", "open") and not b95.constrained
    a95 = summary.intervals["a"][1]
    assert a95.constrained
    # searched far beyond any constrained parameter's reach
    assert b95.upper - b95.value > 100 * (a95.upper - a95.value)
    assert b68.lower == b95.lower and np.isnan(summary.errors[1])
    assert np.isfinite(summary.errors[0])


def test_an_edge_is_where_the_likelihood_vanishes():
    """Bin 2 observes nothing over a background of 0.5: its rate mu + 0.5 reaches zero at
    mu = -0.5 with a finite NLL, where bin 1 (10 over 5) leaves Delta chi-square ~0.11."""
    model = mc.build_model({
        "kind": "uncorrelated_background", "data": [10, 0], "background": [5.0, 0.5],
        "background_uncertainty": [0.0, 0.0], "signal": {"templates": {"S": [1.0, 1.0]}}})
    best = mc.fit(model)
    assert best.x[0] == pytest.approx(0.0, abs=1e-6)
    (interval,) = profile_intervals(model, "mu", (0.68,), best=best)
    assert interval.lower_kind == "edge" and interval.upper_kind == "crossing"
    assert interval.lower == pytest.approx(-0.5, abs=1e-9)
    inside = mc.profile(model, "mu", [interval.lower + 1e-9], best=best)
    assert inside.delta_chi2[0] == pytest.approx(2 * (4.5 - 10 * np.log(4.5) - 5.5
                                                      + 10 * np.log(5.0)), rel=1e-6)
    assert not np.isfinite(mc.profile(model, "mu", [-0.5 - 1e-9], best=best).nll[0])


def test_a_valley_is_followed_to_the_bound():
    """The correlated three-shape model's valley in c0 continues past where the fitted
    parameters first reach a wall: carried along, they reach the c0 bound at -50."""
    model = mc.build_model(load_example("three_shapes_correlated"))
    best = mc.fit(model, n_starts=4, rng=1)
    (interval,) = profile_intervals(model, "c0", (0.95,), best=best)
    assert (interval.lower, interval.lower_kind) == (-50.0, "bound")
    assert (interval.upper, interval.upper_kind) == (1.0, "bound")


def test_fixed_parameters_are_refused():
    model = mc.build_model(LINEAR)
    with pytest.raises(ValueError, match="'mu' is fixed"):
        profile_intervals(model, "mu", best=mc.fit(model))
