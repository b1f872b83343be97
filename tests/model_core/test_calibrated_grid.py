"""The Neyman construction on a grid: p-values and calibrated thresholds against chi2."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chi2

import model_core as mc
from model_core.examples import load_example


def _linear_gaussian() -> mc.Model:
    """Gaussian bins with a linear signal in (c0, c1) and a profiled c2: Wilks is exact."""
    return mc.build_model({
        "kind": "multivariate_normal", "data": [21.0, 33.0, 12.0],
        "background": [20.0, 30.0, 10.0],
        "covariance": [[16.0, 4.0, 0.0], [4.0, 25.0, 3.0], [0.0, 3.0, 9.0]],
        "signal": {"templates": {"A": [6.0, 2.0, 1.0], "B": [1.0, 5.0, 4.0],
                                 "C": [2.0, 2.0, 6.0]},
                   "expression": "c0*A + c1*B + c2*C"},
        "parameters": {"mu": {"fixed": True}}})


def test_p_values_and_thresholds_follow_chi2_where_wilks_is_exact():
    model = _linear_gaussian()
    xs, ys = np.linspace(-1.0, 1.5, 3), np.linspace(-0.5, 1.5, 3)
    n_toys = 600
    grid = mc.calibrated_grid(model, ("c0", "c1"), xs, ys, n_toys=n_toys,
                              confidence_levels=(0.68, 0.95), rng=3)
    assert grid.status == "complete" and grid.rows_done == 3 and not grid.n_failed.any()
    # the observed q is the profile likelihood ratio; its p-value under chi2_2
    reference = chi2.sf(grid.q_observed, 2)
    error = np.sqrt(reference * (1 - reference) / n_toys) + 1e-3
    assert np.all(np.abs(grid.p_value - reference) < 4 * error)
    for k, cl in enumerate(grid.confidence_levels):
        np.testing.assert_allclose(grid.thresholds[..., k], chi2.ppf(cl, 2), rtol=0.2)
        assert grid.wilks_thresholds[k] == pytest.approx(chi2.ppf(cl, 2))
    # the truth of every point is its conditional best fit: c2 profiled, mu fixed
    for j, y in enumerate(ys):
        for i, x in enumerate(xs):
            best = mc.fit(model, fixed={"c0": x, "c1": y})
            np.testing.assert_allclose(grid.truth[j, i], best.x, atol=1e-8)
            assert grid.q_observed[j, i] == pytest.approx(
                2 * (best.fun - mc.fit(model).fun), abs=1e-8)


def test_rows_stream_in_order_and_cancel():
    model = mc.build_model(load_example("pyhf_one_bin"))
    axes = ("mu", "uncorr_bkguncrt[0]")
    xs, ys = np.linspace(0.0, 2.0, 3), np.linspace(0.7, 1.3, 3)
    rows = list(mc.iter_calibrated_grid(model, axes, xs, ys, n_toys=30, rng=1))
    assert [r.row for r in rows] == [0, 1, 2] and rows[-1].n_rows_done == 3
    full = mc.calibrated_grid(model, axes, xs, ys, n_toys=30, rng=1)
    np.testing.assert_array_equal(np.stack([r.p_value for r in rows]), full.p_value)
    seen = []
    cut = mc.calibrated_grid(model, axes, xs, ys, n_toys=30, rng=1, on_batch=seen.append,
                             should_stop=lambda: len(seen) == 1)
    assert cut.status == "cancelled" and cut.rows_done == 1
    np.testing.assert_array_equal(cut.p_value[0], full.p_value[0])
    assert np.isnan(cut.p_value[1:]).all()
    inside = full.inside(0.95)
    assert inside.shape == (3, 3) and inside.dtype == bool
    assert full.to_dict()["rows_done"] == 3
    with pytest.raises(ValueError, match="was not computed"):
        full.inside(0.9)


def test_bad_grids_are_refused():
    model = mc.build_model(load_example("pyhf_one_bin"))
    axes = ("mu", "uncorr_bkguncrt[0]")
    with pytest.raises(ValueError, match="xs must lie within the bounds of mu"):
        mc.calibrated_grid(model, axes, [-1.0, 1.0], [1.0], n_toys=5)
    with pytest.raises(ValueError, match="two names"):
        mc.calibrated_grid(model, ("mu",), [1.0], [1.0], n_toys=5)
    with pytest.raises(ValueError, match="name an axis twice"):
        mc.calibrated_grid(model, ("mu", "mu"), [1.0], [1.0], n_toys=5)
    with pytest.raises(ValueError, match="ys must be a non-empty"):
        mc.calibrated_grid(model, axes, [1.0], [], n_toys=5)
