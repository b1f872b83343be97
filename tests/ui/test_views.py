"""The views in a real browser: profiles whose range follows the model, one line per level,
the fit summary, one confidence-level control, and a map that fills the page."""

import re

import pytest
from playwright.sync_api import expect

from components.likelihood_map import FINE_PROFILE

from .browser import JS_FIGURES, JS_MAP_XRANGE

pytestmark = pytest.mark.ui


def _interval_text(app, name):
    card = app.page.locator(".le-profile-card", has_text=name).locator(".le-interval")
    return card.evaluate("(el) => (el.shadowRoot || el).textContent")


def _profile_spans(app, name):
    (figure,) = app.figures(name)
    return figure["spans"], figure["labels"]


def test_profiles_follow_the_model_and_say_when_flat(open_page):
    """Issue: after a model change the profile axis kept its old range ("[< 0, > 3.703]"),
    and c0 read "[< -31.86, 1 (bound)]" while flat to the -50 bound."""
    app = open_page()
    page = app.page
    app.tab("Profiles")
    page.locator(".le-profile-card", has_text="c0").locator(
        ".le-interval", has_text="95% CL: [-50 (bound), 1 (bound)] · never reaches the "
        "threshold: not constrained by the data").wait_for()
    app.preset("Two bins, uncorrelated background")
    for name in ("mu", "theta_0", "theta_1"):
        card = page.locator(".le-profile-card", has_text=name).locator(".le-interval")
        card.filter(has_text="95% CL: [").wait_for()
        text = _interval_text(app, name)
        assert "<" not in text and ">" not in text and "bound" not in text, text
    # the range shows the 95% interval of mu (-2.637, 0.4845: MINOS-checked in the core's
    # tests), the figure's update being sent apart from the text
    page.wait_for_function(f"() => ({JS_FIGURES})('mu').some(f => f.x_range[0] < -2.637 && "
                           "f.x_range[1] > 0.4845)")


def test_one_labelled_line_per_level_however_often_the_level_moves(open_page):
    """Issue: moving the CL left one orange line per level visited (about 7)."""
    app = open_page()
    page = app.page
    app.tab("Profiles")
    page.locator(".le-profile-card", has_text="c1").locator(
        ".le-interval", has_text="95% CL:").wait_for()
    for level in (90, 99, 80, 68):
        app.set_level(level)
        page.locator(".le-profile-card", has_text="c1").locator(
            ".le-interval", has_text=f"{level}% CL:").wait_for()
    # the figure's lines (sent apart from the text) for the last level
    page.wait_for_function(f"() => ({JS_FIGURES})('c1').some(f => f.labels.includes("
                           "'68% CL'))")
    spans, labels = _profile_spans(app, "c1")
    assert labels == ["1σ", "2σ", "68% CL"]
    assert [round(s[0], 3) for s in spans] == [1.0, 4.0, 0.989]  # one line per level
    # 68% does not hide 1 sigma: the CL line is dashed, the sigma lines solid
    assert spans[0][1] == spans[1][1] == "[]" and spans[2][1] != "[]"
    assert spans[0][2] != spans[2][2]
    app.tab("Likelihood map")  # a tab off screen is sent again when shown
    page.wait_for_function(f"() => ({JS_FIGURES})('Δχ²').some(f => f.legend.includes("
                           "'68% CL (Δχ² = 2.28)'))")
    (map_figure,) = app.figures("Δχ²")
    legend = map_figure["legend"]
    assert legend[:3] == ["1σ (Δχ² = 2.30)", "2σ (Δχ² = 6.18)", "68% CL (Δχ² = 2.28)"]
    lines = [s for s in map_figure["segments"] if s[0] != "white" and s[0] != "#1a1a1a"]
    assert [s[2] for s in lines[:3]] == ['"solid"', '"solid"', "[8,6]"]
    app.screenshot("levels.png")


