"""The background job: delivery in order, throttling, cancel, refusal, failure."""

import threading
import time

import pytest

from components.jobs import BackgroundJob, JobBusy

#: Seconds before a test gives up waiting for a worker (a hang guard, not a speed claim).
HANG = 120


class Recorder:
    def __init__(self):
        self.pushes = []
        self.done = threading.Event()
        self.status = None

    def items(self, batch):
        self.pushes.append((time.monotonic(), list(batch)))

    def finished(self, status, error):
        self.status, self.error = status, error
        self.done.set()


def counting(n, pause=0.0, closed=None):
    def factory(cancel):
        try:
            for i in range(n):
                if pause:
                    time.sleep(pause)
                yield i
        finally:
            if closed is not None:
                closed.set()
    return factory


def test_all_items_arrive_in_order():
    job, rec = BackgroundJob(min_interval=0.0), Recorder()
    job.start(counting(200), rec.items, rec.finished)
    assert rec.done.wait(HANG) and job.join(HANG)
    assert [i for _, batch in rec.pushes for i in batch] == list(range(200))
    assert rec.status == "complete" and job.status == "complete" and not job.running


def test_pushes_are_throttled():
    job, rec = BackgroundJob(min_interval=0.2), Recorder()
    job.start(counting(60, pause=0.01), rec.items, rec.finished)  # ~0.6 s of items
    assert rec.done.wait(HANG)
    times = [t for t, _ in rec.pushes]
    assert [i for _, batch in rec.pushes for i in batch] == list(range(60))
    assert len(times) >= 2  # streamed, not all at the end
    assert all(b - a >= 0.2 - 0.01 for a, b in zip(times, times[1:], strict=False))
    assert len(times) < 60  # items were grouped
    assert job.pushes == len(times)


def test_cancel_stops_the_generator():
    job, rec, closed = BackgroundJob(min_interval=0.05), Recorder(), threading.Event()
    job.start(counting(10_000, pause=0.01, closed=closed), rec.items, rec.finished)
    while not rec.pushes:
        time.sleep(0.01)
    job.cancel()
    assert rec.done.wait(HANG) and closed.is_set()
    assert rec.status == "cancelled" and job.status == "cancelled"
    delivered = [i for _, batch in rec.pushes for i in batch]
    assert delivered == list(range(len(delivered))) and len(delivered) < 10_000
    assert job.join(HANG)


def test_factory_sees_the_cancel_event():
    seen = []

    def factory(cancel):
        while not cancel.is_set():
            seen.append(cancel)
            yield len(seen)
            time.sleep(0.005)

    job, rec = BackgroundJob(min_interval=0.05), Recorder()
    job.start(factory, rec.items, rec.finished)
    while not rec.pushes:
        time.sleep(0.01)
    job.cancel()
    assert rec.done.wait(HANG) and seen[0] is job._cancel


def test_second_start_is_refused_while_running():
    job, rec = BackgroundJob(min_interval=0.05), Recorder()
    job.start(counting(1000, pause=0.01), rec.items, rec.finished)
    with pytest.raises(JobBusy, match="already in progress"):
        job.start(counting(1), rec.items)
    job.cancel()
    assert rec.done.wait(HANG) and job.join(HANG)
    rec2 = Recorder()
    job.start(counting(3), rec2.items, rec2.finished)  # free again
    assert rec2.done.wait(HANG) and rec2.status == "complete"


def test_failure_is_reported():
    def factory(cancel):
        yield 1
        raise ValueError("bad settings: n_radial must be positive")

    job, rec = BackgroundJob(min_interval=0.0), Recorder()
    job.start(factory, rec.items, rec.finished)
    assert rec.done.wait(HANG)
    assert rec.status == "failed" and isinstance(rec.error, ValueError)
    assert "n_radial" in job.message
    assert [i for _, batch in rec.pushes for i in batch] == [1]


def test_dispatch_is_used_for_every_update():
    calls = []
    job = BackgroundJob(min_interval=0.0, dispatch=lambda cb: (calls.append(cb), cb()))
    rec = Recorder()
    job.start(counting(5), rec.items, rec.finished)
    assert rec.done.wait(HANG)
    assert len(calls) == len(rec.pushes) + 1  # the pushes, then the end


def emitting(limit, result):
    """Callback-style work emitting 0, 1, ... (up to ``limit``, or until cancelled), then
    returning ``result``."""
    def work(cancel, emit):
        n = 0
        while not cancel.is_set() and (limit is None or n < limit):
            emit(n)
            n += 1
            time.sleep(0.002)
        return result

    return work


def test_callback_work_emits_and_its_result_comes_last():
    job, rec = BackgroundJob(min_interval=0.02), Recorder()
    job.run(emitting(50, "result"), rec.items, rec.finished)
    assert rec.done.wait(HANG)
    delivered = [i for _, batch in rec.pushes for i in batch]
    assert delivered == [*range(50), "result"] and rec.status == "complete"
    assert len(rec.pushes) >= 2


def test_callback_work_polls_the_cancel_event():
    work = emitting(None, "partial")
    job, rec = BackgroundJob(min_interval=0.02), Recorder()
    job.run(work, rec.items, rec.finished)
    while not rec.pushes:
        time.sleep(0.01)
    job.cancel()
    assert rec.done.wait(HANG) and rec.status == "cancelled"
    delivered = [i for _, batch in rec.pushes for i in batch]
    assert delivered[-1] == "partial" and delivered[:-1] == list(range(len(delivered) - 1))
