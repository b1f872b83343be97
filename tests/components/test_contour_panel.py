"""The contour runner's data handling, driven by a test double of ``iter_contour``.

The double yields real ``ContourBatch`` objects whose points lie exactly on the analytic
confidence ellipsoid of a linear-signal Gaussian model (its NLL is quadratic), as the
finder's contract describes: an "mle" batch, radial batches, chain batches, "done".
"""

import io
import json
import threading
import time
import types
import weakref

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

import model_core as mc
from components.contour_panel import ContourPanel, contour_factory
from components.contour_settings import SettingsError, run_arguments
from components.state import SessionState
from model_core.contour.results import ContourBatch

#: Seconds before a test gives up waiting for a worker (a hang guard, not a speed claim).
HANG = 120


def linear_state(k):
    templates = {f"T{i}": [10.0 * (i == j) + 1.0 for j in range(k)] for i in range(k)}
    cov = (np.eye(k) * 4.0 + 0.5).tolist()
    spec = mc.load_spec({
        "kind": "multivariate_normal", "data": [30.0 + 3 * i for i in range(k)],
        "background": [5.0] * k, "covariance": cov,
        "signal": {"templates": templates,
                   "expression": " + ".join(f"p{i}*T{i}" for i in range(k))},
        "parameters": {"mu": {"fixed": True}}})
    return SessionState(spec)


def ellipsoid_run(state, *, n_radial=60, n_chain=90, per_batch=20, pause=0.0, stop=None):
    """A factory yielding ContourBatch objects with points on NLL = T (analytic)."""
    model, best, cl = state.model, state.best, state.confidence_level
    names = [n for n, f in zip(model.parameter_names, model.fixed, strict=True) if not f]
    idx = [model.index(n) for n in names]
    k = len(names)
    chol = np.linalg.cholesky(best.hess[np.ix_(idx, idx)])
    delta = mc.delta_chi2(cl, k)
    threshold = best.fun + delta / 2
    rng = np.random.default_rng(7)
    unit = rng.standard_normal((n_radial + n_chain, k))
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    # delta^T H delta = |L^T delta|^2 = Delta on the boundary
    points = best.x[idx] + np.sqrt(delta) * np.linalg.solve(chol.T, unit.T).T
    full = np.tile(best.x, (len(points), 1))
    full[:, idx] = points
    residuals = model.nll(full) - threshold
    common = dict(parameter_names=tuple(names), theta_mle=best.x[idx], nll_min=best.fun,
                  threshold=threshold)

    def factory(cancel):
        done, evaluations = 0, 0
        yield ContourBatch("mle", np.zeros((0, k)), np.zeros(0, bool), np.zeros(0, bool),
                           np.zeros(0), 1, 1, 0, 10, **common)
        for stage, start, stop_at in (("radial", 0, n_radial),
                                      ("rattle", n_radial, n_radial + n_chain)):
            for lo in range(start, stop_at, per_batch):
                if stop is not None and stop.is_set():
                    return
                hi = min(lo + per_batch, stop_at)
                done, evaluations = hi, evaluations + 50
                if pause:
                    time.sleep(pause)
                yield ContourBatch(stage, points[lo:hi], np.full(hi - lo, stage == "radial"),
                                   np.zeros(hi - lo, bool), residuals[lo:hi], hi - start,
                                   stop_at - start, done, evaluations,
                                   message="a flat direction was found" if hi == stop_at else "",
                                   **common)
        yield ContourBatch("done", np.zeros((0, k)), np.zeros(0, bool), np.zeros(0, bool),
                           np.zeros(0), 1, 1, done, evaluations, **common)

    return factory, points, residuals


def run_to_end(panel, factory, timeout=HANG):
    assert panel.start(factory=factory)
    assert panel.job.join(timeout)
    deadline = time.monotonic() + timeout
    while panel.job.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not panel.job.running


@pytest.fixture(scope="module")
def finished3():
    state = linear_state(3)
    panel = ContourPanel(state=state)
    factory, points, residuals = ellipsoid_run(state)
    run_to_end(panel, factory)
    return panel, points, residuals


def test_test_double_points_are_on_the_surface(finished3):
    _, _, residuals = finished3
    assert np.max(np.abs(residuals)) < 1e-9


