"""Nested autograd traces in concurrent threads: correct second derivatives with no lock."""

import threading

import autograd.tracer
import numpy as np
import pytest
from autograd import grad

import model_core as mc
from model_core.autograd_threads import ThreadTraceStack
from model_core.examples import load_example


def _interleaved_second_derivative() -> float:
    """d/dx [d/dy (x * y**2) at y = x] = 4x at x = 1.5, computed while another thread's
    trace ends between the outer and the inner trace (the interleaving that corrupts a
    process-wide counter: the inner trace gets the outer one's number)."""
    b_inside, a_outer_open, b_release, b_done = (threading.Event() for _ in range(4))

    def other(x):
        b_inside.set()
        b_release.wait(10)
        return x * x

    def outer(x):
        a_outer_open.set()
        b_done.wait(10)
        return grad(lambda y: x * y * y)(x)

    worker = threading.Thread(target=lambda: (grad(other)(1.0), b_done.set()))
    worker.start()
    b_inside.wait(10)
    result = {}
    driver = threading.Thread(target=lambda: result.setdefault("d2", grad(outer)(1.5)))
    driver.start()
    a_outer_open.wait(10)
    b_release.set()
    worker.join(10)
    driver.join(10)
    return result["d2"]


def test_per_thread_counter_gives_exact_mixed_derivative():
    assert isinstance(autograd.tracer.trace_stack, ThreadTraceStack)
    assert _interleaved_second_derivative() == pytest.approx(6.0, abs=0)


def test_shared_counter_would_break_the_same_interleaving(monkeypatch):
    """The check above can fail: with autograd's own process-wide counter it does."""
    monkeypatch.setattr(autograd.tracer, "trace_stack", autograd.tracer.TraceStack())
    assert _interleaved_second_derivative() != pytest.approx(6.0)


def test_concurrent_hessians_equal_serial_ones():
    model = mc.build_model(load_example("three_shapes_correlated"))
    x = model.init + 0.3 * np.random.default_rng(0).standard_normal((40, model.npar))
    serial = model.hessian(x)
    results: list[np.ndarray] = []

    def work():
        for _ in range(5):
            results.append(model.hessian(x))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 20
    for h in results:
        np.testing.assert_array_equal(h, serial)
