"""HistFactory models without pyhf: exact derivatives, unbinned channels, fits, profiles, maps."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from autograd import elementwise_grad, jacobian
from hf_workspaces import mixed, write_unbinned

import model_core as mc
from model_core.cli import main
from model_core.examples import example_names, load_example
from model_core.models.histfactory import build_tensors
from model_core.models.histfactory_nll import HistFactoryNLL
from model_core.workspace import WorkspaceSpec

CODES = {
    "default": None,
    "code1-code0": {"normsys": {"interpcode": "code1"}, "histosys": {"interpcode": "code0"}},
}
LOG_2PI = np.log(2 * np.pi)


@pytest.fixture
def unbinned(tmp_path):
    workspace, arrays = write_unbinned(tmp_path)
    return tmp_path / "workspace.json", workspace, arrays


def _points(model, rng, n, width=1.6):
    spread = np.where(model.init == 0.0, width, 0.2)
    return np.clip(model.init + spread * rng.uniform(-1, 1, (n, model.npar)),
                   model.bounds[:, 0], model.bounds[:, 1])


@pytest.mark.parametrize("codes", list(CODES))
@pytest.mark.parametrize("source", ["mixed", "unbinned"])
def test_hand_written_gradient_and_hessian_equal_autograd(source, codes, unbinned):
    """The primitive's gradient against autograd differentiating the value function itself."""
    spec = mixed() if source == "mixed" else str(unbinned[0])
    model = mc.build_model(spec, modifier_settings=CODES[codes])
    likelihood = HistFactoryNLL(build_tensors(model.spec))
    points = _points(model, np.random.default_rng(4), 25)
    value, grad = model.value_and_grad(points)
    np.testing.assert_allclose(value, likelihood.value(points), rtol=1e-14)
    reference = elementwise_grad(likelihood.value)(points)
    np.testing.assert_allclose(grad, reference, rtol=1e-10, atol=1e-10 * np.abs(reference).max())
    for x in points[:2]:
        hess = jacobian(elementwise_grad(likelihood.value))(x)
        np.testing.assert_allclose(model.hessian(x), hess, rtol=1e-9,
                                   atol=1e-10 * np.abs(hess).max())
    # batched Hessians equal one-by-one ones
    np.testing.assert_allclose(model.hessian(points[:2])[1], model.hessian(points[1]), rtol=1e-12)


def test_gradient_and_hessian_match_ridders(unbinned):
    model = mc.build_model(str(unbinned[0]))
    for x in _points(model, np.random.default_rng(9), 3, width=0.8):
        np.testing.assert_allclose(model.grad(x), mc.numerical_gradient(model.nll, x), rtol=1e-8)
        np.testing.assert_allclose(model.hessian(x), mc.numerical_hessian(model.nll, x),
                                   rtol=1e-6, atol=1e-7)


def _code4(alpha, lo, hi):
    """Reference code 4: exponential outside |alpha| < 1, inside the degree-6 polynomial fixed
    by value, slope and curvature of both exponential branches at +-1."""
    if alpha >= 1:
        return hi**alpha
    if alpha <= -1:
        return lo**-alpha
    rows, rhs = [], []
    for a, base, sign in ((1.0, hi, 1.0), (-1.0, lo, -1.0)):
        log_b = np.log(base)
        rows += [[a**i for i in range(1, 7)], [i * a ** (i - 1) for i in range(1, 7)],
                 [i * (i - 1) * a ** (i - 2) if i > 1 else 0.0 for i in range(1, 7)]]
        rhs += [base - 1.0, sign * log_b * base, log_b**2 * base]
    coefficients = np.linalg.solve(np.array(rows), np.array(rhs))
    return 1.0 + sum(c * alpha ** (i + 1) for i, c in enumerate(coefficients))


def _code4p(alpha, lo, nom, hi):
    """Reference code 4p in pyhf's documented form (S, A)."""
    up, down = hi - nom, nom - lo
    if alpha > 1:
        return up * alpha
    if alpha < -1:
        return down * alpha
    s, a = 0.5 * (up + down), (up - down) / 16.0
    return alpha * s + alpha**2 * (15 - 10 * alpha**2 + 3 * alpha**4) * a


