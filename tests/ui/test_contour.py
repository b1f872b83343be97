"""The contour runner in a real browser: streaming, progress, cancel, export, coverage,
concurrent sessions, and a closed tab's worker."""

import importlib.metadata
import json
import re
import threading
import time

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import expect

import model_core as mc
from components.contour_data import STAGE_LABELS
from model_core.examples import load_example

pytestmark = pytest.mark.ui

#: Every frame in which the scatter's points, its title or the progress bar changed:
#: [ms since recording began, points drawn, sum of their x, scatter title, progress (0..1)].
JS_RECORD = """() => {
  window.__log = [];
  const t0 = performance.now();
  const inside = (css, selector) => {
    const host = window.leDeep(css);
    return host && (host.shadowRoot || host).querySelector(selector);
  };
  const scatter = inside('.le-scatter', '.js-plotly-plot');
  const bar = inside('.le-progress', 'progress');
  const xsum = () => scatter.data.filter(t => !['best fit', 'on a bound'].includes(t.name))
    .reduce((s, t) => s + Array.from(t.x || []).reduce((a, b) => a + b, 0), 0);
  let last = '';
  const tick = () => {
    const title = scatter.layout && scatter.layout.title ? scatter.layout.title.text : '';
    const entry = [Math.round(performance.now() - t0), window.lePoints(), xsum(), title,
                   bar ? bar.value / bar.max : null];
    const key = JSON.stringify(entry.slice(1));
    if (key !== last) { window.__log.push(entry); last = key; }
    if (window.__log.length < 5000) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""

FINISHED = re.compile(r"Finished: ([\d,]+) points .* T = ([\d.]+)")


def _progress_line(app, pattern: str) -> re.Match:
    """Wait for the progress line to match ``pattern``; the match."""
    app.page.wait_for_function(
        "(pattern) => { const host = window.leDeep('.le-progress-text'); return host && "
        "new RegExp(pattern).test((host.shadowRoot || host).textContent); }",
        arg=pattern, timeout=HANG * 1000)
    text = app.progress()[1]
    match = re.search(pattern, text)
    assert match, text
    return match


def _finished(app) -> tuple[int, float]:
    """Wait for the run to end (its final scatter drawn); its point count and threshold."""
    match = _progress_line(app, FINISHED.pattern)
    n_points = int(match.group(1).replace(",", ""))
    # the final figures follow the end message: wait for them, not for the message
    app.wait_figure(".le-scatter", title=f"{n_points} points on NLL = T", points=n_points)
    app.wait_enabled("Start")
    return n_points, float(match.group(2))


def _reference(data0: float | None = None) -> mc.ContourResult:
    """The same run as the page's defaults (seed 42, mu fixed), made directly."""
    spec = load_example().to_dict()
    if data0 is not None:
        spec["data"][0] = data0
    return mc.find_contour(mc.build_model(mc.load_spec(spec)), fixed={"mu": 1.0}, rng=42)


#: Settings for a run of millions of points, many minutes alone: such a run can only end
#: within the tests' waits by being stopped.
ENDLESS = {"Most points": 10_000_000, "Spacing": 0.0005}
#: How long a stopped run may take to end before the test reports a hang.  Not a speed
#: requirement: a busy machine can hold the page's answer back for many seconds.
HANG = 120


def _endless_run(app) -> None:
    for label, value in ENDLESS.items():
        app.set_number(label, value)


