"""Long runs in a child process: a session's contour run or toy study leaves the server's
own core to everybody's edits.

:func:`in_process` turns a streaming computation (a function called as
``target(*args, should_stop=..., on_batch=..., executor=..., **kwargs)``, like
:func:`model_core.find_contour` and :func:`model_core.coverage_study`) into
:data:`~components.jobs.Work` for a job lane.  The computation runs in a process forked
from a fork server that has imported this package once (a run's process then starts in
tens of milliseconds), at a lower CPU priority than the server (``nice``
:data:`NICENESS`), so that on a busy machine the edits of the other sessions come
first.  What it hands to ``on_batch`` and its result come back through a
``multiprocessing`` queue to the job's thread, which emits them as before; the job's
cancel event reaches the child through a ``multiprocessing`` event (``should_stop``),
and a child that has not stopped :data:`GRACE_S` seconds after a cancel is terminated.

Several sessions' runs are then several processes: on a machine with more cores than
the one the server uses, they run side by side instead of taking turns under one
interpreter lock.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.forkserver
import os
import pickle
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .jobs import Work

__all__ = ["GRACE_S", "NICENESS", "WorkerProcessError", "in_process", "in_thread", "warm_up"]

log = logging.getLogger(__name__)

#: How much lower than the server's the child's CPU priority is.
NICENESS = 10
#: Seconds a cancelled child may take to stop before it is terminated.
GRACE_S = 10.0
#: Seconds between two looks at the child (for a cancel, or a child that has died).
POLL_S = 0.05

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload([__name__])


def warm_up() -> None:
    """Start the fork server now (it imports this package in the background, a second or
    two), so that the first run does not wait for it; once started, nothing happens.

    Call it from the process that will start the runs: a process forked after it cannot
    use this fork server (Python's fork server checks on it as its parent's child).
    """
    multiprocessing.forkserver.ensure_running()


class WorkerProcessError(RuntimeError):
    """The child process of a run died without a result (killed, out of memory, ...)."""


def _pool(workers: int) -> ThreadPoolExecutor | None:
    """The ``executor=``: a pool of ``workers`` threads, or None for one worker."""
    return (ThreadPoolExecutor(max_workers=workers, thread_name_prefix="le-run")
            if workers > 1 else None)


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives a trip through pickle, else a RuntimeError with its words."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - any failure means: send the words instead
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


def _child(target: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
           workers: int, out: Any, stop: Any) -> None:
    """The child's body: run ``target``, sending its batches, then its result or error."""
    try:
        os.nice(NICENESS)
    except OSError:  # not allowed here: run at the server's priority
        pass
    executor = _pool(workers)
    try:
        result = target(*args, should_stop=stop.is_set, executor=executor,
                        on_batch=lambda batch: out.put(("item", batch)), **kwargs)
        out.put(("result", result))
    except BaseException as exc:  # noqa: BLE001 - reported to the job
        out.put(("error", _portable(exc)))
    finally:
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


def in_thread(target: Callable[..., Any], *args: Any, workers: int = 1,
              **kwargs: Any) -> Work:
    """:func:`in_process`'s work on the job's own thread (tests, scripts, notebooks)."""
    def work(cancel: threading.Event, emit: Callable[[Any], None]) -> Any:
        executor = _pool(workers)
        try:
            return target(*args, should_stop=cancel.is_set, on_batch=emit, executor=executor,
                          **kwargs)
        finally:
            if executor is not None:
                executor.shutdown(wait=False, cancel_futures=True)

    return work


def in_process(target: Callable[..., Any], *args: Any, workers: int = 1,
               **kwargs: Any) -> Work:
    """Job work running ``target(*args, should_stop=..., on_batch=..., executor=...,
    **kwargs)`` in a child process (``executor`` a pool of ``workers`` threads there, None
    for one worker): it emits every batch and returns the result; an error in the child
    is raised again here.

    ``target``, ``args`` and ``kwargs`` must be picklable (module-level functions, models,
    numbers, arrays).
    """
    def work(cancel: threading.Event, emit: Callable[[Any], None]) -> Any:
        out, stop = _CONTEXT.Queue(), _CONTEXT.Event()
        child = _CONTEXT.Process(target=_child, args=(target, args, kwargs, workers, out, stop),
                                 daemon=True, name="le-run")
        child.start()
        cancelled_at: float | None = None
        try:
            while True:
                if cancel.is_set() and cancelled_at is None:
                    stop.set()
                    cancelled_at = time.monotonic()
                try:
                    kind, payload = out.get(timeout=POLL_S)
                except queue.Empty:
                    if not child.is_alive() and out.empty():
                        raise WorkerProcessError(
                            f"the run's process ended without a result (exit code "
                            f"{child.exitcode})") from None
                    if cancelled_at is not None and time.monotonic() - cancelled_at > GRACE_S:
                        log.warning("a cancelled run's process did not stop: terminated")
                        return None
                    continue
                if kind == "item":
                    emit(payload)
                elif kind == "result":
                    return payload
                else:
                    raise payload
        finally:
            child.join(timeout=1.0)
            if child.is_alive():
                child.terminate()
                child.join()
            out.close()
            out.cancel_join_thread()

    return work