@pytest.mark.parametrize("jes", [-1.7, -0.4, 0.0, 0.3, 1.0, 2.2])
def test_unbinned_nll_equals_direct_computation(unbinned, jes):
    path, workspace, arr = unbinned
    model = mc.build_model(str(path))
    assert model.parameter_names == ("jes", "lumi", "k_bkg", "mu")
    lumi, k_bkg, mu = 1.04, 0.93, 1.7
    x = np.array([jes, lumi, k_bkg, mu])
    cr = workspace["channels"][1]["samples"][0]
    mod = cr["modifiers"][0]["data"]
    lam = [k_bkg * (n + _code4p(jes, lo, n, hi))
           for n, lo, hi in zip(cr["data"], mod["lo_data"], mod["hi_data"], strict=True)]
    counts = workspace["observations"][0]["data"]
    from scipy.special import gammaln
    binned = sum(m - n * np.log(m) + gammaln(n + 1) for m, n in zip(lam, counts, strict=True))
    nu_sig = 8.0 * mu * lumi
    nu_bkg = 35.0 * k_bkg * _code4(jes, 0.9, 1.08)
    r_bkg = np.array([r + _code4p(jes, lo, r, hi) for r, lo, hi
                      in zip(arr["r_bkg"], arr["r_bkg_dn"], arr["r_bkg_up"], strict=True)])
    density = nu_sig * arr["r_sig"] + nu_bkg * r_bkg
    extended = nu_sig + nu_bkg - np.sum(arr["w"] * np.log(density))
    constraints = (0.5 * jes**2 + 0.5 * LOG_2PI
                   + 0.5 * ((lumi - 1.0) / 0.03) ** 2 + np.log(0.03) + 0.5 * LOG_2PI)
    assert model.nll(x) == pytest.approx(binned + extended + constraints, rel=1e-12)
    # expected: binned counts, then the unbinned channel's total yield
    np.testing.assert_allclose(model.expected(x), [*lam, nu_sig + nu_bkg], rtol=1e-12)


def test_unbinned_density_must_stay_positive(unbinned):
    model = mc.build_model(str(unbinned[0]))
    # a negative signal strength large enough to make the mixture negative at some event
    x = np.array([0.0, 1.0, 1.0, -20.0])
    value, grad = model.value_and_grad(x)
    assert value == np.inf and np.isnan(grad).all()


def test_fit_profile_and_grid_agree_with_refits():
    model = mc.build_model(load_example("multi_channel"))
    best = mc.fit(model)
    assert best.success and best.has_posdef_hessian
    free = ~best.fixed & ~best.at_bound
    assert np.abs(model.grad(best.x)[free]).max() < 1e-6
    grid = best.x[model.poi_index] + np.array([-1.0, -0.3, 0.4, 1.2])
    prof = mc.profile(model, "mu", grid, best=best)
    assert prof.success.all()
    for mu, nll in zip(grid, prof.nll, strict=True):
        assert nll == pytest.approx(mc.fit(model, fixed={"mu": mu}).fun, abs=1e-9)
    assert np.all(prof.nll >= best.fun - 1e-12)
    xs, ys = np.array([0.5, 1.5]), np.array([-0.5, 0.5])
    gmap = mc.nll_grid(model, ("mu", "jes"), xs, ys, mode="profile")
    assert gmap.success.all()
    for iy, jes in enumerate(ys):
        for ix, mu in enumerate(xs):
            refit = mc.fit(model, fixed={"mu": mu, "jes": jes})
            assert gmap.nll[iy, ix] == pytest.approx(refit.fun, abs=1e-8)


def test_one_bin_map_over_mu_and_gamma():
    """The seed's map: fixed-mode grid equals the NLL, its gradient equals the model's."""
    model = mc.build_model(load_example("pyhf_one_bin"))
    xs, ys = np.linspace(0.5, 1.5, 5), np.linspace(0.5, 1.5, 4)
    gmap = mc.nll_grid(model, ("mu", "uncorr_bkguncrt[0]"), xs, ys)
    points = np.stack(np.meshgrid(xs, ys), axis=-1)
    np.testing.assert_allclose(gmap.nll, model.nll(points), rtol=1e-14)
    np.testing.assert_allclose(gmap.grad, model.grad(points), rtol=1e-14)
    # closed form: tau = (10 / 3.5)^2, lambda = 5 mu + 10 gamma, 15 observed
    from scipy.special import gammaln
    tau = (10 / 3.5) ** 2
    mu, gamma = points[..., 0], points[..., 1]
    lam = 5 * mu + 10 * gamma
    closed = (lam - 15 * np.log(lam) + gammaln(16.0)
              + gamma * tau - tau * np.log(gamma * tau) + gammaln(tau + 1))
    np.testing.assert_allclose(gmap.nll, closed, rtol=1e-12)


@pytest.mark.parametrize("codes", list(CODES))
def test_models_pickle_with_their_settings(unbinned, codes):
    model = mc.build_model(str(unbinned[0]), modifier_settings=CODES[codes])
    clone = pickle.loads(pickle.dumps(model))
    assert clone.spec.modifier_settings == model.spec.modifier_settings
    x = _points(model, np.random.default_rng(1), 4)
    np.testing.assert_array_equal(clone.nll(x), model.nll(x))


