"""The finder on models nobody tuned it for: islands, a banana, bound faces, wild scales.

Every truth comes from an independent method: analytic roots and quadratic
forms, or :func:`model_core.reference_surface` (a grid, marching squares or
cubes, every vertex refined onto ``NLL = T``).  Coverage is measured in the
metric of the reference surface's extent; the bar is 99% of it within 1% and
no gap of 2% or more.
"""

from __future__ import annotations

import numpy as np
import pytest
from region_models import (
    BANANA,
    ELLIPSOID_CUT,
    ROOTS,
    TWO_BASINS,
    UNEQUAL,
    WILD_SCALES,
    bound_segment,
    ellipsoid_face,
    ellipsoid_half_widths,
)
from scipy.spatial import cKDTree
from scipy.stats import chi2

import model_core as mc
from model_core.contour.run import RESCALE_GROWTH


def _coverage(model, result, reference):
    cov = mc.contour_coverage(model, result.contour_points, reference=reference)
    assert cov.fraction_within(0.01) >= 0.99, cov
    assert cov.largest_gap < 0.02, cov
    return cov


def _reference(model, result, box, **kwargs):
    return mc.reference_surface(model, result.parameter_names, result.threshold, box=box,
                                bounds=result.settings["bounds"], rng=0, **kwargs)


# --- islands -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def two_basins():
    return mc.build_model(TWO_BASINS)


def test_two_islands_of_equal_depth(two_basins):
    result = mc.find_contour(two_basins, rng=0)
    assert result.status == "complete" and len(result.islands) == 2
    minima = np.array([i.minimum for i in result.islands])
    order = np.argsort(-minima[:, 0])
    assert minima[order] == pytest.approx(ROOTS, abs=1e-6)
    assert result.islands[0].nll == pytest.approx(result.islands[1].nll, abs=1e-9)
    assert sum(i.n_points for i in result.islands) == len(result.contour_points)
    assert np.all(np.abs(result.residuals) <= 1e-9)
    # each point belongs to the island it surrounds
    near = np.argmin(np.linalg.norm(result.contour_points[:, None] - minima[None], axis=-1),
                     axis=1)
    assert np.array_equal(near, result.island)
    reference = _reference(two_basins, result, np.array([[-12.0, 6.0], [-45.0, 15.0]]))
    _coverage(two_basins, result, reference)


def test_an_island_out_of_reach_of_the_fit_is_found_by_the_search(two_basins):
    """With the fit started at ``init`` only (``n_starts=1``) the second basin is reached by
    the search for islands alone; without the search it is missed."""
    alone = mc.find_contour(two_basins, rng=0, n_starts=1, n_explore=0)
    assert len(alone.islands) == 1  # what the finder used to report, as "complete"
    result = mc.find_contour(two_basins, rng=0, n_starts=1)
    assert len(result.islands) == 2
    assert any("1 more island found" in note for note in result.notes)
    # the axes are open: the result says how far it looked, and warns
    assert result.search_box[0, 0] < ROOTS[1, 0] and result.search_box[1, 0] < ROOTS[1, 1]
    assert any("beyond the searched box" in w for w in result.warnings)
    reference = _reference(two_basins, result, np.array([[-12.0, 6.0], [-45.0, 15.0]]))
    _coverage(two_basins, result, reference)


def test_descents_are_left_out_only_when_every_start_falls_straight_to_a_known_minimum(
        two_basins, monkeypatch):
    """Before descending, the search looks along the line from each start to the known
    minima.  With the second basin unknown, some starts lie behind a barrier and every
    start is descended; once it is known, the NLL falls straight from every start to a
    known minimum, no start is descended, and each of them, descended independently
    (:func:`model_core.fit` from it alone), indeed ends in a known minimum."""
    from model_core.contour import explore

    seen = []
    behind_barrier = explore._behind_barrier

    def record(run, X, value):
        behind = behind_barrier(run, X, value)
        seen.append((X.copy(), behind, run.minima.copy()))
        return behind

    monkeypatch.setattr(explore, "_behind_barrier", record)
    batches = []
    result = mc.find_contour(two_basins, rng=0, n_starts=1, on_batch=batches.append)
    assert len(result.islands) == 2 and len(seen) == 2
    (first, behind, known), (again, behind_again, both) = seen
    assert len(known) == 1 and behind.any() and len(both) == 2 and not behind_again.any()
    ends = np.array([mc.fit(two_basins, init=x).x[1:] for x in again])
    assert np.all(np.min(np.abs(ends[:, None] - both[None]).max(axis=2), axis=1) < 1e-4)
    # the second basin is reached from the first round's starts behind a barrier
    ends = np.array([mc.fit(two_basins, init=x).x[1:] for x in first[behind]])
    assert np.all(np.max(np.abs(ends - ROOTS[1]), axis=1) < 1e-3)
    explored = [b.message for b in batches if b.stage == "explore"]
    assert "64 descents, 1 new island" in explored[0]
    assert "no descents (from each of 64 starts the NLL falls straight" in explored[1]


