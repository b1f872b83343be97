"""Profiled contours: against a dense grid of inner fits, iminuit's ``mncontour`` and
independent fits, on a counting model and on a HistFactory workspace."""

from __future__ import annotations

import numpy as np
import pytest
from region_models import CORRELATED, CORRELATED_3D
from scipy.spatial import cKDTree

import model_core as mc
from model_core.examples import load_example
from model_core.profile import profile_points
from model_core.workspace import synthetic_workspace


@pytest.fixture(scope="module")
def correlated():
    model = mc.build_model(CORRELATED)
    return model, mc.find_contour(model, parameters=["mu", "theta_0"], rng=0)


def _refit(model, names, points):
    """The NLL at ``points`` with every other parameter fitted afresh (``model_core.fit``)."""
    return np.array([mc.fit(model, fixed=dict(zip(names, p, strict=True))).fun
                     for p in points])


def test_profiled_contour_against_a_dense_grid(correlated):
    model, result = correlated
    assert result.status == "complete" and result.settings["profiled"] == ["theta_1"]
    assert np.all(np.abs(result.residuals) <= 1e-9)
    # the profiled parameter at each point is the inner fit's solution
    rows = np.linspace(0, len(result.contour_points) - 1, 8).astype(int)
    refit = _refit(model, ("mu", "theta_0"), result.contour_points[rows])
    assert refit == pytest.approx(np.full(len(rows), result.threshold), abs=1e-9)
    assert np.all(refit <= model.nll(result.full_points[rows]) + 1e-12)
    reference = mc.reference_surface(model, ["mu", "theta_0"], result.threshold,
                                     box=np.array([[-3.0, 6.0], [-4.0, 4.0]]), rng=0)
    cov = mc.contour_coverage(model, result.contour_points, reference=reference)
    assert cov.fraction_within(0.01) >= 0.99 and cov.largest_gap < 0.02
    # the reference's extent is the surface's: our metric agrees with it
    assert result.scale == pytest.approx(reference.extent, rel=0.01)


def test_profiled_contour_against_iminuit(correlated):
    iminuit = pytest.importorskip("iminuit")
    model, result = correlated
    minuit = iminuit.Minuit(lambda x: float(model.nll(np.asarray(x))), model.init.copy(),
                            name=model.parameter_names)
    minuit.errordef = iminuit.Minuit.LIKELIHOOD
    minuit.migrad()
    assert minuit.fval == pytest.approx(result.nll_min, abs=1e-6)
    points = minuit.mncontour("mu", "theta_0", cl=0.95, size=60)[:-1]
    assert len(result.contour_points) >= len(points)
    # MINUIT's points lie on our curve to its own accuracy (|NLL - T| up to ~0.05 here)
    refit = _refit(model, ("mu", "theta_0"), points)
    gap = cKDTree(result.contour_points / result.scale).query(points / result.scale)[0]
    assert np.all(np.abs(refit - result.threshold) < 0.1)
    assert np.all(gap < 0.02)
    # and ours are exact where MINUIT's are not
    assert np.max(np.abs(result.residuals)) < 1e-3 * np.max(np.abs(refit - result.threshold))


@pytest.mark.slow
def test_histfactory_contour_with_ten_nuisances_profiled():
    raw = synthetic_workspace(n_channels=4, n_bins=5, n_normsys=6, n_histosys=4,
                              n_staterror_channels=0, lumi=True, rng=7)
    model = mc.build_model(raw)
    assert model.npar == 12
    result = mc.find_contour(model, parameters=["mu", "lumi"], rng=0)
    assert result.status == "complete" and len(result.settings["profiled"]) == 10
    assert np.all(np.abs(result.residuals[~result.on_bound]) <= 1e-9)
    rows = np.linspace(0, len(result.contour_points) - 1, 5).astype(int)
    refit = _refit(model, ("mu", "lumi"), result.contour_points[rows])
    assert refit == pytest.approx(np.full(len(rows), result.threshold), abs=1e-8)
    box = np.column_stack([result.theta_mle - result.scale, result.theta_mle + result.scale])
    # every grid point and reference sample needs an inner fit of 10 parameters: a coarse
    # grid and 500 samples (a curve a few extents long: samples 1% apart or closer)
    reference = mc.reference_surface(model, ["mu", "lumi"], result.threshold, box=box,
                                     resolution=41, n_samples=500, rng=0)
    cov = mc.contour_coverage(model, result.contour_points, reference=reference)
    assert cov.fraction_within(0.01) >= 0.99 and cov.largest_gap < 0.02


