"""The finder's parts: whitening, rays, RATTLE steps, gap seeds, even spacing, the valley walk."""

from __future__ import annotations

import hypothesis.extra.numpy as hynp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import model_core as mc
from model_core.contour import rattle
from model_core.contour.gaps import HoleEdges, edge_points, farthest_points
from model_core.contour.radial import project_to_level, ray_limits, solve_rays
from model_core.contour.spacing import SpacedPoints
from model_core.contour.surface import ContourSurface
from model_core.contour.valley import walk_valley
from model_core.contour.whitening import build_whitener
from model_core.params import resolve_fixed

PROPERTY = settings(derandomize=True, deadline=None, max_examples=40)


def _surface(model, fixed=None, axes=None):
    fixed_idx = resolve_fixed(model, fixed)
    axes = axes or [i for i in range(model.npar) if i not in fixed_idx]
    best = mc.fit(model, fixed=fixed)
    k = len(axes)
    surface = ContourSurface(model, axes, fixed_idx, model.bounds,
                             best.fun + 0.5 * mc.delta_chi2(0.95, k))
    return surface, best


# --- whitening -----------------------------------------------------------------------------------

@PROPERTY
@given(hynp.arrays(np.float64, (3, 3), elements=st.floats(-3, 3)),
       hynp.arrays(np.float64, (4, 3), elements=st.floats(-5, 5)))
def test_whitening_round_trips_and_normalises(a, phi):
    hess = a @ a.T + 0.1 * np.eye(3)
    w = build_whitener(np.array([1.0, -2.0, 0.5]), hess)
    assert len(w.flat) == 0
    assert w.to_phi(w.to_x(phi)) == pytest.approx(phi, abs=1e-8)
    assert w.matrix.T @ hess @ w.matrix == pytest.approx(np.eye(3), abs=1e-8)


def test_whitening_detects_and_regularises_a_flat_direction():
    J = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 3.0]])  # rank 2: one exact null direction
    hess = J.T @ J
    w = build_whitener(np.zeros(3), hess)
    null = np.cross(J[0], J[1])
    assert len(w.flat) == 1
    assert abs(w.flat[0] @ null) == pytest.approx(np.linalg.norm(null))
    assert np.all(np.isfinite(w.matrix)) and np.all(np.isfinite(w.inverse))
    # the flat direction gets the softest real curvature, not an infinite stretch
    stretch = np.linalg.norm(w.inverse @ w.flat[0])
    assert stretch > 0.1 * np.sqrt(np.linalg.eigvalsh(hess)[1])


# --- rays ----------------------------------------------------------------------------------------

def _whitened_rays(surface, best, n, seed):
    """``n`` rays from the best fit in random whitened directions."""
    y0 = best.x[surface.axes]
    w = build_whitener(y0, surface.hessian(y0[None])[0])
    e = np.random.default_rng(seed).standard_normal((n, 3))
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    return solve_rays(surface, np.tile(y0, (n, 1)), e @ w.matrix.T,
                      r_init=np.sqrt(mc.delta_chi2(0.95, 3)))


def test_rays_on_a_quadratic_cross_at_sqrt_delta(ellipsoid):
    surface, best = _surface(ellipsoid)
    delta = mc.delta_chi2(0.95, 3)
    rays = _whitened_rays(surface, best, 50, seed=0)
    assert rays.ok.all() and not rays.on_bound.any()
    assert np.all(np.abs(rays.residual) <= 1e-9)
    assert rays.radius == pytest.approx(np.full(50, np.sqrt(delta)), rel=1e-9)


def test_ray_limits_and_bound_points(two_bin):
    bounds = np.array([[0.0, 1.0], [-np.inf, 2.0]])
    limit, axis, value = ray_limits(np.array([[0.5, 0.0], [0.5, 0.0], [0.5, 0.0]]),
                                    np.array([[1.0, 0.0], [0.0, -1.0], [0.0, 1.0]]), bounds)
    assert limit.tolist() == [0.5, np.inf, 2.0]
    assert axis[[0, 2]].tolist() == [0, 1] and value[[0, 2]].tolist() == [1.0, 2.0]
    # mu alone (thetas fixed at 0) with mu in [0, 10]: the region reaches the bound mu = 0
    fixed_idx = {1: 0.0, 2: 0.0}
    origin = np.array([[0.3], [0.3]])
    surface = ContourSurface(two_bin, [0], fixed_idx, np.array([[0.0, 10.0], [-5, 5], [-5, 5]]))
    level = surface.value(origin[:1])[0][0] + 0.5
    surface = surface.at_level(level)
    assert surface.value(np.array([[0.0]]))[0][0] < level
    rays = solve_rays(surface, origin, np.array([[1.0], [-1.0]]))
    assert rays.ok.all() and rays.on_bound.tolist() == [False, True]
    assert abs(rays.residual[0]) <= 1e-9 and rays.points[0, 0] > 0.3
    assert rays.points[1, 0] == 0.0 and rays.residual[1] < 0


