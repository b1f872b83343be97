"""The likelihood map's data: core grids, automatic ranges, arrows and contour levels."""

import numpy as np
import pytest

import model_core as mc
from components import plots
from components.likelihood_map import FINE_PROFILE, RANGE_MARGIN, LikelihoodMap
from components.map_figure import CL_DASH


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
    delta = max(level.delta(2) for level in plots.drawn_levels(0.95, [1, 2]))
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
    levels = plots.drawn_levels(0.9, [1, 2, 3])
    assert [level.label for level in levels] == ["1σ", "2σ", "3σ", "90% CL"]
    assert [lv.delta(2) for lv in levels] == pytest.approx(
        [2.2957489, 6.1800743, 11.8291558, 4.6051702])
    assert [lv.delta(1) for lv in levels] == pytest.approx([1.0, 4.0, 9.0, 2.7055435])


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
    labels = [item.label.value for item in fig.legend.items]
    assert labels == ["1σ (Δχ² = 2.30)", "2σ (Δχ² = 6.18)", "95% CL (Δχ² = 5.99)",
                      "−∇NLL (ascent of log L)", "best fit"]
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
    assert fig.legend.items[2].label.value == "90% CL (Δχ² = 4.61)"
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


def test_a_new_model_gets_a_new_range_unless_the_user_zoomed(state):
    """Issue: loading another model with the same axis names kept the old range."""
    view = LikelihoodMap(state=state)
    assert not view.user_zoomed
    assert state.load_example("three_shapes_correlated") is None
    assert view.x_range == view.suggested_range("c0", "c1")
    # the user zooms (a browser zoom moves both ends of a range)
    fig = view.figure.figure
    fig.x_range.update(start=-3.0, end=-1.0)
    assert view.user_zoomed
    kept = view.x_range
    assert state.load_example("three_shapes") is None
    assert view.x_range == kept and (fig.x_range.start, fig.x_range.end) == (-3.0, -1.0)
    view.auto_range = True  # asked for: the automatic range again
    assert not view.user_zoomed and view.x_range == view.suggested_range("c0", "c1")


def test_a_typed_range_counts_as_a_zoom(state):
    view = LikelihoodMap(state=state)
    view.x_range = (-5.0, 0.0)
    assert view.user_zoomed and view.grid.x_values[[0, -1]].tolist() == [-5.0, 0.0]
    assert state.load_example("three_shapes_correlated") is None
    assert view.x_range == (-5.0, 0.0)


def test_a_profiled_map_is_refined_in_the_background(state):
    view = LikelihoodMap(state=state)
    view.others = "profile"
    assert view.grid.nll.shape == (31, 31) and view.refining
    assert state.jobs.wait(timeout=300)
    assert view.grid.nll.shape == (FINE_PROFILE, FINE_PROFILE) and not view.refining
    reference = mc.nll_grid(state.model, ("c0", "c1"), view.grid.x_values, view.grid.y_values,
                            at=state.best.x, mode="profile")
    np.testing.assert_allclose(view.grid.nll, reference.nll, rtol=1e-10)
    assert view.figure.image_source.data["image"][0].shape == (FINE_PROFILE, FINE_PROFILE)
    view.others = "fixed"  # a pending refinement of the old view is dropped
    assert state.jobs.busy == [] and view.grid.mode == "fixed"


def test_figure_fills_the_width_with_the_legend_outside(state):
    fig = LikelihoodMap(state=state).figure
    assert fig.figure.sizing_mode == "stretch_width"
    assert fig.legend in fig.figure.right and fig.legend not in fig.figure.center


def test_arrows_show_on_light_and_dark_colours(state):
    """A dark halo under a light line: visible on the palette's yellow and its purple."""
    fig = LikelihoodMap(state=state).figure
    halo, line = (renderer.glyph for renderer in fig.arrows)

    def luminance(colour):
        named = {"white": "#ffffff"}.get(colour, colour)
        r, g, b = (int(named[i:i + 2], 16) / 255 for i in (1, 3, 5))
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    assert halo.line_width > line.line_width
    assert luminance(halo.line_color) < 0.2 and luminance(line.line_color) > 0.9


def test_the_cl_line_is_dashed_over_the_sigma_lines(state):
    view = LikelihoodMap(state=state)
    state.confidence_level = 0.68  # nearly the 1 sigma level of one parameter ...
    one, two, cl = (renderer.glyph for renderer in view.figure.lines[:3])
    assert one.line_dash == two.line_dash == "solid" and list(cl.line_dash) == CL_DASH
    assert one.line_color != cl.line_color  # ... and still both seen


def test_arrows_follow_the_shape_of_the_frame(linear_state):
    """On a frame twice as wide as high, arrows still cross the contours at right angles on
    screen: their screen direction is the screen gradient."""
    view = LikelihoodMap(state=linear_state)
    grid = view.grid
    frame = (800.0, 400.0)
    x, y, angle, length = plots.arrow_field(grid, n_arrows=9, frame=frame)
    span = np.array([np.ptp(grid.x_values), np.ptp(grid.y_values)])
    side = np.array(frame)
    screen = np.column_stack([np.cos(angle), np.sin(angle)]) * length[:, None] * side / span
    ix, iy = np.searchsorted(grid.x_values, x), np.searchsorted(grid.y_values, y)
    gradient = -grid.grad[iy, ix] * span / side  # d log L per screen pixel
    cosine = np.sum(screen * gradient, axis=1) / (
        np.linalg.norm(screen, axis=1) * np.linalg.norm(gradient, axis=1))
    assert np.allclose(cosine, 1.0)
