"""The contour runner driven by the real finder (``model_core.find_contour``).

The models are linear-signal Gaussians: their NLL is exactly quadratic, so the confidence
region is the ellipsoid ``(x - x_hat)^T H (x - x_hat) = Delta`` with ``H`` the Hessian at
the best fit, an independent check on every point the panel shows.
"""

import html
import io
import json
import threading
import time
import types
import weakref
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

import model_core as mc
from components.contour_data import ContourData
from components.contour_panel import ContourPanel, contour_work, export_bytes
from components.contour_settings import SettingsError, default_axes, run_arguments
from components.state import SessionState
from model_core.contour.results import ContourBatch

#: Seconds before a test gives up waiting for a worker (a hang guard, not a speed claim).
HANG = 120
#: Small finder settings: a run of a few hundred points in well under a second.
SMALL = {"n_radial": 150, "n_chains": 10, "n_steps": 60, "spacing": 0.05}
#: Settings that keep the finder busy far longer than any test waits for it.
ENDLESS = {"n_radial": 100, "n_chains": 50, "n_steps": 10_000_000, "spacing": 1e-5,
           "max_points": 10_000_000}


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


def make_panel(state, settings=SMALL, seed=3):
    panel = ContourPanel(state=state)
    panel.settings.param.update(seed=seed, **settings)
    return panel


def wait_idle(panel, timeout=HANG):
    assert panel.job.join(timeout)
    deadline = time.monotonic() + timeout
    while panel.job.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not panel.job.running


def run_to_end(panel, work=None):
    assert panel.start(work)
    wait_idle(panel)


def ellipsoid_form(state, points):
    """``(x - x_hat)^T H (x - x_hat)`` over the free parameters, and Delta."""
    model, best = state.model, state.best
    idx = [i for i in range(model.npar) if not model.fixed[i]]
    diff = points - best.x[idx]
    hess = best.hess[np.ix_(idx, idx)]
    return np.einsum("ni,ij,nj->n", diff, hess, diff), mc.delta_chi2(state.confidence_level,
                                                                     len(idx))


@pytest.fixture(scope="module")
def finished3():
    state = linear_state(3)
    panel = make_panel(state)
    run_to_end(panel)
    return state, panel


def test_points_lie_on_the_analytic_ellipsoid(finished3):
    state, panel = finished3
    data, result = panel.data, panel.data.result
    assert result is not None and result.status == "complete"
    np.testing.assert_array_equal(data.points, result.contour_points)
    np.testing.assert_array_equal(data.from_radial, result.from_radial)
    assert data.parameter_names == ("p0", "p1", "p2") and data.n_points > 100
    form, delta = ellipsoid_form(state, data.points)
    np.testing.assert_allclose(form, delta, rtol=1e-6)
    assert data.from_radial.any() and (~data.from_radial).any()  # rays and chains


def test_progress_status_and_buttons_after_a_run(finished3):
    _, panel = finished3
    assert panel.progress.value == 1000 and panel.data.progress == 1.0
    assert f"<b class='le-count'>{panel.data.n_points}</b> points" in panel.status
    assert panel.status.startswith("Finished")
    result = panel.data.result
    # the axes are open: the finder warns that regions beyond its search box may exist
    assert panel.notes.visible and panel.notes.alert_type == "warning"
    for line in (*result.warnings, result.message, *result.notes):  # all said in full
        assert f"• {html.escape(line)}" in panel.notes.object
    assert not panel.start_button.disabled and panel.cancel_button.disabled
    assert not panel.coverage_button.disabled
    assert all(not button.disabled for button in panel.exports.values())


