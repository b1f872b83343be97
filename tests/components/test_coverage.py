"""The coverage study, the toy-calibrated thresholds and the calibrated region in the app's
components, driven by the real core (``model_core.coverage_study``, ``calibrated_grid``).

The reference model is a linear-signal multivariate normal: its NLL is exactly quadratic
in the axes, so Wilks' theorem is exact (``q ~ chi2_k``, coverage = CL) and the Delta
chi-square surface is the quadratic form of the Hessian at the best fit.
"""

import html
import importlib.metadata
import io
import json
import time

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2, kstest

import model_core as mc
from components.calibrated_region import CalibratedControls
from components.contour_panel import ContourPanel
from components.contour_settings import SettingsError
from components.coverage_figures import (
    BAND_LEVELS,
    coverage_band,
    coverage_curve,
    histogram_edges,
)
from components.coverage_panel import CoveragePanel, progress_line
from components.coverage_run import format_levels, page_levels, parse_levels
from components.learn import Learn
from components.likelihood_map import LikelihoodMap
from components.map_overlays import MapOverlays
from components.profile_panel import ProfilePanel
from components.state import SessionState
from model_core.examples import load_example
from model_core.toys import CoverageBatch, CoverageStudy

from .conftest import LINEAR

#: Seconds before a test gives up waiting for a worker (a hang guard, not a speed claim).
HANG = 120
#: Toys of the reference studies: the coverage is then known to about 1%.
N_TOYS = 2000
#: The nominal level must lie in the coverage's Clopper-Pearson interval at this level
#: (three standard deviations: a fixed seed, so the test cannot flake).
AGREEMENT = 0.9973


def wait(state):
    assert state.jobs.wait(timeout=HANG)


def drain_until(state, condition):
    """Deliver the workers' output here (no session loop in these tests) until
    ``condition()``."""
    deadline = time.monotonic() + HANG
    while not condition():
        assert time.monotonic() < deadline, "the worker delivered nothing"
        state.jobs.drain()
        time.sleep(0.01)


def set_roles(panel, roles, **values):
    frame = panel.table.widget.value.copy()
    frame["role"] = roles
    for name, value in values.items():
        frame.loc[frame["parameter"] == name, "value"] = value
    panel.table.widget.value = frame


def run_study(state, roles=None, n_toys=N_TOYS, seed=7, **values):
    panel = CoveragePanel(run=state.coverage, n_toys=n_toys, seed=seed)
    if roles is not None:
        set_roles(panel, roles, **values)
    assert panel.start()
    wait(state)
    return panel


@pytest.fixture(scope="module")
def linear2():
    """The linear model with a two-axis study (a, b) of its default truth."""
    state = SessionState(mc.load_spec(LINEAR))
    return state, run_study(state)


def test_where_wilks_is_exact_coverage_is_nominal(linear2):
    state, panel = linear2
    study = panel.run.study
    assert panel.run.status == "complete" and study.parameters == ("a", "b")
    assert study.dof == 2 and len(study.q) == N_TOYS and study.n_failed == 0
    # the default truth is the best fit; the levels are the page's (95% and 1, 2 sigma)
    np.testing.assert_allclose(study.at, state.best.x)
    assert study.confidence_levels == page_levels(0.95, [1, 2])
    for cl in study.confidence_levels:
        low, high = study.coverage_interval(cl, AGREEMENT)
        assert low <= cl <= high, (cl, study.coverage[cl])
    assert kstest(study.q, chi2(2).cdf).pvalue > 0.01
    # the same study made directly: the app adds nothing to the numbers
    direct = mc.coverage_study(state.model, at=state.best.x, parameters=["a", "b"],
                               fixed={"mu": 1.0}, confidence_levels=study.confidence_levels,
                               n_toys=N_TOYS, rng=7)
    np.testing.assert_array_equal(study.q, direct.q)


