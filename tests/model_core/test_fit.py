"""Fits reach the true minimum: closed forms, saddles, walls, several basins, iminuit."""

from __future__ import annotations

import numpy as np
import pytest

import model_core as mc


def one_bin(n: float, b: float, s: float, **extra) -> mc.Model:
    return mc.build_model({
        "kind": "uncorrelated_background", "data": [n], "background": [b],
        "background_uncertainty": [0.0], "signal": {"templates": {"S": [s]}}, **extra})


@pytest.mark.parametrize(("n", "b", "s"), [(15, 10, 5), (3, 10, 2), (120.5, 100, 7.5)])
def test_one_bin_poisson_closed_form(n, b, s):
    result = mc.fit(one_bin(n, b, s))
    assert result.success, result.message
    assert result["mu"] == pytest.approx((n - b) / s, abs=1e-9)
    assert result["theta_0"] == pytest.approx(0.0, abs=1e-9)
    # parabolic error from the exact Hessian: Var(mu) = n / s^2 at the minimum
    assert result.errors["mu"] == pytest.approx(np.sqrt(n) / s, rel=1e-9)


def linear_mvn() -> tuple[mc.Model, np.ndarray, np.ndarray]:
    """Three bins, signal linear in (c0, c1): generalised least squares in closed form."""
    cov = np.array([[4.0, 1.0, 0.5], [1.0, 9.0, 2.0], [0.5, 2.0, 16.0]])
    templates = {"A": [3.0, 1.0, 2.0], "B": [-1.0, 2.0, 4.0]}
    data, background = np.array([12.0, 9.5, 20.0]), np.array([10.0, 8.0, 15.0])
    model = mc.build_model({
        "kind": "multivariate_normal", "data": data.tolist(), "background": background.tolist(),
        "covariance": cov.tolist(),
        "signal": {"templates": templates, "expression": "c0*A + c1*B"},
        "parameters": {"mu": {"fixed": True}}})
    design = np.column_stack([templates["A"], templates["B"]])
    inv = np.linalg.inv(cov)
    fisher = design.T @ inv @ design
    beta = np.linalg.solve(fisher, design.T @ inv @ (data - background))
    return model, beta, np.linalg.inv(fisher)