def test_figures_for_three_axes(finished3):
    _, panel = finished3
    scatter = panel.scatter.object
    assert isinstance(scatter.data[0], go.Scatter3d)
    shown = sum(len(t.x) for t in scatter.data if t.name in ("radial search",
                                                               "constrained chains"))
    assert shown == panel.data.n_points
    assert scatter.layout.uirevision == "contour-scatter"  # the camera survives updates
    best = [t for t in scatter.data if t.name == "best fit"][0]
    np.testing.assert_allclose([best.x[0], best.y[0], best.z[0]], panel.data.theta_mle)
    assert scatter.layout.scene.zaxis.title.text == "p2"
    projections = panel.projections.object
    assert panel.projections.visible
    assert sum(1 for t in projections.data if t.name == "best fit") == 3  # three pairs
    residuals = panel.residuals.object  # the points on the surface; those on a bound counted
    on_surface = ~panel.data.on_bound
    assert sum(len(t.x) for t in residuals.data) == on_surface.sum()
    largest = np.abs(panel.data.residuals[on_surface]).max()
    assert largest <= 1e-9 and f"largest |r| = {largest:.2g}" in residuals.layout.title.text
    if panel.data.on_bound.any():
        assert f"{panel.data.on_bound.sum()} points on a bound" in residuals.layout.title.text
    assert not any(p.visible for p in panel.pickers)


def test_exports_go_through_save_contour(finished3):
    _, panel = finished3
    result = panel.data.result
    frame = pd.read_csv(io.BytesIO(panel._export(".csv").getvalue()), comment="#")
    assert len(frame) == len(result.contour_points)
    np.testing.assert_allclose(frame[["p0", "p1", "p2"]].to_numpy(), result.contour_points,
                               rtol=1e-15)
    with np.load(io.BytesIO(panel._export(".npz").getvalue())) as npz:
        np.testing.assert_array_equal(npz["contour_points"], result.contour_points)
    data = json.loads(panel._export(".json").getvalue())
    assert data["parameter_names"] == ["p0", "p1", "p2"] and data["status"] == "complete"
    assert len(data["contour_points"]) == len(result.contour_points)
    html = panel._html().getvalue()
    assert html.count('class="plotly-graph-div"') == 3 and "<html>" in html


def test_export_bytes_round_trip(finished3, tmp_path):
    _, panel = finished3
    path = tmp_path / "c.npz"
    path.write_bytes(export_bytes(panel.data.result, ".npz"))
    back = mc.load_contour(path)
    np.testing.assert_array_equal(back.contour_points, panel.data.result.contour_points)


def test_coverage_view_matches_the_core(finished3):
    state, panel = finished3
    assert panel.check_coverage()
    wait_idle(panel)
    report = panel.coverage_result
    direct = mc.contour_coverage(state.model, panel.data.result, distances=(0.01, 0.02),
                                 rng=panel.settings.seed)
    assert report.fractions == direct.fractions and report.largest_gap == direct.largest_gap
    text = panel.coverage_text.value
    assert f"within 1%: <b>{100 * direct.fractions[0]:.1f}%</b>" in text
    assert f"within 2%: <b>{100 * direct.fractions[1]:.1f}%</b>" in text
    assert f"{direct.largest_gap:.3g}" in text
    fig = panel.coverage.object
    assert panel.coverage.visible and fig.data[0].type == "mesh3d"
    assert len(fig.data[0].i) == len(direct.reference.faces)
    assert not panel.start_button.disabled and not panel.coverage_button.disabled


def test_streams_in_several_pushes():
    state = linear_state(2)
    # few rays for a curve of ~300 points: the chains fill the rest, round after round
    panel = make_panel(state, {"n_radial": 64, "n_chains": 20, "n_steps": 400,
                               "spacing": 0.01})
    panel.job.min_interval = 0.02
    pushes = []
    original = panel.receive

    def spy(items):
        pushes.append([type(item).__name__ for item in items])
        original(items)
        pushes[-1] = (panel.data.n_points, panel.progress.value, pushes[-1])

    panel.receive = spy
    run_to_end(panel)
    counts = [n for n, _, _ in pushes]
    progress = [p for _, p, _ in pushes]
    assert len(pushes) >= 3 and counts == sorted(counts) and progress == sorted(progress)
    assert counts[-1] == len(panel.data.result.contour_points)
    assert pushes[-1][2][-1] == "ContourResult"  # the result arrives last
    assert isinstance(panel.scatter.object.data[0], go.Scattergl)  # k = 2: a 2-D plot
    assert not panel.projections.visible
    form, delta = ellipsoid_form(state, panel.data.points)
    np.testing.assert_allclose(form, delta, rtol=1e-6)


