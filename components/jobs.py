"""Long work off the session's event loop: one queue per session, drained on the loop.

A session's :class:`Jobs` (owned by its :class:`~components.state.SessionState`) runs
each piece of work on a daemon worker thread.  Workers never touch the page: they put
what they produce on one ``queue.SimpleQueue``, and :meth:`Jobs.drain`, a periodic
callback on the session's event loop (every :data:`POLL_MS` while work is under way, and
at once when a job ends: the worker asks the loop for a drain on its next tick),
hands it to the job's callbacks: its items in batches, at most one batch per
``min_interval`` seconds (the browser, not the server, chokes on faster pushes), then
how it ended.  The callbacks therefore run on the loop, like any other widget callback,
and may update widgets, panes and params freely.

Work runs in named *lanes* (``"contour"``, ``"profiles"``, ...), one job per lane at a
time.  A lane either refuses a new job while one runs (:class:`JobBusy`; the contour
finder) or lets the newest win (``supersede=True``): the running job is cancelled and
whatever it still produces is dropped unseen, so a result never belongs to an older
request than the one on screen.  Model edits (lane ``"model"``) and the map's grids
(``"map"``) run this way, so the loop only ever updates the views.

Without a served session (tests, scripts) nothing drains by itself: :meth:`Jobs.wait`
drains in the caller's thread until the work is done.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import panel as pn
import param
from panel.io.state import set_curdoc

__all__ = ["Job", "JobBusy", "Jobs", "POLL_MS", "Work", "served"]

log = logging.getLogger(__name__)

#: ``work(cancel_event, emit) -> result``: emits items as it goes; a result that is not None
#: is delivered as the last item.  It should return soon after ``cancel_event`` is set.
Work = Callable[[threading.Event, Callable[[Any], None]], Any]
OnItems = Callable[[list[Any]], None]
OnDone = Callable[[str, BaseException | None], None]

#: How often the session's loop looks at the queue while work is under way: well below the
#: half second between pushes, so a run's first points and its end show without delay.
POLL_MS = 50
#: Seconds between two deliveries of one job's items.
MIN_INTERVAL = 0.5


class JobBusy(RuntimeError):
    """A job was submitted to a lane whose job is still running."""


@dataclass(eq=False)
class Job:
    """One piece of work on its worker thread, as the session sees it.

    ``status`` is ``"running"`` until its end has been delivered, then ``"complete"``,
    ``"cancelled"`` or ``"failed"`` (with ``error``).
    """

    lane: str
    ident: int
    on_items: OnItems | None
    on_done: OnDone | None
    min_interval: float
    cancel_event: threading.Event = field(default_factory=threading.Event)
    status: str = "running"
    error: BaseException | None = None
    pending: list[Any] = field(default_factory=list)
    delivered_at: float = -float("inf")
    ended: tuple[str, BaseException | None] | None = None
    thread: threading.Thread | None = None
    poll: bool = True

    def cancel(self) -> None:
        """Ask the work to stop (it polls the event)."""
        self.cancel_event.set()

    @property
    def running(self) -> bool:
        return self.status == "running"


def served(doc: Any = None) -> bool:
    """Whether ``doc`` (default: the current document) belongs to a served browser
    session, as opposed to a test, a script or a notebook without a server."""
    doc = pn.state.curdoc if doc is None else doc
    return doc is not None and getattr(doc, "session_context", None) is not None


class Jobs(param.Parameterized):
    """The session's background work: lanes of one job each, drained on the session's loop."""

    busy = param.List(default=[], constant=True, doc="Lanes whose job is running.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._queue: queue.SimpleQueue[tuple[int, str, Any]] = queue.SimpleQueue()
        self._jobs: dict[str, Job] = {}
        self._ids = itertools.count(1)
        self._doc = pn.state.curdoc if served() else None
        self._poll: Any = None
        # a drain comes from the loop's poll or a worker's wake-up; with Panel's thread pool
        # (--num-threads) the poll runs on a pool thread: one drain at a time
        self._draining = threading.RLock()
        if self._doc is not None:
            pn.state.on_session_destroyed(lambda context: self.cancel())

    @property
    def served(self) -> bool:
        """Whether a session's loop drains the work (else :meth:`wait` must)."""
        return self._doc is not None

    # ------------------------------------------------------------------ submitting
    def submit(self, lane: str, work: Work, on_items: OnItems | None = None,
               on_done: OnDone | None = None, *, supersede: bool = False,
               min_interval: float = MIN_INTERVAL, poll: bool = True) -> Job:
        """Run ``work`` on a worker thread in ``lane``.

        With ``poll`` False (for work that emits a few items, each wanted at once), the
        loop is not polled: each item, like the job's end, wakes it.

        Raises
        ------
        JobBusy
            When the lane's job is still running and ``supersede`` is False.
        """
        old = self._jobs.get(lane)
        if old is not None and old.running:
            if not supersede:
                raise JobBusy("a run is already in progress: cancel it or wait until it ends")
            old.cancel()  # its thread ends on its own; what it still emits is dropped
        job = Job(lane, next(self._ids), on_items, on_done, 0.0 if not poll else min_interval,
                  poll=poll)
        log.debug("job %s#%d submitted%s", lane, job.ident,
                  f" (superseding #{old.ident})" if old is not None and old.running else "")
        self._jobs[lane] = job
        self._set_busy()
        job.thread = threading.Thread(target=self._produce, args=(job, work), daemon=True,
                                      name=f"le-job-{lane}")
        job.thread.start()
        if poll:
            self._start_polling()
        return job

    def watch_lane(self, lane: str, callback: Callable[[], Any]) -> None:
        """Call ``callback()`` whenever a job of ``lane`` starts or ends (not when another
        lane's does: the edits' lanes come and go several times a second)."""
        def changed(event: param.parameterized.Event) -> None:
            if (lane in event.old) != (lane in event.new):
                callback()

        self.param.watch(changed, "busy")

    def running(self, lane: str) -> bool:
        """Whether ``lane`` has a job whose end has not been delivered yet."""
        job = self._jobs.get(lane)
        return job is not None and job.running

    def cancel(self, lane: str | None = None, *, discard: bool = False) -> None:
        """Ask the job of ``lane`` (every lane's, by default) to stop; with ``discard``,
        whatever it still produces is dropped and its callbacks are never called."""
        for name, job in list(self._jobs.items()):
            if lane is None or name == lane:
                job.cancel()
                log.debug("job %s#%d cancelled%s", name, job.ident,
                          " and discarded" if discard else "")
                if discard:
                    del self._jobs[name]
        self._set_busy()

    # ------------------------------------------------------------------ worker side
    def _produce(self, job: Job, work: Work) -> None:
        def emit(item: Any) -> None:
            self._queue.put((job.ident, "item", item))
            if not job.poll:
                self._wake()

        try:
            result = work(job.cancel_event, emit)
            if result is not None:
                emit(result)
            end: tuple[str, BaseException | None] = (
                "cancelled" if job.cancel_event.is_set() else "complete", None)
        except BaseException as exc:  # noqa: BLE001 - reported to the session
            log.exception("background job %r failed", job.lane)
            end = ("failed", exc)
        self._queue.put((job.ident, "end", end))
        self._wake()

    def _wake(self) -> None:
        """Have the session's loop drain on its next tick (from a worker: a Document's only
        thread-safe method), instead of at the next poll."""
        if self._doc is None:
            return
        try:
            self._doc.add_next_tick_callback(self._drain_woken)
        except Exception:  # noqa: BLE001 - the session is gone: nobody to tell
            log.debug("no drain for a session that has ended", exc_info=True)

    def _drain_woken(self) -> None:
        with set_curdoc(self._doc):
            self._drain_held()

    # ------------------------------------------------------------------ loop side
    def drain(self) -> None:
        """Deliver what the workers have produced (on the session's loop when served)."""
        with self._draining:
            self._drain()

    def _drain(self) -> None:
        current = {job.ident: job for job in self._jobs.values()}
        while True:
            try:
                ident, kind, payload = self._queue.get_nowait()
            except queue.Empty:
                break
            job = current.get(ident)
            if job is None:  # superseded: nobody asked for it any more
                log.debug("dropped a%s of job #%d", "n item" if kind == "item" else "n end",
                          ident)
                continue
            if kind == "item":
                job.pending.append(payload)
            else:
                job.ended = payload
        for job in current.values():
            if job.running:
                self._deliver(job)
        self._set_busy()
        if not self.busy:
            self._stop_polling()

    def _deliver(self, job: Job) -> None:
        if self._jobs.get(job.lane) is not job:  # superseded or discarded during this drain
            log.debug("dropped the items of job %s#%d", job.lane, job.ident)
            job.pending = []
            return
        now = time.monotonic()
        if job.pending and (job.ended is not None or now - job.delivered_at >= job.min_interval):
            items, job.pending = job.pending, []
            job.delivered_at = now
            try:
                if job.on_items is not None:
                    job.on_items(items)
            except Exception as exc:  # noqa: BLE001 - a view failed: end the job, keep the page
                log.exception("delivering the items of job %r failed", job.lane)
                job.cancel()
                job.ended = ("failed", exc)
        if job.ended is not None and not job.pending and self._jobs.get(job.lane) is job:
            job.status, job.error = job.ended
            log.debug("job %s#%d ended: %s", job.lane, job.ident, job.status)
            if job.on_done is not None:
                job.on_done(job.status, job.error)

    def wait(self, lane: str | None = None, timeout: float | None = None) -> bool:
        """Drain here until the job of ``lane`` (every lane's, by default) has ended and been
        delivered; False on timeout.  For tests and scripts, which have no session loop."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self.drain()
            lanes = self.busy if lane is None else [lane] if self.running(lane) else []
            if not lanes:
                return True
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(POLL_MS / 1000)

    def _set_busy(self) -> None:
        busy = [lane for lane, job in self._jobs.items() if job.running]
        if busy != self.busy:
            with param.edit_constant(self):
                self.busy = busy

    def _start_polling(self) -> None:
        if self._doc is None or self._poll is not None:
            return
        with set_curdoc(self._doc):
            self._poll = pn.state.add_periodic_callback(self._drain_held, period=POLL_MS)

    def _stop_polling(self) -> None:
        if self._poll is not None:
            self._poll.stop()
            self._poll = None

    def _drain_held(self) -> None:
        """Drain, sending the browser one message for all the changes the drain makes once
        the page has loaded.

        Before Panel has seen the page load (a user can act on a page whose load event the
        server has not processed yet), a hold could lose changes: Panel drops the model
        changes a hold collected before the load, expecting the document to be sent in
        full later, but the browser may already have it.  The changes then go out one by
        one instead.
        """
        with set_curdoc(self._doc):
            loaded = pn.state.loaded
        if not loaded:
            log.debug("drained before the page had loaded: no hold")
            self.drain()
            return
        with pn.io.hold(self._doc):
            self.drain()
