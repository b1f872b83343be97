"""``python -m model_core contour SPEC ...``: find a contour from the command line.

Progress goes to stderr (one line drawn by tqdm, :mod:`.progress`) when stderr
is a terminal or ``--progress`` is given, the summary to stdout, the points to
``--out`` (CSV, NPZ or JSON by suffix).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from ..models import build_model
from .finder import find_contour
from .io import FORMATS, save_contour
from .progress import ContourProgress
from .settings import DEFAULTS

__all__ = ["check_output", "configure", "run"]

# paths are echoed longer than other values: their end tells which file is meant
_PATH_ECHO = 240


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of the ``contour`` subcommand."""
    from ..cli import _add_model_arguments, bounded_int, confidence_level

    _add_model_arguments(parser)
    parser.add_argument("--param", action="append", metavar="NAME",
                        help="contour axis (repeatable; default: every parameter not fixed)")
    parser.add_argument("--cl", type=confidence_level, default=0.95,
                        help="confidence level (default 0.95)")
    parser.add_argument("--bound", action="append", metavar="NAME=LOW:HIGH",
                        help="bounds of a parameter, e.g. c0=-50:1 (empty side: none)")
    parser.add_argument("--seed", type=bounded_int(0), default=None, help="random seed (>= 0)")
    parser.add_argument("--set", action="append", metavar="SETTING=VALUE",
                        help="finder setting, e.g. n_chains=50 (repeatable): "
                        + ", ".join(DEFAULTS))
    parser.add_argument("--out", metavar="FILE", help="write the points: " + ", ".join(FORMATS))
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument("--progress", action="store_true",
                       help="draw the progress line on stderr even when it is not a terminal")
    shown.add_argument("--quiet", action="store_true", help="no progress line on stderr")


def check_output(text: str) -> None:
    """Refuse an ``--out`` path that cannot be written, before the run rather than after it:
    an unknown suffix, a missing or read-only folder, a folder or a pipe in its place."""
    from ..exceptions import ModelCoreError, shorten

    path = Path(text)
    out = f"--out {shorten(text, _PATH_ECHO)}"
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ModelCoreError(f"{out}: cannot tell the format from the suffix "
                             f"{shorten(suffix or '(none)')}: end the name with one of "
                             + ", ".join(FORMATS))
    folder = path.parent
    named = f"the folder {shorten(str(folder), _PATH_ECHO)}"
    try:
        if not folder.is_dir():
            problem = "does not exist" if not folder.exists() else "is not a folder"
            raise ModelCoreError(f"{out}: {named} {problem}: create it first or write "
                                 "elsewhere")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise ModelCoreError(f"{out}: {named} is not writable: choose a folder you can "
                                 "write to")
        if path.exists() and not (path.is_file() and os.access(path, os.W_OK)):
            raise ModelCoreError(f"{out}: exists and is not a writable regular file: choose "
                                 "another name")
    except OSError as exc:  # e.g. a name too long for the file system
        raise ModelCoreError(f"{out}: {exc.strerror}: choose a shorter or plainer name") \
            from None


def _parse_bounds(items: list[str] | None) -> dict[str, tuple[float | None, float | None]]:
    from ..exceptions import ModelCoreError

    out = {}
    for item in items or ():
        name, sep, rest = item.partition("=")
        lo, colon, hi = rest.partition(":")
        try:
            pair = (float(lo) if lo.strip() else None, float(hi) if hi.strip() else None)
        except ValueError:
            colon = ""
        if not sep or not colon or not name.strip():
            raise ModelCoreError(f"--bound {item!r}: expected NAME=LOW:HIGH, e.g. --bound "
                                 "c0=-50:1")
        out[name.strip()] = pair
    return out


def _parse_settings(items: list[str] | None) -> dict[str, Any]:
    from ..exceptions import ModelCoreError

    out: dict[str, Any] = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in DEFAULTS:
            raise ModelCoreError(f"--set {item!r}: expected SETTING=VALUE with SETTING one of "
                                 + ", ".join(DEFAULTS))
        kind = type(DEFAULTS[name])
        try:
            if kind is bool:
                if value.strip().lower() not in ("true", "false", "1", "0"):
                    raise ValueError(value)
                out[name] = value.strip().lower() in ("true", "1")
            else:
                out[name] = kind(float(value)) if kind is int and float(value).is_integer() \
                    else kind(value)
        except ValueError:
            raise ModelCoreError(f"--set {item!r}: {value!r} is not a valid "
                                 f"{kind.__name__}") from None
    return out


def run(args: argparse.Namespace) -> int:
    """Run the ``contour`` subcommand; returns the exit status."""
    from ..cli import parse_assignments, read_spec

    if args.out:
        check_output(args.out)
    model = build_model(read_spec(args.spec))
    shown = False if args.quiet else (True if args.progress else None)  # None: on a terminal
    with ContourProgress(enabled=shown) as progress:
        result = find_contour(model, args.cl, parameters=args.param,
                              fixed=parse_assignments(args.fix, "--fix"),
                              bounds=_parse_bounds(args.bound), rng=args.seed,
                              on_batch=progress, **_parse_settings(args.set))
    if args.out:
        save_contour(result, args.out)
    summary = {"status": result.status, "points": len(result.contour_points),
               "on_bound": int(result.on_bound.sum()),
               "parameters": list(result.parameter_names),
               "theta_mle": result.theta_mle.tolist(), "nll_min": result.nll_min,
               "threshold": result.threshold, "confidence_level": result.confidence_level,
               "nll_evaluations": result.n_evaluations, "seconds": round(result.elapsed, 3),
               "out": args.out, "message": result.message,
               "islands": [{"minimum": i.minimum.tolist(), "nll": i.nll, "points": i.n_points}
                           for i in result.islands],
               "warnings": list(result.warnings), "notes": list(result.notes)}
    if args.json:
        print(json.dumps(summary))
    else:
        width = max(len(k) for k in summary)
        for key, value in summary.items():
            print(f"{key.rjust(width)}  {value}")
    return 1 if result.status == "failed" else 0