def test_all_points_gathered(finished3):
    panel, points, residuals = finished3
    data = panel.data
    np.testing.assert_array_equal(data.points, points)
    np.testing.assert_array_equal(data.residuals, residuals)
    assert data.from_radial.sum() == 60 and (~data.from_radial).sum() == 90
    assert data.stage == "done" and data.parameter_names == ("p0", "p1", "p2")
    assert panel.job.status == "complete" and panel.progress.value == 1000
    assert "150" in panel.status and "Finished" in panel.status
    assert panel.alert.visible and "flat direction" in panel.alert.object
    assert not panel.start_button.disabled and panel.cancel_button.disabled


def test_figures_for_three_axes(finished3):
    panel, points, _ = finished3
    scatter = panel.scatter.object
    assert isinstance(scatter.data[0], go.Scatter3d)
    shown = sum(len(t.x) for t in scatter.data if t.name in ("radial search",
                                                               "constrained chains"))
    assert shown == len(points)
    assert scatter.layout.uirevision == "contour-scatter"  # the camera survives updates
    assert [t.name for t in scatter.data][-1] == "best fit"
    projections = panel.projections.object
    assert panel.projections.visible
    assert sum(1 for t in projections.data if t.name == "best fit") == 3  # three pairs
    assert not any(p.visible for p in panel.pickers)


def test_exports(finished3):
    panel, points, _ = finished3
    for button in panel.exports:
        assert not button.disabled
    frame = pd.read_csv(io.StringIO(panel._csv().getvalue()))
    assert len(frame) == len(points) and list(frame.columns) == [
        "p0", "p1", "p2", "from_radial", "on_bound", "residual"]
    np.testing.assert_array_equal(frame[["p0", "p1", "p2"]].to_numpy(), points)
    npz = np.load(io.BytesIO(panel._npz().getvalue()))
    np.testing.assert_array_equal(npz["points"], points)
    assert npz["parameter_names"].tolist() == ["p0", "p1", "p2"]
    data = json.loads(panel._json().getvalue())
    assert len(data["points"]) == len(points) and data["status"] == "complete"
    assert data["settings"]["parameters"] == ["p0", "p1", "p2"]
    assert data["settings"]["confidence_level"] == 0.95
    html = panel._html().getvalue()
    assert html.count("Plotly.newPlot") == 3 and "<html>" in html


def test_streams_in_several_pushes():
    state = linear_state(2)
    panel = ContourPanel(state=state)
    panel.job.min_interval = 0.1
    pushes = []
    original = panel.receive

    def spy(batches):
        pushes.append(panel.data.n_points + sum(len(b.points) for b in batches))
        original(batches)

    panel.receive = spy
    factory, points, _ = ellipsoid_run(state, per_batch=10, pause=0.03)
    run_to_end(panel, factory)
    assert len(pushes) >= 3 and pushes == sorted(pushes) and pushes[-1] == len(points)
    assert isinstance(panel.scatter.object.data[0], go.Scattergl)  # k = 2: a 2-D plot
    assert not panel.projections.visible


def test_pickers_for_more_than_three_axes():
    state = linear_state(4)
    panel = ContourPanel(state=state)
    factory, _, _ = ellipsoid_run(state)
    run_to_end(panel, factory)
    assert all(p.visible for p in panel.pickers)
    assert panel.display_axes() == (0, 1, 2)
    panel.pickers[2].value = "p3"
    assert panel.display_axes() == (0, 1, 3)
    assert panel.scatter.object.layout.scene.zaxis.title.text == "p3"
    assert sum(1 for t in panel.projections.object.data if t.name == "best fit") == 6


def test_cancel_stops_and_reenables_start():
    state = linear_state(2)
    panel = ContourPanel(state=state)
    panel.job.min_interval = 0.05
    factory, points, _ = ellipsoid_run(state, n_radial=2000, n_chain=2000, per_batch=5,
                                       pause=0.02)
    assert panel.start(factory=factory)
    assert not panel.start(factory=factory)  # a second run is refused with a message
    assert "already in progress" in panel.alert.object
    while panel.data.n_points == 0:
        time.sleep(0.01)
    panel.cancel()
    assert panel.job.join(HANG)
    while panel.job.running:
        time.sleep(0.01)
    assert panel.job.status == "cancelled" and "Cancelled" in panel.status
    assert 0 < panel.data.n_points < len(points)
    assert not panel.start_button.disabled and panel.cancel_button.disabled