def test_project_to_level(ellipsoid):
    surface, best = _surface(ellipsoid)
    Y = best.x[surface.axes] + np.random.default_rng(1).normal(scale=0.3, size=(20, 3))
    Y, residual, _, ok, _ = project_to_level(surface, Y)
    assert ok.all() and np.all(np.abs(residual) <= 1e-9)
    assert np.all(np.abs(surface.value(Y)[0] - surface.threshold) <= 1e-9)


# --- RATTLE ---------------------------------------------------------------------------------------

def test_rattle_steps_stay_on_the_surface_with_tangent_unit_momentum(ellipsoid):
    surface, best = _surface(ellipsoid)
    start = _whitened_rays(surface, best, 16, seed=2).points
    scale = np.array([2.0, 1.0, 0.5])
    rngs = np.random.default_rng(3).spawn(16)
    state = rattle.init(rngs, surface, start, np.zeros((16, 0)), scale=scale, step_size=0.05)
    moved = np.zeros(16, bool)
    for i in range(30):
        if i % 10 == 0:
            state = rattle.refresh(rngs, state, scale)
        state, info = rattle.step(state, surface, scale=scale, max_step=0.05)
        moved |= info.accepted
        assert np.all(np.abs(info.residual[info.accepted]) <= 1e-9)
        assert np.all(np.abs(state.value - surface.threshold) <= 1e-9)
        normal = state.grad * scale
        normal /= np.linalg.norm(normal, axis=1, keepdims=True)
        assert np.abs(np.einsum("bk,bk->b", state.momentum, normal)).max() < 1e-10
        assert np.linalg.norm(state.momentum, axis=1) == pytest.approx(np.ones(16))
    assert moved.all()


def test_rattle_rejects_and_shrinks_when_the_projection_fails(ellipsoid):
    surface, best = _surface(ellipsoid)
    y0 = best.x[surface.axes]
    start = solve_rays(surface, y0[None], np.array([[1.0, 0.0, 0.0]])).points
    rngs = np.random.default_rng(0).spawn(1)
    # a step ten times the region's size cannot be projected back onto it
    state = rattle.init(rngs, surface, start, np.zeros((1, 0)), scale=np.ones(3), step_size=50.0)
    new, info = rattle.step(state, surface, scale=np.ones(3), max_step=50.0)
    assert not info.accepted[0]
    assert np.array_equal(new.position, state.position)
    assert new.step_size[0] == 25.0


# --- gap seeds and spacing -----------------------------------------------------------------------

def test_farthest_points_spread_over_all_gaps():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    candidates = np.vstack([c + rng.normal(scale=0.1, size=(50, 2)) for c in centres])
    # the first gap is the largest: plain "largest score" picks would all land there
    distance = np.concatenate([np.full(50, 3.0), np.full(50, 2.0), np.full(50, 1.0)])
    pick = farthest_points(candidates, distance, 3)
    assert sorted(pick // 50) == [0, 1, 2]
    assert len(farthest_points(candidates, distance, 10, min_distance=2.5)) == 1


def test_edge_points_point_into_the_hole():
    g = np.arange(-10, 11) * 0.01
    grid = np.array([(x, y) for x in g for y in g])
    kept = grid[np.linalg.norm(grid, axis=1) > 0.05]  # a hole of radius 5 spacings at 0
    idx, heading = edge_points(kept, np.ones(len(kept), bool), 0.01, np.zeros((0, 2)), 4,
                               lambda u: np.abs(u).max(axis=1) < 0.095)
    assert len(idx) == 4
    assert np.all(np.linalg.norm(kept[idx], axis=1) < 0.08)
    # the heading points from the edge toward the hole's centre
    assert np.all(np.einsum("bk,bk->b", heading, -kept[idx]) > 0.7 * np.linalg.norm(kept[idx],
                                                                                     axis=1))


@PROPERTY
@given(st.lists(st.integers(1, 400), min_size=1, max_size=6), st.integers(0, 2**32 - 1))
def test_hole_edges_grown_in_steps_match_a_fresh_computation(steps, seed):
    """The incremental edges equal :func:`edge_points` on the whole set after every step."""
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0, 2 * np.pi, sum(steps))
    radius = 0.2 + 0.01 * rng.standard_normal(len(angle))
    # a ring with a patchy coverage: clusters, holes and lone points
    points = np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])
    usable = rng.random(len(points)) < 0.8
    occupied = rng.uniform(-0.2, 0.2, (3, 2))
    inside = lambda u: u[:, 0] < 0.15  # noqa: E731 - a bound cuts the ring
    edges, end = HoleEdges(0.01), 0
    for step in steps:
        end += step
        got = edges.select(points[:end], usable[:end], occupied, 8, inside)
        want = edge_points(points[:end], usable[:end], 0.01, occupied, 8, inside)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
        assert len(want[0]) > 0 or end < 50