def test_the_histogram_counts_every_toy(linear2):
    _, panel = linear2
    study, bins = panel.run.study, panel.figures.bins.data
    edges = histogram_edges(2)
    np.testing.assert_allclose(bins["left"], edges[:-1])
    counts, _ = np.histogram(study.q, bins=edges)
    beyond = int((study.q > edges[-1]).sum())
    np.testing.assert_array_equal(bins["top"][:-1], counts[:-1])
    assert bins["top"][-1] == counts[-1] + beyond  # the last bin takes the tail
    assert sum(bins["top"]) == len(study.q) == panel.figures.drawn
    # the expectation: chi2_2 integrated over each bin (its cdf is 1 - exp(-q/2))
    np.testing.assert_allclose(bins["expected"][:-1],
                               N_TOYS * -np.diff(np.exp(-edges[:-1] / 2)), rtol=1e-9)
    assert panel.figures.histogram_figure.title.text.startswith(f"{N_TOYS:,} toys (ended)")


def test_the_coverage_curve_and_band(linear2):
    _, panel = linear2
    study, figures = panel.run.study, panel.figures
    # at the study's levels, the curve is the study's own coverage
    at = coverage_curve(study.q, 2, np.array(study.confidence_levels))
    np.testing.assert_allclose(at, [study.coverage[cl] for cl in study.confidence_levels])
    low, high = coverage_band(study.q, 2, study.confidence_levels)
    np.testing.assert_allclose(np.c_[low, high], [study.coverage_interval(cl)
                                                  for cl in study.confidence_levels])
    np.testing.assert_allclose(figures.points.data["y"], at)
    assert list(figures.band.data["x"]) == list(BAND_LEVELS)
    curve = figures.curve.data
    assert curve["y"][0] == 0.0 and curve["y"][-1] == 1.0
    assert np.all(np.diff(curve["y"]) >= 0)


def test_the_summary_table_and_the_exports(linear2, tmp_path):
    state, panel = linear2
    study = panel.run.study
    for cl in study.confidence_levels:
        assert f"<b>{100 * study.coverage[cl]:.2f}%</b>" in panel.summary.object
        assert f"{study.calibrated_threshold(cl):.4g}" in panel.summary.object
    assert "every toy's fit converged" in panel.summary.object
    assert all(not button.disabled for button in panel.downloads.values())
    record = json.loads(panel.downloads[".json"].callback().read())
    np.testing.assert_array_equal(record["study"]["q"], study.q)
    metadata = record["metadata"]
    assert metadata["model_name"] == "linear Gaussian" and metadata["model"] == state.spec_dict
    assert metadata["axes"] == ["a", "b"] and metadata["fixed"] == {"mu": 1.0}
    assert metadata["truth"] == pytest.approx(dict(zip(state.model.parameter_names,
                                                       state.best.x, strict=True)))
    assert metadata["n_toys"] == N_TOYS and metadata["seed"] == 7
    assert metadata["confidence_levels"] == list(study.confidence_levels)
    assert metadata["app_version"] == importlib.metadata.version("likelihood-explorer")
    text = panel.downloads[".csv"].callback().read().decode()
    table = pd.read_csv(io.StringIO(text), comment="#")
    np.testing.assert_array_equal(table["q"], study.q)
    assert list(table["toy"]) == list(range(N_TOYS)) and not table["failed"].any()
    header = json.loads(text.splitlines()[0].removeprefix("# metadata: "))
    assert header == json.loads(json.dumps(metadata))


