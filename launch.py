"""The served app's command line: one parser for ``python app.py``, ``scripts/run-app`` and
the ``likelihood-explorer`` console script, and the ``pn.serve`` options it gives.

Besides where to listen, it takes Panel's scaling options (worker processes, threads, the
admin page), how long a closed tab's session lives, and the origins a reverse proxy
serves the page from.  No panel import here: the console script answers ``--version`` and
runs core commands without loading the views.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["SESSION_CHECK_MS", "SESSION_LIFETIME_MS", "add_serve_options", "serve_options"]

#: A closed tab's session (and its background work) ends this long after the browser leaves
#: (Bokeh's default, 15 s checked every 17 s, kept a closed tab's contour run going for up
#: to half a minute).
SESSION_LIFETIME_MS = 5000
SESSION_CHECK_MS = 1000


def _at_least(minimum: int) -> Any:
    """An argparse type: a whole number no smaller than ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is below {minimum}; give {minimum} or "
                                             "more")
        return value

    return parse


def add_serve_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the serving options to ``parser`` (returned)."""
    where = parser.add_argument_group("where to listen")
    where.add_argument("--address", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1: this machine only; "
                       "0.0.0.0: every interface)")
    where.add_argument("--port", type=_at_least(0), default=5006, help="port (default 5006)")
    where.add_argument("--allow-websocket-origin", action="append", default=[],
                       metavar="HOST[:PORT]", help="a host the page may be loaded from besides "
                       "this address and localhost, e.g. the public name of a reverse proxy "
                       "(repeat for several)")
    where.add_argument("--prefix", default="",
                       help="URL prefix the app is served under (behind a proxy path)")
    where.add_argument("--use-xheaders", action="store_true",
                       help="trust X-Real-Ip/X-Forwarded-For from a reverse proxy")
    where.add_argument("--show", action="store_true", help="open the page in a browser")
    scale = parser.add_argument_group("many users")
    scale.add_argument("--num-procs", type=_at_least(0), default=1, metavar="N",
                       help="worker processes sharing the port (0: one per core; default 1); "
                       "each session lives in one of them")
    scale.add_argument("--num-threads", type=_at_least(1), default=None, metavar="N",
                       help="threads per process for the page's callbacks (default: none, "
                       "they run on the event loop; model fits and grids always run on "
                       "workers of their own)")
    scale.add_argument("--admin", action="store_true",
                       help="serve Panel's admin page (sessions, memory, logs) at /admin")
    scale.add_argument("--unused-session-lifetime", type=_at_least(0), default=SESSION_LIFETIME_MS,
                       metavar="MS", help="how long a closed tab's session is kept "
                       f"(default {SESSION_LIFETIME_MS} ms)")
    scale.add_argument("--check-unused-sessions", type=_at_least(1), default=SESSION_CHECK_MS,
                       metavar="MS", help="how often closed sessions are looked for "
                       f"(default {SESSION_CHECK_MS} ms)")
    return parser


def serve_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of ``app.serve`` that ``args`` (parsed with
    :func:`add_serve_options`) asks for."""
    return dict(
        port=args.port, address=args.address, show=args.show,
        allow_websocket_origin=list(args.allow_websocket_origin), prefix=args.prefix,
        use_xheaders=args.use_xheaders, num_procs=args.num_procs,
        num_threads=args.num_threads, admin=args.admin,
        unused_session_lifetime_milliseconds=args.unused_session_lifetime,
        check_unused_sessions_milliseconds=args.check_unused_sessions)
