"""HistFactory toys against pyhf 0.7.6: the same distribution of pseudo-data, the same q."""

from __future__ import annotations

import numpy as np
import pytest

pyhf = pytest.importorskip("pyhf")

from hf_workspaces import mixed, preset  # noqa: E402
from scipy.stats import ks_2samp  # noqa: E402

import model_core as mc  # noqa: E402

N_DRAWS = 20000
pytestmark = pytest.mark.filterwarnings("ignore:jsonschema.RefResolver:DeprecationWarning")


@pytest.fixture(scope="module", autouse=True)
def numpy_backend():
    pyhf.set_backend("numpy")


@pytest.fixture
def seeded_global_numpy():
    """pyhf draws from numpy's global generator: seed it for this test only."""
    state = np.random.get_state()  # noqa: NPY002 - pyhf samples from the global generator
    np.random.seed(20240611)  # noqa: NPY002
    yield
    np.random.set_state(state)  # noqa: NPY002


def _pair(raw: dict) -> tuple[mc.Model, object]:
    return mc.build_model(raw), pyhf.Workspace(raw).model()


@pytest.mark.parametrize("case", ["multi_channel", "pyhf_two_bin_shapesys", "mixed"])
def test_toys_are_distributed_as_pyhfs_own(case, seeded_global_numpy):
    raw = mixed() if case == "mixed" else preset(case)
    model, pmodel = _pair(raw)
    x = mc.fit(model).x
    theirs = np.asarray(pmodel.make_pdf(pyhf.tensorlib.astensor(x)).sample((N_DRAWS,)))
    toys = mc.sample_toys(model, x, N_DRAWS, rng=3)
    ours = np.hstack([toys.main, toys.aux])
    assert ours.shape == theirs.shape
    # means, covariances and the whole distribution of every bin and auxiliary measurement
    sd = np.sqrt(theirs.var(axis=0) / N_DRAWS * 2)
    assert np.all(np.abs(ours.mean(axis=0) - theirs.mean(axis=0)) <= 5 * sd + 1e-12)
    var = np.outer(theirs.std(axis=0), theirs.std(axis=0))
    assert np.all(np.abs(np.cov(ours.T) - np.cov(theirs.T)) <= 6 * np.sqrt(2 * var**2 / N_DRAWS)
                  + 1e-12)
    for column in range(ours.shape[1]):
        assert ks_2samp(ours[:, column], theirs[:, column]).pvalue > 1e-3, column


def _pyhf_twice_nll(pmodel, data, mu=None) -> float:
    kwargs = dict(return_fitted_val=True, tolerance=1e-12)
    if mu is None:
        _, twice = pyhf.infer.mle.fit(data, pmodel, **kwargs)
    else:
        _, twice = pyhf.infer.mle.fixed_poi_fit(mu, data, pmodel, **kwargs)
    return float(twice)


@pytest.mark.parametrize("case", ["multi_channel", "pyhf_two_bin_shapesys"])
def test_q_equals_pyhfs_fits_of_the_same_toys(case):
    model, pmodel = _pair(preset(case))
    truth = mc.fit(model).x
    toys = mc.sample_toys(model, truth, 6, rng=9)
    fits = mc.toys.fit_toys(model, toys, truth, axes=[model.poi_index],
                            fixed={i: model.init[i] for i in np.flatnonzero(model.fixed)},
                            bounds=model.bounds)
    assert fits.success.all()
    for i in range(len(toys)):
        data = np.concatenate([toys.main[i], toys.aux[i]])
        free = _pyhf_twice_nll(pmodel, data)
        conditional = _pyhf_twice_nll(pmodel, data, mu=truth[model.poi_index])
        # the same minima (ours at least as low), hence the same q
        assert fits.nll_min[i] <= 0.5 * free + 1e-9
        assert fits.nll_at[i] <= 0.5 * conditional + 1e-9
        assert fits.q[i] == pytest.approx(conditional - free, abs=1e-6)
