"""The coverage check against closed-form surfaces: spheres, ellipses, profile intervals."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq

import model_core as mc


def _linear_mvn(templates: list[list[float]], variance: float) -> mc.Model:
    names = [chr(ord("A") + i) for i in range(len(templates))]
    pars = [f"p{i}" for i in range(len(templates))]
    n = len(templates[0])
    return mc.build_model({
        "kind": "multivariate_normal", "data": [10.0] * n, "background": [8.0] * n,
        "covariance": (variance * np.eye(n)).tolist(),
        "signal": {"templates": dict(zip(names, templates, strict=True)),
                   "expression": " + ".join(f"{p}*{t}" for p, t in zip(pars, names,
                                                                         strict=True))},
        "parameters": {"mu": {"fixed": True}}})


@pytest.fixture(scope="module")
def sphere():
    """NLL = NLL_min + |p - p_hat|^2 / 8: the contour is a sphere of radius 2 sqrt(Delta)."""
    model = _linear_mvn([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]], 4.0)
    best = mc.fit(model)
    T = mc.nll_threshold(best.fun, 0.95, 3)
    radius = 2.0 * np.sqrt(mc.delta_chi2(0.95, 3))
    box = np.column_stack([best.x[1:] - 1.5 * radius, best.x[1:] + 1.5 * radius])
    ref = mc.reference_surface(model, ["p0", "p1", "p2"], T, box=box, resolution=41, rng=0)
    return model, best, radius, ref


def test_sphere_reference_is_exact_and_uniform_by_area(sphere):
    _, best, radius, ref = sphere
    r = np.linalg.norm(ref.samples - best.x[1:], axis=1)
    assert r == pytest.approx(np.full(len(r), radius), rel=1e-9)
    assert ref.extent == pytest.approx(np.full(3, 2 * radius), rel=1e-3)
    z = (ref.samples[:, 2] - best.x[3]) / radius
    # Archimedes: the cap z > 1/2 holds a quarter of a sphere's area; z is uniform in [-1, 1]
    assert np.mean(z > 0.5) == pytest.approx(0.25, abs=0.015)
    assert np.mean(z) == pytest.approx(0.0, abs=0.015)
    assert len(ref.faces) > 0 and ref.faces.shape[1] == 3


def test_coverage_of_half_a_sphere(sphere):
    model, best, radius, ref = sphere
    # a Fibonacci lattice: 40000 evenly spread points on the sphere
    i = np.arange(40000) + 0.5
    z, phi = 1 - 2 * i / 40000, np.pi * (1 + 5 ** 0.5) * i
    v = np.column_stack([np.sqrt(1 - z * z) * np.cos(phi), np.sqrt(1 - z * z) * np.sin(phi), z])
    dense = best.x[1:] + radius * v
    full = mc.contour_coverage(model, dense, reference=ref, distances=(0.01, 0.02, 0.05))
    assert full.covered == 1.0 and full.largest_gap < 0.02
    half = mc.contour_coverage(model, dense[dense[:, 0] > best.x[1]], reference=ref)
    assert half.covered == pytest.approx(0.5, abs=0.03)
    # the far pole lies sqrt(2) radii (a radius is half the extent) from the half's rim
    assert half.largest_gap == pytest.approx(0.5 * np.sqrt(2), abs=0.01)
    chebyshev = mc.contour_coverage(model, dense[::20], reference=ref, norm="max")
    euclid = mc.contour_coverage(model, dense[::20], reference=ref)
    assert chebyshev.covered >= euclid.covered
    assert np.all(chebyshev.sample_distance <= euclid.sample_distance + 1e-15)


def test_ellipse_reference_and_finder_coverage():
    model = _linear_mvn([[3.0, 1.0], [1.0, 2.0]], 9.0)
    result = mc.find_contour(model, rng=0, n_radial=200, n_chains=10, n_steps=100,
                             n_gap_candidates=200)
    cov = mc.contour_coverage(model, result, rng=0)
    J = np.array([[3.0, 1.0], [1.0, 2.0]]).T
    F = J.T @ J / 9.0
    d = cov.reference.samples - result.theta_mle
    assert np.einsum("ni,ij,nj->n", d, F, d) == pytest.approx(
        np.full(len(d), result.delta), rel=1e-9)
    assert cov.reference.faces.shape[1] == 2
    assert cov.covered >= 0.99 and cov.largest_gap < 0.02
    assert cov.n_points == len(result.contour_points)


def test_one_dimensional_reference_is_the_profile_interval(two_bin):
    best = mc.fit(two_bin)
    T = mc.nll_threshold(best.fun, 0.95, 1)
    ref = mc.reference_surface(two_bin, ["mu"], T, box=np.array([[-4.0, 3.0]]))

    def profiled(mu):
        return mc.profile(two_bin, "mu", [mu], best=best).nll[0] - T

    expected = [brentq(profiled, -4, best.x[0], xtol=1e-13),
                brentq(profiled, best.x[0], 3, xtol=1e-13)]
    assert sorted(ref.samples[:, 0]) == pytest.approx(expected, abs=1e-8)
    result = mc.find_contour(two_bin, parameters=["mu"], rng=0)
    cov = mc.contour_coverage(two_bin, result)
    assert cov.covered == 1.0 and cov.largest_gap < 1e-6


def test_coverage_rejects_bad_input(sphere, three_shapes):
    model, _, _, ref = sphere
    with pytest.raises(ValueError, match="reference=reference_surface"):
        mc.contour_coverage(model, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="norm must be"):
        mc.contour_coverage(model, np.zeros((3, 3)), reference=ref, norm="l1")
    with pytest.raises(ValueError, match="at most 3 axes"):
        mc.reference_surface(mc.build_model({"kind": "multivariate_normal", "data": [1.0] * 4,
                                             "background": [1.0] * 4,
                                             "covariance": np.eye(4).tolist(),
                                             "signal": {"templates": {"A": [1.0] * 4},
                                                        "expression": "a*b*c*d*A"}}),
                             ["mu", "a", "b", "c"], 10.0)