def test_linear_multivariate_normal_matches_generalised_least_squares():
    model, beta, covariance = linear_mvn()
    result = mc.fit(model)
    assert result.success and result.has_posdef_hessian
    np.testing.assert_allclose(result.x[1:], beta, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(result.covariance[1:, 1:], covariance, rtol=1e-9)
    assert result.fixed.tolist() == [True, False, False]


def test_wall_of_infinite_nll_is_not_a_minimum():
    """Start far away; the first steps overshoot to negative rates (+inf) and must be refused.

    scipy's L-BFGS-B reports convergence at mu = 5 here; the true minimum is mu = 2.5.
    """
    model = one_bin(3.0, 0.5, 1.0, parameters={"mu": {"init": 10.0}})
    result = mc.fit(model)
    assert result.success
    assert result["mu"] == pytest.approx(2.5, abs=1e-9)


def test_minimum_on_a_bound_is_flagged():
    model = one_bin(2.0, 10.0, 1.0, parameters={"mu": {"bounds": [0.0, 5.0], "init": 1.0}})
    result = mc.fit(model)
    assert result.success and result["mu"] == 0.0
    assert result.at_bound.tolist() == [True, False]


def quadratic_coupling(**extra) -> mc.Model:
    """One Gaussian bin with signal k**2 * A: minima at k = +-2, a saddle (maximum in k) at 0."""
    return mc.build_model({
        "kind": "multivariate_normal", "data": [14.0], "background": [10.0],
        "covariance": [[1.0]], "signal": {"templates": {"A": [1.0]}, "expression": "k**2*A"},
        "parameters": {"mu": {"fixed": True}, **extra}})


def test_saddle_at_zero_gradient_is_escaped():
    model = quadratic_coupling(k={"init": 0.0})
    assert np.allclose(model.grad([1.0, 0.0]), 0.0)  # stationary, but not a minimum
    result = mc.fit(model)
    assert result.success
    assert abs(result["k"]) == pytest.approx(2.0, abs=1e-9)
    assert result.min_eigenvalue > 0


def test_several_starts_report_both_basins():
    result = mc.fit(quadratic_coupling(), n_starts=12, rng=1)
    ks = sorted(result.minima_x[:, 1])
    assert len(ks) == 2
    np.testing.assert_allclose(ks, [-2.0, 2.0], atol=1e-9)
    np.testing.assert_allclose(result.minima_fun, result.fun, rtol=1e-12)


def test_same_rng_same_result_and_init_wins_ties(three_shapes_spec):
    model = mc.build_model(three_shapes_spec)
    a = mc.fit(model, fixed={"mu": 1.0}, n_starts=6, rng=3)
    b = mc.fit(model, fixed={"mu": 1.0}, n_starts=6, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a.minima_x, b.minima_x)
    single = mc.fit(model, fixed={"mu": 1.0})
    np.testing.assert_allclose(a.x, single.x, rtol=1e-6)  # a flat valley: the init's start wins


def test_flat_valley_is_reported(three_shapes_spec):
    model = mc.build_model(three_shapes_spec)
    result = mc.fit(model, fixed={"mu": 1.0})
    floor = 0.5 * np.linalg.slogdet(2 * np.pi * np.array(three_shapes_spec["covariance"]))[1]
    assert result.success and result.fun == pytest.approx(floor, rel=1e-12)
    assert not result.has_posdef_hessian and "singular" in result.message
    assert result.flat_directions.shape == (1, 4)
    direction = result.flat_directions[0]
    # moving along the flat direction keeps the NLL at the floor to second order
    for step in (1e-3, -1e-3):
        assert model.nll(result.x + step * direction) - floor < 1e-9
    assert np.isinf(result.errors["c0"]) and result.errors["mu"] == 0.0


def test_matches_iminuit(two_bin_spec):
    iminuit = pytest.importorskip("iminuit")
    model = mc.build_model(two_bin_spec)
    m = iminuit.Minuit(lambda x: float(model.nll(x)), model.init, grad=model.grad)
    m.errordef = iminuit.Minuit.LIKELIHOOD
    m.strategy = 2
    m.tol = 1e-8
    m.migrad()
    m.hesse()
    ours = mc.fit(model)
    assert ours.fun <= m.fval + 1e-9
    np.testing.assert_allclose(ours.x, np.array(m.values), atol=2e-5)
    np.testing.assert_allclose(list(ours.errors.values()), np.array(m.errors), rtol=1e-3)
    # and exactly the inverse of an independent (Ridders) Hessian
    numeric = np.linalg.inv(mc.numerical_hessian(model.nll, ours.x))
    np.testing.assert_allclose(list(ours.errors.values()), np.sqrt(np.diag(numeric)), rtol=1e-7)


def test_inputs_are_checked_and_not_mutated(two_bin_spec):
    model = mc.build_model(two_bin_spec)
    init = model.init.copy()
    with pytest.raises(KeyError, match="unknown parameter 'nu'.*mu, theta_0, theta_1"):
        mc.fit(model, fixed={"nu": 1.0})
    with pytest.raises(ValueError, match="n_starts"):
        mc.fit(model, n_starts=0)
    with pytest.raises(ValueError, match="must be finite"):
        mc.fit(model, fixed={"mu": float("nan")})
    with pytest.raises(ValueError, match="3 values"):
        mc.fit(model, init=[1.0, 2.0])
    mc.fit(model, fixed={"mu": 2.0}, init={"theta_0": 0.5}, bounds={"theta_1": (-1, 1)})
    np.testing.assert_array_equal(model.init, init)


def test_failures_are_results_not_exceptions(two_bin_spec):
    model = mc.build_model(two_bin_spec)
    result = mc.fit(model, init={"mu": -100.0})
    assert not result.success and "infinite at every starting point" in result.message
    with pytest.raises(mc.FitFailed) as info:
        mc.fit(model, init={"mu": -100.0}, strict=True)
    assert info.value.result is not None
    short = mc.fit(model, max_iter=1)
    assert not short.success and "n_starts" in short.message


def test_all_fixed(two_bin_spec):
    model = mc.build_model(two_bin_spec)
    result = mc.fit(model, fixed={"mu": 1.0, "theta_0": 0.0, "theta_1": 0.0})
    assert result.success and result.fun == pytest.approx(float(model.nll([1.0, 0.0, 0.0])))
    assert result.message == "all parameters are fixed"


def test_random_starts_that_never_reach_a_finite_nll_do_not_break_the_saddle_check():
    # some of these starts sit where a rate is negative: their rows have no Hessian
    # (NaN), which used to make the saddle check's eigendecomposition raise
    from model_core.examples import load_example

    model = mc.build_model(load_example("multi_channel"))
    results = [mc.fit(model, n_starts=16, rng=seed) for seed in range(12)]
    assert all(r.success for r in results)
    assert max(r.fun for r in results) - min(r.fun for r in results) < 1e-8


def test_a_linear_nll_is_not_mistaken_for_a_flat_minimum():
    # one Poisson bin without events: NLL = rate = 4 mu + 2 has zero curvature but falls
    # all the way to the bound mu = -0.5 (rate 0), where it is 0
    workspace = {"version": "1.0.0",
                 "channels": [{"name": "SR", "samples": [
                     {"name": "signal", "data": [4.0],
                      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
                     {"name": "background", "data": [2.0], "modifiers": []}]}],
                 "observations": [{"name": "SR", "data": [0.0]}],
                 "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": [
                     {"name": "mu", "bounds": [[-0.5, 10.0]]}]}}]}
    result = mc.fit(mc.build_model(workspace))
    assert result.success
    assert result.x[0] == -0.5 and result.fun == 0.0