def test_two_islands_of_unequal_depth():
    model = mc.build_model(UNEQUAL)
    result = mc.find_contour(model, rng=1, n_starts=1)
    assert len(result.islands) == 2
    deep, shallow = result.islands
    best = mc.fit(model, init={"mu": 1.0, "c0": 1.4, "c1": 2.0})
    other = mc.fit(model, init={"mu": 1.0, "c0": -6.4, "c1": -28.0})
    assert deep.nll == pytest.approx(best.fun, abs=1e-9)
    assert shallow.nll == pytest.approx(other.fun, abs=1e-9)
    assert deep.nll < shallow.nll < result.threshold
    assert deep.minimum == pytest.approx(best.x[1:], abs=1e-6)
    assert shallow.minimum == pytest.approx(other.x[1:], abs=1e-6)
    reference = _reference(model, result, np.array([[-12.0, 6.0], [-45.0, 15.0]]))
    _coverage(model, result, reference)


# --- complete surfaces ---------------------------------------------------------------------

@pytest.mark.slow
def test_banana_region_is_covered_and_the_metric_follows_it():
    model = mc.build_model(BANANA)
    result = mc.find_contour(model, rng=0)
    assert result.status == "complete" and len(result.islands) == 1
    # exact: (a - 2, b - a**2 - 1, c - 1) on the ellipsoid of axes (1, 0.2, 1) * sqrt(Delta)
    a, b, c = result.contour_points.T
    q = (a - 2.0) ** 2 + (b - a**2 - 1.0) ** 2 / 0.04 + (c - 1.0) ** 2
    assert q == pytest.approx(np.full(len(q), result.delta), abs=1e-8)
    box = np.array([[-2.0, 6.0], [-2.0, 26.0], [-3.0, 5.0]])
    reference = _reference(model, result, box, resolution=81)
    _coverage(model, result, reference)
    # the metric is the whole banana's extent (re-scaled once the chains found it larger),
    # not what the first rays saw
    assert any("re-scaled" in note for note in result.notes)
    # (the grid's extent falls short of the true one by up to a grid step)
    assert np.all(result.scale >= reference.extent / (1.0 + RESCALE_GROWTH))
    assert np.all(result.scale <= reference.extent * 1.03)


def test_budget_stop_estimates_the_uncovered_share():
    model = mc.build_model(BANANA)
    result = mc.find_contour(model, rng=0, max_points=3000, n_explore=0)
    assert result.status == "budget_exhausted" and len(result.contour_points) == 3000
    box = np.array([[-2.0, 6.0], [-2.0, 26.0], [-3.0, 5.0]])
    reference = _reference(model, result, box, resolution=61)
    far = cKDTree(result.contour_points / result.scale).query(
        reference.samples / result.scale)[0] > result.settings["spacing"]
    assert result.uncovered == pytest.approx(far.mean(), abs=0.1)
    assert f"{result.uncovered:.1%}" in result.message


