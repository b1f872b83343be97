"""The contour finder at its defaults on models nobody tuned it for (issue 10), one row a class.

    python benchmarks/bench_regions.py [--repeats 3] [--only NAME ...]

Every class runs ``mc.find_contour(model, confidence_level=0.95, rng=seed)`` for seeds
``0 .. repeats - 1``, with only the arguments the class needs (bounds, the axes of a
profiled contour, and ``n_starts=1`` where the island must be out of the fit's reach).
The models and their truths are those of the tests
(``tests/model_core/contour/region_models.py``):

* ``equal-islands``: ``TWO_BASINS``, two minima of equal depth (c0 = 1.47 and -6.37);
* ``unequal-islands``: ``UNEQUAL``, the second basin shallower;
* ``out-of-reach``: ``TWO_BASINS`` with the fit started at its init (1, 1), near the
  first root, only (``n_starts=1``): the second island is found by the search alone;
* ``banana-3d``: ``BANANA``, a non-convex region;
* ``scales-1e7``: ``WILD_SCALES``, widths ~2e7 and ~2;
* ``ellipsoid-cut``: ``ELLIPSOID_SPEC`` with ``a`` bounded above 0.4 half-widths past
  the best fit (``ELLIPSOID_CUT``);
* ``fit-on-bound``: ``two_bin_uncorrelated`` over (mu, theta_0), theta_1 profiled,
  ``mu`` in [0, 10]: a deficit puts the best fit on mu = 0;
* ``profiled-2d``: ``CORRELATED`` over (mu, theta_0), theta_1 profiled;
* ``seed-default``: the three-shape example at its defaults (mu fixed and c0 in
  [-50, 1] by the example itself), the reference row.

Columns: medians of the wall time and of the process's CPU time (s; the CPU time is
less sensitive to a busy machine), points and NLL evaluations (medians), the statuses seen,
islands found / expected (the fewest and most when the runs differ), coverage of the
truth (medians over the runs of ``fraction_within(0.01)`` and ``largest_gap`` of
``mc.contour_coverage`` against one ``mc.reference_surface`` per class: a grid, marching
squares or cubes, refined onto ``NLL = T``, inner fits at every node of a profiled one;
distances relative to the surface's extent), the largest ``|NLL(full point) - T|`` off
bounds over all runs (the NLL evaluated afresh), the median share of points on a bound,
and for the two faces the tests measure, the share of the face within 1% of a point and
the face's largest gap (the ellipsoid's: samples of the ellipse cut by the plane, metric
the cut region's extent; the best fit on a bound: the segment between the profiled
NLL's crossings of ``T`` along mu = 0, metric the finder's scale).  The truths are
computed without the finder; only ``T``, the boxes and the segment's metric come from
its result.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree
from scipy.stats import chi2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import model_core as mc  # noqa: E402
from model_core.examples import load_example  # noqa: E402
from tests.model_core.contour.region_models import (  # noqa: E402
    BANANA,
    CORRELATED,
    ELLIPSOID_CUT,
    ELLIPSOID_SPEC,
    TWO_BASINS,
    UNEQUAL,
    WILD_SCALES,
    bound_segment,
    ellipsoid_face,
    ellipsoid_fisher,
    ellipsoid_half_widths,
)

CL = 0.95
#: Points of the segment on the bound mu = 0 (the test's sampling of the face).
SEGMENT_SAMPLES = 2001
#: Share of the face within this distance of a point (the surface's bar, 1%).
FACE_DISTANCE = 0.01


@dataclass(frozen=True)
class Case:
    """One model class: how to build it, the finder's arguments and the reference box."""

    name: str
    model: Callable[[], mc.Model]
    islands: int
    box: Callable[[mc.Model, mc.ContourResult], np.ndarray]
    kwargs: dict = field(default_factory=dict)
    resolution: int | None = None
    #: ``(model, result) -> (face points, metric)``, for a face the tests measure.
    face: Callable[[mc.Model, mc.ContourResult], tuple[np.ndarray, np.ndarray]] | None = None
    #: Whether the face is scored against the points on a bound only (else all points:
    #: a segment's ends are where the surface meets the bound).
    face_from_bound: bool = True


