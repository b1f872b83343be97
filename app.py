"""Likelihood Explorer: the served page.

``python app.py --port 5006`` (what ``scripts/run-app`` runs; ``--help`` lists the
serving options, shared with the ``likelihood-explorer`` command: see ``launch.py``) and
``panel serve app.py`` both serve it; the latter keeps a closed tab's session
for Bokeh's default 15 s unless given ``--unused-session-lifetime 5000
--check-unused-sessions 1000``.  Each browser session gets its own
:class:`App` from :func:`create_app`: its own state, views and background
worker.  Nothing with UI state lives at module level.
"""

from __future__ import annotations

import argparse
import base64
import builtins
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import panel as pn
from panel.io.resources import LOCAL_DIST
from panel.viewable import Viewer

from model_core import __version__

if __package__:  # installed: likelihood_explorer.app beside likelihood_explorer.components
    from .components.calibrated_region import CalibratedControls
    from .components.contour_panel import ContourPanel
    from .components.coverage_panel import CoveragePanel
    from .components.fit_panel import FitPanel
    from .components.jobs import served
    from .components.learn import Learn
    from .components.level_control import LevelControl
    from .components.likelihood_map import LikelihoodMap
    from .components.map_overlays import MapOverlays
    from .components.model_editor import ModelEditor
    from .components.ordered_writes import install as order_writes
    from .components.plotly_loader import PlotlyLoader
    from .components.processes import warm_up
    from .components.profile_panel import ProfilePanel
    from .components.state import SessionState, StateParameter
    from .launch import SESSION_CHECK_MS, SESSION_LIFETIME_MS, add_serve_options, serve_options
else:  # the repository: app.py beside components/ (python app.py, panel serve app.py)
    from components.calibrated_region import CalibratedControls
    from components.contour_panel import ContourPanel
    from components.coverage_panel import CoveragePanel
    from components.fit_panel import FitPanel
    from components.jobs import served
    from components.learn import Learn
    from components.level_control import LevelControl
    from components.likelihood_map import LikelihoodMap
    from components.map_overlays import MapOverlays
    from components.model_editor import ModelEditor
    from components.ordered_writes import install as order_writes
    from components.plotly_loader import PlotlyLoader
    from components.processes import warm_up
    from components.profile_panel import ProfilePanel
    from components.state import SessionState, StateParameter
    from launch import SESSION_CHECK_MS, SESSION_LIFETIME_MS, add_serve_options, serve_options

__all__ = ["App", "SESSION_CHECK_MS", "SESSION_LIFETIME_MS", "create_app", "main", "serve"]

ASSETS = Path(__file__).resolve().parent / "assets"
TITLE = "Likelihood Explorer"
EDITOR_WIDTH = 440
#: In a notebook (IPython), Panel hands ``js_files`` to require.js, which cannot load a data
#: URI (and the resize patch only matters to the served page); plotly.js is loaded with
#: the extension there, as no page-side loader runs.
_NOTEBOOK = hasattr(builtins, "__IPYTHON__")



