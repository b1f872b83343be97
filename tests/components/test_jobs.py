"""The session's jobs: delivery in order on the draining thread, throttling, cancel, refusal,
newest-wins lanes, failures."""

import threading
import time

import pytest

from components.jobs import JobBusy, Jobs

#: Seconds before a test gives up waiting for a worker (a hang guard, not a speed claim).
HANG = 120


class Recorder:
    def __init__(self):
        self.pushes = []
        self.ends = []
        self.threads = set()

    def items(self, batch):
        self.threads.add(threading.current_thread().name)
        self.pushes.append((time.monotonic(), list(batch)))

    def done(self, status, error):
        self.threads.add(threading.current_thread().name)
        self.ends.append((status, error))

    @property
    def delivered(self):
        return [i for _, batch in self.pushes for i in batch]


def emitting(limit, result=None, pause=0.0, closed=None):
    """Work emitting 0, 1, ... (up to ``limit``, or until cancelled), then ``result``."""
    def work(cancel, emit):
        n = 0
        try:
            while not cancel.is_set() and (limit is None or n < limit):
                emit(n)
                n += 1
                if pause:
                    time.sleep(pause)
            return result
        finally:
            if closed is not None:
                closed.set()

    return work


def until_delivered(jobs, recorder):
    deadline = time.monotonic() + HANG
    while not recorder.pushes and time.monotonic() < deadline:
        jobs.drain()
        time.sleep(0.005)
    assert recorder.pushes


def test_items_arrive_in_order_on_the_draining_thread():
    jobs, rec = Jobs(), Recorder()
    jobs.submit("a", emitting(200, "result"), rec.items, rec.done, min_interval=0.0)
    assert jobs.busy == ["a"] and jobs.running("a")
    assert jobs.wait(timeout=HANG)
    assert rec.delivered == [*range(200), "result"]
    assert rec.ends == [("complete", None)] and not jobs.running("a") and jobs.busy == []
    assert rec.threads == {threading.current_thread().name}  # never the worker's


def test_deliveries_are_throttled():
    jobs, rec = Jobs(), Recorder()
    jobs.submit("a", emitting(60, pause=0.01), rec.items, rec.done, min_interval=0.2)
    assert jobs.wait(timeout=HANG)
    times = [t for t, _ in rec.pushes]
    assert rec.delivered == list(range(60))
    assert len(times) >= 2  # streamed, not all at the end
    # the last delivery comes with the end, at once; the others at least 0.2 s apart
    assert all(b - a >= 0.2 - 0.01 for a, b in zip(times[:-1], times[1:-1], strict=False))
    assert len(times) < 60  # items were grouped


def test_cancel_stops_the_work_and_delivers_what_it_made():
    jobs, rec, closed = Jobs(), Recorder(), threading.Event()
    jobs.submit("a", emitting(None, "partial", pause=0.002, closed=closed), rec.items,
                rec.done, min_interval=0.02)
    until_delivered(jobs, rec)
    jobs.cancel("a")
    assert jobs.wait(timeout=HANG) and closed.is_set()
    assert rec.ends == [("cancelled", None)]
    assert rec.delivered[-1] == "partial"
    assert rec.delivered[:-1] == list(range(len(rec.delivered) - 1))


def test_a_busy_lane_refuses_and_frees_up():
    jobs, rec = Jobs(), Recorder()
    jobs.submit("a", emitting(None, pause=0.002), rec.items, rec.done)
    with pytest.raises(JobBusy, match="already in progress"):
        jobs.submit("a", emitting(1), rec.items)
    other = Recorder()
    jobs.submit("b", emitting(3), other.items, other.done)  # lanes are independent
    assert jobs.wait("b", timeout=HANG) and other.delivered == [0, 1, 2]
    jobs.cancel("a")
    assert jobs.wait(timeout=HANG)
    again = Recorder()
    jobs.submit("a", emitting(3), again.items, again.done)  # free again
    assert jobs.wait(timeout=HANG) and again.ends == [("complete", None)]


def test_the_newest_request_wins_and_the_old_one_is_never_heard_of():
    jobs, old, new = Jobs(), Recorder(), Recorder()
    closed = threading.Event()
    jobs.submit("a", emitting(None, "old", pause=0.002, closed=closed), old.items, old.done,
                supersede=True, min_interval=0.0)
    until_delivered(jobs, old)
    seen = len(old.pushes)
    jobs.submit("a", emitting(3, "new"), new.items, new.done, supersede=True)
    assert jobs.wait(timeout=HANG)
    assert closed.wait(HANG)  # the old work was told to stop
    assert len(old.pushes) == seen and old.ends == []  # nothing of it after the new request
    assert new.delivered == [0, 1, 2, "new"] and new.ends == [("complete", None)]


def test_a_discarded_job_is_dropped_unseen():
    jobs, rec = Jobs(), Recorder()
    release = threading.Event()

    def work(cancel, emit):
        release.wait(HANG)
        return "late"

    job = jobs.submit("a", work, rec.items, rec.done)
    jobs.cancel("a", discard=True)
    assert jobs.busy == []
    release.set()
    job.thread.join(HANG)  # its result and its end are on the queue now
    assert jobs.wait(timeout=HANG)
    assert rec.pushes == [] and rec.ends == []


def test_failure_is_reported_after_the_items_made_before_it():
    def work(cancel, emit):
        emit(1)
        raise ValueError("bad settings: n_radial must be positive")

    jobs, rec = Jobs(), Recorder()
    jobs.submit("a", work, rec.items, rec.done)
    assert jobs.wait(timeout=HANG)
    (status, error), = rec.ends
    assert status == "failed" and isinstance(error, ValueError) and "n_radial" in str(error)
    assert rec.delivered == [1]


def test_a_failing_view_ends_its_job_not_the_session():
    jobs, rec = Jobs(), Recorder()

    def broken(items):
        raise RuntimeError("view bug")

    jobs.submit("a", emitting(None, pause=0.002), broken, rec.done, min_interval=0.0)
    assert jobs.wait(timeout=HANG)
    (status, error), = rec.ends
    assert status == "failed" and "view bug" in str(error)


def test_a_job_superseded_during_a_delivery_delivers_nothing_more():
    """A lane's job superseded by a callback of the same drain (a new model's views asking
    for new profiles) must not land its older items after it."""
    jobs, landed = Jobs(), []
    go = threading.Event()

    def model_work(cancel, emit):
        go.wait(HANG)
        emit("new model")

    def old_profiles(cancel, emit):
        emit("profiles of the old model")
        cancel.wait(HANG)

    def model_arrived(items):
        jobs.submit("profiles", emitting(1, "profiles of the new model"), landed.extend,
                    supersede=True, min_interval=0.0)

    jobs.submit("model", model_work, model_arrived, min_interval=0.0)
    jobs.submit("profiles", old_profiles, landed.extend, supersede=True, min_interval=0.0)
    deadline = time.monotonic() + HANG
    while jobs._queue.qsize() < 1 and time.monotonic() < deadline:
        time.sleep(0.005)
    go.set()
    while jobs._queue.qsize() < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    jobs.drain()  # the model's item first: it supersedes the old profiles, items pending
    assert jobs.wait(timeout=HANG)
    assert landed == [0, "profiles of the new model"]
