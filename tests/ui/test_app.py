"""The app in a real browser: loading, live edits, rejected edits and how they read,
presets, the teaching model, independent sessions."""

import re

import pytest
from playwright.sync_api import expect

from .browser import JS_MAP_XRANGE

pytestmark = pytest.mark.ui


def test_page_loads_with_map_profiles_fit_and_learn(open_page):
    app = open_page()
    page = app.page
    assert app.map_sum() > 0
    # the bins table shows the default model; the status line its NLL minimum
    assert page.locator(".tabulator-cell[tabulator-field='data']").first.inner_text() == "36"
    status = app.text(".le-status")
    assert "Three signal shapes" in status and "7.09307" in status
    app.screenshot("default_view.png")
    app.tab("Profiles")
    for name in ("c0", "c1", "c2"):  # each parameter's intervals, once its profile is in
        page.locator(".le-profile-card", has_text=name).locator(
            ".le-interval", has_text="95% CL:").wait_for()
    app.screenshot("profiles.png")
    app.tab("Fit summary")
    page.locator(".le-fit-table", has_text="profile interval 95%").wait_for()
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


def _type_expression(app, text, enter=True):
    field = app.page.locator(".bk-input-group", has_text="Signal expression").locator("input")
    field.fill(text)
    if enter:
        field.press("Enter")


def _shadow_text(locator):
    return locator.evaluate("(el) => (el.shadowRoot || el).textContent")


REJECTED = [
    # what the user does, where the message shows, what it says (fields named as on screen,
    # values as typed, a correlation beyond 1 said as one), a piece of it, the screenshot
    ("negative yield", lambda app: app.edit_cell("data", "-5"), ".le-error",
     "n, bin SR1: must not be negative (got -5)", "must not be negative", "editor_error.png"),
    ("covariance beyond its variances", lambda app: app.edit_cell("SR2", "500"), ".le-error",
     "correlation of bins SR1 and SR2: covariance 500 with standard deviations 12 and 16",
     "means a correlation of 2.6", None),
    ("bad expression", lambda app: _type_expression(app, "c0*A + c1**2*B + * c2"),
     ".le-feedback", "signal expression: syntax error", "syntax error", None),
]

#: How many text nodes on the page (shadow roots included) contain the argument.
JS_COUNT_TEXT = """(fragment) => {
  let n = 0;
  const walk = (root) => {
    const nodes = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    while (nodes.nextNode()) if (nodes.currentNode.textContent.includes(fragment)) n++;
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) walk(el.shadowRoot);
  };
  walk(document);
  return n;
}"""


@pytest.mark.parametrize("name, edit, where, message, fragment, shot", REJECTED,
                         ids=[r[0] for r in REJECTED])
def test_rejected_edits_read_well_once_and_keep_the_previous_model(
        open_page, name, edit, where, message, fragment, shot):
    app = open_page()
    page = app.page
    before = app.map_sum()
    edit(app)
    # the message as it stays (while typing, the expression's line already shows the
    # error, without "not applied": that state is replaced once Enter is handled)
    alert = page.locator(where, has_text=message).filter(
        has_text="still show the last valid model")
    alert.wait_for(state="visible")
    assert "np.float64" not in _shadow_text(alert)
    page.locator(".le-status", has_text="rejected").wait_for()  # the status line too
    assert app.map_sum() == before
    # one copy of the message on the page (no toast, no second alert)
    assert page.evaluate(JS_COUNT_TEXT, fragment) == 1
    if shot:
        app.screenshot(shot)
    page.get_by_role("button", name="Revert to the model in use").click()
    alert.wait_for(state="hidden")
    assert app.console_errors == []


#: The text of every expression-with-caret block visible on the page.
JS_CARETS = """() => {
  const out = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('pre.expr-caret'))
      if (el.getClientRects().length) out.push(el.textContent);
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) walk(el.shadowRoot);
  };
  walk(document);
  return out;
}"""


def test_an_expression_error_reads_as_typed_with_the_caret_under_it(open_page):
    app = open_page()
    page = app.page
    _type_expression(app, "c0*A + c1**2*B + * c2")  # entered: rejected
    page.locator(".le-status", has_text="rejected").wait_for()  # with its message
    (block,) = page.evaluate(JS_CARETS)  # one copy, as typed (not read as Markdown)
    expression, pointer = block.split("\n")
    assert expression == "c0*A + c1**2*B + * c2"
    assert pointer.index("^") == 17 and expression[17] == "*"
    # a stale error goes once the input parses again (before it is even applied)
    _type_expression(app, "c0*A + c1**2*B + c2*C", enter=False)
    page.locator(".le-feedback", has_text="✓ parses").wait_for()
    assert "syntax error" not in _shadow_text(page.locator(".le-feedback"))
    assert page.evaluate(JS_CARETS) == []


