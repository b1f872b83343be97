"""HistFactory workspaces against pyhf 0.7.6 itself: layout, logpdf, gradients, fits, profiles."""

from __future__ import annotations

import numpy as np
import pytest

pyhf = pytest.importorskip("pyhf")

from hf_workspaces import SINGLE_TYPES, irregular, mixed, preset, single_type  # noqa: E402

import model_core as mc  # noqa: E402
from model_core.numdiff import numerical_gradient  # noqa: E402

CASES = {**{t: (lambda t=t: single_type(t)) for t in SINGLE_TYPES},
         "mixed": mixed,
         "irregular": irregular,
         "pyhf_one_bin": lambda: preset("pyhf_one_bin"),
         "pyhf_two_bin_shapesys": lambda: preset("pyhf_two_bin_shapesys"),
         "multi_channel": lambda: preset("multi_channel")}
SETTINGS = {
    "default": None,
    "code1-code0": {"normsys": {"interpcode": "code1"}, "histosys": {"interpcode": "code0"}},
    "code4-code4p": {"normsys": {"interpcode": "code4"}, "histosys": {"interpcode": "code4p"}},
    # pyhf semantics: a type left out falls back to its class default (histosys code0)
    "normsys-only": {"normsys": {"interpcode": "code4"}},
    "histosys-only": {"histosys": {"interpcode": "code4p"}},
}
FIT_TOLERANCE = 1e-10
# pyhf 0.7.6 validates with jsonschema's deprecated RefResolver
pytestmark = pytest.mark.filterwarnings("ignore:jsonschema.RefResolver:DeprecationWarning")


@pytest.fixture(scope="module", autouse=True)
def numpy_backend():
    pyhf.set_backend("numpy")


def _pair(case: str, settings: dict | None = None):
    raw = CASES[case]()
    workspace = pyhf.Workspace(raw)
    kwargs = {} if settings is None else {"modifier_settings": settings}
    pmodel = workspace.model(**kwargs)
    model = mc.build_model(raw, modifier_settings=settings)
    return model, pmodel, np.asarray(workspace.data(pmodel))


def _points(model, rng, n):
    """Random points inside the bounds, wide enough to reach |alpha| > 1 for normsys/histosys."""
    lo, hi = model.bounds[:, 0], model.bounds[:, 1]
    width = np.where(model.init == 0.0, 1.8, 0.25 * np.abs(model.init) + 0.05)
    low, high = np.maximum(lo, model.init - width), np.minimum(hi, model.init + width)
    return low + (high - low) * rng.random((n, model.npar))


@pytest.mark.parametrize("case", list(CASES))
def test_layout_matches_pyhf(case):
    model, pmodel, data = _pair(case)
    config = pmodel.config
    assert list(model.parameter_names) == config.par_names
    np.testing.assert_array_equal(model.init, config.suggested_init())
    np.testing.assert_array_equal(model.bounds, np.array(config.suggested_bounds(), dtype=float))
    np.testing.assert_array_equal(model.fixed, config.suggested_fixed())
    assert model.poi_index == config.poi_index
    np.testing.assert_array_equal(model.spec.data(), data)


@pytest.mark.parametrize("settings", list(SETTINGS))
@pytest.mark.parametrize("case", list(CASES))
def test_logpdf_matches_pyhf(case, settings):
    model, pmodel, data = _pair(case, SETTINGS[settings])
    points = _points(model, np.random.default_rng(11), 12)
    ours = -model.nll(points)
    theirs = np.array([pmodel.logpdf(x, data)[0] for x in points])
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=0)
    # batched evaluation equals one-by-one, and pyhf's expected counts agree
    np.testing.assert_allclose(-model.nll(points[:1])[0], theirs[0], rtol=1e-10)
    np.testing.assert_allclose(model.expected(points[3]), pmodel.expected_actualdata(points[3]),
                               rtol=1e-12)


@pytest.mark.parametrize("settings", ["default", "code1-code0"])
@pytest.mark.parametrize("case", ["normsys", "histosys", "shapesys", "staterror", "lumi",
                                  "shapefactor", "mixed", "irregular"])
def test_gradient_matches_numerical_derivative_of_pyhf(case, settings):
    model, pmodel, data = _pair(case, SETTINGS[settings])
    for x in _points(model, np.random.default_rng(5), 2):
        _, grad = model.value_and_grad(x)
        reference = numerical_gradient(lambda p: -pmodel.logpdf(p, data)[0], x)
        np.testing.assert_allclose(grad, reference, rtol=1e-7, atol=1e-7 * np.abs(grad).max())


def _pyhf_fit(pmodel, data, fixed_mu=None):
    kwargs = dict(return_fitted_val=True, tolerance=FIT_TOLERANCE)
    if fixed_mu is None:
        x, twice = pyhf.infer.mle.fit(data, pmodel, **kwargs)
    else:
        x, twice = pyhf.infer.mle.fixed_poi_fit(fixed_mu, data, pmodel, **kwargs)
    return np.asarray(x), float(twice) / 2.0


