"""Running independent work units on an executor, results in submission order.

Any ``concurrent.futures.Executor`` works (a thread pool, a process pool), and
so does a Dask ``distributed`` client (its ``get_executor()``, or the client
itself).  Units must be module-level functions of picklable arguments for
process pools and Dask.  Results always come back in submission order, so an
outcome never depends on the executor or on how many units run at once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor
from typing import Any

__all__ = ["as_executor", "map_ordered"]


def as_executor(executor: Any) -> Executor | None:
    """``None``, a ``concurrent.futures.Executor``, or a Dask client (its executor)."""
    if executor is None or isinstance(executor, Executor):
        return executor
    get = getattr(executor, "get_executor", None)
    if callable(get):
        return get()
    if callable(getattr(executor, "submit", None)):
        return executor
    raise TypeError(f"executor must be a concurrent.futures.Executor or a Dask client, "
                    f"got {type(executor).__name__}")


def map_ordered(executor: Executor | None, fn: Callable[..., Any],
                calls: Iterable[tuple[tuple, dict]], *, window: int | None = None
                ) -> Iterator[Any]:
    """Run ``fn(*args, **kwargs)`` for every call; yield the results in order.

    ``calls`` may be a lazy iterable: without an executor each call runs when
    its result is wanted; with one, at most ``window`` calls are in flight
    (``None``: all are submitted at once).  Closing the iterator cancels the
    calls not started yet.
    """
    if executor is None:
        for args, kwargs in calls:
            yield fn(*args, **kwargs)
        return
    pending: deque = deque()
    try:
        for args, kwargs in calls:
            pending.append(executor.submit(fn, *args, **kwargs))
            if window is not None and len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
