"""Plot extents against the closed forms of a quadratic NLL."""

import numpy as np
import pytest

import model_core as mc
from model_core import examples as mc_examples
from model_core.extent import region_extent

A, B = [10.0, 2.0], [3.0, 8.0]
COV = [[4.0, 1.0], [1.0, 9.0]]


def _linear_gaussian(**parameters):
    return mc.build_model({
        "kind": "multivariate_normal", "data": [30.0, 40.0], "background": [5.0, 6.0],
        "covariance": COV, "signal": {"templates": {"A": A, "B": B}, "expression": "a*A + b*B"},
        "parameters": {"mu": {"fixed": True}, **parameters},
    })


@pytest.fixture(scope="module")
def quadratic():
    model = _linear_gaussian()
    best = mc.fit(model)
    m = np.array([A, B]).T
    hess = m.T @ np.linalg.inv(COV) @ m  # exact Hessian in (a, b)
    return model, best, hess


@pytest.mark.parametrize("delta", [1.0, mc.delta_chi2(0.95, 2)])
def test_profiled_extent_is_the_marginal_ellipse_width(quadratic, delta):
    model, best, hess = quadratic
    lo, hi = region_extent(model, "a", best=best, delta=delta, minimise=["b"])
    half = np.sqrt(delta * np.linalg.inv(hess)[0, 0])
    assert (lo, hi) == pytest.approx((best["a"] - half, best["a"] + half), rel=1e-9)


def test_fixed_extent_is_the_conditional_width(quadratic):
    model, best, hess = quadratic
    delta = mc.delta_chi2(0.95, 2)
    lo, hi = region_extent(model, "b", best=best, delta=delta)
    half = np.sqrt(delta / hess[1, 1])
    assert (lo, hi) == pytest.approx((best["b"] - half, best["b"] + half), rel=1e-9)


def test_bounds_clip_the_extent(quadratic):
    model, best, _ = quadratic
    a = best["a"]
    bounded = _linear_gaussian(a={"init": a, "bounds": [a - 0.05, a + 0.1]})
    lo, hi = region_extent(bounded, "a", best=mc.fit(bounded), delta=25.0, minimise=["b"])
    assert (lo, hi) == (a - 0.05, a + 0.1)


def test_flat_valley_gives_a_finite_extent():
    # the three-shape model: the best fit is a valley of equal NLL, so the profile of c1 is flat
    model = mc.build_model(mc_examples.load_example("three_shapes"))
    best = mc.fit(model)
    assert np.isinf(best.errors["c1"])
    delta = mc.delta_chi2(0.95, 2)
    lo, hi = region_extent(model, "c1", best=best, delta=delta, minimise=["c0", "c2"])
    assert np.isfinite([lo, hi]).all() and lo < best["c1"] < hi
    ends = mc.profile(model, "c1", [lo, hi], best=best)
    assert np.all(ends.delta_chi2 < delta)  # the level is never reached: the ladder's end
    # with the others held at the best fit the region is bounded, and the ends are on it
    lo, hi = region_extent(model, "c1", best=best, delta=delta)
    ends = mc.profile(model, "c1", [lo, hi], best=best, mode="scan")
    assert ends.delta_chi2 == pytest.approx([delta, delta], rel=2e-2)


def test_fixed_parameter_is_rejected(quadratic):
    model, best, _ = quadratic
    with pytest.raises(ValueError, match="fixed"):
        region_extent(model, "mu", best=best, delta=1.0)
