"""The contour runner driven by the real finder (``model_core.find_contour``).

The models are linear-signal Gaussians: their NLL is exactly quadratic, so the confidence
region is the ellipsoid ``(x - x_hat)^T H (x - x_hat) = Delta`` with ``H`` the Hessian at
the best fit, an independent check on every point the panel shows.
"""

import html
import importlib.metadata
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
from components.contour_controls import progress_line
from components.contour_coverage import format_fraction
from components.contour_data import STAGE_LABELS, ContourData, phase_of, run_notes
from components.contour_panel import ContourPanel
from components.contour_run import app_version, contour_work, export_bytes
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
    panel = ContourPanel(run=state.contour)
    panel.settings.param.update(seed=seed, **settings)
    return panel


def wait_idle(panel, timeout=HANG):
    """Deliver the run's output here (no session loop in these tests) until it has ended."""
    assert panel.run.state.jobs.wait(timeout=timeout)


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
    data, result = panel.run.data, panel.run.result
    assert result is not None and result.status == "complete"
    np.testing.assert_array_equal(data.points, result.contour_points)
    np.testing.assert_array_equal(data.from_radial, result.from_radial)
    assert data.parameter_names == ("p0", "p1", "p2") and data.n_points > 100
    form, delta = ellipsoid_form(state, data.points)
    np.testing.assert_allclose(form, delta, rtol=1e-6)
    assert data.from_radial.any() and (~data.from_radial).any()  # rays and chains


def test_progress_status_and_buttons_after_a_run(finished3):
    _, panel = finished3
    run, controls = panel.run, panel.controls
    assert run.status == "complete" and run.progress == 1.0 and controls.progress.value == 1000
    assert run.n_points == len(run.result.contour_points) == run.data.n_points
    assert controls.progress_text.value.startswith(
        f"Finished: <b class='le-count'>{run.n_points:,}</b> points")
    assert run.notes == run_notes(run.result) and run.notes
    # unbounded axes: the finder warns that regions beyond its searched box may exist
    assert any("searched" in w for w in run.warnings)
    assert controls.notes.visible and "le-alert-warning" in controls.notes.css_classes
    for line in (*run.warnings, *run.notes):  # what the finder said, in full
        assert f"• {html.escape(line)}" in controls.notes.object
    assert not controls.start_button.disabled and controls.cancel_button.disabled
    assert not panel.coverage.button.disabled
    assert all(not button.disabled for button in panel.exports.buttons.values())
    assert panel.figures.final and panel.figures.drawn == run.n_points


def test_figures_for_three_axes(finished3):
    _, panel = finished3
    figures, data = panel.figures, panel.run.data
    scatter = figures.scatter.object
    assert isinstance(scatter.data[0], go.Scatter3d)
    shown = sum(len(t.x) for t in scatter.data if t.name in ("radial search",
                                                               "constrained chains"))
    assert shown == data.n_points
    assert scatter.layout.title.text == f"{data.n_points} points on NLL = T"
    assert scatter.layout.uirevision == "contour-scatter"  # the camera survives updates
    best = [t for t in scatter.data if t.name == "best fit"][0]
    np.testing.assert_allclose([best.x[0], best.y[0], best.z[0]], data.theta_mle)
    assert scatter.layout.scene.zaxis.title.text == "p2"
    projections = figures.projections.object
    assert figures.projections.visible
    assert sum(1 for t in projections.data if t.name == "best fit") == 3  # three pairs
    residuals = figures.residuals.object  # the points on the surface; those on a bound counted
    on_surface = ~data.on_bound
    assert sum(len(t.x) for t in residuals.data) == on_surface.sum()
    largest = np.abs(data.residuals[on_surface]).max()
    assert largest <= 1e-9 and f"largest |r| = {largest:.2g}" in residuals.layout.title.text
    if data.on_bound.any():
        assert f"{data.on_bound.sum()} points on a bound" in residuals.layout.title.text
    assert not any(p.visible for p in figures.pickers)


