"""A served app for many users: closed sessions are freed (objects and memory), and one
session's edits are not held up by another session's endless job."""

from __future__ import annotations

import gc
import threading
import time
import weakref

import psutil
import pytest
from bokeh.document import Document
from panel.widgets import Tabulator

import model_core as mc
from app import App
from components.contour_panel import ContourPanel
from components.jobs import Jobs
from components.likelihood_map import LikelihoodMap
from components.model_editor import ModelEditor
from components.state import SessionState
from model_core.examples import load_example

from .browser import HANG_MS, AppPage

pytestmark = pytest.mark.ui

#: Sessions are opened this many at a time (the first batch sets the memory's high-water
#: mark: the allocator keeps what it once held) ...
BATCH = 3
#: ... in this many batches after the first (a leak of a few MiB per session then stands
#: far above the allocator's noise).
ROUNDS = 4
#: What every session makes once and must give back when it ends.
PER_SESSION = (Document, App, SessionState, Jobs, ModelEditor, LikelihoodMap, ContourPanel,
               Tabulator)
#: RSS may stay this far above its level after the first session (allocator arenas, caches
#: filled on first use); a leak of the kind fixed grew ~4 MiB per session.
RSS_SLACK_MIB = 8


def _instances(types: tuple[type, ...]) -> list:
    gc.collect()
    return [o for o in gc.get_objects() if type(o) in types]


def _rss_mib() -> float:
    gc.collect()
    return psutil.Process().memory_info().rss / 2**20


class _Sessions:
    """The server side of the sessions a batch of pages opened: weak references to their
    per-session objects, and an event per document set when the server destroys it."""

    def __init__(self, before: set[int]):
        new = [o for o in _instances(PER_SESSION) if id(o) not in before]
        self.refs = [(type(o).__name__, weakref.ref(o)) for o in new]
        self.destroyed: list[threading.Event] = []
        for doc in (o for o in new if type(o) is Document):
            ended = threading.Event()
            doc.on_session_destroyed(lambda context, ended=ended: ended.set())
            self.destroyed.append(ended)
        del new

    def wait_destroyed(self) -> None:
        for ended in self.destroyed:
            assert ended.wait(HANG_MS / 1000), "the server never destroyed a closed session"

    def alive(self) -> dict[str, int]:
        """Per-session objects still alive, by type (waits for the loop to finish the
        clean-up it started when destroying the sessions: a hang guard)."""
        deadline = time.monotonic() + 30
        while True:
            gc.collect()
            alive: dict[str, int] = {}
            for name, ref in self.refs:
                if ref() is not None:
                    alive[name] = alive.get(name, 0) + 1
            if not alive or time.monotonic() > deadline:
                return alive
            time.sleep(0.2)


def _open_batch(browser_context, app_url: str, n: int) -> tuple[list[AppPage], _Sessions]:
    before = {id(o) for o in _instances(PER_SESSION)}
    pages = [AppPage(browser_context.new_page()) for _ in range(n)]
    for page in pages:
        page.open(app_url)
    # every session's background work too: the profiles lane, the contour tab
    for k, page in enumerate(pages):
        page.tab("Contour finder" if k == 0 else "Profiles")
    for k, page in enumerate(pages):
        if k == 0:
            page.page.locator(".tabulator-cell[tabulator-field='role']").first.wait_for()
        else:
            page.page.locator(".le-profile-card", has_text="c2").locator(
                ".le-interval", has_text="95% CL:").wait_for()
    return pages, _Sessions(before)


def test_closed_sessions_are_freed(browser_context, app_url):
    pages, first = _open_batch(browser_context, app_url, BATCH)
    assert {name for name, _ in first.refs} >= {t.__name__ for t in PER_SESSION}
    for page in pages:
        page.page.close()
    first.wait_destroyed()
    # Panel's busy-indicator clean-up is a periodic task started once per process, by the
    # first session that is busy: its context keeps that session's Document (one, ever)
    assert first.alive() in ({}, {"Document": 1})
    rss_first = _rss_mib()

    for _ in range(ROUNDS):
        pages, batch = _open_batch(browser_context, app_url, BATCH)
        assert sum(name == "SessionState" for name, _ in batch.refs) == BATCH
        for page in pages:
            assert page.console_errors == []
            page.page.close()
        batch.wait_destroyed()
        assert batch.alive() == {}
    assert _rss_mib() - rss_first < RSS_SLACK_MIB


