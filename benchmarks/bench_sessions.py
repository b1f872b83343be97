"""Several users on one served app (issue 14): edit latency, a contour's run time and the
memory closed sessions leave behind.

Run: ``python benchmarks/bench_sessions.py`` (options: ``--sessions 1,4,8`` the numbers of
sessions at once, ``--repeat N`` rounds of edits, ``--closed N`` sessions opened and closed
for the memory figure, ``--server-cpus 0`` the CPUs the server may use (``taskset``; the
browser gets the others), ``--app PATH`` another checkout's ``app.py``, e.g. an older
commit's for a before/after comparison).

The app is served by ``python app.py`` in a process of its own (its memory is the
server's alone) and driven by Debian's chromium through Playwright, each session in a
browser context of its own.  Edit latency is taken inside each page
(``performance.now()``), from the Enter key that commits a new data value in the bins
table to the frame after the map's image changed.  For N sessions at once:

* N = 1: the session edits alone, then runs the long contour alone;
* N > 1: N - 1 sessions edit at once (each round, every editor commits an edit one right
  after another) while the last one runs the long contour (started again whenever it
  ends); its run times are the page's own ("Finished: ... in X s").

Then ``--closed`` sessions are opened (page up, map drawn) and closed one after another,
and the server's resident memory after them is compared with its level after the first
(each time once the server has ended the closed sessions: 5 s after the tab closes).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
from playwright.sync_api import TimeoutError as PlaywrightTimeout

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_ui import JS_INSTRUMENT, percentile  # noqa: E402

from tests.ui.browser import ARGS, CHROMIUM, VIEWPORT, AppPage, free_port  # noqa: E402

#: The long contour: the default model's run at a finer spacing (about 23,000 points, a
#: few seconds alone).
LONG = {"Most points": 10_000_000, "Spacing": 0.005}
#: The contour's progress line, read in the page.
PROGRESS_TEXT = ("() => { const host = window.leDeep('.le-progress-text'); "
                 "return (host.shadowRoot || host).textContent; }")
FINISHED = re.compile(r"Finished: ([\d,]+) points in ([\d.]+) s")
#: Edits each editor makes per round (the first round warms up).
EDITS = 4
#: Seconds a closed tab's session lives on the server (app.py: 5 s, checked every 1 s),
#: with a margin.
SESSION_END_S = 8.0
#: How long any wait may take before the run reports a hang (not a speed requirement).
HANG_MS = 180_000


def _serve(app: Path, port: int, cpus: set[int] | None) -> subprocess.Popen:
    server = subprocess.Popen([sys.executable, str(app), "--port", str(port)], cwd=app.parent,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if cpus is not None:
        os.sched_setaffinity(server.pid, cpus)
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


class Runner:
    """A session that runs the long contour again and again; its run times."""

    def __init__(self, app: AppPage) -> None:
        self.app, self.times = app, []
        app.open_contour_tab()
        for label, value in LONG.items():
            app.set_number(label, value)
        self._start()

    def _start(self) -> None:
        """Click Start until the run is under way (a click that lands while the page is
        still drawing the end of the last run can be lost)."""
        for _ in range(5):
            self.app.wait_enabled("Start")
            self.app.page.get_by_role("button", name="Start").click()
            try:
                self.app.page.wait_for_function(
                    f"() => !/Ready\\.|Finished:/.test(({PROGRESS_TEXT})())", timeout=20_000)
                return
            except PlaywrightTimeout:
                continue
        raise RuntimeError("the contour run did not start")

    def poll(self, *, restart: bool = True) -> None:
        """Record a finished run (and start the next one)."""
        match = FINISHED.search(self.app.text(".le-progress-text"))
        if match:
            self.times.append(float(match.group(2)))
            if restart:
                self._start()

    def finish(self) -> None:
        """Wait for the run under way to end."""
        self.app.page.wait_for_function(
            f"() => /Finished:/.test(({PROGRESS_TEXT})())", timeout=HANG_MS)
        self.poll(restart=False)


def measure(browser, url: str, sessions: int, repeat: int) -> tuple[list[float], list[float]]:
    """Edit latencies (s) of ``sessions - 1`` sessions editing at once beside one running
    the long contour (of the one session editing alone, then running it alone), and the
    contour's run times (s)."""
    opened = [_open(browser, url) for _ in range(sessions)]
    pages = [app for _, app in opened]
    runner = Runner(pages.pop()) if sessions > 1 else None
    _edit_round(pages, 20.0)  # warm-up (never the default 36: the map would not change)
    times = []
    for n in range(repeat * EDITS):
        times += _edit_round(pages, 37.0 + 0.5 * (n % 8))
        if runner is not None:
            runner.poll()
    if runner is None:
        runner = Runner(pages[0])
        for _ in range(repeat - 1):
            runner.finish()
            runner._start()
    runner.finish()
    for context, _ in opened:
        context.close()
    return times, runner.times


def measure_memory(browser, url: str, server: psutil.Process, sessions: int) -> tuple[float,
                                                                                         float]:
    """Server RSS (MiB) after the first session opened and closed, and after ``sessions``
    more."""
    def one() -> None:
        context, _ = _open(browser, url)
        context.close()

    def settled() -> float:
        """RSS once the closed sessions have ended and it has stopped falling (a busy
        server ends them late)."""
        time.sleep(SESSION_END_S)
        rss = server.memory_info().rss / 2**20
        for _ in range(30):
            time.sleep(2.0)
            now = server.memory_info().rss / 2**20
            if now > rss - 0.5:
                return min(now, rss)
            rss = now
        return rss

    one()
    first = settled()
    for _ in range(sessions):
        one()
    return first, settled()


def _line(label: str, times: list[float], contour: list[float]) -> None:
    print(f"{label:<40s} edit to map: median {1e3 * statistics.median(times):5.0f} ms, "
          f"p90 {1e3 * percentile(times, 0.9):5.0f} ms, max {1e3 * max(times):5.0f} ms "
          f"({len(times)} edits); contour: median {statistics.median(contour):.2f} s "
          f"({len(contour)} runs)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", default="1,4,8",
                        help="numbers of sessions at once, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of edits per scenario")
    parser.add_argument("--closed", type=int, default=30,
                        help="sessions opened and closed after the first (memory)")
    parser.add_argument("--server-cpus", default="",
                        help="CPUs the server runs on, e.g. 0 (the browser gets the others)")
    parser.add_argument("--app", type=Path, default=ROOT / "app.py", help="the app.py to serve")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    cpus = {int(c) for c in args.server_cpus.split(",")} if args.server_cpus else None
    if cpus is not None and len(cpus) < os.cpu_count():
        os.sched_setaffinity(0, set(range(os.cpu_count())) - cpus)  # the browser inherits
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    server = _serve(args.app.resolve(), port, cpus)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS,
                                                 headless=True)
            print(f"serving {args.app.resolve()}"
                  + (f" on CPU {args.server_cpus}" if cpus else ""), flush=True)
            for n in (int(n) for n in args.sessions.split(",")):
                label = ("1 session: edits, then the contour, alone" if n == 1 else
                         f"{n} sessions: {n - 1} editing + 1 contour")
                _line(label, *measure(browser, url, n, args.repeat))
            first, last = measure_memory(browser, url, psutil.Process(server.pid),
                                         args.closed)
            print(f"server RSS after 1 session opened and closed {first:.1f} MiB, after "
                  f"{args.closed} more {last:.1f} MiB: {last - first:+.1f} MiB "
                  f"({(last - first) / args.closed:+.2f} MiB per session)", flush=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