def test_axes_with_scales_1e7_apart():
    model = mc.build_model(WILD_SCALES)
    result = mc.find_contour(model, rng=0)
    J = np.array([[1e-7, 0.0], [0.5, 1.0]]).T
    F = J.T @ np.linalg.inv(np.array(WILD_SCALES["covariance"])) @ J
    theta = np.linalg.solve(J, [3.0, 1.0])
    assert result.theta_mle == pytest.approx(theta, rel=1e-9)
    d = result.contour_points - theta
    assert np.einsum("ni,ij,nj->n", d, F, d) == pytest.approx(
        np.full(len(d), result.delta), rel=1e-8)
    assert result.scale[0] / result.scale[1] == pytest.approx(
        np.sqrt(np.linalg.inv(F)[0, 0] / np.linalg.inv(F)[1, 1]), rel=0.01)
    reference = _reference(model, result, np.column_stack([theta - 3 * result.scale,
                                                           theta + 3 * result.scale]))
    _coverage(model, result, reference)


# --- bound faces ---------------------------------------------------------------------------

def test_three_dimensional_region_cut_by_a_bound(ellipsoid, ellipsoid_fisher):
    best = mc.fit(ellipsoid)
    F = ellipsoid_fisher
    delta = chi2.ppf(0.95, 3)
    half = ellipsoid_half_widths(F, delta)
    cut = best.x[1] + ELLIPSOID_CUT * half[0]
    result = mc.find_contour(ellipsoid, rng=0, bounds={"a": (None, cut)})
    on = result.on_bound
    d = result.contour_points - best.x[1:]
    q = np.einsum("ni,ij,nj->n", d, F, d)
    assert np.all(result.contour_points[:, 0] <= cut)
    assert q[~on] == pytest.approx(np.full(int((~on).sum()), delta), rel=1e-8)
    assert np.all(result.contour_points[on, 0] == cut) and np.all(q[on] <= delta * (1 + 1e-8))
    # the face: every point of the ellipse {a = cut, q <= delta} lies near a face point
    face, extent = ellipsoid_face(best.x[1:], F, delta, cut)
    gap = cKDTree(result.contour_points[on] / extent).query(face / extent)[0]
    assert np.mean(gap <= 0.01) >= 0.99 and gap.max() < 0.02
    # and its edge is sampled: face points within tol of T all around the ellipse
    edge = on & (np.abs(result.residuals) <= 1e-9)
    assert edge.sum() > 50
    reference = _reference(ellipsoid, result, np.column_stack([best.x[1:] - 1.2 * half,
                                                               best.x[1:] + 1.2 * half]),
                           resolution=61)
    _coverage(ellipsoid, result, reference)
    assert any("bound face" in note for note in result.notes)


def test_best_fit_on_a_bound_gives_a_sampled_face(two_bin):
    """A deficit with mu >= 0: the best fit sits on mu = 0, and the face there is a segment
    of theta_0 (theta_1 profiled), sampled along its whole length."""
    bounds = {"mu": (0.0, 10.0)}
    result = mc.find_contour(two_bin, parameters=["mu", "theta_0"], bounds=bounds, rng=0)
    assert result.theta_mle[0] == 0.0 and result.status == "complete"
    on = result.on_bound
    face = np.sort(result.contour_points[on, 1])
    assert np.all(result.contour_points[on, 0] == 0.0)
    # truth: where the profiled NLL along mu = 0 crosses T
    best = mc.fit(two_bin, bounds=bounds)
    lo, hi = bound_segment(two_bin, result.threshold, "mu", 0.0, "theta_0", best.x[1])
    assert lo - 1e-7 <= face[0] and face[-1] <= hi + 1e-7
    assert np.all(result.residuals[on] <= 1e-9)
    # the whole segment is sampled: every point of it within a spacing of a point
    # (its ends are where the curve NLL = T meets the bound)
    h = result.settings["spacing"]
    segment = np.column_stack([np.zeros(2001), np.linspace(lo, hi, 2001)])
    gap = cKDTree(result.contour_points / result.scale).query(segment / result.scale)[0]
    assert gap.max() <= h * (1 + 1e-9)
    # ... evenly: face points at least a spacing apart, and many of them
    assert np.diff(face).min() / result.scale[1] >= h * (1 - 1e-9)
    assert len(face) >= 0.5 * (hi - lo) / result.scale[1] / h
    reference = _reference(two_bin, result, np.array([[0.0, 3.0], [-3.0, 3.0]]),
                           resolution=81)
    _coverage(two_bin, result, reference)