def _ellipsoid_cut() -> tuple[float, float]:
    """The bound on ``a`` and the Delta of the ellipsoid case."""
    best = mc.fit(mc.build_model(ELLIPSOID_SPEC))
    delta = float(chi2.ppf(CL, 3))
    half = ellipsoid_half_widths(ellipsoid_fisher(), delta)
    return float(best.x[1] + ELLIPSOID_CUT * half[0]), delta


def _ellipsoid_face(model: mc.Model, result: mc.ContourResult) -> tuple[np.ndarray, np.ndarray]:
    cut, delta = _ellipsoid_cut()
    return ellipsoid_face(mc.fit(model).x[1:], ellipsoid_fisher(), delta, cut)


def _ellipsoid_box(model: mc.Model, result: mc.ContourResult) -> np.ndarray:
    centre = mc.fit(model).x[1:]
    half = ellipsoid_half_widths(ellipsoid_fisher(), result.delta)
    return np.column_stack([centre - 1.2 * half, centre + 1.2 * half])


def _segment_face(model: mc.Model, result: mc.ContourResult) -> tuple[np.ndarray, np.ndarray]:
    centre = mc.fit(model, bounds=result.settings["bounds"]).x[1]
    lo, hi = bound_segment(model, result.threshold, "mu", 0.0, "theta_0", centre)
    segment = np.column_stack([np.zeros(SEGMENT_SAMPLES), np.linspace(lo, hi, SEGMENT_SAMPLES)])
    return segment, result.scale


def _wild_box(model: mc.Model, result: mc.ContourResult) -> np.ndarray:
    return np.column_stack([result.theta_mle - 3 * result.scale,
                            result.theta_mle + 3 * result.scale])


def _fixed_box(box: list[list[float]]) -> Callable[[mc.Model, mc.ContourResult], np.ndarray]:
    return lambda model, result: np.array(box, dtype=float)


ISLAND_BOX = [[-12.0, 6.0], [-45.0, 15.0]]
CASES = (
    Case("equal-islands", lambda: mc.build_model(TWO_BASINS), 2, _fixed_box(ISLAND_BOX)),
    Case("unequal-islands", lambda: mc.build_model(UNEQUAL), 2, _fixed_box(ISLAND_BOX)),
    Case("out-of-reach", lambda: mc.build_model(TWO_BASINS), 2, _fixed_box(ISLAND_BOX),
         {"n_starts": 1}),
    Case("banana-3d", lambda: mc.build_model(BANANA), 1,
         _fixed_box([[-2.0, 6.0], [-2.0, 26.0], [-3.0, 5.0]]), resolution=81),
    Case("scales-1e7", lambda: mc.build_model(WILD_SCALES), 1, _wild_box),
    Case("ellipsoid-cut", lambda: mc.build_model(ELLIPSOID_SPEC), 1, _ellipsoid_box,
         {"bounds": {"a": (None, _ellipsoid_cut()[0])}}, resolution=61, face=_ellipsoid_face),
    Case("fit-on-bound", lambda: mc.build_model(load_example("two_bin_uncorrelated")), 1,
         _fixed_box([[0.0, 3.0], [-3.0, 3.0]]),
         {"parameters": ["mu", "theta_0"], "bounds": {"mu": (0.0, 10.0)}}, resolution=81,
         face=_segment_face, face_from_bound=False),
    Case("profiled-2d", lambda: mc.build_model(CORRELATED), 1,
         _fixed_box([[-3.0, 6.0], [-4.0, 4.0]]), {"parameters": ["mu", "theta_0"]}),
    Case("seed-default", lambda: mc.build_model(load_example("three_shapes")), 1,
         _fixed_box([[-50.0, 1.0], [-8.0, 8.0], [-6.0, 26.0]])),
)