def test_exports_go_through_save_contour_with_their_provenance(finished3):
    state, panel = finished3
    run = panel.run
    result = run.result
    text = run.export(".csv").decode()
    frame = pd.read_csv(io.StringIO(text), comment="#")
    assert len(frame) == len(result.contour_points)
    np.testing.assert_allclose(frame[["p0", "p1", "p2"]].to_numpy(), result.contour_points,
                               rtol=1e-15)
    metadata = json.loads(next(line for line in text.splitlines()
                               if line.startswith("# metadata: "))[len("# metadata: "):])
    # a file says what it came from: model, level, settings, seed, the app's version
    assert mc.load_spec(metadata["model"]).to_dict() == state.spec_dict
    assert metadata["confidence_level"] == state.confidence_level == result.confidence_level
    assert metadata["seed"] == panel.settings.seed == 3
    assert metadata["settings"]["n_radial"] == SMALL["n_radial"]
    assert metadata["app_version"] == app_version() == importlib.metadata.version(
        "likelihood-explorer")
    with np.load(io.BytesIO(run.export(".npz"))) as npz:
        np.testing.assert_array_equal(npz["contour_points"], result.contour_points)
        assert json.loads(str(npz["meta"]))["metadata"] == metadata
    data = json.loads(run.export(".json"))
    assert data["parameter_names"] == ["p0", "p1", "p2"] and data["status"] == "complete"
    assert len(data["contour_points"]) == len(result.contour_points)
    assert data["metadata"] == metadata
    html = panel.exports._html().getvalue()
    assert html.count("Plotly.newPlot") == 3 and "<html>" in html
    assert "Provenance" in html and "&quot;seed&quot;: 3" in html


def test_export_bytes_round_trip(finished3, tmp_path):
    _, panel = finished3
    path = tmp_path / "c.npz"
    path.write_bytes(export_bytes(panel.run.result, ".npz"))
    back = mc.load_contour(path)
    np.testing.assert_array_equal(back.contour_points, panel.run.result.contour_points)


def test_coverage_view_matches_the_core(finished3):
    state, panel = finished3
    run = panel.run
    assert run.check_coverage(panel.settings.seed)
    wait_idle(panel)
    report = run.coverage
    direct = mc.contour_coverage(state.model, run.result, distances=(0.01, 0.02),
                                 rng=panel.settings.seed)
    assert report.fractions == direct.fractions and report.largest_gap == direct.largest_gap
    text = panel.coverage.text.value
    total = len(direct.samples)
    for distance in (0.01, 0.02):
        covered = int((direct.sample_distance <= distance).sum())
        assert f"within {100 * distance:g}%: <b>{format_fraction(covered, total)}</b>" in text
        assert f"({covered:,} of {total:,})" in text
    assert f"{direct.largest_gap:.3g}" in text
    fig = panel.coverage.figure.object
    assert panel.coverage.figure.visible and fig.data[0].type == "mesh3d"
    assert "<h2>Coverage</h2>" in panel.exports._html().getvalue()  # exported with the rest
    assert len(fig.data[0].i) == len(direct.reference.faces)
    missed = int((direct.sample_distance > 0.01).sum())
    assert fig.data[-1].name == f"reference samples not covered ({missed})"
    assert not panel.controls.start_button.disabled and not panel.coverage.button.disabled


@pytest.mark.parametrize("covered, total, shown", [
    (19998, 20000, "99.9%"), (7000, 7000, "100.0%"), (1, 20000, "0.1%"), (0, 10, "0.0%"),
    (5, 10, "50.0%")])
def test_a_fraction_never_rounds_to_all_or_none(covered, total, shown):
    assert format_fraction(covered, total) == shown