def test_thresholds_drawn_on_the_histogram_map_and_profiles():
    state = SessionState(mc.load_spec(LINEAR))
    panel = run_study(state, ["fixed", "axis", "axis"], n_toys=500)
    study, cl = panel.run.study, state.confidence_level
    spans = panel.figures.thresholds
    assert spans["calibrated"][0].location == study.calibrated_threshold(cl)
    assert spans["wilks"][0].location == pytest.approx(chi2.ppf(cl, 2))
    # the map: a two-axis study of its axes draws its calibrated level on the surface
    view = LikelihoodMap(state=state)
    overlays = MapOverlays(map=view, coverage=state.coverage, calibrated=state.calibrated)
    assert overlays.level == study.calibrated_threshold(cl)
    source = view.figure.overlay_sources["calibrated_level"].data
    ends = np.c_[source["x0"], source["y0"]]
    assert len(ends) > 20
    # the quadratic form of the exact Hessian is the Delta chi-square surface
    free = [1, 2]
    hess = state.best.hess[np.ix_(free, free)]
    diff = ends - state.best.x[free]
    form = np.einsum("ni,ij,nj->n", diff, hess, diff)
    np.testing.assert_allclose(form, overlays.level, rtol=0.02)
    labels = [item.label.value for item in view.figure.legend.items]
    assert f"toys: 95% CL at truth (Δχ² = {overlays.level:.2f})" in labels
    # a new level on the page: the same q, the quantile at the new level
    state.confidence_level = 0.9
    assert overlays.level == study.calibrated_threshold(0.9)
    assert spans["calibrated"][0].location == study.calibrated_threshold(0.9)
    # a one-axis study draws on the profile of its parameter only
    profiles = ProfilePanel(analysis=state.analysis)
    wait(state)
    assert not any(card[0].calibrated_line.visible for card in profiles._cards.values())
    one = run_study(state, ["fixed", "axis", "profiled"], n_toys=500).run.study
    assert overlays.level is None  # no longer a study of the map's axes
    figure_a, figure_b = (profiles._cards[n][0] for n in ("a", "b"))
    assert figure_a.calibrated_line.visible and not figure_b.calibrated_line.visible
    assert figure_a.calibrated_line.location == one.calibrated_threshold(0.9)
    assert figure_a.calibrated_label.text == (
        f"toys: 90% CL at truth ({one.calibrated_threshold(0.9):.2f})")
    assert "toy-calibrated threshold of the coverage study of a" in profiles.summary.value


def test_an_edit_makes_the_study_stale():
    state = SessionState(mc.load_spec(LINEAR))
    panel = run_study(state, n_toys=300)
    view = LikelihoodMap(state=state)
    overlays = MapOverlays(map=view, coverage=state.coverage, calibrated=state.calibrated)
    assert overlays.level is not None and not panel.stale.visible
    draft = state.spec_dict
    draft["data"][0] = 33.0
    assert state.propose(draft) is None
    run = panel.run
    assert "the model has changed" in run.stale and panel.stale.visible
    assert run.current is None and not run.exportable
    assert all(button.disabled for button in panel.downloads.values())
    assert panel.figures.histogram_figure.title.text.startswith("Stale")
    assert overlays.level is None and overlays.segments("calibrated_level") == 0
    assert "No coverage study of the model on screen" in Learn(state=state).markdown()
    assert panel.start()  # a new study belongs to the new model
    wait(state)
    assert not run.stale and run.exportable and overlays.level is not None


def test_cancel_keeps_the_toys_so_far():
    state = SessionState(mc.load_spec(LINEAR))
    panel = CoveragePanel(run=state.coverage, n_toys=1_000_000)
    run = panel.run
    run.min_interval = 0.05
    assert panel.cancel_button.disabled
    assert panel.start()
    assert not panel.start() and "already in progress" in run.refused
    assert panel.alert.visible and panel.start_button.disabled
    drain_until(state, lambda: run.n_done > 0)
    assert run.progress > 0 and not panel.cancel_button.disabled
    run.cancel()
    assert panel.progress_text.value.startswith("Cancelling")
    wait(state)
    study = run.study
    assert run.status == study.status == "cancelled"
    assert 0 < len(study.q) < 1_000_000 and run.n_done == len(study.q)
    np.testing.assert_array_equal(run.q, study.q)
    # the bar no longer suggests a nearly finished study; what was fitted can be saved
    assert run.progress == 0.0 and panel.progress.value == 0
    assert panel.progress_text.value.startswith(f"Cancelled: <b class='le-count'>"
                                                f"{len(study.q):,}</b> of 1,000,000 toys")
    assert not panel.start_button.disabled and panel.cancel_button.disabled
    assert not panel.downloads[".json"].disabled