def test_a_typo_in_the_expression_is_not_a_silent_new_parameter(open_page):
    app = open_page()
    page = app.page
    before = app.map_sum()
    _type_expression(app, "c0*A + c1**2*B + c2*D", enter=False)
    warning = page.locator(".le-feedback", has_text="D is not a template (templates: A, B, C)"
                                                    "; it will be a new parameter")
    warning.wait_for()
    assert "template C is not used" in _shadow_text(warning)
    _type_expression(app, "c0*A + c1**2*B + c2*D")
    page.locator(".le-feedback", has_text="Not applied yet").wait_for()
    confirm = page.get_by_role("button", name="Use it: add the new parameter")
    expect(confirm).to_be_visible()
    assert app.map_sum() == before
    confirm.click()
    app.wait_map_change(before)
    page.locator(".tabulator-cell[tabulator-field='parameter']", has_text="D").wait_for()


def test_a_valid_model_is_never_refused_after_a_warm_start(open_page):
    """Two bins uncorrelated -> remove a bin -> n = 15 -> b = 10 was refused ("the
    likelihood is zero everywhere the fit looked"), and so was every later edit."""
    app = open_page()
    page = app.page
    app.preset("Two bins, uncorrelated background")
    app.wait_map_title("(mu, theta_0)")
    before = app.map_sum()
    page.get_by_role("button", name="− bin").click()
    before = app.wait_map_change(before)
    for column, value in (("data", "15"), ("background", "10"), ("uncertainty", "3.5"),
                          ("t:S", "5")):
        app.edit_cell(column, value)
        before = app.wait_map_change(before)
        assert page.locator(".le-error:visible").count() == 0, column
        assert "rejected" not in app.text(".le-status")
    # n = b + s: the best fit is mu = 1, and the map is drawn around it
    page.locator(".le-status", has_text="NLLmin = 3.19746").wait_for()


def test_the_teaching_model_from_a_readable_preset(open_page):
    app = open_page()
    page = app.page
    options = page.locator(".bk-input-group", has_text="Load a preset").locator("option")
    options.filter(has_text="One-bin counting experiment").wait_for(state="attached")
    labels = options.all_inner_texts()
    assert labels[:2] == ["Choose a preset…", "One-bin counting experiment"]
    assert not any("_" in label for label in labels)  # names, not file stems
    app.preset("One-bin counting experiment")
    page.locator(".le-description", has_text="the classic counting experiment").wait_for()
    for field, value in (("data", "15"), ("background", "10"), ("uncertainty", "3.5"),
                         ("t:s", "5")):  # n, b, sigma_b, s: editable
        page.locator(f".tabulator-cell[tabulator-field='{field}']", has_text=value).wait_for()
    app.wait_map_title("(mu, theta_0)")
    headers = page.locator(".tabulator-col-title").all_inner_texts()
    assert {"n", "b", "σ_b", "s"} <= set(headers)
    before = app.map_sum()
    app.edit_cell("data", "12")
    app.wait_map_change(before)
    # the name follows a structural edit
    before = app.map_sum()
    page.get_by_role("button", name="+ bin").click()
    app.wait_map_change(before)
    page.locator(".le-status", has_text="Two bins, uncorrelated background").wait_for()
    # the Learn tab explains the bound mu >= 0 with this model
    app.tab("Learn")
    learn = page.locator(".le-learn", has_text="Intervals at a physical bound")
    learn.wait_for()
    page.locator(".le-learn", has_text="mu ∈ [0, 10]").wait_for()
    app.screenshot("learn_bounds.png")
    assert app.console_errors == []


def test_revert_forgets_the_uploaded_file(open_page):
    app = open_page()
    page = app.page
    page.locator("input[type='file']").set_input_files(files=[{
        "name": "broken.json", "mimeType": "application/json", "buffer": b'{"kind": '}])
    page.locator(".le-error", has_text="broken.json").wait_for()
    assert page.locator("input[type='file']").evaluate("(el) => el.files.length") == 1
    page.get_by_role("button", name="Revert to the model in use").click()
    expect(page.locator("input[type='file']")).to_have_js_property("value", "")


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
