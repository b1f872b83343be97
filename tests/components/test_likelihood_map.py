"""The likelihood map's data: core grids, automatic ranges, arrows and contour levels."""

import numpy as np
import pytest

import model_core as mc
from components import plots
from components.likelihood_map import RANGE_MARGIN, LikelihoodMap


def test_grid_is_the_core_grid(state):
    view = LikelihoodMap(state=state)
    assert view.grid.parameters == ("c0", "c1")
    reference = mc.nll_grid(state.model, ("c0", "c1"), view.grid.x_values, view.grid.y_values,
                            at=state.best.x)
    np.testing.assert_array_equal(view.grid.nll, reference.nll)
    best = state.best.x
    assert view.x_range[0] < best[1] < view.x_range[1]
    assert view.y_range[0] < best[2] < view.y_range[1]


def test_profiled_map_uses_the_profiled_grid(state):
    view = LikelihoodMap(state=state)
    view.others = "profile"
    assert view.grid.mode == "profile" and view.grid.nll.shape == (31, 31)
    reference = mc.nll_grid(state.model, ("c0", "c1"), view.grid.x_values, view.grid.y_values,
                            at=state.best.x, mode="profile")
    np.testing.assert_allclose(view.grid.nll, reference.nll, rtol=1e-10)
    # re-fitting the third parameter never raises the NLL above the fixed-c2 slice
    fixed = mc.nll_grid(state.model, ("c0", "c1"), view.grid.x_values, view.grid.y_values,
                        at=state.best.x)
    assert np.all(view.grid.nll <= fixed.nll + 1e-9)


def test_automatic_range_is_the_quadratic_region(linear_state):
    """For a quadratic NLL the range is the 2-parameter region's extent times the margin."""
    view = LikelihoodMap(state=linear_state)
    best = linear_state.best
    m = np.array([[10.0, 3.0], [2.0, 8.0]])
    hess = m.T @ np.linalg.inv([[4.0, 1.0], [1.0, 9.0]]) @ m
    delta = max(level.delta for level in plots.map_levels(0.95))
    # "fixed" mode: the other axis is re-fitted, everything else stays: the ellipse's extent
    half = RANGE_MARGIN * np.sqrt(delta * np.diag(np.linalg.inv(hess)))
    assert view.x_range == pytest.approx((best["a"] - half[0], best["a"] + half[0]), rel=1e-6)
    assert view.y_range == pytest.approx((best["b"] - half[1], best["b"] + half[1]), rel=1e-6)


def test_axes_and_range_changes_recompute(state):
    view = LikelihoodMap(state=state)
    frame = view.frame
    view.y_axis = "c2"
    assert view.grid.parameters == ("c0", "c2") and view.frame == frame + 1
    view.x_range = (-3.0, -1.0)
    assert view.grid.x_values[[0, -1]].tolist() == [-3.0, -1.0]
    assert view.frame == frame + 2
    view.x_axis = "c2"  # same as y: y moves to another parameter
    assert view.x_axis != view.y_axis


def test_edit_keeps_range_and_figure(state):
    view = LikelihoodMap(state=state)
    frame, ranges, figure = view.frame, (view.x_range, view.y_range), view.pane.object
    draft = state.spec_dict
    draft["data"][1] = 35.0
    assert state.propose(draft) is None
    # same figure (updated in place through the DynamicMap), same range, new data
    assert (view.frame, (view.x_range, view.y_range), view.pane.object) == (frame, ranges, figure)
    assert view.grid.x_values.tolist() == np.linspace(*ranges[0], 81).tolist()


def test_fewer_than_two_free_parameters(state):
    view = LikelihoodMap(state=state)
    draft = state.spec_dict
    draft["parameters"]["c0"]["fixed"] = True
    draft["parameters"]["c1"] = {"init": 1.0, "fixed": True}
    assert state.propose(draft) is None
    assert view.grid is None and view.notice.visible and not view.pane.visible


def test_levels_are_the_chi2_quantiles():
    levels = plots.map_levels(0.9)
    assert [lv.delta for lv in levels] == pytest.approx([2.2957489, 6.1800743, 4.6051702])


