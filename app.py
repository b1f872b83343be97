"""Likelihood Explorer: the served page.

``python app.py --port 5006`` (what ``scripts/run-app`` runs) and
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
from pathlib import Path
from typing import Any

import panel as pn
from panel.viewable import Viewer

from model_core import __version__

if __package__:  # installed: likelihood_explorer.app beside likelihood_explorer.components
    from .components.contour_panel import ContourPanel
    from .components.jobs import served
    from .components.learn import Learn
    from .components.likelihood_map import LikelihoodMap
    from .components.model_editor import ModelEditor
    from .components.profile_panel import ProfilePanel
    from .components.state import SessionState, StateParameter
else:  # the repository: app.py beside components/ (python app.py, panel serve app.py)
    from components.contour_panel import ContourPanel
    from components.jobs import served
    from components.learn import Learn
    from components.likelihood_map import LikelihoodMap
    from components.model_editor import ModelEditor
    from components.profile_panel import ProfilePanel
    from components.state import SessionState, StateParameter

__all__ = ["App", "create_app", "main", "serve"]

ASSETS = Path(__file__).resolve().parent / "assets"
TITLE = "Likelihood Explorer"
#: A closed tab's session (and its worker) ends this long after the browser leaves.
SESSION_LIFETIME_MS = 5000
SESSION_CHECK_MS = 1000
EDITOR_WIDTH = 440



def _data_uri(path: Path, mime: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"data:{mime};base64,{data}"


pn.extension(
    "tabulator", "plotly", notifications=True,
    raw_css=[(ASSETS / "style.css").read_text(encoding="utf-8")],
    # inlined (no request, works under plain `panel serve app.py` too); see the file. Left
    # out under IPython: in a notebook Panel hands js_files to require.js, which cannot load
    # a data URI (and the patch only matters to the served page)
    js_files={} if hasattr(builtins, "__IPYTHON__") else {
        "le_plotly_resize": _data_uri(ASSETS / "js" / "plotly_resize.js", "text/javascript")},
    disconnect_notification=(
        "Connection to the server was lost: reload the page to start a new session."))


def _logo_uri() -> str:
    return _data_uri(ASSETS / "logo.svg", "image/svg+xml")


class App(Viewer):
    """The whole page for one session: editor in the sidebar, views in tabs."""

    state = StateParameter()

    def __init__(self, **params: Any) -> None:
        if "state" not in params:
            params["state"] = SessionState()
        super().__init__(**params)
        self.editor = ModelEditor(state=self.state)
        self.map = LikelihoodMap(state=self.state)
        # the other tabs start off screen: they compute when first shown
        self.profiles = ProfilePanel(state=self.state, active=False)
        self.contour = ContourPanel(state=self.state)
        self.contour.settings.active = False
        self.learn = Learn(state=self.state, active=False)
        self.level = pn.widgets.FloatSlider.from_param(
            self.state.param.confidence_level, start=0.5, end=0.999, step=0.005,
            label="Confidence level", width=220, format="0.0[00]")
        # the contour finder's controls (a third of the page's load time) join the page once
        # it has loaded, or at once if their tab is shown first
        self._contour_tab = pn.Column(sizing_mode="stretch_width")
        self.tabs = pn.Tabs(
            ("Likelihood map", pn.Column(self.map, sizing_mode="stretch_width")),
            ("Profiles", pn.Column(self.profiles, sizing_mode="stretch_width")),
            ("Contour finder", self._contour_tab),
            ("Learn", pn.Column(self.learn, sizing_mode="stretch_width")),
            dynamic=False, sizing_mode="stretch_width", css_classes=["le-tabs"])
        self.views = pn.Column(self.level, self.tabs, sizing_mode="stretch_width")
        # views off screen skip their updates until shown (the map is never held back)
        self.tabs.param.watch(self._tab_changed, "active")
        self._tab_changed()
        if served():
            pn.state.onload(self._attach_contour)
        else:
            self._attach_contour()

    def _attach_contour(self) -> None:
        if not self._contour_tab.objects:
            self._contour_tab.objects = [self.contour]

    def _tab_changed(self, *events: Any) -> None:
        if self.tabs.active == 2:
            self._attach_contour()
        self.profiles.active = self.tabs.active == 1
        self.contour.settings.active = self.tabs.active == 2
        self.learn.active = self.tabs.active == 3

    def __panel__(self) -> pn.viewable.Viewable:
        """The whole app in one layout (a notebook cell): the editor beside the views."""
        return pn.Row(pn.Column(self.editor, width=EDITOR_WIDTH), self.views,
                      sizing_mode="stretch_width")

    def template(self) -> pn.template.BootstrapTemplate:
        """The page: the editor in the sidebar, the views in the main area."""
        logo = _logo_uri()
        about = pn.pane.HTML(f"{TITLE} {__version__} &middot; BSD-3-Clause",
                             styles={"font-size": "0.8em", "color": "#5a6470"})
        return pn.template.BootstrapTemplate(
            title=TITLE, logo=logo, sidebar=[self.editor, about], main=[self.views],
            sidebar_width=EDITOR_WIDTH, header_background="#17324d", collapsed_sidebar=False)


def create_app() -> pn.template.BootstrapTemplate:
    """A new page, with its own state and worker (one call per browser session)."""
    return App().template()


def serve(port: int, *, address: str = "127.0.0.1", **kwargs: Any) -> Any:
    """Serve :func:`create_app` (closed sessions end within a few seconds)."""
    options = dict(address=address, port=port, show=False, title=TITLE,
                   static_dirs={"assets": str(ASSETS)},
                   unused_session_lifetime_milliseconds=SESSION_LIFETIME_MS,
                   check_unused_sessions_milliseconds=SESSION_CHECK_MS,
                   websocket_origin=[f"{address}:{port}", f"localhost:{port}"])
    options.update(kwargs)
    return pn.serve(create_app, **options)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve Likelihood Explorer.")
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5006)
    args = parser.parse_args(argv)
    serve(args.port, address=args.address)


if pn.state.served:
    create_app().servable(title=TITLE)

if __name__ == "__main__":
    main()
