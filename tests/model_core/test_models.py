"""The three counting kinds: seed numbers, independent references, exact derivatives."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from scipy import stats

import model_core as mc

# spey 0.2.7's gradient tutorial (seed 000): np.random.seed(14); np.random.uniform(0, 1, (3,))
SEED_POINT = np.array([0.51394334, 0.77316505, 0.87042769])
SEED_NLL = 27.81902589793928
SEED_GRAD = [13.29067478, 6.17223275, 9.28814191]
SEED_HESS = [[2.74153126, 1.21034187, 1.63326868],
             [1.21034187, 2.21034187, -0.0],
             [1.63326868, -0.0, 2.74215326]]


@pytest.fixture
def seed_point() -> np.ndarray:
    rng = np.random.RandomState(14)  # reproduces the tutorial's draw exactly  # noqa: NPY002
    return rng.uniform(0, 1, (3,))


def test_seed_value_and_gradient(two_bin_spec, seed_point):
    np.testing.assert_allclose(seed_point, SEED_POINT, rtol=1e-7)
    model = mc.build_model(two_bin_spec)
    value, grad = model.value_and_grad(seed_point)
    assert value == pytest.approx(SEED_NLL, rel=1e-12)
    np.testing.assert_allclose(grad, SEED_GRAD, rtol=1e-8)
    np.testing.assert_allclose(model.hessian(seed_point), SEED_HESS, rtol=1e-8, atol=1e-12)


def _poisson_gauss_reference(spec: dict, x: np.ndarray) -> float:
    """Independent computation with scipy.stats (integer data)."""
    mu, theta = x[0], x[1:]
    s = np.array(spec["signal"]["templates"]["S"])
    b = np.array(spec["background"])
    if spec["kind"] == "uncorrelated_background":
        sigma, corr = np.array(spec["background_uncertainty"]), np.eye(len(b))
    else:
        cov = np.array(spec["covariance"])
        sigma = np.sqrt(np.diag(cov))
        corr = cov / np.outer(sigma, sigma)
    rates = mu * s + b + sigma * theta
    return -(stats.poisson.logpmf(spec["data"], rates).sum()
             + stats.multivariate_normal(np.zeros(len(b)), corr).logpdf(theta))


@pytest.mark.parametrize("kind", ["uncorrelated_background", "correlated_background"])
def test_poisson_kinds_against_scipy(two_bin_spec, kind):
    if kind == "correlated_background":
        del two_bin_spec["background_uncertainty"]
        two_bin_spec["covariance"] = [[144.0, 60.0], [60.0, 256.0]]
    two_bin_spec["kind"] = kind
    model = mc.build_model(two_bin_spec)
    points = np.random.default_rng(5).normal(scale=0.7, size=(20, 3))
    expected = [_poisson_gauss_reference(two_bin_spec, x) for x in points]
    np.testing.assert_allclose(model.nll(points), expected, rtol=1e-12)


def test_multivariate_normal_against_scipy(three_shapes_spec):
    model = mc.build_model(three_shapes_spec)
    points = np.random.default_rng(6).normal(size=(20, 4))
    t = three_shapes_spec["signal"]["templates"]
    cov = np.array(three_shapes_spec["covariance"])
    for x in points:
        mean = x[0] * (x[1] * np.array(t["A"]) + x[2] ** 2 * np.array(t["B"])
                       + x[3] * np.array(t["C"])) + np.array(three_shapes_spec["background"])
        ref = -stats.multivariate_normal(mean, cov).logpdf(three_shapes_spec["data"])
        assert model.nll(x) == pytest.approx(ref, rel=1e-12)


def test_exact_fit_valley_value(three_shapes_spec):
    """Along c1, c0 and c2 can reproduce the data exactly: NLL = log det(2 pi Sigma) / 2."""
    model = mc.build_model(three_shapes_spec)
    cov = np.array(three_shapes_spec["covariance"])
    floor = 0.5 * np.linalg.slogdet(2 * np.pi * cov)[1]
    t = three_shapes_spec["signal"]["templates"]
    a_c = np.column_stack([t["A"], t["C"]])
    for c1 in (0.0, 0.5, -2.0):
        target = np.array([36.0, 33.0]) - np.array([50.0, 48.0]) - c1**2 * np.array(t["B"])
        c0, c2 = np.linalg.solve(a_c, target)
        assert model.nll([1.0, c0, c1, c2]) == pytest.approx(floor, rel=1e-14)


def test_non_integer_data_use_lgamma(two_bin_spec):
    two_bin_spec["data"] = [36.5, 33.25]
    model = mc.build_model(two_bin_spec)
    x = np.array([0.3, 0.1, -0.2])
    rates = 0.3 * np.array([12.0, 15.0]) + np.array([50.0, 48.0]) + np.array([12.0, 16.0]) * x[1:]
    n = np.array([36.5, 33.25])
    from scipy.special import gammaln

    ref = np.sum(rates - n * np.log(rates) + gammaln(n + 1)) + 0.5 * np.sum(x[1:] ** 2) \
        + np.log(2 * np.pi)
    assert model.nll(x) == pytest.approx(ref, rel=1e-13)


def test_non_positive_rates_give_inf_never_nan(two_bin_spec):
    model = mc.build_model(two_bin_spec)
    points = np.array([[-5.0, 0.0, 0.0], [0.0, -50 / 12, 0.0], [1.0, 0.0, 0.0]])
    value, grad = model.value_and_grad(points)
    assert np.isposinf(value[:2]).all() and np.isfinite(value[2])
    assert np.isnan(grad[:2]).all() and np.isfinite(grad[2]).all()
    spec = dict(two_bin_spec, signal={"templates": {"S": [12.0, 15.0]}, "expression": "log(k)*S"})
    model = mc.build_model(spec)
    assert np.isposinf(model.nll([1.0, -1.0, 0.0, 0.0]))  # log of a negative number


def test_batched_shapes_and_consistency(three_shapes_spec):
    model = mc.build_model(three_shapes_spec)
    x = np.random.default_rng(0).normal(size=(3, 4, 4))
    value, grad = model.value_and_grad(x)
    assert value.shape == (3, 4) and grad.shape == (3, 4, 4)
    hess = model.hessian(x)
    assert hess.shape == (3, 4, 4, 4)
    v11, g11 = model.value_and_grad(x[1, 1])
    assert value[1, 1] == pytest.approx(float(v11), rel=1e-14)
    np.testing.assert_allclose(grad[1, 1], g11, rtol=1e-12)
    np.testing.assert_allclose(hess[1, 1], model.hessian(x[1, 1]), rtol=1e-12)
    with pytest.raises(ValueError, match="length 4"):
        model.nll([1.0, 2.0])


_point = st.lists(st.floats(-0.8, 0.8), min_size=4, max_size=4)


@given(_point)
@example([0.0, 0.0, 0.68359375, 0.0])  # Ridders is 2.6e-6 off one entry here (c1 = 1.68)
def test_exact_derivatives_match_ridders_on_every_kind(values):
    from model_core.examples import load_example
    from model_core.numdiff import ridders_gradient, ridders_hessian

    for name in ("two_bin_uncorrelated", "three_shapes", "three_shapes_correlated"):
        model = mc.build_model(load_example(name))
        x = np.resize(np.array(values), model.npar) + model.init
        x[0] = 1.0 + values[0]
        grad = model.grad(x)
        hess = model.hessian(x)
        num_grad = ridders_gradient(model.nll, x)
        num_hess = ridders_hessian(model.nll, x, vectorized=True)
        # within the reference's own error estimate (Ridders' extrapolation error), which
        # exceeds 1e-6 of some entries at some points
        assert np.all(np.abs(grad - num_grad.value)
                      <= 1e-6 * np.abs(grad) + 1e-8 + 4 * num_grad.error)
        assert np.all(np.abs(hess - num_hess.value)
                      <= 1e-6 * np.abs(hess) + 1e-7 + 4 * num_hess.error)
        assert num_hess.error.max() < 1e-4 * max(1.0, np.abs(hess).max())  # a tight reference


def test_hessian_symmetric_and_psd_at_the_minimum(example_model):
    best = mc.fit(example_model)
    hess = example_model.hessian(best.x)
    np.testing.assert_allclose(hess, hess.T, rtol=1e-14)
    free = ~best.fixed
    w = np.linalg.eigvalsh(hess[np.ix_(free, free)])
    assert w.min() > -1e-8 * w.max()


def test_core_imports_no_ui_package():
    import subprocess
    import sys

    code = ("import sys, model_core, model_core.cli, model_core.examples; "
            "bad = [m for m in ('panel', 'param', 'holoviews', 'bokeh', 'plotly', 'tqdm', 'rich') "
            "if m in sys.modules]; print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize("kind", ["uncorrelated_background", "correlated_background",
                                  "multivariate_normal"])
def test_values_equal_speys_negative_logpdf(kind):
    """DESIGN.md section 4: constants included, NLL == spey's -logpdf."""
    spey = pytest.importorskip("spey")
    data, b, s = [36, 33], np.array([50.0, 48.0]), np.array([12.0, 15.0])
    cov = np.array([[144.0, 13.0], [13.0, 256.0]])
    spec = {"kind": kind, "data": data, "background": b.tolist(),
            "signal": {"templates": {"S": s.tolist()}}}
    if kind == "uncorrelated_background":
        spec["background_uncertainty"] = [12.0, 16.0]
        ref = spey.get_backend("default.uncorrelated_background")(
            signal_yields=s, background_yields=b, data=data, absolute_uncertainties=[12.0, 16.0])
    elif kind == "correlated_background":
        spec["covariance"] = cov.tolist()
        ref = spey.get_backend("default.correlated_background")(
            signal_yields=s, background_yields=b, data=data, covariance_matrix=cov)
    else:
        spec["covariance"] = cov.tolist()
        ref = spey.get_backend("default.multivariate_normal")(
            signal_yields=s, background_yields=b, data=np.array(data), covariance_matrix=cov)
    model = mc.build_model(spec)
    logpdf = ref.backend.get_logpdf_func()
    for x in np.random.default_rng(11).normal(scale=0.5, size=(10, model.npar)):
        assert model.nll(x) == pytest.approx(-float(logpdf(x)), rel=1e-12)
