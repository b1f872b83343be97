"""The app in a real browser: loading, live edits, rejected edits, independent sessions."""

import re

import pytest

from .browser import JS_HELPERS, JS_MAP_XRANGE

pytestmark = pytest.mark.ui


def test_page_loads_with_map_and_profiles(open_page):
    app = open_page()
    page = app.page
    assert app.map_sum() > 0
    # the bins table shows the default model; the status line its NLL minimum
    assert page.locator(".tabulator-cell[tabulator-field='data']").first.inner_text() == "36"
    status = app.text(".le-status")
    assert "Three signal shapes" in status and "7.09307" in status
    app.screenshot("default_view.png")
    page.locator(".bk-Canvas").first.wait_for()
    # the contour finder's controls arrive by themselves once the page has loaded
    page.evaluate(JS_HELPERS)
    page.wait_for_function("() => window.leDeep('.le-progress-text') !== null",
                           timeout=60_000)
    app.tab("Profiles")
    for name in ("c0", "c1", "c2"):  # each parameter's interval, once its profile is in
        page.locator(".le-interval", has_text=f"{name} ∈").wait_for()
    texts = [app.text(".le-interval", i) for i in range(3)]
    assert [t.split(" ∈")[0] for t in texts] == ["c0", "c1", "c2"]
    assert "(bound)" in texts[0]  # the flat valley reaches the c0 bound
    app.screenshot("profiles.png")
    app.tab("Contour finder")
    page.locator(".tabulator-cell[tabulator-field='role']").first.wait_for()
    page.locator(".le-scatter .js-plotly-plot").first.wait_for()  # the empty 3-D view
    app.tab("Learn")
    page.locator(".le-learn mjx-container, .le-learn svg").first.wait_for()
    assert app.console_errors == []


def test_data_edit_changes_the_map_and_keeps_the_zoom(open_page):
    app = open_page()
    before = app.map_sum()
    zoom = [-4.5, -0.5]
    assert app.page.evaluate(JS_MAP_XRANGE, zoom) == zoom  # the user zooms in
    app.edit_cell("data", "45")
    after = app.wait_map_change(before)
    assert after != before
    assert app.page.evaluate(JS_MAP_XRANGE) == zoom  # updated in place: the zoom stays
    assert app.page.locator(".tabulator-cell[tabulator-field='data']").first.inner_text() == "45"
    assert app.page.locator(".le-error:visible").count() == 0
    app.page.evaluate(JS_MAP_XRANGE, [-10.4, 1.0])
    app.screenshot("map.png")
    assert app.console_errors == []


REJECTED = [
    ("negative yield", lambda app: app.edit_cell("data", "-5"), "must not be negative",
     "editor_error.png"),
    ("non-positive-definite covariance", lambda app: app.edit_cell("SR2", "500"),
     "not positive definite", None),
    ("bad expression", lambda app: _type_expression(app, "c0*A + * c1"), "syntax error", None),
]


def _type_expression(app, text):
    field = app.page.locator(".bk-input-group", has_text="Signal expression").locator("input")
    field.fill(text)
    field.press("Enter")


def test_rejected_edits_keep_the_previous_model(open_page):
    app = open_page()
    page = app.page
    for name, edit, message, shot in REJECTED:
        before = app.map_sum()
        edit(app)
        alert = page.locator(".le-error", has_text=message)
        alert.wait_for(state="visible")
        assert "still show the last valid model" in alert.evaluate(
            "(el) => el.shadowRoot.textContent"), name
        page.locator(".le-status", has_text="rejected").wait_for()  # the status line too
        assert app.map_sum() == before, name
        if shot:
            page.locator(".notyf__toast", has_text=message).first.wait_for()  # and a toast
            app.screenshot(shot)
        page.get_by_role("button", name="Revert to the model in use").click()
        alert.wait_for(state="hidden")
    assert app.console_errors == []


def test_two_sessions_are_independent(open_page):
    first, second = open_page(), open_page()
    sums = first.map_sum(), second.map_sum()
    assert sums[0] == sums[1]
    first.edit_cell("data", "44")
    changed = first.wait_map_change(sums[0])
    assert second.map_sum() == sums[1]
    assert second.page.locator(".tabulator-cell[tabulator-field='data']").first.inner_text() \
        == "36"
    second.edit_cell("background", "40")
    second.wait_map_change(sums[1])
    assert first.map_sum() == changed
    assert re.search(r"\b50\b", first.page.locator(
        ".tabulator-cell[tabulator-field='background']").first.inner_text())