def test_start_streams_points_then_exports_and_checks_coverage(open_page, tmp_path):
    app = open_page()
    page = app.page
    app.open_contour_tab()
    assert app.contour_points() == 0  # the empty 3-D view, best fit only
    page.evaluate(JS_RECORD)
    page.get_by_role("button", name="Start").click()
    n_points, threshold = _finished(app)
    # the recorder logs the final frame too (it may run after the frame _finished saw)
    page.wait_for_function(
        "(n) => { const last = window.__log[window.__log.length - 1]; return last[1] === n "
        "&& last[3].startsWith(`${n} points on NLL = T`); }", arg=n_points, timeout=60_000)
    log = page.evaluate("() => window.__log")
    # how many frames stream before the end depends on the machine's speed (a fast one may
    # finish this run between two pushes): streaming itself is asserted on an endless run
    # in test_cancel_stops_the_run_and_reenables_start
    progress = [e[4] for e in log]
    assert progress == sorted(progress) and progress[-1] == 1, log
    final = log[-1]
    assert final[3].startswith(f"{n_points} points on NLL = T") and final[1] == n_points

    reference = _reference()
    assert n_points == len(reference.contour_points)
    assert threshold == pytest.approx(reference.threshold, abs=1e-4)
    assert app.console_errors == []

    # the CSV export: one row per point, the rows of the direct run
    with page.expect_download() as download:
        page.get_by_role("button", name="CSV").click()
    path = tmp_path / "contour.csv"
    download.value.save_as(path)
    table = pd.read_csv(path, comment="#")
    assert len(table) == n_points
    np.testing.assert_allclose(table[["c0", "c1", "c2"]], reference.contour_points, rtol=1e-9)

    page.set_viewport_size({"width": 1280, "height": 1900})  # settings, figures, histogram
    on_surface = int((~reference.on_bound).sum())
    app.wait_figure(".le-residuals", title="Residuals NLL − T", points=on_surface)
    app.wait_figure(".le-projections", title="Pairwise projections", points=3 * n_points)
    app.next_frames()
    app.screenshot("contour.png")
    page.set_viewport_size({"width": 1280, "height": 800})

    # coverage: an independent grid surface, almost all of it within 1% of some point
    page.get_by_role("button", name="Check coverage").click()
    page.locator(".le-coverage-text", has_text="Reference samples covered").wait_for(
        timeout=120_000)
    text = app.text(".le-coverage-text")
    match = re.search(r"within 1%: ([\d.]+)% \(([\d,]+) of ([\d,]+)\)", text)
    within = float(match.group(1))
    covered, total = (int(match.group(n).replace(",", "")) for n in (2, 3))
    assert within >= 99.0, text
    # the percentage never claims all while listing some as not covered
    assert (within == 100.0) == (covered == total)
    assert f"{total - covered} sample" in text
    # what the check does is said on the page, inside it (no tooltip running off the edge)
    explanation = page.locator(".le-muted", has_text="Compares the points").bounding_box()
    assert explanation["x"] >= 0 and explanation["x"] + explanation["width"] <= 1280
    page.set_viewport_size({"width": 1280, "height": 2600})
    page.mouse.move(0, 0)  # no tooltip in the picture
    plot = page.locator(".le-coverage .js-plotly-plot")
    app.wait_figure(".le-coverage", title="Contour points over the reference surface")
    app.next_frames()
    top = page.locator(".le-coverage-text").bounding_box()
    bottom = plot.bounding_box()
    app.screenshot("coverage.png", clip={
        "x": bottom["x"] - 10, "y": top["y"] - 50, "width": bottom["width"] + 20,
        "height": bottom["y"] + bottom["height"] - top["y"] + 60})
    page.set_viewport_size({"width": 1280, "height": 800})
    assert app.console_errors == []


def _opacity(locator) -> float:
    return float(locator.evaluate("(el) => getComputedStyle(el).opacity"))


def test_cancel_stops_the_run_and_reenables_start(open_page):
    app = open_page()
    page = app.page
    app.open_contour_tab()
    _endless_run(app)
    start, cancel = (page.get_by_role("button", name=n) for n in ("Start", "Cancel"))
    assert start.is_enabled() and not cancel.is_enabled()
    # a disabled Cancel looks disabled (it looked like an enabled warning button)
    assert _opacity(cancel) < 0.6 and _opacity(start) > 0.9
    page.evaluate(JS_RECORD)
    start.click()
    # the run streams: two different sets of points drawn and two positions of the bar
    # between empty and full, each waited for (a run of millions of points is still going)
    page.wait_for_function(
        "() => { const mid = window.__log.filter(e => e[1] && e[3].includes('as they arrive'));"
        " return new Set(mid.map(e => e[2])).size >= 2 && new Set(window.__log.map(e => e[4])"
        ".filter(p => p > 0 && p < 1)).size >= 2; }", timeout=HANG * 1000)
    expect(start).to_be_disabled()
    assert _opacity(cancel) > 0.9
    cancel.click()
    # stopped by the click: "Finished" or a budget stop would never match
    match = _progress_line(app, r"Cancelled: ([\d,]+) points in [\d.]+ s, during ([\w ]+) ·")
    assert 0 < int(match.group(1).replace(",", "")) < ENDLESS["Most points"]
    # the stage is named as it was while running ("filling holes", never "gaps")
    assert match.group(2) in STAGE_LABELS.values() and "gaps" not in match.group(2)
    # the bar no longer suggests a nearly finished run
    page.wait_for_function("() => { const bar = window.leDeep('.le-progress')"
                           ".shadowRoot.querySelector('progress'); return bar.value === 0; }")
    app.wait_enabled("Start", timeout=HANG)
    expect(cancel).to_be_disabled()
    app.wait_enabled("CSV")  # a partial result exports
    assert app.console_errors == []


