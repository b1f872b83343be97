"""Benchmark of the contour finder on the seed model (issue 5) and on profiled contours beside
iminuit's ``mncontour`` (issue 10), optionally side by side with spey.

    python benchmarks/bench_contour.py [--repeats 5] [--no-profiled] [--dense]
                                       [--with-spey [--spey-jobs N] [--spey-seed-settings]]

(a) The seed configuration of ``004_067d72fcc8ae84de.txt`` on the three-shape model
    (``mu`` fixed at 1, ``c0`` in [-50, 1]): ``n_radial=2000``, 100 chains x 4000
    steps, step 0.05, 3000 gap candidates.  Prints the median wall time over the
    repeats, the points, NLL evaluations, the time to the first points, the peak
    memory (tracemalloc in a separate run, and the process's peak RSS) and the
    coverage of the true surface.

(b) ``--with-spey``: spey 0.2.7's ``find_contour`` at its own default settings
    (``n_radial=300``, 10 chains x 500 steps, step 0.05, 3000 gap candidates, 20
    multi-start fits, two coverage passes, ``n_jobs = cpu_count() - 1``; with
    ``random_seed=42`` and the c0 bounds) on the same model, with the symmetric
    covariance.  spey searches around every distinct minimum it finds, and the
    flat valley gives it many, hence its long run.  ``--spey-seed-settings`` uses the
    seed document's settings instead (2000 rays, 100 chains x 4000 steps: hours).

    spey 0.2.7 computes the threshold as
    ``nll_min + chi2.ppf(CL, k)`` (``contour.py``, right after the basin search:
    ``delta = float(chi2_dist.ppf(confidence_level, df=k)); threshold = nll_min + delta``),
    twice the intended Delta chi-square.  The benchmark corrects it to the seed
    formula ``nll_min + chi2.ppf(CL, k) / 2`` by replacing the module's ``chi2_dist``
    with an object whose ``ppf`` returns half the quantile, for the duration of the
    call only (spey's reported ``delta`` is then halved too; its ``threshold`` is right).

(c) ``--dense``: the app's default run (``mu`` fixed at 1, seed 42) with spacing
    0.002 and no point budget, about 140,000 points: wall time, points per second,
    and the median and longest time between two batches (a cancel waits for at most
    one batch), to show how the cost of a batch grows with the points already kept.

(d) Profiled 2-D contours at CL 0.95, ours beside iminuit's ``mncontour`` (Minuit2's
    MnContours, ``size=100``) on the same NLL (``model.nll``; iminuit once without and
    once with our exact gradient), runs interleaved, each timed from scratch (iminuit's
    time includes MIGRAD and HESSE, ours the multi-start fit, the search for islands and
    the faces):

    * a HistFactory workspace with 12 parameters (4 channels x 5 bins, ``mu``, ``lumi``,
      6 normsys and 4 histosys), the contour over (``mu``, ``lumi``) with 10 profiled;
    * a two-bin correlated-background model, the contour over (``mu``, ``theta_0``)
      with ``theta_1`` profiled.

    Ours runs at its defaults, once more with ``spacing=0.02`` (about as many
    points as iminuit's) and once without the search for islands (``n_explore=0``;
    MnContours searches none either).  Prints medians, the ratios, the points, and the largest
    ``|NLL_profiled - T|`` of both point sets (iminuit's points re-profiled by us).

Coverage: the reference surface is built independently (marching cubes on a
fine grid, refined onto ``NLL = T``, sampled uniformly by area); distances are
measured with every axis scaled by the surface's extent; both runs are scored
against the same reference.  Speed targets are checked here, never in tests.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import model_core as mc  # noqa: E402
from model_core.examples import load_example  # noqa: E402
from model_core.profile import profile_points  # noqa: E402

#: Part (d): iminuit's points, and our spacing for about as many.
MINUIT_SIZE = 100
MATCHED_SPACING = 0.02
SEED = dict(n_radial=2000, n_chains=100, n_steps=4000, step_size=0.05, n_gap_candidates=3000)
FIXED = {"mu": 1.0}
BOUNDS = {"c0": (-50.0, 1.0)}
TEMPLATES = (np.array([12.0, 15.0]), np.array([6.0, 16.0]), np.array([20.0, 10.0]))


def run_ours(model: mc.Model, seed: int) -> tuple[mc.ContourResult, float, float]:
    first: list[float] = []
    t0 = time.perf_counter()

    def note(batch: mc.ContourBatch) -> None:
        if not first and len(batch.points):
            first.append(time.perf_counter() - t0)

    result = mc.find_contour(model, 0.95, fixed=FIXED, bounds=BOUNDS, rng=seed, on_batch=note,
                             **SEED)
    return result, time.perf_counter() - t0, first[0] if first else float("nan")


def dense_run(model: mc.Model) -> None:
    """Part (c): one dense run, timed batch by batch."""
    stamps = [time.perf_counter()]
    result = mc.find_contour(model, fixed=FIXED, rng=42, spacing=0.002, max_points=10_000_000,
                             on_batch=lambda batch: stamps.append(time.perf_counter()))
    gaps = np.diff(stamps)
    n, elapsed = len(result.contour_points), stamps[-1] - stamps[0]
    print(f"dense run (spacing 0.002): {elapsed:.1f} s, {n} points ({n / elapsed:,.0f} per s), "
          f"{len(gaps)} batches, between batches median {np.median(gaps):.2f} s, "
          f"longest {gaps.max():.2f} s, status {result.status}")


def peak_memory(model: mc.Model) -> float:
    """Peak traced allocation (MB) of one run."""
    tracemalloc.start()
    mc.find_contour(model, 0.95, fixed=FIXED, bounds=BOUNDS, rng=0, **SEED)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


@contextlib.contextmanager
def spey_threshold_corrected():
    """Make spey 0.2.7 use ``nll_min + chi2.ppf(CL, k) / 2`` (see the module docstring)."""
    import spey.multiparameter.contour as spey_contour
    from scipy.stats import chi2

    class HalfQuantile:
        @staticmethod
        def ppf(q, df):
            return chi2.ppf(q, df) / 2.0

    original = spey_contour.chi2_dist
    spey_contour.chi2_dist = HalfQuantile
    try:
        yield spey_contour
    finally:
        spey_contour.chi2_dist = original


def run_spey(jobs: int | None, seed_settings: bool) -> tuple[np.ndarray, float, float]:
    import warnings

    import spey

    def signal(p):
        return p[0] * TEMPLATES[0] + p[1] ** 2 * TEMPLATES[1] + p[2] * TEMPLATES[2]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stat_model = spey.get_backend("default.multivariate_normal")(
            signal_yields=signal, background_yields=np.array([50.0, 48.0]),
            data=np.array([36, 33]), covariance_matrix=np.array([[144.0, 13.0], [13.0, 256.0]]),
            n_signal_parameters=3, analysis="bench")
        settings = dict(n_radial=2000, n_hmc_chains=100, n_hmc_steps=4000, hmc_step_size=0.05,
                        n_gap_candidates=3000) if seed_settings else {}
        if jobs is not None:
            settings["n_jobs"] = jobs
        with spey_threshold_corrected() as spey_contour:
            t0 = time.perf_counter()
            result = spey_contour.find_contour(
                stat_model, confidence_level=0.95, random_seed=42,
                bounds=[(-50, 1), (None, None), (None, None)], **settings)
            elapsed = time.perf_counter() - t0
    return np.asarray(result.contour_points), elapsed, float(result.threshold)


def describe(name: str, model: mc.Model, points: np.ndarray, ref: mc.ReferenceSurface,
             threshold: float, on_bound: np.ndarray | None = None) -> str:
    """Coverage in both norms, and the largest residual over points not on a bound."""
    euclid = mc.contour_coverage(model, points, reference=ref)
    chebyshev = mc.contour_coverage(model, points, reference=ref, norm="max")
    full = np.column_stack([np.ones(len(points)), points])
    residual = np.abs(model.nll(full) - threshold)
    if on_bound is not None:
        residual = residual[~on_bound]
    return (f"{name:>5}: covered within 1% {euclid.fractions[0]:.4f}, within 2% "
            f"{euclid.fractions[1]:.4f}, largest gap {euclid.largest_gap:.4f} (euclidean); "
            f"{chebyshev.fractions[0]:.4f} / {chebyshev.fractions[1]:.4f} / "
            f"{chebyshev.largest_gap:.4f} (per axis); max |NLL - T| {residual.max():.2e}"
            + ("" if on_bound is None else f" ({int(on_bound.sum())} points on the c0 bounds)"))


def workspace_case() -> tuple[mc.Model, list[str]]:
    """12 parameters: the contour over (mu, lumi), 10 nuisance parameters profiled."""
    from model_core.workspace import synthetic_workspace

    raw = synthetic_workspace(n_channels=4, n_bins=5, n_normsys=6, n_histosys=4,
                              n_staterror_channels=0, lumi=True, rng=7)
    return mc.build_model(raw), ["mu", "lumi"]


def correlated_case() -> tuple[mc.Model, list[str]]:
    """Two bins, correlated background: the contour over (mu, theta_0), theta_1 profiled."""
    spec = {"kind": "correlated_background", "data": [62, 70], "background": [50.0, 48.0],
            "covariance": [[25.0, 5.0], [5.0, 36.0]],
            "signal": {"templates": {"S": [12.0, 15.0]}, "expression": "S"}}
    return mc.build_model(spec), ["mu", "theta_0"]


def run_minuit(model: mc.Model, axes: list[str], with_grad: bool) -> tuple[np.ndarray, float]:
    """MIGRAD, HESSE and MnContours on ``model.nll``, from scratch."""
    from iminuit import Minuit

    t0 = time.perf_counter()
    minuit = Minuit(lambda x: float(model.nll(np.asarray(x))), model.init.copy(),
                    grad=(lambda x: model.grad(np.asarray(x))) if with_grad else None,
                    name=model.parameter_names)
    minuit.errordef = Minuit.LIKELIHOOD
    for name, bounds in zip(model.parameter_names, model.bounds, strict=True):
        minuit.limits[name] = tuple(bounds)
    minuit.migrad()
    minuit.hesse()
    points = minuit.mncontour(*axes, cl=0.95, size=MINUIT_SIZE)[:-1]  # the last closes it
    return points, time.perf_counter() - t0


def profiled_residual(model: mc.Model, axes: list[str], points: np.ndarray,
                      threshold: float) -> float:
    """Largest ``|NLL_profiled - T|`` at ``points``, the other parameters re-fitted."""
    best = mc.fit(model)
    base = np.tile(best.x, (len(points), 1))
    pinned = [model.index(a) for a in axes]
    base[:, pinned] = points
    refit = profile_points(model, base, pinned)
    return float(np.max(np.abs(refit.fun - threshold)))


def profiled_benchmark(repeats: int) -> None:
    """Part (d)."""
    for label, (model, axes) in (("HistFactory, 12 parameters, 10 profiled", workspace_case()),
                                 ("correlated background, 1 profiled", correlated_case())):
        times: dict[str, list[float]] = {"ours": [], "ours matched": [], "ours no search": [],
                                         "iminuit": [], "iminuit+grad": []}
        for seed in range(repeats):
            t0 = time.perf_counter()
            ours = mc.find_contour(model, parameters=axes, rng=seed)
            times["ours"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            matched = mc.find_contour(model, parameters=axes, rng=seed, spacing=MATCHED_SPACING)
            times["ours matched"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            alone = mc.find_contour(model, parameters=axes, rng=seed, n_explore=0)
            times["ours no search"].append(time.perf_counter() - t0)
            plain, elapsed = run_minuit(model, axes, False)
            times["iminuit"].append(elapsed)
            graded, elapsed = run_minuit(model, axes, True)
            times["iminuit+grad"].append(elapsed)
        median = {k: statistics.median(v) for k, v in times.items()}
        reference = min(median["iminuit"], median["iminuit+grad"])
        print(f"{label}, contour over {axes}, CL 0.95, {repeats} runs each (interleaved):")
        for name, result in (("ours", ours), ("ours matched", matched),
                             ("ours no search", alone)):
            on = result.on_bound
            print(f"  {name:<14} median {median[name]:.3f} s, {len(result.contour_points)} points "
                  f"({int(on.sum())} on bounds), max |NLL - T| "
                  f"{np.abs(result.residuals[~on]).max():.1e}, status {result.status}; "
                  f"{reference / median[name]:.1f}x faster than the faster iminuit")
        for name, points in (("iminuit", plain), ("iminuit+grad", graded)):
            print(f"  {name:<14} median {median[name]:.3f} s, {len(points)} points, max |NLL - T| "
                  f"{profiled_residual(model, axes, points, ours.threshold):.1e}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of ours (median quoted)")
    parser.add_argument("--no-profiled", action="store_true",
                        help="skip the profiled contours beside iminuit (part d)")
    parser.add_argument("--dense", action="store_true",
                        help="also time a dense run of ~140,000 points (half a minute)")
    parser.add_argument("--with-spey", action="store_true", help="also run spey (minutes)")
    parser.add_argument("--spey-jobs", type=int, default=None,
                        help="spey's n_jobs (default: its own, cpu_count() - 1)")
    parser.add_argument("--spey-seed-settings", action="store_true",
                        help="run spey with the seed document's settings instead of its defaults")
    args = parser.parse_args()

    model = mc.build_model(load_example("three_shapes"))
    runs = [run_ours(model, seed) for seed in range(args.repeats)]
    times = [t for _, t, _ in runs]
    firsts = [f for _, _, f in runs]
    result = runs[0][0]
    print(f"ours (seed configuration, {args.repeats} runs, seeds 0..{args.repeats - 1}):")
    print(f"  wall time median {statistics.median(times):.2f} s "
          f"(min {min(times):.2f}, max {max(times):.2f}); first points after "
          f"{statistics.median(firsts):.3f} s")
    print(f"  points median {statistics.median(len(r.contour_points) for r, _, _ in runs):.0f}, "
          f"NLL evaluations median {statistics.median(r.n_evaluations for r, _, _ in runs):.0f}, "
          f"status {sorted({r.status for r, _, _ in runs})}")
    print(f"  {result.message.split(';')[0]}")
    print(f"  peak traced memory {peak_memory(model):.0f} MB; process peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")

    t0 = time.perf_counter()
    ref = mc.reference_surface(model, result.parameter_names, result.threshold, fixed=FIXED,
                               bounds=BOUNDS, box=np.array([[-50.0, 1.0], [-8, 8], [-6, 26]]),
                               rng=0)
    print(f"reference surface: {len(ref.faces)} triangles, {len(ref.samples)} samples, extent "
          f"{np.round(ref.extent, 3).tolist()} ({time.perf_counter() - t0:.1f} s)")
    covered = [mc.contour_coverage(model, r.contour_points, reference=ref) for r, _, _ in runs]
    median_covered = statistics.median(c.covered for c in covered)
    print(f"  ours, median over runs: within 1% {median_covered:.4f}, "
          f"largest gap {statistics.median(c.largest_gap for c in covered):.4f}")
    print(describe("ours", model, result.contour_points, ref, result.threshold,
                   result.on_bound))

    if not args.no_profiled:
        profiled_benchmark(args.repeats)
    if args.dense:
        dense_run(model)
    if args.with_spey:
        points, elapsed, threshold = run_spey(args.spey_jobs, args.spey_seed_settings)
        which = "seed settings" if args.spey_seed_settings else "its defaults"
        print(f"spey 0.2.7 ({which}, n_jobs={args.spey_jobs or 'default'}, threshold corrected): "
              f"{elapsed:.1f} s, {len(points)} points, its T - ours "
              f"{threshold - result.threshold:+.2e}")
        print(describe("spey", model, points, ref, result.threshold))
        print(f"speed-up: {elapsed / statistics.median(times):.0f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
