"""``python -m model_core coverage SPEC ...``: a coverage study from the command line.

A progress bar (tqdm) goes to stderr when it is a terminal; the summary goes
to stdout (a table, or JSON with ``--json``); ``--out FILE`` writes the full
result, every toy's ``q`` included, as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..models import build_model
from .coverage import coverage_study
from .results import CoverageBatch
from .setup import BATCH_SIZE

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of the ``coverage`` subcommand."""
    from ..cli import _add_model_arguments

    _add_model_arguments(parser)
    parser.add_argument("--param", action="append", metavar="NAME",
                        help="axis of the region (repeatable; default: every parameter not "
                        "fixed); the other free parameters are profiled")
    parser.add_argument("--at", action="append", metavar="NAME=VALUE",
                        help="truth the toys are drawn at (repeatable; parameters not given "
                        "take their best fit with these held; default: the best fit)")
    parser.add_argument("--toys", type=int, default=1000, help="number of toys (default 1000)")
    parser.add_argument("--cl", type=float, nargs="+", default=[0.68, 0.95],
                        help="confidence levels (default 0.68 0.95)")
    parser.add_argument("--seed", type=int, default=None, help="random seed")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE,
                        help=f"toys per batched fit (default {BATCH_SIZE})")
    parser.add_argument("--resample-unbinned", action="store_true",
                        help="draw the events of unbinned channels from their own events, "
                        "weighted by the model (otherwise such models are refused)")
    parser.add_argument("--out", metavar="FILE", help="write the full result (with q) as JSON")


def run(args: argparse.Namespace) -> int:
    """Run the ``coverage`` subcommand; returns the exit status."""
    from tqdm import tqdm  # only for this command: importing model_core stays light

    from ..cli import parse_assignments, read_spec

    model = build_model(read_spec(args.spec))
    at = parse_assignments(args.at, "--at") or None
    with tqdm(total=args.toys, unit="toy", file=sys.stderr, disable=not sys.stderr.isatty(),
              desc="coverage") as bar:

        def progress(batch: CoverageBatch) -> None:
            bar.update(len(batch.q))
            bar.set_postfix(failed=batch.n_failed)

        study = coverage_study(model, at=at, parameters=args.param,
                               fixed=parse_assignments(args.fix, "--fix"),
                               confidence_levels=args.cl, n_toys=args.toys, rng=args.seed,
                               on_batch=progress, batch_size=args.batch_size,
                               unbinned="resample" if args.resample_unbinned else "refuse")
    full = study.to_dict()
    if args.out:
        Path(args.out).write_text(json.dumps(full))
    summary = {k: v for k, v in full.items() if k != "q"}
    if args.json:
        print(json.dumps(summary))
    else:
        truth = ", ".join(f"{n}={v:.6g}" for n, v in summary["at"].items())
        print(f"{study.n_ok} of {len(study.q)} toys fitted ({study.n_failed} failed) at {truth}; "
              f"axes {', '.join(study.parameters)} (k = {study.dof}); {study.elapsed:.2f} s")
        print(f"{'CL':>8}  {'coverage':>9}  {'68% interval':>19}  {'Wilks':>8}  {'toys':>8}")
        for cl, wilks in zip(study.confidence_levels, study.thresholds, strict=True):
            lo, hi = study.coverage_interval(cl)
            print(f"{cl:>8.4g}  {study.coverage[cl]:>9.4f}  [{lo:.4f}, {hi:.4f}]  "
                  f"{wilks:>8.4g}  {study.calibrated_threshold(cl):>8.4g}")
        print("(Wilks: chi2.ppf(CL, k); toys: the toy-calibrated threshold, the CL-quantile "
              "of q)")
    return 1 if study.n_ok == 0 else 0