def test_a_result_belongs_to_its_model_and_level(open_page, tmp_path):
    """Issue: after a run, another preset, a yield edit or a new CL left the old points,
    warnings and enabled exports beside the new model."""
    app = open_page()
    page = app.page
    app.open_contour_tab()
    app.set_number("Most points", 300)
    page.get_by_role("button", name="Start").click()
    app.wait_figure(".le-scatter", title="300 points on NLL = T", points=300)
    app.wait_enabled("JSON", exact=True)
    with page.expect_download() as download:
        page.get_by_role("button", name="JSON", exact=True).click()
    path = tmp_path / "contour.json"
    download.value.save_as(path)
    metadata = json.loads(path.read_text())["metadata"]
    # a file says what it came from
    assert metadata["model_name"] == "Three signal shapes (multivariate normal)"
    assert metadata["model"]["data"] == [36, 33] and metadata["confidence_level"] == 0.95
    assert metadata["seed"] == 42 and metadata["settings"]["max_points"] == 300
    assert metadata["app_version"] == importlib.metadata.version("likelihood-explorer")
    app.edit_cell("data", "40")  # a new model
    page.locator(".le-stale", has_text="the model has changed").wait_for()
    expect(page.get_by_role("button", name="JSON", exact=True)).to_be_disabled()
    expect(page.get_by_role("button", name="Check coverage")).to_be_disabled()
    app.wait_figure(".le-scatter", title="Stale")
    app.set_level(90)
    page.locator(".le-stale", has_text="it was computed at 95% CL, the page is now at 90%"
                 ).wait_for()
    app.screenshot("contour_stale.png")


def test_two_sessions_run_at_once_without_mixing(open_page):
    first, second = open_page(), open_page()
    second.edit_cell("data", "45")  # a different model in the second session
    second.page.locator(".tabulator-cell[tabulator-field='data']", has_text="45").wait_for()
    for app in (first, second):
        app.open_contour_tab()
    for app in (first, second):
        app.page.get_by_role("button", name="Start").click()
    results = [_finished(app) for app in (first, second)]
    for (n_points, threshold), reference in zip(results, (_reference(), _reference(45.0)),
                                                strict=True):
        assert n_points == len(reference.contour_points)
        assert threshold == pytest.approx(reference.threshold, abs=1e-4)
    assert results[0] != results[1]


def _job_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("le-job")]


def test_closing_the_tab_stops_its_worker(open_page):
    app = open_page()
    app.open_contour_tab()
    _endless_run(app)
    app.page.get_by_role("button", name="Start").click()
    app.page.wait_for_function("() => window.lePoints() > 0", timeout=HANG * 1000)
    assert _job_threads()
    app.page.close()
    # the server drops a session 5 s after its last connection (tests/test_app.py checks
    # the setting), and the session's end cancels the endless run
    deadline = time.monotonic() + HANG
    while _job_threads() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _job_threads()


def test_workspace_preset_and_a_bad_upload(open_page):
    app = open_page()
    page = app.page
    app.preset("pyhf one-bin model (signal 5, background 10 +- 3.5, observed 15)")
    app.wait_map_title("(mu, uncorr_bkguncrt[0])")
    after = app.map_sum()
    page.locator(".le-status", has_text="pyhf one-bin model").wait_for()
    # the seed's map over (mu, gamma): the best fit at mu = 1, gamma = 1
    assert "NLLmin = 4.25748" in app.text(".le-status").replace("\n", "")
    page.locator(".tabulator-cell[tabulator-field='observed']", has_text="15").wait_for()
    app.next_frames()
    app.screenshot("workspace_map.png")
    # a truncated workspace: the error names the file, the map stays
    page.locator("input[type='file']").set_input_files(files=[{
        "name": "broken.json", "mimeType": "application/json",
        "buffer": b'{"channels": [{"name": "singlechannel", "samples": ['}])
    alert = page.locator(".le-error", has_text="broken.json")
    alert.wait_for(state="visible")
    page.locator(".le-status", has_text="rejected").wait_for()
    assert app.map_sum() == after
    assert "malformed JSON" in alert.evaluate("(el) => el.shadowRoot.textContent")
    assert app.console_errors == []