def test_arrows_point_up_the_log_likelihood(linear_state):
    """Each arrow, seen on the square plot, points where log L rises fastest: along -grad NLL
    rescaled by the axis spans, so it has a positive component towards the best fit."""
    view = LikelihoodMap(state=linear_state)
    grid = view.grid
    x, y, angle, length = plots.arrow_field(grid, n_arrows=9)
    span = np.array([np.ptp(grid.x_values), np.ptp(grid.y_values)])
    shown = np.column_stack([np.cos(angle), np.sin(angle)]) * length[:, None] / span
    ix = np.searchsorted(grid.x_values, x)
    iy = np.searchsorted(grid.y_values, y)
    ascent = -grid.grad[iy, ix] * span  # the gradient in plot units
    cosine = np.sum(shown * ascent, axis=1) / (
        np.linalg.norm(shown, axis=1) * np.linalg.norm(ascent, axis=1))
    assert np.allclose(cosine, 1.0)
    best = np.array([linear_state.best["a"], linear_state.best["b"]])
    towards = (best - np.column_stack([x, y])) / span
    assert np.all(np.sum(shown * towards, axis=1) > 0)


def test_map_figure_shows_the_grid(state):
    view = LikelihoodMap(state=state)
    fig = view.figure
    grid = view.grid
    image = fig.image_source.data["image"][0]
    np.testing.assert_allclose(image, np.where(np.isfinite(grid.nll),
                                               2 * (grid.nll - state.best.fun), np.nan),
                               rtol=1e-6, equal_nan=True)  # float32 on the wire
    assert fig.best_source.data["x"] == [state.best["c0"]]
    assert fig.best_source.data["y"] == [state.best["c1"]]
    labels = [item.label.value for item in fig.legend_items]
    assert [label.split(" (")[0] for label in labels[:3]] == ["1σ", "2σ", "95% CL"]
    assert fig.figure.xaxis[0].axis_label == "c0" and fig.figure.yaxis[0].axis_label == "c1"
    # on the CL contour, Delta chi-square = chi2.ppf(0.95, 2), up to the grid's resolution
    cl = fig.line_sources[2].data
    assert len(cl["x0"]) > 20
    xy = np.column_stack([cl["x0"], cl["y0"]])
    values = state.model.nll(np.column_stack([np.full(len(xy), 1.0), xy,
                                              np.full(len(xy), state.best["c2"])]))
    assert 2 * (values - state.best.fun) == pytest.approx(mc.delta_chi2(0.95, 2), abs=0.15)
    # the view fits the grid (pixels centred on the grid points)
    step = grid.x_values[1] - grid.x_values[0]
    assert fig.figure.x_range.start == pytest.approx(grid.x_values[0] - step / 2)
    assert fig.figure.x_range.end == pytest.approx(grid.x_values[-1] + step / 2)


def test_quantity_level_and_edit_update_in_place(state):
    view = LikelihoodMap(state=state)
    fig = view.figure
    fig.figure.x_range.update(start=-4.0, end=-1.0)  # the user zooms in
    view.quantity = "nll"
    assert np.nanmin(fig.image_source.data["image"][0]) == pytest.approx(
        np.nanmin(view.grid.nll), rel=1e-6)
    assert fig.colorbar.title == "NLL" and fig.hover.tooltips[2][0] == "NLL"
    state.confidence_level = 0.9
    assert fig.legend_items[2].label.value == "90% CL (Δχ²=4.61)"
    draft = state.spec_dict
    draft["data"][0] = 40.0
    assert state.propose(draft) is None
    assert (fig.figure.x_range.start, fig.figure.x_range.end) == (-4.0, -1.0)  # zoom kept
    assert view.pane.object is fig.figure


def test_arrow_heads_sit_on_the_tips():
    arrows = (np.array([0.0, 1.0]), np.array([0.0, 2.0]), np.array([0.0, np.pi / 2]),
              np.array([1.0, 0.5]))
    x0, y0, x1, y1 = plots.arrow_segments(arrows, (10.0, 10.0))
    assert len(x0) == 6  # a shaft and two head strokes per arrow
    np.testing.assert_allclose([x1[0], y1[0], x1[1], y1[1]], [1.0, 0.0, 1.0, 2.5], atol=1e-12)
    np.testing.assert_allclose([x0[2], y0[2], x0[4], y0[4]], [1.0, 0.0, 1.0, 0.0], atol=1e-12)
    # head strokes point back from the tip, symmetric about the shaft
    assert x1[2] < 1.0 and x1[4] < 1.0 and y1[2] == pytest.approx(-y1[4])