# --- bounds of profiled contours -------------------------------------------------------------

@pytest.mark.parametrize(("example", "bounds"), [
    ("pyhf_one_bin", None),                   # mu >= 0 inside the region: one crossing
    ("pyhf_one_bin", (0.5, 2.0)),             # both bounds inside the region
    ("pyhf_two_bin_shapesys", None),          # the best fit on mu = 0
    ("pyhf_two_bin_shapesys", (0.0, 0.3)),    # ... and the upper bound inside the region
])
def test_one_axis_profiled_bound_points_against_the_profile(example, bounds):
    """With one axis the contour is the interval's two ends: a crossing of ``T`` where the
    profile crosses it, else the bound itself (flagged ``on_bound``) at the profile's NLL.
    The truth is :func:`model_core.profile` on a fine grid over the bounds."""
    model = mc.build_model(load_example(example))
    lo, hi = model.bounds[0] if bounds is None else bounds
    result = mc.find_contour(model, parameters=["mu"], rng=0,
                             bounds=None if bounds is None else {"mu": bounds})
    assert result.status == "complete" and result.settings["profiled"]
    grid = np.linspace(lo, hi, 4001)
    profile = mc.profile(model, "mu", grid)
    assert profile.success.all() and profile.nll_min == pytest.approx(result.nll_min, abs=1e-9)
    ends = profile.interval(0.95)
    order = np.argsort(result.contour_points[:, 0])
    points, on = result.contour_points[order, 0], result.on_bound[order]
    residuals = result.residuals[order]
    assert len(points) == 2
    for point, flagged, residual, end, bound, nll in zip(
            points, on, residuals, ends, (lo, hi), profile.nll[[0, -1]], strict=True):
        if np.isnan(end):  # the profile stays below T up to the bound
            assert flagged and point == bound
            assert residual + result.threshold == pytest.approx(nll, abs=1e-9)
        else:
            assert not flagged and abs(residual) <= 1e-9
            assert point == pytest.approx(end, abs=1e-5)


def test_three_axes_profiled_with_the_best_fit_on_a_bound():
    """Three axes, three background nuisances profiled, the best fit on the bound ``a >= a_cut``:
    the face there (the plane's points with profiled NLL <= T) is sampled evenly, each face
    point's NLL checked by independent batched inner fits (:func:`model_core.profile_points`)."""
    model = mc.build_model(CORRELATED_3D)
    free = mc.fit(model)
    cut = float(free.x[1]) + 0.8
    result = mc.find_contour(model, parameters=["a", "b", "c"], bounds={"a": (cut, None)},
                             rng=0, spacing=0.03)
    assert result.status == "complete" and len(result.settings["profiled"]) == 3
    assert result.theta_mle[0] == cut
    on = result.on_bound
    assert np.all(result.contour_points[on, 0] == cut)
    assert np.all(np.abs(result.residuals[~on]) <= 1e-9)
    assert np.all(result.residuals[on] <= 1e-9)
    pinned = [model.index(n) for n in ("mu", "a", "b", "c")]
    face = np.tile(free.x, (int(on.sum()), 1))  # inner fits started afresh
    face[:, 1:4] = result.contour_points[on]
    refit = profile_points(model, face, pinned)
    assert refit.success.all()
    assert refit.fun == pytest.approx(result.residuals[on] + result.threshold, abs=1e-8)
    # truth: a lattice over the plane, profiled NLL <= T by independent inner fits
    box = np.column_stack([result.theta_mle[1:] - result.scale[1:],
                           result.theta_mle[1:] + result.scale[1:]])
    b, c = np.meshgrid(np.linspace(*box[0], 121), np.linspace(*box[1], 121))
    base = np.tile(free.x, (b.size, 1))
    base[:, 1], base[:, 2], base[:, 3] = cut, b.ravel(), c.ravel()
    inside = profile_points(model, base, pinned).fun <= result.threshold
    truth = base[inside][:, 2:4]
    assert inside.sum() > 1000 and not inside[[0, -1]].any()  # the box holds the face
    # near the face's edge the nearest point may be one of the surface's, just off the plane
    U = result.contour_points / result.scale
    truth = np.column_stack([np.full(len(truth), cut), truth]) / result.scale
    gap = cKDTree(U).query(truth)[0]
    # the bars of the other tests (1% and 2% at the default spacing 0.008), in spacings
    h = result.settings["spacing"]
    assert np.mean(gap <= 1.25 * h) >= 0.99 and gap.max() < 2.5 * h