#: A data value whose fit waits for the test's word (a computation that only the test ends).
HELD = 99.0


@pytest.fixture
def held_fit(monkeypatch):
    """The best fit of a model whose first bin holds :data:`HELD` events waits until the
    test sets ``release`` (the server runs in this process); ``started`` tells it began."""
    started, release = threading.Event(), threading.Event()
    fit = SessionState._fit.__func__

    def held(cls, spec, model, in_use):
        if spec.to_dict()["data"][0] == HELD:
            started.set()
            release.wait(HANG_MS / 1000)
        return fit(cls, spec, model, in_use)

    monkeypatch.setattr(SessionState, "_fit", classmethod(held))
    yield started, release
    release.set()


def _state_showing(data: float, before: set[int]) -> SessionState:
    """The one session state made since ``before`` (ids) whose first bin holds ``data``."""
    states = [o for o in _instances((SessionState,)) if id(o) not in before
              and o.spec.to_dict().get("data", [None])[0] == data]
    assert len(states) == 1
    return states[0]


def test_an_edit_is_computed_off_the_loop_and_the_newest_wins(open_page, held_fit):
    started, release = held_fit
    before = {id(o) for o in _instances((SessionState,))}
    waiting, other = open_page(), open_page()
    waiting.edit_cell("data", "40")
    waiting.wait_map_change(other.map_sum())
    state = _state_showing(40.0, before)
    accepted = []
    state.param.watch(lambda event: accepted.append(event.new.to_dict()["data"][0]), "spec")

    shown = waiting.map_sum()
    waiting.edit_cell("data", str(HELD))
    assert started.wait(HANG_MS / 1000)
    # while that fit runs, the server answers: the other session's edit updates its map
    other_before = other.map_sum()
    other.edit_cell("data", "45")
    other.wait_map_change(other_before)
    # the edit on its way leaves the model in use as it is
    assert state.spec.to_dict()["data"][0] == 40.0 and waiting.map_sum() == shown
    waiting.page.locator(".le-status", has_text="model in use").wait_for()
    # a newer edit supersedes it: its result is dropped when it comes
    waiting.edit_cell("data", "50")
    newest = waiting.wait_map_change(shown)
    release.set()
    waiting.edit_cell("data", "51")  # after the held result has come back
    waiting.wait_map_change(newest)
    assert accepted == [50.0, 51.0]
    assert state.spec.to_dict()["data"][0] == 51.0
    assert waiting.console_errors == [] and other.console_errors == []


def test_edits_complete_while_another_session_runs_an_endless_contour(open_page):
    """One session's contour run that only Cancel ends (in a child process) leaves another
    session's edits to be fitted and drawn, each the model the core fits."""
    runner, editor = open_page(), open_page()
    runner.open_contour_tab()
    for label, value in (("Most points", 10_000_000), ("Spacing", 0.0005)):
        runner.set_number(label, value)
    runner.page.get_by_role("button", name="Start").click()
    runner.page.wait_for_function("() => window.lePoints() > 0", timeout=HANG_MS)
    spec = load_example().to_dict()
    for value in (40, 44, 47):
        before = editor.map_sum()
        editor.edit_cell("data", str(value))
        editor.wait_map_change(before)
        spec["data"][0] = value
        nll = mc.fit(mc.build_model(spec)).fun
        editor.page.locator(".le-status", has_text=f"NLLmin = {nll:.6g}").wait_for()
    # the run went on all along, and Cancel still ends it
    cancel = runner.page.get_by_role("button", name="Cancel")
    assert cancel.is_enabled()
    cancel.click()
    runner.wait_enabled("Start")
    assert runner.console_errors == [] and editor.console_errors == []
