"""2-D grids for likelihood maps: values, gradients, profiled grids and the envelope theorem."""

from __future__ import annotations

import numpy as np
import pytest

import model_core as mc
from model_core.examples import load_example


@pytest.fixture(scope="module")
def three_shapes() -> mc.Model:
    return mc.build_model(load_example("three_shapes"))


def test_fixed_grid_matches_direct_evaluation(three_shapes):
    best = mc.fit(three_shapes)
    xs, ys = np.linspace(-4, 1, 7), np.linspace(-2, 2, 5)
    grid = mc.nll_grid(three_shapes, ("c0", "c1"), xs, ys, at=best.x)
    assert grid.nll.shape == (5, 7) and grid.grad.shape == (5, 7, 2)
    for j, y in enumerate(ys):
        for i, x in enumerate(xs):
            point = best.x.copy()
            point[1], point[2] = x, y
            assert grid.nll[j, i] == pytest.approx(float(three_shapes.nll(point)), rel=1e-13)
            np.testing.assert_allclose(grid.grad[j, i], three_shapes.grad(point)[[1, 2]],
                                       rtol=1e-12)
    np.testing.assert_array_equal(grid.x[2, 3, [1, 2]], [xs[3], ys[2]])


def test_profiled_grid_is_below_fixed_and_matches_refits(three_shapes):
    xs, ys = np.linspace(-6, 1, 8), np.linspace(-2.5, 2.5, 6)
    fixed_grid = mc.nll_grid(three_shapes, ("c0", "c1"), xs, ys)
    profiled = mc.nll_grid(three_shapes, ("c0", "c1"), xs, ys, mode="profile")
    assert profiled.success.all()
    assert np.all(profiled.nll <= fixed_grid.nll + 1e-12)
    for j, i in ((0, 0), (3, 5), (5, 7)):
        refit = mc.fit(three_shapes, fixed={"c0": xs[i], "c1": ys[j]})
        assert profiled.nll[j, i] == pytest.approx(refit.fun, abs=1e-9)


def test_profiled_gradient_is_the_derivative_of_the_profiled_nll(three_shapes):
    """Envelope theorem: d/dc0 of min_c2 NLL equals the partial derivative at the minimiser."""
    c0, c1, h = -3.0, 1.2, 1e-4
    grid = mc.nll_grid(three_shapes, ("c0", "c1"), [c0], [c1], mode="profile")

    def profiled(a: float, b: float) -> float:
        return mc.fit(three_shapes, fixed={"c0": a, "c1": b}).fun

    numeric = [(profiled(c0 + h, c1) - profiled(c0 - h, c1)) / (2 * h),
               (profiled(c0, c1 + h) - profiled(c0, c1 - h)) / (2 * h)]
    np.testing.assert_allclose(grid.grad[0, 0], numeric, rtol=1e-6, atol=1e-8)


def test_bad_arguments(three_shapes):
    with pytest.raises(ValueError, match="must differ"):
        mc.nll_grid(three_shapes, ("c0", "c0"), [0.0], [0.0])
    with pytest.raises(ValueError, match="y_values"):
        mc.nll_grid(three_shapes, ("c0", "c1"), [0.0], [])
    with pytest.raises(ValueError, match="mode"):
        mc.nll_grid(three_shapes, ("c0", "c1"), [0.0], [0.0], mode="exact")
