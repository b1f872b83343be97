"""Pseudo-data (DESIGN.md section 9) and likelihoods evaluated on one dataset per row."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from hf_workspaces import preset
from scipy.special import gammaln
from scipy.stats import multivariate_normal

import model_core as mc
from model_core.examples import load_example

N_DRAWS = 20000


def _counting(name: str) -> mc.Model:
    return mc.build_model(load_example(name))


def _truth(model: mc.Model) -> np.ndarray:
    x = model.init.copy()
    x[0] = 0.7
    x[model.npar - 2:] += [0.4, -0.3]  # thetas, or two shape parameters
    return x


def _assert_mean(sample: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> None:
    """Sample means within 5 standard errors."""
    err = np.sqrt(np.diag(cov) / len(sample))
    assert np.all(np.abs(sample.mean(axis=0) - mean) < 5 * err)


def _assert_cov(sample: np.ndarray, cov: np.ndarray) -> None:
    """Sample covariances within 6 standard errors (Gaussian approximation of their spread)."""
    var = np.diag(cov)
    err = np.sqrt((np.outer(var, var) + cov**2) / len(sample))
    assert np.all(np.abs(np.cov(sample.T) - cov) < 6 * err)


@pytest.mark.parametrize("name", ["two_bin_uncorrelated", "three_shapes_correlated"])
def test_poisson_kinds_draw_counts_and_the_constraints_centres(name):
    model = _counting(name)
    x = _truth(model)
    toys = mc.sample_toys(model, x, N_DRAWS, rng=11)
    rates = model.expected(x)
    spec = model.spec
    if spec.kind == "uncorrelated_background":
        rho = np.eye(2)
    else:
        cov = np.array(spec.covariance)
        rho = cov / np.outer(np.sqrt(np.diag(cov)), np.sqrt(np.diag(cov)))
    theta = x[-2:]
    assert toys.aux_parameters == ("theta_0", "theta_1")
    assert np.all(toys.main == np.round(toys.main))
    _assert_mean(toys.main, rates, np.diag(rates))
    _assert_cov(toys.main, np.diag(rates))
    _assert_mean(toys.aux, theta, rho)
    _assert_cov(toys.aux, rho)


def test_multivariate_normal_draws_gaussian_counts_and_no_auxiliary_data():
    model = _counting("three_shapes")
    x = _truth(model)
    toys = mc.sample_toys(model, x, N_DRAWS, rng=12)
    sigma = np.array(model.spec.covariance)
    assert toys.aux.shape == (N_DRAWS, 0) and toys.aux_parameters == ()
    _assert_mean(toys.main, model.expected(x), sigma)
    _assert_cov(toys.main, sigma)


def test_toys_depend_only_on_the_seed():
    model = _counting("two_bin_uncorrelated")
    x = _truth(model)
    many = mc.sample_toys(model, x, 700, rng=4)
    few = mc.sample_toys(model, x, 300, rng=4)
    np.testing.assert_array_equal(few.main, many.main[:300])
    np.testing.assert_array_equal(few.aux, many.aux[:300])
    assert few.seed_entropy == 4 and np.array_equal(few.at, x)
    other = mc.sample_toys(model, x, 300, rng=5)
    assert not np.array_equal(other.main, few.main)


def test_at_as_a_mapping_fills_the_others_by_a_conditional_fit():
    model = _counting("two_bin_uncorrelated")
    toys = mc.sample_toys(model, {"mu": 2.0}, 5, rng=1)
    best = mc.fit(model, fixed={"mu": 2.0})
    np.testing.assert_allclose(toys.at, best.x, atol=1e-10)
    with pytest.raises(ValueError, match="n_toys"):
        mc.sample_toys(model, None, 0)
    with pytest.raises(ValueError, match="3 values"):
        mc.sample_toys(model, [1.0, 2.0], 5)


def _reference_nll(model: mc.Model, x: np.ndarray, main: np.ndarray, aux: np.ndarray) -> float:
    """DESIGN.md section 4 with the toy's data, from scipy."""
    spec = model.spec
    rates = model.expected(x)
    if spec.kind == "multivariate_normal":
        return -multivariate_normal.logpdf(main, rates, np.array(spec.covariance))
    if spec.kind == "uncorrelated_background":
        rho = np.eye(spec.n_bins)
    else:
        cov = np.array(spec.covariance)
        rho = cov / np.outer(np.sqrt(np.diag(cov)), np.sqrt(np.diag(cov)))
    poisson = np.sum(rates - main * np.log(rates) + gammaln(main + 1.0))
    return poisson - multivariate_normal.logpdf(x[-spec.n_bins:], aux, rho)


@pytest.mark.parametrize("name", ["two_bin_uncorrelated", "three_shapes",
                                  "three_shapes_correlated"])