def _batch(stage, n_done, n_total, n_new=0, warnings=()):
    return ContourBatch(stage, np.zeros((n_new, 2)), np.zeros(n_new, bool),
                        np.zeros(n_new, bool), np.zeros(n_new), n_done, n_total, 0, 0,
                        ("a", "b"), np.zeros(2), 1.0, 2.0, warnings=warnings)


def test_progress_through_non_monotone_stages():
    data = ContourData()
    seen = []
    for batch in [_batch("mle", 1, 1), _batch("radial", 100, 200, 5),
                  _batch("radial", 200, 200, 5), _batch("gaps", 10, 10, 1),
                  _batch("rattle", 20, 4000, 3), _batch("rattle", 40, 4000, 3),
                  _batch("gaps", 1, 0, 7, warnings=("flat",)),
                  _batch("gaps", 2, 0, 1, warnings=("flat",))]:
        data.add(batch)
        seen.append((data.phase, data.progress))
    phases = [p for p, _ in seen]
    assert phases == ["mle", "radial", "radial", "gaps", "rattle", "rattle", "fill", "fill"]
    assert data.stage_label == "filling holes" and data.warnings == ("flat",)
    values = [v for _, v in seen]
    assert values == sorted(values) and 0 < values[0] and values[-1] < 1.0
    assert values[6] > values[5]  # a fill round with no known total still advances
    assert data.n_points == 25


def test_pickers_for_more_than_three_axes():
    state = linear_state(4)
    panel = make_panel(state, {"n_radial": 200, "n_chains": 0, "spacing": 0.05})
    roles = panel.settings.roles.value.copy()
    roles["role"] = ["fixed", "axis", "axis", "axis", "axis"]
    panel.settings.roles.value = roles
    run_to_end(panel)
    assert all(p.visible for p in panel.pickers)
    assert panel.display_axes() == (0, 1, 2)
    panel.pickers[2].value = "p3"
    assert panel.display_axes() == (0, 1, 3)
    assert panel.scatter.object.layout.scene.zaxis.title.text == "p3"
    assert sum(1 for t in panel.projections.object.data if t.name == "best fit") == 6
    assert panel.coverage_button.disabled  # k = 4: no reference surface


def test_one_axis_shows_the_interval_ends():
    state = linear_state(2)
    panel = make_panel(state)
    roles = panel.settings.roles.value.copy()
    roles["role"] = ["fixed", "axis", "profiled"]
    panel.settings.roles.value = roles
    assert panel.profiled_note.visible  # profiled runs are slow: the UI says so
    run_to_end(panel)
    result = panel.data.result
    assert result.dof == 1 and result.settings["profiled"] == ["p1"]
    xs = sorted(result.contour_points[:, 0])
    # the profile interval of p0 from the core's profile, an independent route
    grid = np.linspace(xs[0] - 0.5, xs[-1] + 0.5, 201)
    lo, hi = mc.profile(state.model, "p0", grid, best=state.best).interval(0.95)
    np.testing.assert_allclose([xs[0], xs[-1]], [lo, hi], rtol=1e-4, atol=1e-4)
    scatter = panel.scatter.object
    assert isinstance(scatter.data[0], go.Scattergl) and scatter.layout.yaxis.visible is False


def test_cancel_stops_and_reenables_start():
    state = linear_state(2)
    panel = make_panel(state, ENDLESS)
    panel.job.min_interval = 0.05
    assert panel.start()
    assert not panel.start()  # a second run is refused with a message
    assert "already in progress" in panel.alert.object
    deadline = time.monotonic() + HANG
    while panel.data.n_points == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert panel.data.n_points > 0 and panel.job.running
    panel.cancel()
    wait_idle(panel)
    result = panel.data.result
    assert panel.job.status == "cancelled" and result.status == "cancelled"
    assert panel.status.startswith("Cancelled")
    assert 0 < len(result.contour_points) < ENDLESS["max_points"]
    assert not panel.start_button.disabled and panel.cancel_button.disabled
    assert not panel.exports[".csv"].disabled  # the points found so far can be saved


