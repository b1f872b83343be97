"""Long runs in a child process (components.processes): the same batches and result as on
the job's own thread, cancel, errors and a child that dies."""

import os
import threading
import time

import numpy as np
import psutil
import pytest

import model_core as mc
from components.contour_run import contour_work
from components.coverage_run import coverage_work
from components.processes import NICENESS, WorkerProcessError, in_process
from model_core.examples import load_example

#: Settings for a run of millions of points: only a cancel (or a kill) ends it.
ENDLESS = {"spacing": 0.0005, "max_points": 10_000_000}
HANG = 120


@pytest.fixture(scope="module")
def model():
    return mc.build_model(load_example())


def _runs() -> list[psutil.Process]:
    """The runs' processes: the children of the fork server this process started."""
    return [run for server in psutil.Process().children()
            if "forkserver" in " ".join(server.cmdline()) for run in server.children()]


def _wait_for(condition) -> None:
    deadline = time.monotonic() + HANG
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _run_in_thread(work, cancel=None):
    """Run ``work`` on a thread; its items, and a function waiting for its result."""
    cancel, items, out = cancel or threading.Event(), [], {}

    def target():
        try:
            out["result"] = work(cancel, items.append)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()

    def result():
        thread.join(HANG)
        assert not thread.is_alive(), "the work did not end"
        if "error" in out:
            raise out["error"]
        return out["result"]

    return cancel, items, result


def test_a_run_in_a_child_streams_the_same_batches_and_result(model):
    arguments = dict(fixed={"mu": 1.0}, rng=42)
    threaded, child = [], []
    expected = contour_work(model, arguments)(threading.Event(), threaded.append)
    result = contour_work(model, arguments, in_child=True)(threading.Event(), child.append)
    assert result.status == expected.status == "complete"
    np.testing.assert_array_equal(result.contour_points, expected.contour_points)
    assert [b.stage for b in child] == [b.stage for b in threaded]
    np.testing.assert_array_equal(np.concatenate([b.points for b in child]),
                                  np.concatenate([b.points for b in threaded]))


def test_a_study_in_a_child_is_the_study_on_the_thread(model):
    arguments = dict(at=mc.fit(model, rng=1).x, parameters=["c0", "c1", "c2"],
                     fixed={"mu": 1.0}, confidence_levels=(0.68, 0.95), n_toys=300, rng=7)
    threaded, child = [], []
    expected = coverage_work(model, arguments, 100)(threading.Event(), threaded.append)
    study = coverage_work(model, arguments, 100, in_child=True)(threading.Event(),
                                                                child.append)
    np.testing.assert_array_equal(study.q, expected.q)
    assert len(child) == len(threaded) == 3  # one batch per 100 toys, streamed


def test_cancel_reaches_the_child_and_keeps_what_it_found(model):
    work = contour_work(model, dict(fixed={"mu": 1.0}, rng=42, **ENDLESS), in_child=True)
    cancel, items, result = _run_in_thread(work)
    _wait_for(lambda: any(len(b.points) for b in items))
    assert len(_runs()) == 1
    cancel.set()
    ended = result()
    assert ended.status == "cancelled" and 0 < len(ended.contour_points) < 10_000_000
    assert _runs() == []  # the run's process has gone (the fork server stays)


def test_the_child_runs_below_the_server_priority(model):
    work = contour_work(model, dict(fixed={"mu": 1.0}, rng=42, **ENDLESS), in_child=True)
    cancel, items, result = _run_in_thread(work)
    _wait_for(lambda: items)
    priorities = [run.nice() for run in _runs()]
    cancel.set()
    result()
    assert priorities == [min(19, os.nice(0) + NICENESS)]


def test_an_error_in_the_child_is_raised_with_its_type_and_words(model):
    work = contour_work(model, dict(fixed={"mu": 1.0}, rng=42, spacing=-1.0), in_child=True)
    with pytest.raises(ValueError, match="spacing"):
        work(threading.Event(), [].append)


def test_a_child_that_dies_fails_the_run_with_a_clear_error(model):
    work = contour_work(model, dict(fixed={"mu": 1.0}, rng=42, **ENDLESS), in_child=True)
    _, items, result = _run_in_thread(work)
    _wait_for(lambda: items)
    for process in _runs():
        process.kill()
    with pytest.raises(WorkerProcessError, match="without a result"):
        result()


def test_targets_must_be_picklable():
    def local(*args, **kwargs):
        return None

    with pytest.raises(Exception, match="pickle|local"):
        in_process(local)(threading.Event(), [].append)


def test_a_served_session_runs_in_a_child_and_a_script_on_a_thread():
    from components.jobs import Jobs
    from components.state import SessionState

    script = SessionState()
    assert not script.contour.in_child and not script.coverage.in_child
    jobs = Jobs()
    jobs._doc = object()  # a session's document: the job queue is drained on its loop
    served = SessionState(jobs=jobs)
    assert served.contour.in_child and served.coverage.in_child
