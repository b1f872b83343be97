"""Speed of the pseudo-experiments (issue 11): medians of several runs.

Run: ``python benchmarks/bench_toys.py`` (``--repeat N``, ``--quick`` for a short run).

1. Per-toy cost of a coverage study with one axis, the POI (one unconditional
   and one conditional fit per toy, all toys fitted together; from every
   separate minimum of the observed data when it has several), on the 2-bin
   examples and on a 12-parameter HistFactory workspace, beside pyhf 0.7.6
   (numpy backend) fitting toys of the same likelihood one by one with
   ``pyhf.infer.mle.fit`` and ``fixed_poi_fit`` (counting models through their
   exported workspace, where HistFactory can express them).  Target: at least
   50x faster per toy than pyhf.
2. 10,000 toys of a 3-parameter counting model (target < 10 s).
3. A 21 x 21 calibrated grid with 200 toys per point on the one-bin pyhf
   example (target < 60 s).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import median_time, report  # noqa: E402

import model_core as mc  # noqa: E402
from model_core.examples import load_example  # noqa: E402
from model_core.toys.setup import prepare  # noqa: E402
from model_core.workspace import synthetic_workspace  # noqa: E402

SEED = 20240611
#: 12 parameters: mu, lumi, 5 normsys and 5 histosys over 3 channels x 3 bins.
WORKSPACE_12 = dict(n_channels=3, n_bins=3, n_normsys=5, n_histosys=5, n_staterror_channels=0)
GRID_AXES = ("mu", "uncorr_bkguncrt[0]")


def _pyhf_per_toy(workspace: dict | None, n_toys: int) -> float | None:
    """Median seconds for pyhf to fit one toy (free fit + fit at the true POI), or None."""
    try:
        import pyhf
    except ImportError:
        return None
    if workspace is None:
        return None
    pyhf.set_backend("numpy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pmodel = pyhf.Workspace(workspace).model()
    model = mc.build_model(workspace)  # the same likelihood, laid out as pyhf does
    truth = mc.fit(model).x
    toys = mc.sample_toys(model, truth, n_toys, rng=SEED)
    mu = float(truth[model.poi_index])
    times = []
    for main, aux in zip(toys.main, toys.aux, strict=True):
        data = np.concatenate([main, aux])
        start = time.perf_counter()
        pyhf.infer.mle.fit(data, pmodel)
        pyhf.infer.mle.fixed_poi_fit(mu, data, pmodel)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _workspace(spec) -> dict | None:
    """The spec as a pyhf workspace, when HistFactory can express it."""
    if hasattr(spec, "workspace"):
        return dict(spec.workspace)
    try:
        return mc.to_workspace(spec)
    except mc.SpecError:
        return None


def per_toy(label: str, model: mc.Model, spec, n_toys: int, repeat: int, n_pyhf: int) -> None:
    poi = model.poi

    def study() -> None:
        result = mc.coverage_study(model, parameters=[poi], n_toys=n_toys, rng=SEED)
        assert result.n_failed == 0, result.n_failed

    seconds = median_time(study, repeat=repeat) / n_toys
    reference = _pyhf_per_toy(_workspace(spec), n_pyhf) if n_pyhf else None
    starts = max(1, len(prepare(model, [poi], None, (0.95,), SEED, "refuse").basins))
    report(f"per toy, {label} ({model.npar} par., {starts} start{'s' * (starts > 1)})", seconds,
           target=None if reference is None else reference / 50, reference=reference)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="fewer toys and repeats")
    args = parser.parse_args()
    repeat = 2 if args.quick else args.repeat
    n_toys = 500 if args.quick else 2000
    n_pyhf = 20 if args.quick else 60
    print(f"medians of {repeat} runs; per-toy figures from studies of {n_toys} toys, pyhf's "
          f"from {n_pyhf} toys fitted one by one\n")
    for name in ("two_bin_uncorrelated", "three_shapes_correlated", "pyhf_two_bin_shapesys",
                 "pyhf_one_bin"):
        spec = load_example(name)
        model = mc.build_model(spec)
        fixed = {"mu": 1.0} if name.startswith("three") else None
        if fixed:  # the POI is fixed there: take the first shape parameter as the axis
            model.fixed[:] = False
            model.poi_index = model.index("c0")
        per_toy(name, model, spec, n_toys, repeat, n_pyhf)
    spec = mc.load_spec(synthetic_workspace(**WORKSPACE_12, rng=SEED))
    per_toy("synthetic workspace", mc.build_model(spec), spec, n_toys, repeat, n_pyhf)

    model = mc.build_model(load_example("two_bin_uncorrelated"))
    report("10,000 toys, two_bin_uncorrelated (3 parameters), axis mu",
           median_time(lambda: mc.coverage_study(model, parameters=["mu"], n_toys=10_000,
                                                 rng=SEED), repeat=repeat), target=10.0)
    model = mc.build_model(load_example("pyhf_one_bin"))
    n_points = 7 if args.quick else 21
    report(f"calibrated grid {n_points}x{n_points}, 200 toys per point, pyhf_one_bin",
           median_time(lambda: mc.calibrated_grid(
               model, GRID_AXES, np.linspace(0.0, 3.0, n_points), np.linspace(0.5, 1.5, n_points),
               n_toys=200, rng=SEED), repeat=max(1, repeat // 2), warmup=0),
           target=60.0 * n_points**2 / 441)


if __name__ == "__main__":
    main()