@PROPERTY
@given(st.integers(1, 50))
def test_spacing_is_greedy_in_order_whatever_the_chunks(chunk):
    points = np.random.default_rng(4).random((300, 2)) * [2.0, 0.5]
    whole = SpacedPoints(np.zeros(2), np.array([2.0, 0.5]), 0.08)
    mask = whole.offer(points)
    parts = SpacedPoints(np.zeros(2), np.array([2.0, 0.5]), 0.08)
    mask_parts = np.concatenate([parts.offer(points[i:i + chunk])
                                 for i in range(0, len(points), chunk)])
    assert np.array_equal(mask, mask_parts)
    kept = whole.scaled(points[mask])
    d = np.linalg.norm(kept[:, None] - kept[None], axis=-1) + np.eye(len(kept))
    assert d.min() >= 0.08
    assert np.all(whole.distance(points) < 0.08 + 1e-12)  # every offered point is covered


# --- the valley ---------------------------------------------------------------------------------

def test_valley_walk_follows_the_exact_fit_curve_to_the_bounds(three_shapes):
    surface, best = _surface(three_shapes, fixed={"mu": 1.0})
    y0 = best.x[surface.axes]
    w = build_whitener(y0, surface.hessian(y0[None])[0])
    delta = mc.delta_chi2(0.95, 3)
    steps = 0.5 * np.sqrt(delta) / np.linalg.norm(np.vstack([w.flat, -w.flat]) @ w.inverse.T,
                                                  axis=1)
    walk = walk_valley(surface, y0, np.zeros(0), np.vstack([w.flat, -w.flat]), steps,
                       delta=delta)
    inner = walk.points[:, 0] > -50
    c0, c1, c2 = walk.points[inner].T
    u = c1 ** 2
    # exact fit: c0 = -(16 + 26 u) / 18, c2 = (-10/3 + 34 u / 3) / 20
    assert c0 == pytest.approx(-(16 + 26 * u) / 18, abs=2e-3)
    assert c2 == pytest.approx((-10 / 3 + 34 * u / 3) / 20, abs=2e-3)
    assert walk.nll[inner] - best.fun == pytest.approx(np.zeros(len(u)), abs=1e-6)
    assert np.all(walk.nll < surface.threshold)
    assert walk.reached_bound and not walk.capped
    # both ends: the c0 = -50 bound cuts the valley at c1 = +-sqrt((50 * 18 - 16) / 26)
    end = np.sqrt((50 * 18 - 16) / 26)
    assert walk.points[:, 1].min() < -0.97 * end and walk.points[:, 1].max() > 0.97 * end
    assert walk.points[:, 0].min() == -50


def test_every_island_gets_at_most_n_anchors_whatever_the_minima_added_with_it(three_shapes):
    """The best fit lies in a flat valley: its island's anchors are its minimum and valley
    points, ``n_anchors`` in all, also when another island's minimum is added with it."""
    from model_core.contour.anchors import find_anchors

    surface, best = _surface(three_shapes, fixed={"mu": 1.0})
    y0 = best.x[surface.axes]
    other = y0 + np.array([0.0, 0.0, 0.05])  # stands for a second island's minimum
    delta = mc.delta_chi2(0.95, 3)
    for minima in (y0[None], np.vstack([y0, other])):
        anchors = find_anchors(surface, minima, np.zeros((len(minima), 0)), delta=delta,
                               n_anchors=6, max_walk=200, first_owner=0)
        assert np.sum(anchors.owner == 0) == 6
        assert np.sum(anchors.owner == 1) == len(minima) - 1
        assert np.array_equal(anchors.points[anchors.owner == 0][0], y0)
