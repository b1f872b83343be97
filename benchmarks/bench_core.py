"""Speed of the likelihood core (issue 2): medians of several runs.

Run: ``python benchmarks/bench_core.py`` (add ``--repeat N``).  When spey is
installed (``pip install -e .[bench]``), the single-point and batch figures are
compared with spey's own ``value_and_grad`` on the same model.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import median_time, report  # noqa: E402

import model_core as mc  # noqa: E402
from model_core.examples import load_example  # noqa: E402


def spey_reference(spec: mc.ModelSpec):
    """spey's value_and_grad for the three-shape model, or None without spey."""
    try:
        import spey
        from spey.math import value_and_grad
    except ImportError:
        return None
    t = {k: np.array(v) for k, v in spec.templates.items()}
    model = spey.get_backend("default.multivariate_normal")(
        signal_yields=lambda p: p[0] * t["A"] + p[1] ** 2 * t["B"] + p[2] * t["C"],
        background_yields=np.array(spec.background), data=np.array(spec.data),
        covariance_matrix=np.array(spec.covariance), n_signal_parameters=3)
    return value_and_grad(model)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    spec = load_example("three_shapes")
    model = mc.build_model(spec)
    rng = np.random.default_rng(0)
    x = np.array([1.0, -1.0, 0.4, -0.1])
    batch = x + 0.3 * rng.standard_normal((10_000, 4))
    print(f"model: {spec.name}; {model.npar} parameters; medians of {args.repeat} runs\n")

    single = median_time(lambda: model.value_and_grad(x), repeat=args.repeat, number=200)
    spey_vg = spey_reference(spec)
    ref = None
    if spey_vg is not None:
        ref = median_time(lambda: spey_vg(x), repeat=args.repeat, number=200)
    report("value_and_grad, one point", single, reference=ref)
    report("hessian, one point",
           median_time(lambda: model.hessian(x), repeat=args.repeat, number=50))
    report("nll, batch of 10,000 points", median_time(lambda: model.nll(batch), repeat=args.repeat))
    vg_batch = median_time(lambda: model.value_and_grad(batch), repeat=args.repeat)
    ref_batch = None
    if spey_vg is not None:
        ref_batch = median_time(lambda: [spey_vg(p) for p in batch[:500]], repeat=3) * 20
    report("value_and_grad, batch of 10,000 points", vg_batch, target=0.020, reference=ref_batch)

    best = mc.fit(model)
    xs, ys = np.linspace(-5, 1, 101), np.linspace(-3, 3, 101)
    qx, qy = np.linspace(-5, 1, 11), np.linspace(-3, 3, 11)

    def likelihood_map():
        mc.nll_grid(model, ("c0", "c1"), xs, ys, at=best.x)
        mc.nll_grid(model, ("c0", "c1"), qx, qy, at=best.x)

    report("map: 101x101 NLL grid + 11x11 gradient grid", median_time(likelihood_map,
           repeat=args.repeat), target=0.020)
    grid = np.linspace(-6, 1, 100)
    report("profile of c0, 100 points (c1, c2 re-fitted)",
           median_time(lambda: mc.profile(model, "c0", grid, best=best), repeat=args.repeat),
           target=0.5)
    report("fit (mu fixed, 3 free parameters)", median_time(lambda: mc.fit(model),
           repeat=args.repeat))
    report("profiled map: 41x41 over (c0, c1), c2 re-fitted",
           median_time(lambda: mc.nll_grid(model, ("c0", "c1"), np.linspace(-5, 1, 41),
                                           np.linspace(-3, 3, 41), at=best.x, mode="profile"),
                       repeat=args.repeat))
    if spey_vg is None:
        print("\n(spey not installed: pip install -e .[bench] for the reference columns)")


if __name__ == "__main__":
    main()
