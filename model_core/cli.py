"""Command line: ``python -m model_core {validate,fit,profile,contour,coverage} SPEC ...``.

``SPEC`` is a JSON file or the name of a shipped example (``three_shapes``,
``two_bin_uncorrelated``, ...).  Every command prints a readable table, or
JSON with ``--json``; invalid input (a spec, an option, an output path) prints
the error, never a traceback, and exits with status 2, before any long run.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from . import __version__
from .contour.command import configure as _configure_contour
from .contour.command import run as _run_contour
from .examples import example_names, load_example
from .exceptions import ModelCoreError, clip, shorten
from .fit import fit
from .model import Model
from .models import build_model
from .profile import profile
from .spec import ModelSpec, load_spec
from .toys.command import configure as _configure_coverage
from .toys.command import run as _run_coverage

__all__ = ["main", "build_parser", "bounded_int", "confidence_level", "register_command"]

#: Most starting points of a fit and most points of a profile grid: every one is a row
#: of one batched minimisation, whose memory grows with their number.
MAX_STARTS = 1000
MAX_GRID_POINTS = 1000
# a message holds a field path, a problem, a value and a fix, each bounded
_MESSAGE_LIMIT = 2000
_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def register_command(name: str, configure: Callable[[argparse.ArgumentParser], None],
                     run: Callable[[argparse.Namespace], int], help: str) -> None:
    """Add a subcommand (used by modules that extend the command line)."""
    _EXTRA.append((name, configure, help))
    _COMMANDS[name] = run


_EXTRA: list[tuple[str, Callable[[argparse.ArgumentParser], None], str]] = []


def read_spec(source: str) -> ModelSpec:
    """A spec from a JSON file or a shipped example's name."""
    if source in example_names() and not Path(source).exists():
        return load_example(source)
    return load_spec(Path(source))


