"""Several users on one served app (issue 14): edit latency and the memory closed sessions
leave behind.

Run: ``python benchmarks/bench_sessions.py`` (options: ``--repeat N`` rounds of edits,
``--sessions N`` opened and closed for the memory figure, ``--app PATH`` another
checkout's ``app.py``, e.g. an older commit's for a before/after comparison).

The app is served by ``python app.py`` in a process of its own (its memory is the
server's alone) and driven by Debian's chromium through Playwright, each session in a
browser context of its own.  Edit latency is taken inside each page
(``performance.now()``), from the Enter key that commits a new data value in the bins
table to the frame after the map's image changed:

* one editor alone;
* three editors at once (each round, the three pages commit an edit one right after
  another);
* the same three while a fourth session runs a contour that only Cancel ends.

Then ``--sessions`` sessions are opened (page up, map drawn) and closed one after another,
and the server's resident memory after them is compared with its level after the first
(each time once the server has ended the closed sessions: 5 s after the tab closes).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_ui import JS_INSTRUMENT, percentile  # noqa: E402

from tests.ui.browser import ARGS, CHROMIUM, VIEWPORT, AppPage, free_port  # noqa: E402

#: A contour run of millions of points at a fine spacing: only Cancel ends it.
ENDLESS = {"Most points": 10_000_000, "Spacing": 0.0005}
#: Edits each editor makes per round (the first page's first edit warms up).
EDITS = 4
#: Seconds a closed tab's session lives on the server (app.py: 5 s, checked every 1 s),
#: with a margin.
SESSION_END_S = 8.0
#: How long any wait may take before the run reports a hang (not a speed requirement).
HANG_MS = 180_000


def _serve(app: Path, port: int) -> subprocess.Popen:
    server = subprocess.Popen([sys.executable, str(app), "--port", str(port)], cwd=app.parent,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(url + "assets/logo.svg", timeout=10).close()
            return server
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the app did not start") from None
            time.sleep(0.2)


def _open(browser, url: str) -> tuple[object, AppPage]:
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(HANG_MS)
    app = AppPage(context.new_page()).open(url)
    app.page.evaluate(JS_INSTRUMENT)
    return context, app


def _edit_round(editors: list[AppPage], value: float) -> list[float]:
    """Each editor commits a new data value, one right after another; the seconds from each
    Enter to the frame after its map changed."""
    for k, app in enumerate(editors):
        app.page.evaluate("(old) => window.__arm(old)", app.map_sum())
        app.edit_cell("data", str(value + k))
    times = []
    for app in editors:
        app.page.wait_for_function("() => window.__changed !== null", timeout=HANG_MS)
        times.append(app.page.evaluate("() => window.__changed - window.__enter") / 1e3)
    return times


def measure_edits(browser, url: str, editors: int, repeat: int, *,
                  contour: bool) -> list[float]:
    """Edit latencies of ``editors`` sessions editing at once (``contour``: while another
    session runs an endless contour)."""
    opened = [_open(browser, url) for _ in range(editors + contour)]
    pages = [app for _, app in opened]
    runner = pages.pop() if contour else None
    if runner is not None:
        runner.open_contour_tab()
        for label, value in ENDLESS.items():
            runner.set_number(label, value)
        runner.page.get_by_role("button", name="Start").click()
        runner.page.wait_for_function("() => window.lePoints() > 0", timeout=HANG_MS)
    _edit_round(pages, 30.0)  # warm-up
    times = []
    for n in range(repeat * EDITS):
        times += _edit_round(pages, 37.0 + 0.5 * (n % 8))
    if runner is not None:
        assert runner.page.get_by_role("button", name="Cancel").is_enabled(), \
            "the contour run ended by itself: make it longer"
        runner.page.get_by_role("button", name="Cancel").click()
    for context, _ in opened:
        context.close()
    return times


def measure_memory(browser, url: str, server: psutil.Process, sessions: int) -> tuple[float,
                                                                                         float]:
    """Server RSS (MiB) after the first session opened and closed, and after ``sessions``
    more."""
    def one() -> None:
        context, _ = _open(browser, url)
        context.close()

    one()
    time.sleep(SESSION_END_S)
    first = server.memory_info().rss / 2**20
    for _ in range(sessions):
        one()
    time.sleep(SESSION_END_S)
    return first, server.memory_info().rss / 2**20


def _line(label: str, times: list[float]) -> None:
    print(f"{label:<44s} median {1e3 * statistics.median(times):6.0f} ms   "
          f"p90 {1e3 * percentile(times, 0.9):6.0f} ms   max {1e3 * max(times):6.0f} ms   "
          f"({len(times)} edits)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="rounds of edits per scenario")
    parser.add_argument("--sessions", type=int, default=10,
                        help="sessions opened and closed after the first (memory)")
    parser.add_argument("--app", type=Path, default=ROOT / "app.py", help="the app.py to serve")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    server = _serve(args.app.resolve(), port)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS,
                                                 headless=True)
            print(f"serving {args.app.resolve()}", flush=True)
            _line("1 editor", measure_edits(browser, url, 1, args.repeat, contour=False))
            _line("3 editors at once", measure_edits(browser, url, 3, args.repeat,
                                                     contour=False))
            _line("3 editors at once + 1 endless contour",
                  measure_edits(browser, url, 3, args.repeat, contour=True))
            first, last = measure_memory(browser, url, psutil.Process(server.pid),
                                         args.sessions)
            print(f"server RSS after 1 session opened and closed {first:.1f} MiB, after "
                  f"{args.sessions} more {last:.1f} MiB: "
                  f"{(last - first) / args.sessions:+.2f} MiB per session", flush=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
