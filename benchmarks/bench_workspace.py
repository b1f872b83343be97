"""Timing of a 20-channel x 10-bin workspace with 100 nuisance parameters, beside pyhf.

Run from the repository root::

    python benchmarks/bench_workspace.py [--repeats 200] [--batch-repeats 15]

Prints median wall times of the NLL and of NLL plus gradient for one point and
for a batch of 1,000 points, and (when pyhf is installed) of pyhf's numpy
backend ``logpdf`` on the same workspace, one point and batched (``batch_size``
model).  Issue 4's targets: one NLL at least 3x faster than one pyhf
``logpdf``; one value-and-gradient no slower than one pyhf ``logpdf``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import model_core as mc  # noqa: E402
from model_core.workspace import synthetic_workspace  # noqa: E402

SEED = 20240604
BATCH = 1000


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200, help="repeats for single points")
    parser.add_argument("--batch-repeats", type=int, default=15, help="repeats for batches")
    args = parser.parse_args(argv)

    raw = synthetic_workspace(n_channels=20, n_bins=10, rng=SEED)
    model = mc.build_model(raw)
    n_nuisance = model.npar - 1
    rng = np.random.default_rng(SEED)
    x = model.init.copy()
    spread = np.where(model.init == 0.0, 0.5, 0.02)
    batch = model.init + spread * rng.standard_normal((BATCH, model.npar))
    print(f"workspace: 20 channels x 10 bins, {model.npar} parameters "
          f"({n_nuisance} nuisance), batch of {BATCH}")
    single, many = args.repeats, args.batch_repeats
    rows = [
        ("model_core NLL, 1 point", median_ms(lambda: model.nll(x), single)),
        ("model_core NLL+grad, 1 point", median_ms(lambda: model.value_and_grad(x), single)),
        (f"model_core NLL, {BATCH} points", median_ms(lambda: model.nll(batch), many)),
        (f"model_core NLL+grad, {BATCH} points",
         median_ms(lambda: model.value_and_grad(batch), many)),
        ("model_core Hessian, 1 point", median_ms(lambda: model.hessian(x), max(3, many))),
    ]
    pyhf_single = None
    try:
        import pyhf
    except ImportError:
        print("pyhf is not installed: no comparison")
    else:
        pyhf.set_backend("numpy")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            workspace = pyhf.Workspace(raw)
            pmodel = workspace.model()
            pbatch = workspace.model(batch_size=BATCH)
        data = np.asarray(workspace.data(pmodel))
        assert np.isclose(-model.nll(x), pmodel.logpdf(x, data)[0], rtol=1e-10)
        pyhf_single = median_ms(lambda: pmodel.logpdf(x, data), args.repeats)
        rows += [
            ("pyhf numpy logpdf, 1 point", pyhf_single),
            (f"pyhf numpy logpdf, {BATCH} points (batch_size)",
             median_ms(lambda: pbatch.logpdf(batch, data), max(3, args.batch_repeats // 5))),
        ]
    width = max(len(r[0]) for r in rows)
    for label, ms in rows:
        print(f"  {label:<{width}}  {ms:10.3f} ms")
    if pyhf_single is not None:
        nll, vg = rows[0][1], rows[1][1]
        print(f"single NLL speed-up over pyhf logpdf: {pyhf_single / nll:.2f}x (target >= 3x)")
        print(f"single NLL+grad vs pyhf logpdf: {vg / pyhf_single:.2f} of its time "
              "(target <= 1)")


if __name__ == "__main__":
    main()
