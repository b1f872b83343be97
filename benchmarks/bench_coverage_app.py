"""Benchmark of the app's coverage study against ``model_core.coverage_study`` called directly.

    python benchmarks/bench_coverage_app.py [--repeat 7] [--toys 1000 5000]

On the default model (three signal shapes, ``mu`` fixed, the three others the region's
axes, the truth at the page's best fit, the page's levels, seed 42), for each number of
toys, the medians of:

(a) ``mc.coverage_study`` called directly with the core's default batch size;
(b) the same study started from the Coverage tab's :class:`CoveragePanel` (batches of
    ``STREAM_BATCH`` toys in the session's worker thread, delivered to the figures on the
    caller's thread, polled every ``POLL_MS`` as a served session's loop does): the time
    until the first histogram is drawn, and until the ended study is drawn.

No browser: what the browser adds is measured by ``benchmarks/bench_ui.py``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _timing import median_time, report  # noqa: E402

import model_core as mc  # noqa: E402
from components.coverage_panel import CoveragePanel  # noqa: E402
from components.coverage_run import STREAM_BATCH, page_levels  # noqa: E402
from components.jobs import POLL_MS  # noqa: E402
from components.state import SessionState  # noqa: E402


def app_times(n_toys: int) -> tuple[float, float]:
    """Seconds from Start to the first histogram drawn, and to the ended study drawn (a new
    session's panel, as the page has one)."""
    state = SessionState()
    panel = CoveragePanel(run=state.coverage, n_toys=n_toys, seed=42)
    start = time.perf_counter()
    assert panel.start()
    first = None
    while state.jobs.busy or panel.run.status in ("running", "cancelling"):
        state.jobs.drain()
        if first is None and panel.figures.drawn:
            first = time.perf_counter() - start
        time.sleep(POLL_MS / 1000)
    assert panel.run.status == "complete" and panel.figures.drawn == n_toys
    total = time.perf_counter() - start
    return (first if first is not None else total), total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--toys", type=int, nargs="+", default=[1000, 5000])
    args = parser.parse_args()
    state = SessionState()
    model, best = state.model, state.best
    levels = page_levels(state.confidence_level, state.sigmas)
    print(f"default model, axes c0 c1 c2 (mu fixed), app batch {STREAM_BATCH} toys; "
          f"medians of {args.repeat} runs")
    for n_toys in args.toys:
        def direct(n_toys: int = n_toys) -> mc.CoverageStudy:
            return mc.coverage_study(model, at=best.x, parameters=["c0", "c1", "c2"],
                                     fixed={"mu": 1.0}, confidence_levels=levels,
                                     n_toys=n_toys, rng=42)

        core = median_time(direct, repeat=args.repeat)
        app_times(n_toys)  # warm-up
        runs = [app_times(n_toys) for _ in range(args.repeat)]
        first = statistics.median(r[0] for r in runs)
        total = statistics.median(r[1] for r in runs)
        report(f"{n_toys} toys: mc.coverage_study directly", core)
        report(f"{n_toys} toys: app, first histogram drawn", first)
        report(f"{n_toys} toys: app, ended study drawn", total)
        print(f"{'':<58s} app / direct = {total / core:.2f}", flush=True)


if __name__ == "__main__":
    main()
