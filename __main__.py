"""``likelihood-explorer``: serve the app, print the version, or run a core command.

::

    likelihood-explorer [--port 5006] [--address 127.0.0.1] [--show] [--num-procs N] ...
    likelihood-explorer --version
    likelihood-explorer fit three_shapes --fix mu=1    # = python -m model_core fit ...

In the wheel the repository's top folder is the package ``likelihood_explorer``
(``app.py`` is ``likelihood_explorer.app``, ``components/`` is
``likelihood_explorer.components``; see ``pyproject.toml``), and this file is
``likelihood_explorer.__main__``: ``python -m likelihood_explorer`` runs it too.
It is never run from the checkout itself (there, ``python app.py`` serves the app).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from model_core import __version__

from .launch import add_serve_options, serve_options

__all__ = ["main", "build_parser"]

PROG = "likelihood-explorer"


def build_parser() -> argparse.ArgumentParser:
    """Options of the app launcher (a first argument that is no option is a core command)."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Serve Likelihood Explorer in the browser. "
        f"'{PROG} COMMAND ...' runs a command of the numerical core instead, exactly like "
        "'python -m model_core COMMAND ...' (validate, fit, profile, contour, ...; see "
        f"'{PROG} fit --help').")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    return add_serve_options(parser)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``likelihood-explorer`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and not argv[0].startswith("-"):
        from model_core.cli import main as core_main

        return core_main(argv)
    args = build_parser().parse_args(argv)
    from . import app  # panel and the views load only when the app is served

    app.serve(**serve_options(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
