"""The coverage study and the toy-calibrated region in a real browser: a study streams its
histogram and coverage curve, cancels, exports; the calibrated region appears on the map;
a study goes stale when the model changes."""

import json
import re

import numpy as np
import pytest
from playwright.sync_api import expect

import model_core as mc
from components.coverage_figures import histogram, histogram_edges
from components.state import SessionState
from model_core.examples import load_example

from .browser import HANG_MS, JS_FIGURES, JS_HELPERS

pytestmark = pytest.mark.ui

#: The coverage tab's figures, read from the page's Bokeh documents: the histogram's title
#: and the toys in its bars, and the coverage figure's title and the points of its curve.
JS_COVERAGE = """() => {
  const out = {};
  for (const doc of (window.Bokeh ? Bokeh.documents : [])) {
    for (const m of doc.all_models) {
      if (m.constructor.__name__ !== 'Figure' || !m.title || !m.title.text) continue;
      const glyphs = (name) => m.renderers.filter(r => r.glyph &&
                                                  r.glyph.constructor.__name__ === name);
      if (m.title.text.includes('q = 2 (NLL(truth)')) {
        const quad = glyphs('Quad')[0];
        out.histogram = {title: m.title.text, tops: Array.from(quad.data_source.data.top),
                         toys: Array.from(quad.data_source.data.top).reduce((a, b) => a + b, 0)};
      } else if (m.title.text.includes('Coverage of the Wilks region')) {
        const lines = glyphs('Line').map(r => r.data_source.data.y ?
          Array.from(r.data_source.data.y) : []);
        out.coverage = {title: m.title.text, curve: lines.find(y => y.length > 2) || []};
      }
    }
  }
  return out.histogram ? out : null;
}"""

#: Every frame in which the histogram changed: [toys in it, its title].
JS_RECORD = """(read) => {
  window.__coverage = [];
  let last = '';
  const tick = () => {
    const seen = (eval(read))();
    if (seen) {
      const entry = [seen.histogram.toys, seen.histogram.title];
      const key = JSON.stringify(entry);
      if (key !== last) { window.__coverage.push(entry); last = key; }
    }
    if (window.__coverage.length < 5000) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""

FINISHED = r"Finished: ([\d,]+) of ([\d,]+) toys"


def _open_coverage(app) -> None:
    app.page.evaluate(JS_HELPERS)
    app.tab("Coverage")
    app.page.wait_for_function(f"({JS_COVERAGE})() !== null", timeout=HANG_MS)


def _progress(app, pattern: str) -> re.Match:
    """Wait until the coverage progress line matches ``pattern``; the match."""
    locator = app.page.locator(".le-coverage-progress-text")
    expect(locator).to_contain_text(re.compile(pattern), timeout=HANG_MS)
    text = app.text(".le-coverage-progress-text")
    match = re.search(pattern, text)
    assert match, text
    return match


def _final_histogram(app, n_toys: int) -> dict:
    """Wait until the histogram shows the ended study's ``n_toys`` toys; the figures."""
    app.page.wait_for_function(
        f"(n) => {{ const f = ({JS_COVERAGE})(); return f !== null && f.histogram.toys === n "
        "&& f.histogram.title.includes('(ended)'); }", arg=n_toys, timeout=HANG_MS)
    return app.page.evaluate(JS_COVERAGE)


def _reference(n_toys: int):
    """The page's default study made directly (the truth at the page's best fit, every free
    parameter an axis, mu fixed as the model fixes it, seed 42)."""
    state = SessionState(load_example())
    return mc.coverage_study(state.model, at=state.best.x, parameters=["c0", "c1", "c2"],
                             fixed={"mu": 1.0},
                             confidence_levels=(mc.sigma_to_cl(1.0), 0.95,
                                                mc.sigma_to_cl(2.0)),
                             n_toys=n_toys, rng=42)


