"""Peak memory of big batches: chunks of rows within ``model_core.chunks.ROW_BUDGET``
against one call over the whole batch.

Run from the repository root::

    python benchmarks/bench_memory.py [--rows 20000]

For a 12-parameter HistFactory workspace (4 channels x 5 bins, normsys, histosys,
lumi), prints the peak traced allocation (``tracemalloc``) of ``Model.hessian``,
``Model.value_and_grad`` and ``Model.nll`` over ``--rows`` parameter points, at the
default budget and with a budget no batch reaches (the behaviour before chunking),
beside the size of the inputs and outputs themselves.  Results are bit for bit the same.
"""

from __future__ import annotations

import argparse
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import model_core as mc  # noqa: E402
from model_core import chunks  # noqa: E402
from model_core.workspace import synthetic_workspace  # noqa: E402

#: A budget no batch reaches: every call runs as one, as before chunking.
UNBOUNDED = 2**50


def peak(fn: Callable[[], object], budget: int) -> tuple[object, int]:
    """``fn()`` under ``budget``, and the peak traced allocation during the call."""
    saved, chunks.ROW_BUDGET = chunks.ROW_BUDGET, budget
    tracemalloc.start()
    try:
        out = fn()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        chunks.ROW_BUDGET = saved


def _nbytes(out: object) -> int:
    return sum(a.nbytes for a in (out if isinstance(out, tuple) else (out,)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000, help="parameter points per batch")
    args = parser.parse_args()
    model = mc.build_model(synthetic_workspace(
        n_channels=4, n_bins=5, n_normsys=6, n_histosys=4, n_staterror_channels=0,
        lumi=True, rng=7))
    X = model.init + 0.05 * np.random.default_rng(2).standard_normal((args.rows, model.npar))
    mib = 2**20
    print(f"{model.npar}-parameter workspace, {args.rows:,} rows; default budget "
          f"{chunks.ROW_BUDGET / mib:.0f} MiB")
    print(f"{'call':<16s} {'chunked':>10s} {'one call':>10s} {'in + out':>10s}  same")
    for name in ("hessian", "value_and_grad", "nll"):
        method = getattr(model, name)
        chunked, low = peak(lambda m=method: m(X), chunks.ROW_BUDGET)
        whole, high = peak(lambda m=method: m(X), UNBOUNDED)
        same = all(np.array_equal(a, b) for a, b in zip(
            chunked if isinstance(chunked, tuple) else (chunked,),
            whole if isinstance(whole, tuple) else (whole,), strict=True))
        print(f"{name:<16s} {low / mib:8.0f} MiB {high / mib:6.0f} MiB "
              f"{(X.nbytes + _nbytes(chunked)) / mib:6.0f} MiB  {same}")


if __name__ == "__main__":
    main()