# --- starts spread over the parameter box ------------------------------------------------------

def test_starts_cover_a_finite_box_evenly_and_open_axes_with_heavy_tails():
    from scipy.stats import cauchy

    from model_core.starts import spread_starts

    bounds = np.array([[-2.0, 6.0], [0.0, np.inf], [-np.inf, np.inf]])
    width = np.array([1.0, 3.0, 1e7])
    starts = spread_starts(np.array([0.0, 1.0, 5e7]), bounds, width, 256,
                           np.random.default_rng(0))
    # a scrambled Sobol set puts exactly one point in each of 256 equal slices of the box
    slices = np.floor((starts[:, 0] + 2.0) / 8.0 * 256).astype(int)
    assert sorted(slices) == list(range(256))
    # half-open: a half-Cauchy from the bound; open: a Cauchy around the centre, both in
    # the axis's own units (its quartiles at the centre -+ the width)
    assert starts[:, 1].min() >= 0.0
    assert np.median(starts[:, 1]) == pytest.approx(3.0, rel=0.05)
    q = np.quantile(starts[:, 2], [0.25, 0.75])
    assert q == pytest.approx(5e7 + 1e7 * cauchy.ppf([0.25, 0.75]), rel=0.05)
    assert np.abs(starts[:, 2] - 5e7).max() > 50 * 1e7  # heavy tails reach far


def test_starts_scaled_by_the_problem_find_a_distant_basin():
    """c0**2*Q + c0*L + c1*C: equal minima at c0 = 1.47 and c0 = -6.37, many widths apart.
    Starts drawn around init with unit spread never reached the second (64 of them, ten
    seeds); starts Cauchy-spread by each axis's width at init do."""
    model = mc.build_model({
        "kind": "multivariate_normal", "data": [64.9948, 53.6309], "background": [50.0, 48.0],
        "covariance": [[4.0, 1.0], [1.0, 4.0]],
        "signal": {"templates": {"Q": [2.0, 1.0], "L": [5.9, 1.0], "C": [1.0, 1.0]},
                   "expression": "c0**2*Q + c0*L + c1*C"},
        "parameters": {"mu": {"fixed": True}}})
    for seed in range(5):
        result = mc.fit(model, n_starts=64, rng=seed)
        minima = sorted(result.minima_x[:, 1])
        assert minima == pytest.approx([-6.37, 1.47], abs=1e-6)
        assert result.minima_fun == pytest.approx(np.full(2, result.fun), abs=1e-9)


def test_explicit_starts_and_difference_hessians(two_bin_spec):
    model = mc.build_model(two_bin_spec)
    exact = mc.fit(model)
    starts = exact.x + np.array([[2.0, -1.0, 1.0], [-1.0, 1.0, -2.0]])
    again = mc.fit(model, starts=starts, hessian="differences")
    assert again.x == pytest.approx(exact.x, abs=1e-7)
    assert again.fun == pytest.approx(exact.fun, abs=1e-12)
    assert np.array_equal(again.hess, model.hessian(again.x))  # the result's Hessian is exact
    with pytest.raises(ValueError, match="hessian must be one of"):
        mc.fit(model, hessian="numerical")