def test_streams_in_several_pushes():
    state = linear_state(2)
    panel = make_panel(state, {"n_radial": 400, "n_chains": 20, "n_steps": 400,
                               "spacing": 0.01})
    run = panel.run
    run.min_interval = 0.02
    pushes = []
    original = run.receive

    def spy(items):
        original(items)
        pushes.append((run.n_points, run.progress, [type(item).__name__ for item in items]))

    def paced(model, on_batch, **arguments):
        # the finder, its batches paced so that a run spans several deliveries on any machine
        def slow(batch):
            time.sleep(0.05)
            on_batch(batch)
        return mc.find_contour(model, on_batch=slow, **arguments)

    run.receive = spy
    run_to_end(panel, contour_work(state.model, panel.settings.arguments(), finder=paced))
    counts = [n for n, _, _ in pushes]
    progress = [p for _, p, _ in pushes]
    assert len(pushes) >= 2 and progress[0] < 1.0  # points shown before the run ended
    assert counts == sorted(counts) and progress == sorted(progress)
    assert counts[-1] == len(run.result.contour_points)
    assert pushes[-1][2][-1] == "ContourResult"  # the result arrives last
    assert isinstance(panel.figures.scatter.object.data[0], go.Scattergl)  # k = 2: 2-D
    assert not panel.figures.projections.visible
    form, delta = ellipsoid_form(state, run.data.points)
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


def test_stage_names_come_from_one_mapping():
    """A "fill" stage of its own (as the finder may name it) and a gaps stage after the
    chains are both hole filling; every phase has a label."""
    assert phase_of("fill", False) == phase_of("gaps", True) == "fill"
    assert phase_of("gaps", False) == "gaps" and phase_of("rattle", True) == "rattle"
    assert set(STAGE_LABELS) == {"mle", "explore", "radial", "gaps", "rattle", "fill", "faces",
                                 "done"}


def test_the_last_batch_carries_the_result():
    """The finder's "done" batch holds the finished result: the data take it as such."""
    data = ContourData()
    result = mc.find_contour(linear_state(2).model, rng=1,
                             **{"n_radial": 60, "n_chains": 0, "spacing": 0.2})
    data.add(types.SimpleNamespace(stage="done", result=result))
    assert data.result is result and data.progress == 1.0


def _result(message, notes=(), status="complete"):
    return types.SimpleNamespace(message=message, notes=notes, status=status)


@pytest.mark.parametrize("result, notes", [
    # the page says how a complete or cancelled run ended in its own words
    (_result("120 points", ("46 points filled holes",)), ["46 points filled holes"]),
    (_result("cancelled during the gaps stage", ("valley walk: 3 points",), "cancelled"),
     ["valley walk: 3 points"]),
    # a budget stop keeps the finder's advice
    (_result("stopped at max_points=5 points: raise it (or the spacing)", ("c",),
             "budget_exhausted"), ["stopped at max_points=5 points: raise it (or the spacing)",
                                   "c"]),
])
def test_run_notes(result, notes):
    assert run_notes(result) == notes


def test_the_roles_follow_every_model_off_screen_too():
    """The roles table is current before its tab is shown: filled only when shown, the
    browser could get its rows before it had built the table and keep the old ones."""
    state = SessionState()
    panel = ContourPanel(run=state.contour, active=False)
    assert state.load_example("two_bin_uncorrelated") is None
    assert list(panel.settings.roles.value["parameter"]) == list(state.model.parameter_names)


def test_pickers_for_more_than_three_axes():
    state = linear_state(4)
    panel = make_panel(state, {"n_radial": 200, "n_chains": 0, "spacing": 0.05})
    roles = panel.settings.roles.value.copy()
    roles["role"] = ["fixed", "axis", "axis", "axis", "axis"]
    panel.settings.roles.value = roles
    run_to_end(panel)
    figures = panel.figures
    assert all(p.visible for p in figures.pickers)
    assert figures.display_axes() == (0, 1, 2)
    figures.pickers[2].value = "p3"
    assert figures.display_axes() == (0, 1, 3)
    assert figures.scatter.object.layout.scene.zaxis.title.text == "p3"
    assert sum(1 for t in figures.projections.object.data if t.name == "best fit") == 6
    assert panel.coverage.button.disabled  # k = 4: no reference surface