def test_failed_toys_are_reported():
    state = SessionState(mc.load_spec(LINEAR))
    panel = CoveragePanel(run=state.coverage, n_toys=4)
    q = np.array([0.5, np.nan, 2.0, 9.0])
    study = CoverageStudy(
        q=q, dof=2, at=state.best.x, parameters=("a", "b"),
        parameter_names=state.model.parameter_names, fixed={"mu": 1.0},
        confidence_levels=(0.95,), coverage={0.95: 2 / 3}, thresholds=np.array([5.99]),
        failed=np.array([1]), n_toys=4, status="complete", elapsed=0.1, seed_entropy=1,
        nll_min=np.zeros(4))

    def work(cancel, emit):
        emit(CoverageBatch(0, q, np.array([1]), 4, 4, 1, np.array([2]), ("a", "b"),
                           state.best.x, (0.95,), np.array([5.99]), 0.1))
        return study

    assert panel.start(work)
    wait(state)
    assert "1 failed fit (not counted)" in progress_line(panel.run)
    assert "1 toy fit failed and is not counted (toys 1)" in panel.summary.object
    assert sum(panel.figures.bins.data["top"]) == 3 == panel.figures.drawn


@pytest.mark.parametrize("roles, values, levels, message", [
    (["fixed", "profiled", "profiled"], {}, "95", "at least one parameter with role 'axis'"),
    (["axis", "axis", "axis"], {}, "95", "mu is fixed in the model"),
    (["fixed", "axis", "axis"], {}, "95, abc", "Confidence levels: 'abc' is not a percentage"),
    (["fixed", "axis", "axis"], {}, "120", "Confidence levels: '120'"),
    (["fixed", "axis", "axis"], {"a": np.nan}, "95", "a: the truth must be a finite number"),
])
def test_settings_that_cannot_start_are_refused(roles, values, levels, message):
    state = SessionState(mc.load_spec(LINEAR))
    panel = CoveragePanel(run=state.coverage, levels=levels)
    set_roles(panel, roles, **values)
    assert not panel.start()
    assert message in html.unescape(panel.alert.object) and panel.alert.visible
    assert not panel.run.running


def test_a_truth_outside_the_bounds_fails_with_its_name():
    state = SessionState(load_example("one_bin_counting"))
    panel = run_study(state, ["axis", "profiled"], n_toys=10, mu=-1.0)
    assert panel.run.status == "failed" and panel.alert.visible
    assert "mu = -1 lies outside its bounds [0, 10]" in panel.alert.object


def test_levels_follow_the_page_until_typed():
    state = SessionState(mc.load_spec(LINEAR))
    panel = CoveragePanel(run=state.coverage)
    assert parse_levels(panel.levels) == pytest.approx(page_levels(0.95, [1, 2]), abs=1e-4)
    state.confidence_level = 0.9
    assert parse_levels(panel.levels) == pytest.approx(page_levels(0.9, [1, 2]), abs=1e-4)
    panel.levels = "50, 99"
    state.sigmas = [1]
    assert panel.levels == "50, 99"
    assert parse_levels(" 68.27%; 95 ,") == (0.6827, 0.95)
    assert format_levels((0.6827, 0.95)) == "68.27, 95"
    with pytest.raises(SettingsError, match="none given"):
        parse_levels(" , ")


def test_learn_explains_the_study_on_screen():
    linear = SessionState(mc.load_spec(LINEAR))
    study = run_study(linear, n_toys=1000).run.study
    text = Learn(state=linear).markdown()
    for cl in study.confidence_levels:
        assert f"{100 * study.coverage[cl]:.2f}%" in text
        assert f"{study.calibrated_threshold(cl):.3f}" in text
    assert "Wilks' theorem holds here" in text
    # mu on its bound at small counts: over-coverage, and the page says why
    counting = SessionState(load_example("one_bin_counting"))
    draft = counting.spec_dict
    draft.update(data=[2.0], background=[2.0], background_uncertainty=[0.5])
    assert counting.propose(draft) is None
    study = run_study(counting, ["axis", "profiled"], n_toys=1000, mu=0.0).run.study
    text = Learn(state=counting).markdown()
    assert "over-covers" in text and "**small counts**" in text and "**a bound**" in text
    zero = np.mean(study.q <= 1e-9)
    assert f"{100 * zero:.1f}% of the toys have $q = 0$" in text
    assert f"$\\Delta = {study.calibrated_threshold(0.95):.3f}$" in text