def test_a_failing_run_is_reported():
    panel = make_panel(linear_state(2))

    def work(cancel, emit):
        raise RuntimeError("boom")

    run_to_end(panel, work)
    assert panel.alert.visible and "The run failed: RuntimeError: boom" in panel.alert.object
    assert not panel.start_button.disabled and panel.exports[".csv"].disabled


@pytest.mark.parametrize("roles, message", [
    (["fixed", "profiled", "profiled"], "at least one parameter"),
    (["axis", "axis", "axis"], "mu is fixed in the model"),  # fixed by the model itself
])
def test_settings_that_cannot_run_are_refused(roles, message):
    panel = ContourPanel(state=linear_state(2))
    frame = panel.settings.roles.value.copy()
    frame["role"] = roles
    panel.settings.roles.value = frame
    assert not panel.start()
    assert message in panel.alert.object and not panel.job.running


def test_default_axes():
    assert default_axes(linear_state(3).model) == ["p0", "p1", "p2"]
    five = linear_state(4)
    assert default_axes(five.model) == ["p0", "p1"]  # mu is fixed: the first two free ones
    workspace = SessionState(mc.load_spec("assets/examples/multi_channel.json"))
    axes = default_axes(workspace.model)
    assert axes[0] == "mu" and len(axes) == 2
    panel = ContourPanel(state=workspace)
    roles = panel.settings.roles.value
    assert (roles["role"] == "profiled").sum() == workspace.model.npar - 2
    assert panel.profiled_note.visible


def test_settings_default_to_the_finders_own():
    from model_core.contour.settings import DEFAULTS

    panel = ContourPanel(state=linear_state(2))
    settings = panel.settings.finder_settings
    assert settings == {k: DEFAULTS[k] for k in settings}
    assert panel.settings.confidence_level == panel.state.confidence_level
    panel.state.confidence_level = 0.68
    assert panel.settings.arguments()["confidence_level"] == 0.68


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
def test_work_calls_the_finder_contract(workers):
    calls = []

    def finder(model, *, should_stop, on_batch, executor, **kwargs):
        calls.append((model, executor, kwargs, should_stop()))
        on_batch(types.SimpleNamespace(points=[]))
        on_batch(types.SimpleNamespace(points=[1]))
        return "result"

    state = linear_state(2)
    arguments = {"confidence_level": 0.95, "parameters": ["p0", "p1"], "rng": 1}
    work = contour_work(state.model, arguments, workers=workers, finder=finder)
    emitted = []
    assert work(threading.Event(), emitted.append) == "result"
    assert [len(b.points) for b in emitted] == [0, 1]  # the empty batch waited for points
    model, executor, kwargs, stopped = calls[0]
    assert model is state.model and kwargs == arguments and not stopped
    assert (executor is None) == (workers == 1)
    if executor is not None:
        assert isinstance(executor, ThreadPoolExecutor) and executor._shutdown


def test_two_workers_give_the_same_points(finished3):
    state, panel = finished3
    threaded = make_panel(state)
    threaded.settings.workers = 2
    run_to_end(threaded)
    np.testing.assert_array_equal(threaded.data.points, panel.data.points)


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
        panel = make_panel(state, ENDLESS)
    panel.job = BackgroundJob(min_interval=0.05, dispatch=lambda callback: callback())
    assert panel.start()
    deadline = time.monotonic() + HANG
    while panel.data.n_points == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    for callback in doc.callbacks.session_destroyed_callbacks:
        callback(context)  # what the server does when the tab has gone
    wait_idle(panel)
    assert panel.data.result.status == "cancelled"


def test_two_sessions_run_at_once_without_mixing():
    runs = []
    for k, seed in ((2, 5), (3, 6)):
        state = linear_state(k)
        panel = make_panel(state, seed=seed)
        panel.job.min_interval = 0.05
        runs.append((state, panel))
    for _, panel in runs:
        assert panel.start()
    for state, panel in runs:
        wait_idle(panel)
        alone = mc.find_contour(state.model, **panel.settings.arguments())
        np.testing.assert_array_equal(panel.data.points, alone.contour_points)
        assert panel.data.result.status == "complete"