def test_each_row_sees_its_own_dataset(name):
    model = _counting(name)
    toys = mc.sample_toys(model, _truth(model), 6, rng=3)
    rng = np.random.default_rng(0)
    X = _truth(model) + 0.2 * rng.standard_normal((6, model.npar))
    on_toys = model.on_data(toys)
    values = on_toys.nll(X)
    for i in range(6):
        assert values[i] == pytest.approx(_reference_nll(model, X[i], toys.main[i], toys.aux[i]),
                                          rel=1e-12)
    # the observed data are row 0 of model.data: the same values as the model itself
    observed = model.on_data(model.data.take(np.zeros(6, int)))
    np.testing.assert_array_equal(observed.nll(X), model.nll(X))
    # exact derivatives, row by row
    _, grad = on_toys.value_and_grad(X)
    hess = on_toys.hessian(X)
    for i in (0, 3):
        one = model.on_data(toys.take([i]))
        np.testing.assert_allclose(grad[i], mc.numerical_gradient(
            lambda p, one=one: one.nll(p[None])[0], X[i]), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(hess[i], mc.numerical_hessian(
            lambda p, one=one: one.nll(p[None])[0], X[i]), rtol=1e-6, atol=1e-6)


def test_rows_must_match_the_datasets_and_models_pickle_with_their_data():
    model = _counting("two_bin_uncorrelated")
    toys = mc.sample_toys(model, _truth(model), 4, rng=3)
    on_toys = model.on_data(toys)
    X = np.tile(_truth(model), (4, 1))
    with pytest.raises(ValueError, match="holds 4 datasets"):
        on_toys.nll(X[:3])
    with pytest.raises(ValueError, match="holds 4 datasets"):
        on_toys.nll(X[0])
    again = pickle.loads(pickle.dumps(on_toys))
    np.testing.assert_array_equal(again.nll(X), on_toys.nll(X))
    np.testing.assert_array_equal(on_toys.take([2, 0]).nll(X[[2, 0]]), on_toys.nll(X)[[2, 0]])


def test_unbinned_channels_are_refused_by_name_unless_resampled():
    model = mc.build_model(load_example("unbinned_demo"))
    with pytest.raises(ValueError, match="unbinned channel 'SR'.*resample"):
        mc.sample_toys(model, model.init, 3, rng=1)
    x = mc.fit(model).x
    toys = mc.sample_toys(model, x, 4000, rng=1, unbinned="resample")
    n_events = toys.events.shape[1]
    assert toys.events.shape == (4000, n_events) and np.all(toys.events == np.round(toys.events))
    # every toy's number of events is Poisson with the channel's expected total
    expected = model.expected(x)[-1]
    totals = toys.events.sum(axis=1)
    assert abs(totals.mean() - expected) < 5 * np.sqrt(expected / 4000)
    assert abs(totals.var() / expected - 1.0) < 0.1
    # a toy's likelihood is the workspace's with the multiplicities as event weights
    raw = copy.deepcopy(model.spec.to_dict())
    channel = next(c for c in raw["workspace"]["channels"] if c.get("type") == "unbinned")
    channel["weights"] = toys.events[7].tolist()
    raw["workspace"]["observations"] = [
        {"name": "CR", "data": toys.main[7].tolist()}]
    reference = mc.build_model(raw)
    X = x + 0.05 * np.random.default_rng(2).standard_normal(model.npar)
    toy = mc.Dataset(toys.main[7:8], model.data.aux, toys.events[7:8])
    assert model.on_data(toy).nll(X[None])[0] == pytest.approx(float(reference.nll(X)),
                                                              rel=1e-12)


def test_histfactory_rows_see_their_counts_and_auxiliary_data():
    model = mc.build_model(preset("multi_channel"))
    toys = mc.sample_toys(model, model.init, 3, rng=2)
    assert toys.aux.shape[1] == model.spec.layout.auxdata.size
    # a toy replaces the observations and the auxdata: rebuild the workspace with them
    raw = copy.deepcopy(preset("multi_channel"))
    X = model.init + 0.02 * np.random.default_rng(1).standard_normal((3, model.npar))
    for i in range(3):
        offset = 0
        for channel in sorted(raw["channels"], key=lambda c: c["name"]):
            n = len(channel["samples"][0]["data"])
            obs = next(o for o in raw["observations"] if o["name"] == channel["name"])
            obs["data"] = toys.main[i, offset:offset + n].tolist()
            offset += n
        rebuilt = mc.build_model(raw)
        centres = dict(zip(toys.aux_parameters, toys.aux[i], strict=True))
        shift = sum(0.5 * (X[i, model.index(p)] - c) ** 2 / s**2
                    - 0.5 * (X[i, model.index(p)] - c0) ** 2 / s**2
                    for (p, c), c0, s in zip(centres.items(), model.spec.layout.auxdata,
                                             model.likelihood.t.aux_scale, strict=True))
        assert model.on_data(toys).nll(X)[i] == pytest.approx(
            float(rebuilt.nll(X[i])) + shift, rel=1e-12)