def bounded_int(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse ``type``: an integer in ``[low, high]``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{shorten(text)} is not an integer") from None
        if value < low or (high is not None and value > high):
            upper = f" and at most {high}" if high is not None else ""
            raise argparse.ArgumentTypeError(f"must be at least {low}{upper}, got {value}")
        return value
    return parse


def confidence_level(text: str) -> float:
    """An argparse ``type``: a confidence level strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{shorten(text)} is not a number") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must lie strictly between 0 and 1 (e.g. 0.95), "
                                         f"got {value:g}")
    return value


def parse_assignments(items: Sequence[str] | None, flag: str) -> dict[str, float]:
    """``["mu=1", "c0=0.5"]`` -> ``{"mu": 1.0, "c0": 0.5}``."""
    out = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise ModelCoreError(f"{flag} {shorten(item)}: expected NAME=VALUE, e.g. {flag} mu=1")
    return out


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", help="model spec JSON file, or an example name: "
                        + ", ".join(example_names()))
    parser.add_argument("--fix", action="append", metavar="NAME=VALUE",
                        help="hold a parameter fixed (repeatable)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _model(args: argparse.Namespace) -> tuple[Model, dict[str, float]]:
    return build_model(read_spec(args.spec)), parse_assignments(args.fix, "--fix")


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in header]] + [
        [f"{v:.6g}" if isinstance(v, float) else str(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _run_validate(args: argparse.Namespace) -> int:
    spec = read_spec(args.spec)
    model = build_model(spec)
    if args.json:
        print(json.dumps({"valid": True, "parameters": list(model.parameter_names)}))
    else:
        print(f"{spec.name}: valid {spec.kind} model, {spec.n_bins} bins, parameters "
              + ", ".join(model.parameter_names))
    return 0


def _run_fit(args: argparse.Namespace) -> int:
    model, fixed = _model(args)
    result = fit(model, fixed=fixed, n_starts=args.starts, rng=args.seed)
    if args.json:
        print(json.dumps(result.to_dict()))
        return 0 if result.success else 1
    errors = result.errors
    rows = [(n, float(v), "fixed" if f else f"{errors[n]:.4g}", "yes" if b else "")
            for n, v, f, b in zip(model.parameter_names, result.x, result.fixed,
                                  result.at_bound, strict=True)]
    print(_table(("parameter", "value", "error", "at bound"), rows))
    print(f"\nNLL = {result.fun:.10g}   ({result.message})")
    return 0 if result.success else 1


def _run_profile(args: argparse.Namespace) -> int:
    model, fixed = _model(args)
    best = fit(model, fixed=fixed)
    lo, hi, n = _grid_spec(args.grid, best, model.index(args.parameter))
    result = profile(model, args.parameter, np.linspace(lo, hi, n), fixed=fixed, mode=args.mode,
                     best=best)
    interval = result.interval(args.cl)
    if args.json:
        print(json.dumps({**result.to_dict(), "interval": list(interval), "cl": args.cl}))
        return 0
    rows = [(float(g), float(v), float(d), "" if s else "FAILED")
            for g, v, d, s in zip(result.grid, result.nll, result.delta_chi2, result.success,
                                  strict=True)]
    print(_table((args.parameter, "NLL", "delta chi2", ""), rows))
    note = ("" if np.all(np.isfinite(interval))
            else "  (nan: not crossed inside the grid; widen --grid)")
    print(f"\n{args.cl:.4g} CL interval ({args.mode}): [{interval[0]:.6g}, {interval[1]:.6g}]"
          + note)
    return 0


def _grid_spec(text: str | None, best, index: int) -> tuple[float, float, int]:
    if text:
        try:
            lo, hi, n = text.split(":")
            lo, hi, n = float(lo), float(hi), int(n)
        except ValueError:
            raise ModelCoreError(f"--grid {shorten(text)}: expected LOW:HIGH:N, e.g. "
                                 "-1:3:41") from None
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ModelCoreError(f"--grid {shorten(text)}: LOW and HIGH must be finite numbers "
                                 "with LOW < HIGH, e.g. -1:3:41")
        if not 2 <= n <= MAX_GRID_POINTS:
            raise ModelCoreError(f"--grid {shorten(text)}: the number of points N must lie "
                                 f"between 2 and {MAX_GRID_POINTS}, got {n}")
        return lo, hi, n
    center = best.x[index]
    width = 3.0 * float(np.sqrt(best.covariance[index, index])) or 1.0
    return center - width, center + width, 41


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m model_core",
                                     description="Likelihood Explorer's numerical core.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("validate", help="check a spec and list its parameters")
    _add_model_arguments(p)
    p = sub.add_parser("fit", help="maximum-likelihood fit")
    _add_model_arguments(p)
    p.add_argument("--starts", type=bounded_int(1, MAX_STARTS), default=1,
                   help=f"number of starting points (1 to {MAX_STARTS})")
    p.add_argument("--seed", type=bounded_int(0), default=None,
                   help="seed for the extra starts (>= 0)")
    p = sub.add_parser("profile", help="1-D profile or scan of one parameter")
    _add_model_arguments(p)
    p.add_argument("parameter")
    p.add_argument("--grid", metavar="LOW:HIGH:N", help="grid (default: +-3 errors, 41 points)")
    p.add_argument("--mode", choices=("profile", "scan"), default="profile")
    p.add_argument("--cl", type=confidence_level, default=0.95,
                   help="confidence level of the interval")
    for name, configure, help_text in _EXTRA:
        configure(sub.add_parser(name, help=help_text))
    return parser


_COMMANDS.update(validate=_run_validate, fit=_run_fit, profile=_run_profile)
register_command("contour", _configure_contour, _run_contour,
                 help="points on the confidence contour NLL = NLL_min + chi2.ppf(CL, k) / 2")
register_command("coverage", _configure_coverage, _run_coverage,
                 help="coverage of the Wilks region from pseudo-experiments (toys)")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (2 for any invalid input, with the message)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse printed the usage and the problem (or the help)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return _COMMANDS[args.command](args)
    except (ModelCoreError, KeyError, ValueError) as exc:
        # a KeyError's text is the repr of its argument: show the argument itself
        text = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {clip(str(text), _MESSAGE_LIMIT)}", file=sys.stderr)
        return 2
    except OSError as exc:  # writing an output that was checked beforehand can still fail
        print(f"error: {exc.strerror or exc}: {shorten(exc.filename)}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - a command line never ends in a traceback
        print(f"error: unexpected {type(exc).__name__}: {clip(str(exc), _MESSAGE_LIMIT)} "
              "(a bug: please report it with the input that caused it)", file=sys.stderr)
        return 2
