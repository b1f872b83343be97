"""Thread-safe autograd: one trace counter per thread instead of one per process.

autograd tells nested traces apart (a gradient inside a gradient, as in every
Hessian) by numbers drawn from one module-level counter,
``autograd.tracer.trace_stack``.  Two threads tracing at once share it: a trace
that ends in one thread lowers the counter under a trace still open in another,
so that thread's next nested trace can get the same number as its outer one and
its second derivatives come out wrong.  Boxes never cross threads, so numbering
traces per thread is all that is needed; with it, gradients and Hessians run
concurrently in any number of threads (sessions of the app, workers of the
contour finder) with no lock.

Importing this module installs the per-thread counter (once); ``autograd.tracer.trace``
looks the counter up at every call, so nothing else changes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import autograd.tracer

__all__ = ["ThreadTraceStack", "install"]


class ThreadTraceStack(threading.local):
    """autograd's ``TraceStack`` with its ``top`` kept per thread."""

    def __init__(self) -> None:
        self.top = -1

    @contextmanager
    def new_trace(self) -> Iterator[int]:
        self.top += 1
        try:
            yield self.top
        finally:
            self.top -= 1


def install() -> None:
    """Replace autograd's process-wide trace counter by a per-thread one (idempotent)."""
    if not isinstance(autograd.tracer.trace_stack, ThreadTraceStack):
        autograd.tracer.trace_stack = ThreadTraceStack()


install()