def test_one_axis_shows_the_interval_ends():
    state = linear_state(2)
    panel = make_panel(state)
    roles = panel.settings.roles.value.copy()
    roles["role"] = ["fixed", "axis", "profiled"]
    panel.settings.roles.value = roles
    assert panel.profiled_note.visible  # profiled runs are slow: the UI says so
    run_to_end(panel)
    result = panel.run.result
    assert result.dof == 1 and result.settings["profiled"] == ["p1"]
    xs = sorted(result.contour_points[:, 0])
    # the profile interval of p0 from the core's profile, an independent route
    grid = np.linspace(xs[0] - 0.5, xs[-1] + 0.5, 201)
    lo, hi = mc.profile(state.model, "p0", grid, best=state.best).interval(0.95)
    np.testing.assert_allclose([xs[0], xs[-1]], [lo, hi], rtol=1e-4, atol=1e-4)
    scatter = panel.figures.scatter.object
    assert isinstance(scatter.data[0], go.Scattergl) and scatter.layout.yaxis.visible is False


def test_cancel_stops_and_reenables_start():
    state = linear_state(2)
    panel = make_panel(state, ENDLESS)
    run, controls = panel.run, panel.controls
    run.min_interval = 0.05
    assert controls.cancel_button.disabled  # nothing to cancel yet
    assert panel.start()
    assert not panel.start()  # a second run is refused with a message
    assert "already in progress" in run.refused and controls.alert.visible
    assert controls.start_button.disabled and not controls.cancel_button.disabled
    deadline = time.monotonic() + HANG
    while run.n_points == 0 and time.monotonic() < deadline:
        state.jobs.drain()
        time.sleep(0.01)
    assert run.n_points > 0 and run.running and run.progress > 0
    label = run.stage_label
    run.cancel()
    assert run.status == "cancelling" and controls.progress_text.value.startswith("Cancelling")
    wait_idle(panel)
    result = run.result
    assert run.status == result.status == "cancelled"
    assert 0 < len(result.contour_points) < ENDLESS["max_points"]
    # the bar no longer suggests a nearly finished run; the line names the stage as shown
    assert run.progress == 0.0 and controls.progress.value == 0
    assert f", during {run.stage_label}" in controls.progress_text.value
    assert label in STAGE_LABELS.values()
    assert "cancelled during" not in " ".join(run.notes)  # the core's wording: not repeated
    assert not controls.start_button.disabled and controls.cancel_button.disabled
    assert not panel.exports.buttons[".csv"].disabled  # the points found so far can be saved


def test_a_failing_run_is_reported():
    panel = make_panel(linear_state(2))

    def work(cancel, emit):
        raise RuntimeError("boom")

    run_to_end(panel, work)
    alert = panel.controls.alert
    assert panel.run.status == "failed" and panel.run.progress == 0.0
    assert alert.visible and "The run failed: RuntimeError: boom" in alert.object
    assert not panel.controls.start_button.disabled and panel.exports.buttons[".csv"].disabled


def test_a_result_goes_stale_when_the_model_or_level_changes(finished3):
    state = linear_state(2)
    panel = make_panel(state)
    run_to_end(panel)
    run = panel.run
    assert run.exportable and not run.stale and not panel.controls.stale.visible
    state.confidence_level = 0.9
    assert "95% CL, the page is now at 90%" in run.stale
    assert panel.controls.stale.visible and "stale" in panel.controls.stale.object
    assert all(button.disabled for button in panel.exports.buttons.values())
    assert panel.coverage.button.disabled and not run.check_coverage(1)
    assert panel.figures.scatter.object.layout.title.text.startswith("Stale")
    state.confidence_level = 0.95
    assert not run.stale and run.exportable  # back to the run's own model and level
    draft = state.spec_dict
    draft["data"][0] = 31.0
    assert state.propose(draft) is None
    assert "the model has changed" in run.stale and not run.exportable
    run_to_end(panel)  # a new run belongs to the new model
    assert not run.stale and run.exportable
    assert not panel.figures.scatter.object.layout.title.text.startswith("Stale")