def test_one_confidence_level_control_showing_what_was_typed(open_page):
    """Issue: a slider and the finder's box, two copies kept in sync, the box showing
    0.8999999999999999."""
    app = open_page()
    page = app.page
    field = page.locator(".le-cl input").first
    for _ in range(5):  # five steps down from 95
        field.press("ArrowDown")
    field.press("Enter")
    app.tab("Contour finder")
    page.locator(".le-level-note", has_text="Confidence level 90%").wait_for()
    assert field.input_value() == "90"
    # the finder has no box of its own: one control on the page
    assert page.locator(".bk-input-group", has_text="Confidence level").count() == 1


def test_the_fit_summary_follows_the_model(open_page):
    app = open_page()
    page = app.page
    app.preset("Two bins, uncorrelated background")
    app.tab("Fit summary")
    table = page.locator(".le-fit-table", has_text="theta_1")
    table.filter(has_text="profile interval 68.27%").wait_for()
    # mu's MINOS-style errors, 68.27% and 95% (the core's tests check them against iminuit)
    page.locator(".le-fit-table", has_text="-0.794").wait_for()
    page.locator(".le-fit-table", has_text="+1.57").wait_for()
    status = page.locator(".le-fit-status").evaluate("(el) => (el.shadowRoot || el).textContent")
    assert "valid minimum" in status and "Hessian positive definite" in status
    (heatmap,) = app.figures("Correlations")
    assert heatmap["title"].startswith("Correlations")
    app.screenshot("fit_summary.png")
    nll = re.search(r"NLLmin\s*([\d.]+)", status).group(1)
    app.edit_cell("data", "45")  # live with the model
    expect(page.locator(".le-fit-status")).not_to_contain_text(nll)
    assert app.console_errors == []


def test_the_map_fills_the_page_with_readable_layers(open_page):
    app = open_page()
    page = app.page
    page.set_viewport_size({"width": 1920, "height": 1080})
    # the main area is ~1450 px wide beside the editor: the map's data area takes most of it
    # (400 px wide before, in a fixed-size figure)
    page.wait_for_function(f"() => ({JS_FIGURES})('Δχ²')[0].inner_width > 900")
    (figure,) = app.figures("Δχ²")
    assert figure["legend_outside"]  # the legend sits beside the data, not on it
    arrows = [s for s in figure["segments"] if s[0] in ("white", "#1a1a1a")]
    halo, line = sorted(arrows, key=lambda s: -s[1])
    assert halo[0] == "#1a1a1a" and line[0] == "white" and halo[3] == line[3] > 0
    page.set_viewport_size({"width": 1280, "height": 800})


def test_the_map_range_follows_a_new_model_unless_zoomed(open_page):
    app = open_page()
    start = app.page.evaluate(JS_MAP_XRANGE)
    app.preset("Three signal shapes (correlated background)")
    app.page.wait_for_function(f"() => ({JS_MAP_XRANGE})()[0] !== {start[0]}")
    zoom = [-4.0, -1.0]
    app.page.evaluate(JS_MAP_XRANGE, zoom)  # the user zooms
    before = app.map_sum()
    app.preset("Three signal shapes (multivariate normal)")
    app.wait_map_change(before)  # the new model drawn ...
    assert app.page.evaluate(JS_MAP_XRANGE) == zoom  # ... where the user zoomed


def test_a_profiled_map_is_fine_enough(open_page):
    """Issue: a profiled map stayed at 31 x 31, so a narrow valley was a few blocky pixels."""
    app = open_page()
    page = app.page
    page.locator(".bk-btn", has_text="profiled (re-fitted)").click()
    page.locator(".le-info", has_text="others profiled").filter(
        has_text=f"{FINE_PROFILE}×{FINE_PROFILE} grid").wait_for()
    # the image itself (sent apart from the line under it)
    page.wait_for_function(f"(n) => ({JS_FIGURES})('Δχ²').some(f => f.image && "
                           "f.image[0] === n && f.image[1] === n)", arg=FINE_PROFILE)