def largest_residual(model: mc.Model, result: mc.ContourResult) -> float:
    """Largest ``|NLL - T|`` over the points not on a bound, the NLL evaluated afresh."""
    off = ~result.on_bound
    if not off.any():
        return float("nan")
    return float(np.max(np.abs(model.nll(result.full_points[off]) - result.threshold)))


def islands_found(runs: list[tuple[mc.ContourResult, float]], expected: int) -> str:
    """``found/expected``; ``fewest-most/expected`` when the runs disagree (none is hidden)."""
    counts = sorted({len(r.islands) for r, _ in runs})
    found = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    return f"{found}/{expected}"


def face_figures(points: np.ndarray, face: np.ndarray, metric: np.ndarray) -> tuple[float, float]:
    """Share of the face within :data:`FACE_DISTANCE` of a point, and the largest gap."""
    gap = cKDTree(points / metric).query(face / metric)[0]
    return float(np.mean(gap <= FACE_DISTANCE)), float(gap.max())


def run_case(case: Case, repeats: int) -> dict[str, object]:
    """The finder ``repeats`` times (seeds 0, 1, ...) and its figures against the truth."""
    model = case.model()
    runs, cpu = [], []
    for seed in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        result = mc.find_contour(model, confidence_level=CL, rng=seed, **case.kwargs)
        runs.append((result, time.perf_counter() - t0))
        cpu.append(time.process_time() - c0)
    first = runs[0][0]
    reference = mc.reference_surface(model, first.parameter_names, first.threshold,
                                     box=case.box(model, first),
                                     bounds=first.settings["bounds"], resolution=case.resolution,
                                     rng=0)
    coverage = [mc.contour_coverage(model, r.contour_points, reference=reference)
                for r, _ in runs]
    row = {
        "time": statistics.median(t for _, t in runs),
        "cpu": statistics.median(cpu),
        "points": statistics.median(len(r.contour_points) for r, _ in runs),
        "evaluations": statistics.median(r.n_evaluations for r, _ in runs),
        "status": "/".join(sorted({r.status for r, _ in runs})),
        "islands": islands_found(runs, case.islands),
        "within": statistics.median(c.fraction_within(0.01) for c in coverage),
        "gap": statistics.median(c.largest_gap for c in coverage),
        "residual": max(largest_residual(model, r) for r, _ in runs),
        "on_bound": statistics.median(float(r.on_bound.mean()) for r, _ in runs),
        "face": None,
    }
    if case.face is not None:
        face, metric = case.face(model, first)
        figures = [face_figures(r.contour_points[r.on_bound] if case.face_from_bound
                                else r.contour_points, face, metric) for r, _ in runs]
        row["face"] = (statistics.median(f[0] for f in figures),
                       statistics.median(f[1] for f in figures))
    return row


HEADER = (f"{'class':<16} {'time s':>7} {'cpu s':>6} {'points':>7} {'NLL evals':>10} "
          f"{'status':<17} {'islands':>7} {'within 1%':>9} {'gap':>7} {'max|NLL-T|':>10} "
          f"{'on bound':>8} {'face 1% / gap':>15}")


def format_row(name: str, row: dict[str, object]) -> str:
    face = row["face"]
    face_text = "-" if face is None else f"{face[0]:.4f} / {face[1]:.4f}"
    return (f"{name:<16} {row['time']:7.2f} {row['cpu']:6.2f} {row['points']:7.0f} "
            f"{row['evaluations']:10.0f} {row['status']:<17} {row['islands']:>7} "
            f"{row['within']:9.4f} {row['gap']:7.4f} {row['residual']:10.1e} "
            f"{row['on_bound']:8.1%} {face_text:>15}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs per class, seeds 0..N-1 (medians quoted)")
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=[c.name for c in CASES],
                        help="run only these classes")
    args = parser.parse_args()
    print(f"contour finder at its defaults, CL {CL}, {args.repeats} runs per class "
          f"(seeds 0..{args.repeats - 1}); coverage and gaps relative to the surface's extent")
    print(HEADER)
    for case in CASES:
        if args.only is None or case.name in args.only:
            print(format_row(case.name, run_case(case, args.repeats)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
