"""Long work off the session's event loop: a generator (or a callback-style function)
run on a daemon thread.

:class:`BackgroundJob` iterates whatever generator a factory returns (or calls
a function that emits items through a callback, :meth:`BackgroundJob.run`), in a
worker thread, and hands the items to the session in batches, at most one
push per ``min_interval`` seconds (the browser, not the server, chokes on
faster pushes).  A push is scheduled on the session's event loop
(``Document.add_next_tick_callback``), so the handler may update widgets,
panes and params freely; without a session (tests, scripts) it is called on
the pump thread.  ``cancel()`` sets a ``threading.Event`` that the worker
checks between items (and that the factory receives, to pass on as
``should_stop``); the app also calls it when the browser session is destroyed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import panel as pn
import param
from panel.io.state import set_curdoc

__all__ = ["BackgroundJob", "JobBusy", "Work", "call_later", "served"]

log = logging.getLogger(__name__)

Factory = Callable[[threading.Event], Iterator[Any]]
Work = Callable[[threading.Event, Callable[[Any], None]], Any]
Dispatch = Callable[[Callable[[], None]], None]


class JobBusy(RuntimeError):
    """A job was started while another run of the same job is still going."""


class BackgroundJob(param.Parameterized):
    """One worker at a time; items delivered in throttled batches; cancellable."""

    status = param.Selector(default="idle", objects=["idle", "running", "complete",
                                                     "cancelled", "failed"], constant=True)
    message = param.String(default="", constant=True)
    running = param.Boolean(default=False, constant=True)
    min_interval = param.Number(default=0.5, bounds=(0.0, None), doc="""
        Seconds between two pushes to the session.""")
    pushes = param.Integer(default=0, constant=True, doc="Pushes made by the current run.")

    def __init__(self, *, dispatch: Dispatch | None = None, **params: Any) -> None:
        super().__init__(**params)
        self._dispatch_override = dispatch
        self._cancel = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._pending: list[Any] = []
        self._finished = False
        self._error: BaseException | None = None
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ public
    def start(self, factory: Factory, on_items: Callable[[list[Any]], None],
              on_done: Callable[[str, BaseException | None], None] | None = None) -> None:
        """Run ``factory(cancel_event)`` on a worker thread.

        Raises
        ------
        JobBusy
            When a run is still going (the caller shows the message).
        """
        self.run(partial(_iterate, factory), on_items, on_done)

    def run(self, work: Work, on_items: Callable[[list[Any]], None],
            on_done: Callable[[str, BaseException | None], None] | None = None) -> None:
        """Call ``work(cancel_event, emit)`` on a worker thread.

        Every ``emit(item)`` is delivered like a generator's item; the return value,
        unless None, is delivered last.  ``work`` should poll ``cancel_event``.

        Raises
        ------
        JobBusy
            When a run is still going (the caller shows the message).
        """
        if not self.running:
            # a run that has reported its end may still be leaving its threads
            self.join(timeout=1.0)
        if self.running or any(t.is_alive() for t in self._threads):
            raise JobBusy("a run is already in progress: cancel it or wait until it ends")
        self._cancel = threading.Event()
        self._wake = threading.Event()
        self._pending, self._finished, self._error = [], False, None
        dispatch = self._dispatch_override or _session_dispatch(pn.state.curdoc)
        with param.edit_constant(self):
            self.param.update(status="running", running=True, message="", pushes=0)
        producer = threading.Thread(target=self._produce, args=(work,), daemon=True,
                                    name="le-job-worker")
        pump = threading.Thread(target=self._pump, args=(dispatch, on_items, on_done),
                                daemon=True, name="le-job-pump")
        self._threads = [producer, pump]
        producer.start()
        pump.start()

    def cancel(self) -> None:
        """Ask the worker to stop after its current item."""
        self._cancel.set()
        self._wake.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the worker and the pump to end; True when they have."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(remaining)
        return not any(t.is_alive() for t in self._threads)

    # ------------------------------------------------------------------ threads
    def _emit(self, item: Any) -> None:
        with self._lock:
            self._pending.append(item)
        self._wake.set()

    def _produce(self, work: Work) -> None:
        try:
            result = work(self._cancel, self._emit)
            if result is not None:
                self._emit(result)
        except BaseException as exc:  # noqa: BLE001 - reported to the session
            log.exception("background job failed")
            self._error = exc
        finally:
            with self._lock:
                self._finished = True
            self._wake.set()

    def _pump(self, dispatch: Dispatch, on_items: Callable[[list[Any]], None],
              on_done: Callable[[str, BaseException | None], None] | None) -> None:
        last_push = -float("inf")
        while True:
            self._wake.wait()
            self._wake.clear()
            wait = last_push + self.min_interval - time.monotonic()
            if wait > 0 and not self._cancel.is_set():
                self._cancel.wait(wait)
            with self._lock:
                items, self._pending = self._pending, []
                finished = self._finished
            if items:
                last_push = time.monotonic()
                dispatch(partial(self._deliver, on_items, items))
            if finished:
                with self._lock:
                    leftover, self._pending = self._pending, []
                if leftover:
                    dispatch(partial(self._deliver, on_items, leftover))
                dispatch(partial(self._done, on_done))
                return

    def _deliver(self, on_items: Callable[[list[Any]], None], items: list[Any]) -> None:
        with param.edit_constant(self):
            self.pushes += 1
        on_items(items)

    def _done(self, on_done: Callable[[str, BaseException | None], None] | None) -> None:
        if self._error is not None:
            status, message = "failed", f"{type(self._error).__name__}: {self._error}"
        elif self._cancel.is_set():
            status, message = "cancelled", "cancelled"
        else:
            status, message = "complete", ""
        with param.edit_constant(self):
            self.param.update(status=status, message=message, running=False)
        if on_done is not None:
            on_done(status, self._error)


def _iterate(factory: Factory, cancel: threading.Event, emit: Callable[[Any], None]) -> None:
    """Emit the items of ``factory(cancel)`` until it ends or ``cancel`` is set."""
    iterator = None
    try:
        iterator = factory(cancel)
        for item in iterator:
            emit(item)
            if cancel.is_set():
                break
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            try:
                close()
            except Exception:  # noqa: BLE001
                log.exception("closing the job's generator failed")


def served(doc: Any = None) -> bool:
    """Whether ``doc`` (default: the current document) belongs to a served browser
    session, as opposed to a test, a script or a notebook without a server."""
    doc = pn.state.curdoc if doc is None else doc
    return doc is not None and getattr(doc, "session_context", None) is not None


def _session_dispatch(doc: Any, delay_ms: int = 0) -> Dispatch:
    """Schedule callbacks on ``doc``'s event loop (``delay_ms`` later) when served, else
    call them directly."""
    if not served(doc):
        return lambda callback: callback()

    def held(callback: Callable[[], None]) -> None:
        # one message for all the changes a push makes (each change would otherwise be
        # sent on its own, and while the worker holds the GIL every send waits its turn)
        with set_curdoc(doc), pn.io.hold(doc):
            callback()

    def dispatch(callback: Callable[[], None]) -> None:
        try:
            if delay_ms:
                doc.add_timeout_callback(partial(held, callback), delay_ms)
            else:
                doc.add_next_tick_callback(partial(held, callback))
        except Exception:  # noqa: BLE001 - the session is gone: nothing left to update
            log.debug("session closed; dropping a job update")

    return dispatch


def call_later(callback: Callable[[], None], delay_ms: int) -> None:
    """Call ``callback`` ``delay_ms`` later on the current session's event loop, as a
    message of its own (at once when there is no session: tests, scripts)."""
    _session_dispatch(pn.state.curdoc, delay_ms)(callback)
