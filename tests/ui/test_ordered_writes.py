"""Changes reach the page in the order they were made (``components.ordered_writes``).

A page of its own, served beside the app's: one server callback adds a model the Bokeh
way (the message is made at once and written once the callback returns) and then changes
it through Panel's ``unlocked()`` (how widget updates are sent: written as soon as the
socket is free).  Without the ordering the page receives the change before the model
and keeps the old text, the wrong screen that froze pages of the app under load.  The
app installs the ordering when it serves its first page.
"""

from __future__ import annotations

import bokeh.models as bm
import panel as pn
import pytest
from panel.io.document import unlocked
from playwright.sync_api import expect

from .browser import free_port

pytestmark = pytest.mark.ui


def _page() -> pn.Column:
    """Adds a text, changes it, then adds an end marker, in one callback after load."""
    def add_then_change() -> None:
        root = pn.state.curdoc.roots[0]
        text = bm.Div(text="as added")
        root.children = [*root.children, text]
        with unlocked():
            text.text = "as changed"
        root.children = [*root.children, bm.Div(text="end of the callback")]

    pn.state.onload(lambda: pn.state.add_periodic_callback(add_then_change, period=200,
                                                           count=1))
    return pn.Column(pn.pane.Markdown("ordered writes"))


@pytest.fixture
def served_page(open_page):
    open_page()  # the app's first page installs the ordering for the whole process
    port = free_port()
    server = pn.serve({"/": _page}, address="127.0.0.1", port=port, threaded=True,
                      show=False, start=True)
    yield f"http://127.0.0.1:{port}/"
    server.stop()


def test_a_model_added_then_changed_in_one_callback_shows_the_change(browser_context,
                                                                     served_page):
    page = browser_context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text)
            if message.type == "error" else None)
    try:
        page.goto(served_page)
        expect(page.get_by_text("end of the callback", exact=True)).to_be_visible()
        assert page.get_by_text("as added", exact=True).count() == 0
        expect(page.get_by_text("as changed", exact=True)).to_be_visible()
        assert not errors
    finally:
        page.close()
