"""Speed of the app in a real browser (issue 3): medians of several runs.

Run: ``python benchmarks/bench_ui.py`` (options: ``--repeat N``, ``--only NAME``).
The app is served in-process on a free loopback port and driven by Debian's
chromium through Playwright.  Times are taken inside the page
(``performance.now()``), from the user's action to the frame after the
update arrived:

* page load to first plot: navigation start to the first frame with the map's image
  (target < 2.5 s);
* data edit to updated map: the Enter key that commits a new data value in the bins
  table to the frame after the map's image data changed (target < 300 ms);
* Start to first points: the click on Start (default model and settings, a fresh
  session each time) to the first frame whose 3-D scatter shows contour points
  (target < 1.5 s);
* contour tab, first switch: the click on its tab (a fresh session each time), as soon
  as the map shows and two seconds later, to the first frame showing its empty 3-D
  view (the tab's controls are sent just after the page has loaded);
* click latency while streaming: with a long run streaming (spacing 0.0005, at most ten
  million points: only the click ends it), a click on Cancel 0.3, 1.5 and 4 s after the
  first points to the first frame whose progress line answers it (target: 90th percentile
  < 500 ms).

Each measurement is a function ``(context, url, repeat) -> {name: list of seconds}`` in
``MEASUREMENTS``, with its targets in ``TARGETS``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import report  # noqa: E402

from tests.ui.browser import (  # noqa: E402
    ARGS,
    CHROMIUM,
    JS_HELPERS,
    JS_MAP_SUM,
    VIEWPORT,
    WEBSOCKET_OPEN,
    AppPage,
    free_port,
)

#: Records when Enter is pressed anywhere (capture phase, shadow roots included) and, once
#: armed with the current map sum, the first frame after the map's data changed.
JS_INSTRUMENT = """() => {
  window.__enter = null; window.__changed = null;
  document.addEventListener('keydown', e => {
    if (e.key === 'Enter') window.__enter = performance.now();
  }, true);
  window.__arm = (old) => {
    window.__changed = null;
    const check = () => {
      const s = (MAP_SUM)();
      if (s !== null && s !== old) requestAnimationFrame(() => {
        window.__changed = performance.now(); });
      else requestAnimationFrame(check);
    };
    requestAnimationFrame(check);
  };
}""".replace("MAP_SUM", JS_MAP_SUM)

JS_FIRST_PLOT = "() => ((MAP_SUM)() !== null) ? performance.now() : null".replace(
    "MAP_SUM", JS_MAP_SUM)


#: Records clicks on Start and Cancel and the first frame after their effect is drawn.
JS_CONTOUR = """() => {
  window.__le = {};
  const watch = (key, test) => {
    const check = () => {
      if (test()) requestAnimationFrame(() => { window.__le[key] = performance.now(); });
      else requestAnimationFrame(check);
    };
    requestAnimationFrame(check);
  };
  const progress = () => {
    const host = window.leDeep('.le-progress-text');
    return host ? (host.shadowRoot || host).textContent : '';
  };
  document.addEventListener('click', e => {
    const button = e.composedPath().find(n => n.tagName === 'BUTTON');
    const now = performance.now();
    if (!button) return;
    if (button.textContent.includes('Start')) {
      window.__le = {start: now};
      watch('first', () => (window.lePoints() || 0) > 0);
    } else if (button.textContent.includes('Cancel')) {
      window.__le.cancel = now;
      watch('cancelled', () => progress().includes('Cancel'));
    }
  }, true);
}"""


def _contour_page(context, url: str) -> AppPage:
    app = AppPage(context.new_page()).open(url)
    app.open_contour_tab()
    app.page.evaluate(JS_CONTOUR)
    return app


def _start(app: AppPage) -> float:
    """Click Start; seconds to the first frame with points."""
    app.page.get_by_role("button", name="Start").click()
    app.page.wait_for_function("() => window.__le.first != null", timeout=120_000)
    return app.page.evaluate("() => window.__le.first - window.__le.start") / 1e3


#: When the Cancel click comes after the first points of the longer run: early (the 3-D
#: scatter fills), mid-run and late (the slower figures redraw too).
CLICK_DELAYS_MS = (300, 1500, 4000)


def measure_contour(context, url: str, repeat: int) -> dict[str, list[float]]:
    """Start to the first points drawn (default run), then a click's latency while a
    longer run streams (Cancel, 0.3 s after its first points)."""
    first, click = [], []
    for _ in range(repeat):
        app = _contour_page(context, url)
        first.append(_start(app))
        app.wait_enabled("Start")
        # a run of millions of points: only the click can end it
        app.set_number("Most points", 10_000_000)
        app.set_number("Spacing", 0.0005)
        for delay in CLICK_DELAYS_MS:
            _start(app)
            app.page.wait_for_timeout(delay)
            app.page.get_by_role("button", name="Cancel").click()
            app.page.wait_for_function("() => window.__le.cancelled != null", timeout=60_000)
            click.append(app.page.evaluate("() => window.__le.cancelled - window.__le.cancel")
                         / 1e3)
            app.wait_enabled("Start")
        app.page.close()
    return {"Start to first points": first, "click latency while streaming": click}


TAB_AT_ONCE = "contour tab, first switch as the map shows"
TAB_LATER = "contour tab, first switch 2 s after the map"
#: Records a click on the contour tab and the first frame after its 3-D view is drawn.
JS_TAB = """() => {
  window.__tab = {};
  document.addEventListener('click', e => {
    if (!e.composedPath().some(n => n.classList && n.classList.contains('bk-tab')
                               && n.textContent.includes('Contour finder'))) return;
    window.__tab = {click: performance.now()};
    const check = () => {
      if (window.lePoints() !== null) requestAnimationFrame(() => {
        window.__tab.shown = performance.now(); });
      else requestAnimationFrame(check);
    };
    requestAnimationFrame(check);
  }, true);
}"""


def measure_tab(context, url: str, repeat: int) -> dict[str, list[float]]:
    """A fresh session's first switch to the contour tab, to its empty 3-D view: clicked
    as soon as the map shows, and two seconds later."""
    times: dict[str, list[float]] = {TAB_AT_ONCE: [], TAB_LATER: []}
    for _ in range(repeat):
        for name, wait_ms in ((TAB_AT_ONCE, 0), (TAB_LATER, 2000)):
            app = AppPage(context.new_page()).open(url)
            app.page.evaluate(JS_HELPERS)
            app.page.evaluate(JS_TAB)
            app.page.wait_for_timeout(wait_ms)
            app.tab("Contour finder")
            app.page.wait_for_function("() => window.__tab.shown != null", timeout=120_000)
            times[name].append(
                app.page.evaluate("() => window.__tab.shown - window.__tab.click") / 1e3)
            app.page.close()
    return times


def measure_load(context, url: str, repeat: int) -> dict[str, list[float]]:
    """Navigation start to the first animation frame showing the map."""
    times = []
    for _ in range(repeat):
        page = context.new_page()
        page.goto(url, wait_until="commit")
        handle = page.wait_for_function(JS_FIRST_PLOT, polling="raf", timeout=120_000)
        times.append(handle.json_value() / 1e3)
        page.close()
    return {"page load to first plot": times}


def measure_edit(context, url: str, repeat: int) -> dict[str, list[float]]:
    """Enter on a new data value to the frame after the map's data changed."""
    app = AppPage(context.new_page())
    with app.page.expect_console_message(lambda m: WEBSOCKET_OPEN in m.text, timeout=120_000):
        app.page.goto(url)
    app.page.wait_for_function(JS_FIRST_PLOT, polling="raf", timeout=120_000)
    app.page.evaluate(JS_INSTRUMENT)
    times = []
    for n in range(repeat + 1):  # the first edit warms up
        app.page.evaluate("(old) => window.__arm(old)", app.map_sum())
        app.edit_cell("data", str(37 + n % 5 + (n // 5) * 0.5))
        app.page.wait_for_function("() => window.__changed !== null", timeout=60_000)
        elapsed = app.page.evaluate("() => window.__changed - window.__enter") / 1e3
        if n:
            times.append(elapsed)
    app.page.close()
    return {"data edit to updated map": times}


def percentile(times: list[float], q: float) -> float:
    """The ``q`` quantile of ``times`` (linear interpolation between order statistics)."""
    ordered = sorted(times)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


#: name -> measurement
MEASUREMENTS: dict[str, Callable[..., dict[str, list[float]]]] = {
    "load": measure_load, "edit": measure_edit, "tab": measure_tab,
    "contour": measure_contour}
#: figure -> target in seconds (None: no target)
TARGETS = {"page load to first plot": 2.5, "data edit to updated map": 0.300,
           TAB_AT_ONCE: None, TAB_LATER: None,
           "Start to first points": 1.5, "click latency while streaming": 0.5}
#: Figures whose target is on the 90th percentile (a click must answer nearly always).
P90 = {"click latency while streaming"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--only", choices=list(MEASUREMENTS), action="append")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    import app

    port = free_port()
    server = app.serve(port, threaded=True, start=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            context = browser.new_context(viewport=VIEWPORT)
            measure_load(context, url, 1)  # the server's first session imports and warms up
            for name in args.only or MEASUREMENTS:
                for figure, times in MEASUREMENTS[name](context, url, args.repeat).items():
                    report(f"{figure} (median of {len(times)})", statistics.median(times),
                           TARGETS[figure] if figure not in P90 else None)
                    if figure in P90:
                        report(f"{figure} (90th percentile)", percentile(times, 0.9),
                               TARGETS[figure])
                    print(f"    runs: {', '.join(f'{1e3 * t:.0f}' for t in times)} ms",
                          flush=True)
            browser.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