def test_missing_finder_gives_a_message(monkeypatch):
    monkeypatch.delattr(mc, "iter_contour", raising=False)
    panel = ContourPanel(state=linear_state(2))
    assert not panel.start()
    assert panel.alert.visible and "not available in this build" in panel.alert.object
    assert not panel.job.running


def test_no_axis_is_refused():
    panel = ContourPanel(state=linear_state(2))
    frame = panel.settings.roles.value.copy()
    frame["role"] = ["fixed", "profiled", "profiled"]
    panel.settings.roles.value = frame
    assert not panel.start(factory=lambda cancel: iter(()))
    assert "at least one parameter" in panel.alert.object


def test_run_arguments_from_roles():
    frame = pd.DataFrame({"parameter": ["mu", "c0", "c1", "c2"],
                          "role": ["fixed", "axis", "profiled", "axis"],
                          "value": [1.0, 0.0, 0.5, 0.2], "lower": [np.nan, -50.0, np.nan, 0.0],
                          "upper": [np.nan, 1.0, np.nan, np.nan]})
    args = run_arguments(frame, confidence_level=0.9, seed=3,
                         settings={"n_radial": 10, "n_chains": 2, "n_steps": 5,
                                   "step_size": 0.1})
    assert args == {"confidence_level": 0.9, "parameters": ["c0", "c2"], "fixed": {"mu": 1.0},
                    "bounds": {"c0": (-50.0, 1.0), "c1": (-np.inf, np.inf),
                               "c2": (0.0, np.inf)},
                    "rng": 3, "n_radial": 10, "n_chains": 2, "n_steps": 5, "step_size": 0.1}
    frame.loc[1, "upper"] = -60.0
    with pytest.raises(SettingsError, match="c0"):
        run_arguments(frame, confidence_level=0.9, seed=3, settings={})


@pytest.mark.parametrize("workers", [1, 2])
def test_factory_calls_the_finder_contract(workers):
    calls = []

    def iter_contour(model, *, executor=None, **kwargs):
        calls.append((model, executor, kwargs))
        yield "batch"

    state = linear_state(2)
    arguments = {"confidence_level": 0.95, "parameters": ["p0", "p1"], "rng": 1}
    run = contour_factory(iter_contour, state.model, arguments, workers=workers)
    assert list(run(threading.Event())) == ["batch"]
    model, executor, kwargs = calls[0]
    assert model is state.model and kwargs == arguments
    assert (executor is None) == (workers == 1)
    if executor is not None:
        assert executor._shutdown_thread  # shut down when the run ended


class _SessionContext:
    """Stands in for Bokeh's session context."""

    request = types.SimpleNamespace(arguments={}, cookies={}, headers={})


def test_closing_the_session_cancels_the_run():
    from bokeh.document import Document
    from panel.io.state import set_curdoc

    from components.jobs import BackgroundJob

    context, doc = _SessionContext(), Document()
    doc._session_context = weakref.ref(context)
    state = linear_state(2)
    with set_curdoc(doc):
        panel = ContourPanel(state=state)
    panel.job = BackgroundJob(min_interval=0.05, dispatch=lambda callback: callback())
    stop = threading.Event()
    factory, _, _ = ellipsoid_run(state, n_radial=100_000, per_batch=5, pause=0.01, stop=stop)
    assert panel.start(factory=factory)
    while panel.data.n_points == 0:
        time.sleep(0.01)
    for callback in doc.callbacks.session_destroyed_callbacks:
        callback(context)  # what the server does when the tab has gone
    assert panel.job.join(HANG)
    stop.set()
    assert panel.job.status == "cancelled"


def test_two_sessions_run_at_once_without_mixing():
    panels = []
    for k in (2, 3):
        state = linear_state(k)
        panel = ContourPanel(state=state)
        panel.job.min_interval = 0.05
        factory, points, _ = ellipsoid_run(state, per_batch=5, pause=0.005)
        panels.append((panel, factory, points))
    for panel, factory, _ in panels:
        assert panel.start(factory=factory)
    for panel, _, points in panels:
        assert panel.job.join(HANG)
        while panel.job.running:
            time.sleep(0.01)
        np.testing.assert_array_equal(panel.data.points, points)
        assert panel.job.status == "complete"