def test_every_source_form_loads_the_same_model(unbinned, tmp_path):
    raw = mixed()
    spec = mc.load_workspace(raw)
    wrapper = spec.to_dict()
    assert wrapper["kind"] == "histfactory" and wrapper["version"] == 1
    path = tmp_path / "raw.json"
    path.write_text(json.dumps(raw))
    forms = [raw, wrapper, json.dumps(wrapper), path, str(path), spec]
    x = _points(mc.build_model(spec), np.random.default_rng(0), 3)
    reference = mc.build_model(spec).nll(x)
    for form in forms:
        loaded = mc.load_spec(form)
        assert isinstance(loaded, WorkspaceSpec)
        assert loaded.parameter_names == spec.parameter_names
        np.testing.assert_array_equal(mc.build_model(form).nll(x), reference)
    assert mc.load_spec(wrapper).to_dict() == wrapper


def test_wrapper_overrides_and_settings():
    wrapper = mc.load_spec(mixed()).to_dict() | {
        "parameters": {"mu": {"bounds": [-2.0, 4.0], "init": 0.5}, "ns_00": {"fixed": True}},
        "modifier_settings": {"normsys": {"interpcode": "code1"}}}
    model = mc.build_model(wrapper)
    assert tuple(model.bounds[model.index("mu")]) == (-2.0, 4.0)
    assert model.init[model.index("mu")] == 0.5 and model.fixed[model.index("ns_00")]
    assert model.spec.to_dict()["modifier_settings"] == {"normsys": {"interpcode": "code1"}}
    with pytest.raises(mc.SpecError, match="parameters.nope: unknown parameter"):
        mc.load_spec(wrapper | {"parameters": {"nope": {"init": 1.0}}})
    with pytest.raises(mc.SpecError, match="code2 is discontinuous"):
        mc.build_model(wrapper, modifier_settings={"histosys": {"interpcode": "code2"}})


@pytest.mark.parametrize("name", ["pyhf_one_bin", "pyhf_two_bin_shapesys", "multi_channel",
                                  "unbinned_demo"])
def test_presets_load_as_examples_and_fit(name):
    assert name in example_names()
    spec = load_example(name)
    assert spec.kind == "histfactory" and spec.description
    result = mc.fit(mc.build_model(spec))
    assert result.success, result.message


def test_seed_one_bin_preset_parameters():
    model = mc.build_model(load_example("pyhf_one_bin"))
    assert model.parameter_names == ("mu", "uncorr_bkguncrt[0]")
    np.testing.assert_array_equal(model.bounds, [[0.0, 10.0], [1e-10, 10.0]])


def test_cli_fits_a_workspace_file(unbinned, capsys):
    assert main(["validate", str(unbinned[0])]) == 0
    assert "valid histfactory model" in capsys.readouterr().out
    assert main(["fit", "multi_channel", "--fix", "lumi=1"]) == 0
    out = capsys.readouterr().out
    assert "staterror_SR[2]" in out and "converged" in out


def test_export_refusals_say_why():
    with pytest.raises(mc.SpecError, match="Poisson"):
        mc.to_workspace(load_example("two_bin_uncorrelated").to_dict()
                        | {"kind": "multivariate_normal", "covariance": [[144.0, 0], [0, 256.0]],
                           "background_uncertainty": None})
    with pytest.raises(mc.SpecError, match=r"'c1\*\*2' is not linear"):
        mc.to_workspace(load_example("three_shapes_correlated"))
    with pytest.raises(mc.SpecError, match="unbinned channels cannot be exported"):
        mc.to_workspace(load_example("pyhf_one_bin").to_dict()["workspace"]
                        | {"channels": [{"name": "u", "type": "unbinned", "samples": [
                            {"name": "s", "yield": 1.0, "ratios": [1.0, 2.0], "modifiers": [
                                {"name": "mu", "type": "normfactor", "data": None}]}]}],
                           "observations": []})


def test_export_of_a_workspace_merges_overrides():
    spec = mc.load_spec(load_example("multi_channel").to_dict()
                        | {"parameters": {"mu": {"bounds": [-1.0, None]},
                                          "staterror_SR[0]": {"init": 1.1}}})
    exported = mc.to_workspace(spec)
    config = {c["name"]: c for c in exported["measurements"][0]["config"]["parameters"]}
    assert config["mu"]["bounds"] == [[-1.0, 1.0e4]]
    assert config["staterror_SR"]["inits"] == [1.1, 1.0, 1.0]
    again = mc.build_model(exported)
    assert again.init[again.index("staterror_SR[0]")] == 1.1