def test_calibrated_region_on_the_map():
    state = SessionState(mc.load_spec(LINEAR))
    view = LikelihoodMap(state=state)
    overlays = MapOverlays(map=view, coverage=state.coverage, calibrated=state.calibrated)
    controls = CalibratedControls(run=state.calibrated, map=view, n_points=9, n_toys=300)
    assert controls.start()
    wait(state)
    run = state.calibrated
    result = run.result
    assert run.status == "complete" and result.rows_done == 9
    np.testing.assert_allclose(result.xs, np.linspace(*view.x_range, 9))
    assert overlays.region and overlays.segments("calibrated_region") > 0
    labels = [item.label.value for item in view.figure.legend.items]
    assert "toys: region at 95% CL (9×9 grid, 300 toys per point)" in labels
    # Wilks is exact here: the calibrated region is the ellipse, but for points near its edge
    gx, gy = np.meshgrid(result.xs, result.ys)
    diff = np.c_[gx.ravel(), gy.ravel()] - state.best.x[1:]
    form = np.einsum("ni,ij,nj->n", diff, state.best.hess[1:, 1:], diff).reshape(gx.shape)
    clear = np.abs(form - chi2.ppf(0.95, 2)) > 1.5
    np.testing.assert_array_equal(run.inside()[clear], (form <= chi2.ppf(0.95, 2))[clear])
    assert clear.sum() > 40
    assert "9 of 9 rows" in controls.text.value
    assert f"inside: {int(run.inside().sum())} of 81 points at 95% CL" in controls.text.value
    # another level: the same p-values, the region at that level (larger at 99%)
    source = view.figure.overlay_sources["calibrated_region"]
    before = np.asarray(source.data["x0"])
    state.confidence_level = 0.99
    assert run.inside(0.99).sum() > run.inside().sum()
    np.testing.assert_array_equal(run.inside(0.99), result.p_value > 0.01)
    labels = [item.label.value for item in view.figure.legend.items]
    assert "toys: region at 99% CL (9×9 grid, 300 toys per point)" in labels
    assert len(source.data["x0"]) and not np.array_equal(source.data["x0"], before)
    # a new model takes the region off the map, and says why
    draft = state.spec_dict
    draft["data"][1] = 41.0
    assert state.propose(draft) is None
    assert not overlays.region and overlays.segments("calibrated_region") == 0
    assert "taken off the map" in controls.text.value


def test_calibrated_region_cancels():
    state = SessionState(mc.load_spec(LINEAR))
    view = LikelihoodMap(state=state)
    controls = CalibratedControls(run=state.calibrated, map=view, n_points=60, n_toys=2000)
    assert controls.start()
    run = state.calibrated
    assert not controls.start() and "already being computed" in run.refused
    drain_until(state, lambda: run.rows_done > 0)
    run.cancel()
    wait(state)
    assert run.status == "cancelled" and 0 < run.rows_done < 60 and run.progress == 0.0
    assert np.isnan(run.p_value[-1]).all() and "cancelled" in controls.text.value
    assert not controls.start_button.disabled


def test_figures_off_screen_wait_until_shown():
    state = SessionState(mc.load_spec(LINEAR))
    panel = CoveragePanel(run=state.coverage, n_toys=200, active=False)
    assert panel.start()
    wait(state)
    assert panel.figures.drawn == 0 and not len(panel.figures.bins.data["top"])
    panel.active = True
    assert panel.figures.drawn == 200 == sum(panel.figures.bins.data["top"])


def test_roles_tables_follow_the_model_off_screen():
    """Both roles tables (contour finder, coverage) show the model in use even while their
    tabs are off screen: a table updated as its tab is shown could keep the old rows."""
    state = SessionState()
    contour = ContourPanel(run=state.contour, active=False)
    coverage = CoveragePanel(run=state.coverage, active=False)
    assert state.load_example("one_bin_counting") is None
    for table in (contour.settings.roles, coverage.table.widget):
        assert list(table.value["parameter"]) == ["mu", "theta_0"]
        np.testing.assert_allclose(table.value["value"], state.best.x)
