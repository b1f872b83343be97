"""Helpers shared by the browser tests and ``benchmarks/bench_ui.py`` (no pytest here)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

__all__ = ["ARGS", "CHROMIUM", "HANG_MS", "JS_FIGURES", "JS_HELPERS", "JS_MAP_SUM",
           "JS_MAP_XRANGE", "SCREENSHOTS", "VIEWPORT", "WEBSOCKET_OPEN", "AppPage", "free_port"]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 800}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "assets" / "screenshots"
WEBSOCKET_OPEN = "Websocket connection 0 is now open"
#: How long a wait may take before a test reports a hang.  Not a speed requirement: a busy
#: machine (CI beside other jobs, the stress script's CPU burners) can hold a page back for
#: a long time.
HANG_MS = int(os.environ.get("LE_UI_HANG_MS", 180_000))

#: Sum of the finite values of the map's image, read from the page's Bokeh document.
JS_MAP_SUM = """() => {
  for (const doc of (window.Bokeh ? Bokeh.documents : [])) {
    for (const m of doc.all_models) {
      if (m.glyph && m.glyph.constructor.__name__ === 'Image') {
        let s = 0;
        for (const v of m.data_source.data.image[0]) if (Number.isFinite(v)) s += v;
        return s;
      }
    }
  }
  return null;
}"""


#: The map figure's x range as [start, end]; with an argument, sets it first (like a zoom).
JS_MAP_XRANGE = """(value) => {
  for (const doc of Bokeh.documents) {
    for (const m of doc.all_models) {
      if (m.constructor.__name__ === 'Figure' && m.renderers.some(
          r => r.glyph && r.glyph.constructor.__name__ === 'Image')) {
        if (value) m.x_range.setv({start: value[0], end: value[1]});
        return [m.x_range.start, m.x_range.end];
      }
    }
  }
  return null;
}"""


#: Defines ``window.leDeep(selector)`` (the first match anywhere, shadow roots included),
#: ``window.lePlot(css)``: the plotly figure inside the element with class ``css`` as
#: ``{title, points}`` (points of every trace but the best fit and the rings marking points on
#: a bound), or null before it is drawn, and ``window.lePoints()``: the points of the contour
#: scatter (``.le-scatter``), or null before the scatter exists.
JS_HELPERS = """() => {
  const deep = (root, selector) => {
    const hit = root.querySelector(selector);
    if (hit) return hit;
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) {
        const found = deep(el.shadowRoot, selector);
        if (found) return found;
      }
    }
    return null;
  };
  window.leDeep = (selector) => deep(document, selector);
  const plots = {};
  window.lePlot = (css) => {
    let plot = plots[css];
    if (!plot || !plot.isConnected) {
      const host = window.leDeep(css);
      plot = plots[css] = host && deep(host.shadowRoot || host, '.js-plotly-plot');
    }
    if (!plot || !plot.data || !plot._fullLayout) return null;
    const title = plot.layout && plot.layout.title ? (plot.layout.title.text || '') : '';
    const points = plot.data.filter(t => !['best fit', 'on a bound'].includes(t.name))
      .reduce((n, t) => n + (t.x ? t.x.length : 0), 0);
    return {title, points};
  };
  window.lePoints = () => {
    const plot = window.lePlot('.le-scatter');
    return plot && plot.points;
  };
}"""


#: The Bokeh figures whose title starts with the argument: their visible horizontal spans
#: (location, dash, colour), labels and line glyphs, read from the page's documents.
JS_FIGURES = """(title) => {
  const v = (p) => (p !== null && typeof p === 'object' && 'value' in p) ? p.value : p;
  const out = [];
  for (const doc of (window.Bokeh ? Bokeh.documents : [])) {
    for (const m of doc.all_models) {
      if (m.constructor.__name__ !== 'Figure' || !m.title || !m.title.text ||
          !m.title.text.startsWith(title)) continue;
      const annotations = [...m.renderers, ...m.center];
      out.push({
        title: m.title.text,
        spans: annotations.filter(a => a.constructor.__name__ === 'Span' && a.visible)
          .map(a => [a.location, JSON.stringify(v(a.line_dash)), v(a.line_color)]),
        labels: annotations.filter(a => a.constructor.__name__ === 'Label' && a.visible)
          .map(a => a.text),
        legend: m.right.concat(m.center).filter(a => a.constructor.__name__ === 'Legend')
          .flatMap(l => l.items.map(i => i.label.value)),
        legend_outside: m.right.some(a => a.constructor.__name__ === 'Legend'),
        segments: m.renderers.filter(r => r.glyph && r.glyph.constructor.__name__ ===
          'Segment').map(r => [v(r.glyph.line_color), v(r.glyph.line_width),
                               JSON.stringify(v(r.glyph.line_dash)),
                               r.data_source.data.x0 ? r.data_source.data.x0.length : 0]),
        image: m.renderers.filter(r => r.glyph && r.glyph.constructor.__name__ === 'Image')
          .map(r => { const img = r.data_source.data.image[0];
                      return img && img.shape ? img.shape : [Math.sqrt(img.length)]; })[0],
        x_range: [m.x_range.start, m.x_range.end],
        // unset (Bokeh throws on reading it) until the figure has been laid out
        inner_width: (() => { try { return m.inner_width } catch (e) { return null } })(),
      });
    }
  }
  return out;
}"""


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AppPage:
    """One browser tab on the app, with its console messages."""

    def __init__(self, page):
        self.page = page
        self.console: list[tuple[str, str]] = []
        self.errors: list[str] = []
        page.on("console", lambda msg: self.console.append((msg.type, msg.text)))
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        # which resource failed (a console message does not say)
        page.on("requestfailed", lambda request: self.errors.append(
            f"request failed: {request.url} ({request.failure})"))

    def open(self, url: str) -> AppPage:
        """Load the app and wait for its websocket and its first map (a busy machine can
        take long: the waits are hang guards)."""
        with self.page.expect_console_message(lambda m: WEBSOCKET_OPEN in m.text,
                                              timeout=HANG_MS):
            self.page.goto(url, wait_until="commit", timeout=HANG_MS)
        self.page.wait_for_function(f"({JS_MAP_SUM})() !== null", timeout=HANG_MS)
        return self

    @property
    def console_errors(self) -> list[str]:
        return self.errors + [text for kind, text in self.console if kind == "error"]

    def map_sum(self) -> float:
        """The map's image summed (the map's tab must be on screen: a tab off screen is not
        kept up to date in the page)."""
        return self.page.evaluate(JS_MAP_SUM)

    def wait_map_change(self, old: float, timeout: float = HANG_MS) -> float:
        changed = "(old) => { const s = (" + JS_MAP_SUM + ")(); return s !== null && s !== old; }"
        self.page.wait_for_function(changed, arg=old, timeout=timeout)
        return self.map_sum()

    def edit_cell(self, field: str, value: str, row: int = 0) -> None:
        cell = self.page.locator(f".tabulator-cell[tabulator-field='{field}']").nth(row)
        editor = cell.locator("input")
        for attempt in range(5):
            # a layout pass of the page redraws the tables, which closes an open editor
            # (or detaches the cell under the pointer): the click is then repeated
            try:
                cell.click()
                editor.wait_for(timeout=2_000)
                break
            except PlaywrightError:
                if attempt == 4:
                    raise
        editor.fill(value)
        editor.press("Enter")

    def set_number(self, label: str, value: float) -> None:
        """Type ``value`` into the number input labelled ``label`` and commit it."""
        field = self.page.locator(".bk-input-group", has_text=label).locator("input").first
        field.fill(str(value))
        field.press("Enter")

    def wait_enabled(self, button: str, timeout: float = HANG_MS / 1000, *,
                     exact: bool = False) -> None:
        """Wait until the button named ``button`` can be clicked."""
        expect(self.page.get_by_role("button", name=button, exact=exact)).to_be_enabled(
            timeout=timeout * 1000)

    def wait_figure(self, css: str, *, title: str = "", points: int | None = None,
                    timeout: float = 120.0) -> dict:
        """Wait until the plotly figure in ``css`` has a title starting with ``title`` and
        (unless None) exactly ``points`` points; returns ``{title, points}``.  Needs
        :data:`JS_HELPERS` evaluated on the page."""
        self.page.wait_for_function(
            "([css, title, points]) => { const p = window.lePlot(css); return p !== null && "
            "p.title.startsWith(title) && (points === null || p.points === points); }",
            arg=[css, title, points], timeout=timeout * 1000)
        return self.page.evaluate("(css) => window.lePlot(css)", css)

    def open_contour_tab(self) -> None:
        """Show the contour finder and wait for its (empty) 3-D view."""
        self.page.evaluate(JS_HELPERS)
        self.tab("Contour finder")
        self.page.wait_for_function("() => window.lePoints() !== null", timeout=HANG_MS)

    def contour_points(self) -> int | None:
        """Points the scatter draws now (after :meth:`open_contour_tab`)."""
        return self.page.evaluate("() => window.lePoints()")

    def progress(self) -> tuple[float, str]:
        """The progress bar's value (0 to 1) and the progress line."""
        value = self.page.locator(".le-progress progress").first.evaluate(
            "(el) => el.value / el.max")
        return value, self.text(".le-progress-text")

    def text(self, css: str, nth: int = 0) -> str:
        """Text of an element, its shadow root included (Panel renders into shadow roots)."""
        return self.page.locator(css).nth(nth).evaluate(
            "(el) => el.shadowRoot ? Array.from(el.shadowRoot.children).filter("
            "c => !['STYLE', 'LINK'].includes(c.tagName)).map(c => c.innerText).join('')"
            " : el.innerText")

    def next_frames(self, n: int = 2) -> None:
        """Wait until the browser has drawn ``n`` more frames (what it has received drawn)."""
        self.page.evaluate(
            "(n) => new Promise(done => { const step = (k) => k ? requestAnimationFrame("
            "() => step(k - 1)) : done(); step(n); })", n)

    def figures(self, title: str) -> list[dict]:
        """The page's Bokeh figures whose title starts with ``title`` (:data:`JS_FIGURES`)."""
        return self.page.evaluate(JS_FIGURES, title)

    def wait_map_title(self, fragment: str) -> None:
        """Wait until the map's title contains ``fragment`` (e.g. its axes, "(mu, theta_0)")."""
        self.page.wait_for_function(
            f"(fragment) => ({JS_FIGURES})('Δχ²').some(f => f.title.includes(fragment))",
            arg=fragment)

    def set_level(self, percent: float) -> None:
        """Type a confidence level (in percent) into the page's control and commit it."""
        field = self.page.locator(".le-cl input").first
        field.fill(str(percent))
        field.press("Enter")

    def preset(self, label: str) -> None:
        """Load the preset shown as ``label`` (a model's name) and wait until it is the
        model in use (the status line names it)."""
        self.page.locator(".bk-input-group", has_text="Load a preset").locator(
            "select").select_option(label=label)
        try:
            self.page.locator(".le-status", has_text=f"model in use: {label}").wait_for()
        except PlaywrightTimeout:
            raise AssertionError(f"the preset {label!r} never showed; the status reads "
                                 f"{self.text('.le-status')!r}; the page's console errors: "
                                 f"{self.console_errors}") from None

    def tab(self, name: str) -> None:
        self.page.locator(".bk-tab", has_text=name).first.click()

    def screenshot(self, name: str, **options) -> None:
        """Save the page (or ``clip=`` part of it) as ``assets/screenshots/<name>``."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / name), **options)