@pytest.mark.parametrize("case", ["mixed", "multi_channel", "pyhf_two_bin_shapesys", "staterror"])
def test_fits_and_profiled_test_statistics_match_pyhf(case):
    model, pmodel, data = _pair(case)
    best = mc.fit(model)
    assert best.success
    x_pyhf, nll_pyhf = _pyhf_fit(pmodel, data)
    # both minimise the same function: equal minima, ours at least as low
    assert best.fun == pytest.approx(nll_pyhf, abs=1e-6)
    assert best.fun <= nll_pyhf + 1e-9
    free = ~model.fixed
    scale = np.sqrt(np.diag(best.covariance))[free]
    np.testing.assert_allclose(best.x[free], x_pyhf[free], atol=2e-3 * scale.max())
    poi = model.poi
    mu_hat = best.x[model.poi_index]
    grid = mu_hat + np.array([-1.0, 0.5, 1.0, 2.0]) * scale[model.poi_index]
    grid = np.clip(grid, *model.bounds[model.poi_index])
    prof = mc.profile(model, poi, grid, best=best)
    assert prof.success.all()
    for mu, nll_mu in zip(grid, prof.nll, strict=True):
        _, nll_pyhf_mu = _pyhf_fit(pmodel, data, fixed_mu=mu)
        assert nll_mu <= nll_pyhf_mu + 1e-9
        q_ours, q_pyhf = 2 * (nll_mu - best.fun), 2 * (nll_pyhf_mu - nll_pyhf)
        assert q_ours == pytest.approx(q_pyhf, abs=1e-5)


def test_seed_one_bin_gradient_map_matches_pyhf():
    """The (mu, gamma) map of the one-bin seed model, values and gradients, against pyhf."""
    model, pmodel, data = _pair("pyhf_one_bin")
    gamma = "uncorr_bkguncrt[0]"
    assert model.parameter_names == ("mu", gamma)
    xs, ys = np.linspace(0.5, 1.5, 11), np.linspace(0.5, 1.5, 9)
    grid = mc.nll_grid(model, ("mu", gamma), xs, ys)
    for iy, y in enumerate(ys):
        for ix, x in enumerate(xs):
            point = np.array([x, y])
            assert -grid.nll[iy, ix] == pytest.approx(pmodel.logpdf(point, data)[0], rel=1e-12)
    point = np.array([xs[2], ys[6]])
    numeric = numerical_gradient(lambda p: -pmodel.logpdf(p, data)[0], point)
    np.testing.assert_allclose(grid.grad[6, 2], numeric, rtol=1e-8)
    # pyhf's best fit of the seed (signal 5 + background 10 = observed 15)
    x_pyhf, _ = _pyhf_fit(pmodel, data)
    np.testing.assert_allclose(mc.fit(model).x, x_pyhf, atol=1e-5)
    np.testing.assert_allclose(mc.fit(model).x, [1.0, 1.0], atol=1e-9)


@pytest.mark.parametrize("example", ["two_bin_uncorrelated", "correlated_linear"])
def test_export_reproduces_the_likelihood(example):
    spec = mc.load_spec(_export_case(example))
    exported = mc.to_workspace(spec)
    workspace = pyhf.Workspace(exported)
    pmodel = workspace.model()
    data = workspace.data(pmodel)
    ours = mc.build_model(spec)
    n_free = 1 + len(spec.shape_parameters)
    if spec.kind == "correlated_background":
        cov = np.array(spec.covariance)
        sigma = np.sqrt(np.diag(cov))
        w, v = np.linalg.eigh(cov / np.outer(sigma, sigma))
        to_theta = v * np.sqrt(w)            # theta = V sqrt(L) eta
        names = [f"eigen_{k}" for k in range(spec.n_bins)]
    else:
        to_theta = np.eye(spec.n_bins)
        names = [f"theta_{k}" for k in range(spec.n_bins)]
    index = [pmodel.config.par_names.index(n) for n in (*ours.parameter_names[:n_free], *names)]
    rng = np.random.default_rng(2)
    differences = []
    for _ in range(6):
        theirs_x = np.array(pmodel.config.suggested_init())
        free = np.r_[rng.uniform(0.2, 1.5, n_free), rng.normal(0, 0.8, spec.n_bins)]
        theirs_x[index] = free
        x = np.r_[free[:n_free], to_theta @ free[n_free:]]
        differences.append(ours.nll(x) + pmodel.logpdf(theirs_x, data)[0])
    np.testing.assert_allclose(differences, differences[0], atol=1e-10)
    expected_constant = 0.0 if spec.kind == "uncorrelated_background" else 0.5 * np.log(np.prod(w))
    assert differences[0] == pytest.approx(expected_constant, abs=1e-10)
    # the fits agree too
    best = mc.fit(ours)
    x_pyhf, nll_pyhf = _pyhf_fit(pmodel, data)
    assert best.x[0] == pytest.approx(x_pyhf[pmodel.config.poi_index], abs=1e-4)
    assert best.fun == pytest.approx(nll_pyhf + expected_constant, abs=1e-7)


def _export_case(example):
    if example == "two_bin_uncorrelated":
        return str(mc.examples.EXAMPLES_DIR / "two_bin_uncorrelated.json")
    return {"kind": "correlated_background", "data": [36, 33, 40], "background": [50.0, 48.0, 41.0],
            "covariance": [[144.0, 13.0, 20.0], [13.0, 256.0, -30.0], [20.0, -30.0, 100.0]],
            "signal": {"templates": {"A": [12.0, 15.0, 3.0], "B": [6.0, 16.0, 9.0]},
                       "expression": "A + 0.5*k*B"}}
