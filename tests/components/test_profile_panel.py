"""Profiles and the fit summary: the core's curves and intervals, closed forms, ranges that
follow the model, one line per level, recomputed after edits (newest wins)."""

import re

import numpy as np
import pytest

import model_core as mc
from components.analysis import interval_levels
from components.fit_panel import FitPanel, interval_cells
from components.plots import drawn_levels
from components.profile_panel import ProfilePanel
from model_core.summary import SUMMARY_LEVELS, fit_summary

HANG = 300


def shown(state, view_class=ProfilePanel, **params):
    """A view on screen with its results computed (the work drained here)."""
    view = view_class(analysis=state.analysis, **params)
    assert state.jobs.wait(timeout=HANG)
    return view


def test_linear_model_intervals_are_analytic(linear_state):
    panel = shown(linear_state)
    results = panel.analysis.results
    best = linear_state.best
    m = np.array([[10.0, 3.0], [2.0, 8.0]])
    cov = np.linalg.inv(m.T @ np.linalg.inv([[4.0, 1.0], [1.0, 9.0]]) @ m)
    assert list(results) == ["a", "b"]
    for i, name in enumerate(["a", "b"]):
        result = results[name]
        for cl in interval_levels(0.95, [1, 2]):
            half = np.sqrt(mc.delta_chi2(cl, 1) * cov[i, i])  # the marginal width
            interval = result.intervals[cl]
            assert (interval.lower, interval.upper) == pytest.approx(
                (best[name] - half, best[name] + half), rel=1e-6)
        # the curves reach past the widest interval and pass through its ends
        widest = max(result.intervals.values(), key=lambda iv: iv.delta)
        grid = result.profile.grid
        assert grid[0] < widest.lower and grid[-1] > widest.upper
        assert widest.lower in grid and widest.upper in grid
        assert np.all(result.profile.nll <= result.scan.nll + 1e-9)
        text = panel._cards[name][1].value
        assert f"95% CL: [{best[name] - np.sqrt(3.8415 * cov[i, i]):.4g}" in text


def test_the_range_follows_a_new_model(state):
    """Issue: after a model change the axis kept its old range ("[< 0, > 3.703]")."""
    panel = shown(state)
    assert state.load_example("two_bin_uncorrelated") is None
    assert state.jobs.wait(timeout=HANG)
    for name, result in panel.analysis.results.items():
        for interval in result.intervals.values():
            assert (interval.lower_kind, interval.upper_kind) == ("crossing", "crossing")
            grid = result.profile.grid
            assert grid[0] < interval.lower < interval.upper < grid[-1]
            # the ends sit on the threshold: an independent refit there
            ends = mc.profile(state.model, name, [interval.lower, interval.upper],
                              best=state.best)
            np.testing.assert_allclose(ends.delta_chi2, interval.delta, rtol=1e-5)
        words = re.sub(r"<[^>]+>", "", panel._cards[name][1].value)
        assert "<" not in words and ">" not in words and "bound" not in words


def test_a_flat_profile_is_said_to_be_unconstrained(state):
    """The default model's c0 runs along a flat valley from bound to bound."""
    panel = shown(state)
    text = panel._cards["c0"][1].value
    assert "95% CL: [-50 (bound), 1 (bound)] · never reaches the threshold: not constrained" \
        in text


def test_one_line_per_level_however_often_the_level_moves(state):
    """Issue: each confidence level visited left its threshold line behind."""
    panel = shown(state)
    figure = panel._cards["c1"][0]
    renderers = len(figure.figure.renderers) + len(figure.figure.center)
    for cl in (0.68, 0.9, 0.99, 0.95, 0.8):
        state.confidence_level = cl
        assert state.jobs.wait(timeout=HANG)
    assert len(figure.figure.renderers) + len(figure.figure.center) == renderers
    visible = [(span.location, list(span.line_dash)) for span in figure.lines if span.visible]
    levels = drawn_levels(0.8, [1, 2])
    assert visible == [(level.delta(1), [6] if level.sigma is None else [])  # dashed, solid
                       for level in levels]
    assert [label.text for label in figure.labels if label.visible] == ["1σ", "2σ", "80% CL"]
    interval = panel.analysis.results["c1"].intervals[0.8]
    assert (figure.shade.left, figure.shade.right) == (interval.lower, interval.upper)


def test_sixty_eight_percent_does_not_hide_one_sigma(state):
    panel = shown(state)
    state.confidence_level = 0.68
    assert state.jobs.wait(timeout=HANG)
    figure = panel._cards["c2"][0]
    one_sigma, cl = figure.lines[0], figure.lines[2]
    assert one_sigma.visible and cl.visible
    assert abs(one_sigma.location - cl.location) < 0.02  # nearly the same level ...
    assert list(one_sigma.line_dash) == [] and list(cl.line_dash) == [6]  # solid, dashed
    assert one_sigma.line_color != cl.line_color


def test_edits_supersede_running_updates(state):
    panel = ProfilePanel(analysis=state.analysis)  # starts an update
    draft = state.spec_dict
    draft["data"] = [40.0, 20.0]
    assert state.propose(draft) is None  # supersedes it
    state.confidence_level = 0.9  # and again
    assert state.jobs.wait(timeout=HANG)
    analysis = panel.analysis
    assert analysis.revision == state.revision and not analysis.computing
    result = analysis.results["c2"]
    assert 0.9 in result.intervals
    reference = mc.profile(state.model, "c2", result.profile.grid, best=state.best)
    np.testing.assert_allclose(result.profile.nll, reference.nll, rtol=1e-9)


def test_nothing_is_computed_off_screen(state):
    panel = ProfilePanel(analysis=state.analysis, active=False)
    assert state.jobs.busy == [] and panel.analysis.results == {}
    state.confidence_level = 0.9
    assert state.jobs.busy == [] and panel.analysis.stale
    panel.active = True
    assert state.jobs.wait(timeout=HANG) and list(panel.analysis.results) == ["c0", "c1", "c2"]


def test_fit_summary_shows_errors_intervals_and_correlations(linear_state):
    panel = shown(linear_state, FitPanel)
    summary = panel.analysis.summary
    best = linear_state.best
    direct = fit_summary(linear_state.model, best, SUMMARY_LEVELS)
    np.testing.assert_allclose(summary.errors, direct.errors, rtol=1e-12)
    np.testing.assert_allclose(summary.correlation, direct.correlation, rtol=1e-12)
    table = panel.table.value
    for n, name in enumerate(summary.parameter_names):
        assert f"<td>{summary.errors[n]:.3g}</td>" in table
        for got, want in zip(summary.intervals[name], direct.intervals[name], strict=True):
            assert (got.lower, got.upper) == pytest.approx((want.lower, want.upper), rel=1e-9)
            low, high = interval_cells(got)
            assert f"<td>{low}</td><td>{high}</td>" in table
    assert "profile interval 68.27% (− / +)" in table and "profile interval 95%" in table
    assert "valid minimum" in panel.status.value and "le-ok" in panel.status.value
    rho = panel.source.data["rho"]
    assert rho == pytest.approx(summary.correlation.ravel().tolist())
    assert panel.source.data["text"][1] == f"{summary.correlation[0, 1]:.2f}"


def test_fit_summary_of_a_singular_fit(state):
    panel = shown(state, FitPanel)
    assert "no: some combination" in panel.status.value  # the Hessian is singular
    assert panel.table.value.count("<td>—</td>") >= 3  # no Hessian errors
    assert set(panel.source.data["text"]) == {"—"}
    assert "-47.7 (bound)" in panel.table.value  # c0's intervals end on its bounds