def _data_uri(path: Path, mime: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"data:{mime};base64,{data}"


pn.extension(
    # served, plotly.js is left out: components.plotly_loader fetches it once the page is up
    *(("tabulator", "plotly") if _NOTEBOOK else ("tabulator",)), notifications=True,
    raw_css=[(ASSETS / "style.css").read_text(encoding="utf-8")],
    # inlined (no request, works under plain `panel serve app.py` too); see the file
    js_files={} if _NOTEBOOK else {
        "le_plotly_resize": _data_uri(ASSETS / "js" / "plotly_resize.js", "text/javascript")},
    disconnect_notification=(
        "Connection to the server was lost: reload the page to start a new session."))


def _logo_uri() -> str:
    return _data_uri(ASSETS / "logo.svg", "image/svg+xml")


class App(Viewer):
    """The whole page for one session: editor in the sidebar, views in tabs.

    Every view renders the session's :class:`SessionState` (and the data derived from it,
    ``state.analysis``, ``state.contour``, ``state.coverage`` and ``state.calibrated``); the
    tabs off screen skip their updates until shown.
    """

    state = StateParameter()

    TABS = ("Likelihood map", "Profiles", "Fit summary", "Contour finder", "Coverage", "Learn")

    def __init__(self, **params: Any) -> None:
        if "state" not in params:
            params["state"] = SessionState()
        super().__init__(**params)
        state = self.state
        self.editor = ModelEditor(state=state)
        self.levels = LevelControl(state=state)
        self.map = LikelihoodMap(state=state)
        self.profiles = ProfilePanel(analysis=state.analysis, active=False)
        self.fit = FitPanel(analysis=state.analysis, active=False)
        self.contour = ContourPanel(run=state.contour, active=False)
        self.coverage = CoveragePanel(run=state.coverage, active=False)
        self.region = CalibratedControls(run=state.calibrated, map=self.map)
        self.overlays = MapOverlays(map=self.map, coverage=state.coverage,
                                    calibrated=state.calibrated)
        self.learn = Learn(state=state, active=False)
        # the contour finder's figures need plotly.js, which the page fetches once it has
        # drawn itself (with the page, it held the first plot back by about a second)
        self.plotly = PlotlyLoader(width=0, height=0, margin=0)
        self._contour_tab = pn.Column(
            pn.pane.HTML("<div class='le-placeholder'>Loading the 3-D viewer…</div>",
                         sizing_mode="stretch_width"), sizing_mode="stretch_width")
        self.plotly.param.watch(self._attach_contour, "loaded")
        views = (pn.Column(self.map, self.region, sizing_mode="stretch_width"), self.profiles,
                 self.fit, self._contour_tab, self.coverage, self.learn)
        # only the tab on screen is in the page: the others are sent when first shown
        self.tabs = pn.Tabs(*((name, pn.Column(view, sizing_mode="stretch_width"))
                              for name, view in zip(self.TABS, views, strict=True)),
                            dynamic=True, sizing_mode="stretch_width", css_classes=["le-tabs"])
        self.tabs.param.watch(self._tab_changed, "active")
        self.views = pn.Column(self.levels, self.tabs, self.plotly,
                               sizing_mode="stretch_width")
        if not served():
            self.plotly.loaded = True  # no browser: nothing to load

    def _attach_contour(self, *events: Any) -> None:
        if self.plotly.loaded:
            self._contour_tab.objects = [self.contour]

    def _tab_changed(self, *events: Any) -> None:
        shown = self.TABS[self.tabs.active]
        self.profiles.active = shown == "Profiles"
        self.fit.active = shown == "Fit summary"
        self.contour.active = shown == "Contour finder"
        self.coverage.active = shown == "Coverage"
        self.learn.active = shown == "Learn"

    def __panel__(self) -> pn.viewable.Viewable:
        """The whole app in one layout (a notebook cell): the editor beside the views."""
        return pn.Row(pn.Column(self.editor, width=EDITOR_WIDTH), self.views,
                      sizing_mode="stretch_width")

    def template(self) -> pn.template.BootstrapTemplate:
        """The page: the editor in the sidebar, the views in the main area."""
        logo = _logo_uri()
        about = pn.pane.HTML(f"{TITLE} {__version__} &middot; BSD-3-Clause",
                             styles={"font-size": "0.8em", "color": "#5a6470"})
        # no busy indicator: Panel's is one flag for the whole server (every user's spinner
        # turns for anybody's work), and keeping it in every page costs the server's loop
        # more than the edits themselves once a few sessions are open; each view says
        # itself what it is computing
        return pn.template.BootstrapTemplate(
            title=TITLE, logo=logo, sidebar=[self.editor, about], main=[self.views],
            sidebar_width=EDITOR_WIDTH, header_background="#17324d", collapsed_sidebar=False,
            busy_indicator=None)


def _local_stylesheets() -> None:
    """Point the session's stylesheets at this server from the start.

    Panel gives a component made before its page is rendered (when the document does not
    know the server's address yet) a stylesheet on Panel's CDN; components sent to the
    page later, such as a tab first shown or a preset's new tables, can keep it.  Offline
    (a classroom without internet) those stylesheets fail to load; the page's own
    rendering records the same local address.
    """
    doc = pn.state.curdoc
    if doc is not None:
        rel = pn.state.rel_path
        doc._template_variables.setdefault("dist_url", f"{rel}/{LOCAL_DIST}" if rel
                                           else LOCAL_DIST)


def create_app() -> pn.template.BootstrapTemplate:
    """A new page, with its own state and worker (one call per browser session)."""
    if served():
        order_writes()
        _local_stylesheets()
        # the fork server of the contour runs and toy studies, started by the process that
        # serves the session (with --num-procs, a server process forked from the launcher
        # could not use one the launcher started)
        warm_up()
    return App().template()


def serve(port: int, *, address: str = "127.0.0.1", allow_websocket_origin: Sequence[str] = (),
          num_threads: int | None = None, **kwargs: Any) -> Any:
    """Serve :func:`create_app` (closed sessions end within a few seconds).

    ``allow_websocket_origin``: hosts the page may be loaded from besides ``address`` and
    localhost (a reverse proxy's); ``num_threads``: Panel's thread pool for the page's
    callbacks; ``kwargs`` go to ``pn.serve`` (``num_procs``, ``admin``, ``prefix``, ...).
    """
    if num_threads is not None:
        pn.config.nthreads = num_threads
    options = dict(address=address, port=port, show=False, title=TITLE,
                   static_dirs={"assets": str(ASSETS)},
                   unused_session_lifetime_milliseconds=SESSION_LIFETIME_MS,
                   check_unused_sessions_milliseconds=SESSION_CHECK_MS,
                   websocket_origin=[f"{address}:{port}", f"localhost:{port}",
                                     *allow_websocket_origin])
    options.update(kwargs)
    return pn.serve(create_app, **options)


def main(argv: Sequence[str] | None = None) -> None:
    """``python app.py [options]``: serve the app (``--help`` lists the options)."""
    parser = add_serve_options(argparse.ArgumentParser(description=f"Serve {TITLE}."))
    serve(**serve_options(parser.parse_args(argv)))


if pn.state.served:
    create_app().servable(title=TITLE)

if __name__ == "__main__":
    main()