@pytest.mark.parametrize("roles, message", [
    (["fixed", "profiled", "profiled"], "at least one parameter"),
    (["axis", "axis", "axis"], "mu is fixed in the model"),  # fixed by the model itself
])
def test_settings_that_cannot_run_are_refused(roles, message):
    panel = ContourPanel(run=linear_state(2).contour)
    frame = panel.settings.roles.value.copy()
    frame["role"] = roles
    panel.settings.roles.value = frame
    assert not panel.start()
    assert message in panel.controls.alert.object and not panel.run.running


def test_default_axes():
    assert default_axes(linear_state(3).model) == ["p0", "p1", "p2"]
    five = linear_state(4)
    assert default_axes(five.model) == ["p0", "p1"]  # mu is fixed: the first two free ones
    workspace = SessionState(mc.load_spec("assets/examples/multi_channel.json"))
    axes = default_axes(workspace.model)
    assert axes[0] == "mu" and len(axes) == 2
    panel = ContourPanel(run=workspace.contour)
    roles = panel.settings.roles.value
    assert (roles["role"] == "profiled").sum() == workspace.model.npar - 2
    assert panel.profiled_note.visible


def test_settings_default_to_the_finders_own():
    from model_core.contour.settings import DEFAULTS

    panel = ContourPanel(run=linear_state(2).contour)
    settings = panel.settings.finder_settings
    assert settings == {k: DEFAULTS[k] for k in settings}
    panel.run.state.confidence_level = 0.68  # the page's one level
    assert panel.settings.arguments()["confidence_level"] == 0.68
    assert "68%" in panel.settings.level_note.value


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
    threaded = make_panel(SessionState(state.spec))
    threaded.settings.workers = 2
    run_to_end(threaded)
    np.testing.assert_array_equal(threaded.run.data.points, panel.run.data.points)


class _SessionContext:
    """Stands in for Bokeh's session context."""

    request = types.SimpleNamespace(arguments={}, cookies={}, headers={})


def test_closing_the_session_cancels_the_run():
    from bokeh.document import Document
    from panel.io.state import set_curdoc

    context, doc = _SessionContext(), Document()
    doc._session_context = weakref.ref(context)
    spec = linear_state(2).spec
    with set_curdoc(doc):
        state = SessionState(spec)  # its jobs belong to this session
        panel = make_panel(state, ENDLESS)
        assert panel.start()
    deadline = time.monotonic() + HANG
    while panel.run.n_points == 0 and time.monotonic() < deadline:
        state.jobs.drain()
        time.sleep(0.01)
    for callback in doc.callbacks.session_destroyed_callbacks:
        callback(context)  # what the server does when the tab has gone
    wait_idle(panel)
    assert panel.run.result.status == "cancelled"


def test_two_sessions_run_at_once_without_mixing():
    runs = []
    for k, seed in ((2, 5), (3, 6)):
        state = linear_state(k)
        panel = make_panel(state, seed=seed)
        panel.run.min_interval = 0.05
        runs.append((state, panel))
    for _, panel in runs:
        assert panel.start()
    for state, panel in runs:
        wait_idle(panel)
        alone = mc.find_contour(state.model, **panel.settings.arguments())
        np.testing.assert_array_equal(panel.run.data.points, alone.contour_points)
        assert panel.run.result.status == "complete"


def test_progress_line_for_each_status():
    run = linear_state(2).contour
    assert progress_line(run) == "Ready."
    run.param.update(status="running")
    assert progress_line(run).startswith("Starting")
    run.param.update(phase="rattle", n_done=20, n_total=400, n_points=1234,
                     n_evaluations=56789, warnings=["w"])
    line = progress_line(run)
    assert "<b>constrained chains</b> 20 of 400" in line and "1,234</b> points" in line
    assert "⚠ 1 warning, listed at the end" in line