def test_a_study_streams_then_exports(open_page, tmp_path):
    app = open_page()
    page = app.page
    _open_coverage(app)
    app.set_number("Toys", 5000)
    page.evaluate(JS_RECORD, JS_COVERAGE)
    page.get_by_role("button", name="Start").click()
    match = _progress(app, FINISHED)
    assert match.group(1) == match.group(2) == "5,000"
    figures = _final_histogram(app, 5000)
    log = page.evaluate("() => window.__coverage")
    # the histogram only grew, then showed every toy (how many frames come before the end
    # depends on the machine: streaming is asserted on the endless study of
    # test_cancel_resets_the_bar)
    assert [toys for toys, _ in log] == sorted(toys for toys, _ in log)
    assert log[-1][0] == 5000 and "(ended)" in log[-1][1]
    assert "5,000 toys" in figures["coverage"]["title"]
    curve = figures["coverage"]["curve"]
    assert curve[0] == 0 and curve[-1] == 1 and curve == sorted(curve)

    # the page's numbers are those of the same study made directly
    reference = _reference(5000)
    edges = histogram_edges(3)
    assert figures["histogram"]["tops"] == histogram(reference.q, edges).tolist()
    table = app.text(".le-coverage-summary")
    for cl in reference.confidence_levels:
        assert f"{100 * reference.coverage[cl]:.2f}%" in table

    # the JSON export: the q of the toys the page shows, with its provenance
    app.wait_enabled("JSON", exact=True)
    with page.expect_download() as download:
        page.get_by_role("button", name="JSON", exact=True).click()
    path = tmp_path / "coverage.json"
    download.value.save_as(path)
    record = json.loads(path.read_text())
    q = np.array(record["study"]["q"], dtype=float)
    assert len(q) == figures["histogram"]["toys"] == 5000
    assert histogram(q, edges).tolist() == figures["histogram"]["tops"]
    np.testing.assert_allclose(q, reference.q, rtol=1e-9, atol=1e-12)
    metadata = record["metadata"]
    assert metadata["model_name"] == "Three signal shapes (multivariate normal)"
    assert metadata["axes"] == ["c0", "c1", "c2"] and metadata["n_toys"] == 5000
    assert metadata["seed"] == 42 and metadata["truth"]["mu"] == 1.0
    assert app.console_errors == []

    page.set_viewport_size({"width": 1280, "height": 1150})
    page.mouse.move(0, 0)
    app.next_frames()
    app.screenshot("coverage_study.png")
    page.set_viewport_size({"width": 1280, "height": 800})


def test_cancel_resets_the_bar(open_page):
    app = open_page()
    page = app.page
    _open_coverage(app)
    app.set_number("Toys", 1_000_000)
    start, cancel = (page.get_by_role("button", name=n) for n in ("Start", "Cancel"))
    expect(cancel).to_be_disabled()
    page.evaluate(JS_RECORD, JS_COVERAGE)
    start.click()
    # the study streams: the histogram drawn with two different numbers of toys mid-run
    page.wait_for_function("() => new Set(window.__coverage.filter(e => e[0] > 0 && "
                           "!e[1].includes('(ended)')).map(e => e[0])).size >= 2",
                           timeout=HANG_MS)
    expect(start).to_be_disabled()
    cancel.click()
    match = _progress(app, r"Cancelled: ([\d,]+) of 1,000,000 toys")
    n_toys = int(match.group(1).replace(",", ""))
    assert 0 < n_toys < 1_000_000
    page.wait_for_function("() => { const host = window.leDeep('.le-coverage-progress'); "
                           "const bar = host && (host.shadowRoot || host).querySelector("
                           "'progress'); return bar !== null && bar.value === 0; }",
                           timeout=HANG_MS)
    _final_histogram(app, n_toys)  # every toy fitted before the cancel is drawn
    app.wait_enabled("Start")
    expect(cancel).to_be_disabled()
    app.wait_enabled("JSON", exact=True)  # the toys so far can be saved
    assert app.console_errors == []


def test_the_calibrated_region_appears_on_the_map(open_page):
    app = open_page()
    page = app.page
    app.set_number("Grid points per side", 7)
    app.set_number("Toys per point", 50)
    page.get_by_role("button", name="Calibrated region").click()
    page.locator(".le-calibrated-text", has_text="(done): 7 of 7 rows").wait_for(
        timeout=HANG_MS)
    label = "toys: region at 95% CL (7×7 grid, 50 toys per point)"
    page.wait_for_function(
        f"(label) => ({JS_FIGURES})('Δχ²').some(f => f.legend.includes(label) && "
        "f.segments.some(s => s[0] === '#ff1744' && s[3] > 0))", arg=label, timeout=HANG_MS)
    assert app.console_errors == []


def test_a_new_model_makes_the_study_stale(open_page):
    app = open_page()
    page = app.page
    app.preset("One-bin counting experiment")
    _open_coverage(app)
    cells = page.locator("#main .tabulator-cell[tabulator-field='parameter']")
    cells.filter(has_text="theta_0").wait_for()
    app.set_number("Toys", 300)
    page.get_by_role("button", name="Start").click()
    _progress(app, FINISHED)
    _final_histogram(app, 300)
    app.wait_enabled("JSON", exact=True)
    app.edit_cell("data", "12")  # a yield of the model in use
    page.locator(".le-coverage-stale", has_text="the model has changed").wait_for()
    expect(page.get_by_role("button", name="JSON", exact=True)).to_be_disabled()
    page.wait_for_function(f"() => ({JS_COVERAGE})().histogram.title.startsWith('Stale')",
                           timeout=HANG_MS)
    app.preset("Three signal shapes (multivariate normal)")
    # the table follows the new model; the old study stays marked as such
    cells.filter(has_text="c2").wait_for()
    page.locator(".le-coverage-stale", has_text="One-bin counting experiment").wait_for()
    assert app.console_errors == []
