"""Sequences of edits across tabs and presets: after each step, every view shows the model in
use, checked against the numerical core run on the same spec in the test."""

import json
import re
import threading
from functools import partial

import numpy as np
import pytest

import model_core as mc
from model_core.examples import EXAMPLES_DIR, load_example
from model_core.summary import profile_intervals

pytestmark = pytest.mark.ui

#: The views print NLL_min and interval ends rounded; this is far above that rounding and
#: far below any change an edit of these sequences makes.
RTOL = 2e-3
#: A parameter's cell in the contour finder's roles table (the editor has one too).
ROLE_CELL = "#main .tabulator-cell[tabulator-field='parameter']"


def _shadow_text(locator) -> str:
    return locator.evaluate("(el) => (el.shadowRoot || el).textContent")


def _truth(spec: dict) -> tuple[float, tuple[float, float]]:
    """NLL_min and mu's 95% profile interval of ``spec``, from the core."""
    model = mc.build_model(spec)
    best = mc.fit(model)
    (interval,) = profile_intervals(model, "mu", (0.95,), best=best)
    return best.fun, (interval.lower, interval.upper)


def _number(text: str) -> float:
    return float(re.match(r"\s*([-+−\d.e]+)", text).group(1).replace("−", "-"))


def _check_views(app, nll: float, interval: tuple[float, float]) -> None:
    """The status line, the Profiles tab and the Fit summary tab show this model."""
    page = app.page
    nll_text = f"{nll:.6g}"
    page.locator(".le-status", has_text=f"NLLmin = {nll_text}").wait_for()
    app.tab("Profiles")
    card = page.locator(".le-profile-card", has_text="mu").locator(".le-interval")
    # wait for this model's upper end (the views print 4 significant digits), then read both
    card.filter(has_text=f", {interval[1]:.4g}").wait_for()
    text = _shadow_text(card)
    ends = re.search(r"95% CL: \[([^,\]]+), ([^\]]+)\]", text).groups()
    np.testing.assert_allclose([_number(e) for e in ends], interval, rtol=RTOL, atol=1e-3)
    app.tab("Fit summary")
    status = page.locator(".le-fit-status", has_text=f"{nll:.8g}")  # as the summary prints it
    status.wait_for()
    assert "valid minimum" in _shadow_text(status)
    app.tab("Likelihood map")


def test_preset_edits_tabs_and_another_preset(open_page):
    app = open_page()
    page = app.page
    spec = json.loads((EXAMPLES_DIR / "one_bin_counting.json").read_text())
    app.preset("One-bin counting experiment")
    app.wait_map_title("(mu, theta_0)")
    _check_views(app, *_truth(spec))

    for field, value in (("data", 12), ("background", 8)):
        before = app.map_sum()
        app.edit_cell(field, str(value))
        app.wait_map_change(before)
        spec[field] = [value]
        _check_views(app, *_truth(spec))

    # the contour tab lists this model's parameters; then a preset with another structure
    app.open_contour_tab()
    page.locator(ROLE_CELL, has_text="theta_0").wait_for()
    app.tab("Likelihood map")
    app.preset("Two bins, uncorrelated background")
    app.wait_map_title("(mu, theta_0)")
    two_bin = load_example("two_bin_uncorrelated").to_dict()
    _check_views(app, *_truth(two_bin))
    app.open_contour_tab()
    page.locator(ROLE_CELL, has_text="theta_1").wait_for()
    assert app.console_errors == []


JS_STYLESHEET_URLS = """() => {
  const urls = [];
  for (const doc of Bokeh.documents)
    for (const m of doc.all_models)
      for (const s of (m.stylesheets || []))
        if (s && typeof s === 'object' && 'url' in s) urls.push(String(s.url));
  return urls;
}"""


def test_every_stylesheet_comes_from_this_server(open_page):
    """Components made before the page is rendered and shown later (a preset's workspace
    tables, tabs first shown) must not point at Panel's CDN: offline they never load."""
    app = open_page()
    page = app.page
    app.preset("pyhf one-bin model (signal 5, background 10 +- 3.5, observed 15)")
    page.locator(".tabulator-cell[tabulator-field='observed']", has_text="15").wait_for()
    for name in ("Profiles", "Fit summary", "Learn", "Likelihood map"):
        app.tab(name)
    app.open_contour_tab()
    urls = page.evaluate(JS_STYLESHEET_URLS)
    assert urls and not [u for u in urls if u.startswith("http")], urls[:5]
    assert app.console_errors == []


@pytest.fixture
def late_load(monkeypatch):
    """The server takes in a page's load event ``LATE_S`` seconds late, as a busy machine
    can: until then Panel has not marked the session loaded, while the browser already
    shows the page and takes clicks."""
    from panel.io.state import state

    original = state._schedule_on_load
    timers = []

    def take_in(doc, event):
        try:
            doc.add_next_tick_callback(partial(original, doc, event))
        except AttributeError:  # the session ended first (its document is torn down)
            pass

    def late(doc, event):
        timer = threading.Timer(LATE_S, take_in, args=(doc, event))
        timer.daemon = True
        timers.append(timer)
        timer.start()

    monkeypatch.setattr(state, "_schedule_on_load", late)
    yield
    for timer in timers:
        timer.cancel()


#: How late the server takes in the page's load event in the test using ``late_load``.
LATE_S = 20.0


def test_a_page_used_before_the_server_saw_it_load_stays_live(late_load, open_page):
    """Stress runs: a preset chosen right after the page opened was applied on the server
    but the page stopped following (no status, no map) for good: a drain's changes made
    before Panel saw the page load were dropped."""
    app = open_page()
    page = app.page
    spec = json.loads((EXAMPLES_DIR / "two_bin_uncorrelated.json").read_text())
    app.preset("Two bins, uncorrelated background")
    app.wait_map_title("(mu, theta_0)")
    for value in (17, 19):  # still before the load event, and the page follows each edit
        before = app.map_sum()
        app.edit_cell("data", str(value))
        app.wait_map_change(before, timeout=(LATE_S / 2) * 1000)
        spec["data"][0] = value
        nll = mc.fit(mc.build_model(spec)).fun
        page.locator(".le-status", has_text=f"NLLmin = {nll:.6g}").wait_for(
            timeout=(LATE_S / 4) * 1000)
    assert app.console_errors == []
