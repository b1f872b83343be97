"""The contour finder against closed forms, profiles, the seed model's geometry and its contract."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.stats import chi2

import model_core as mc
from model_core.contour.settings import DEFAULTS

SMALL = dict(n_radial=200, n_chains=12, n_steps=60, n_gap_candidates=200, spacing=0.03)


# --- level and closed forms ---------------------------------------------------------------------

def test_ellipsoid_points_lie_on_the_analytic_ellipsoid(ellipsoid, ellipsoid_fisher):
    result = mc.find_contour(ellipsoid, rng=3, **SMALL)
    F = ellipsoid_fisher
    d = result.contour_points - result.theta_mle
    q = np.einsum("ni,ij,nj->n", d, F, d)
    assert result.status == "complete"
    assert result.dof == 3 and result.delta == pytest.approx(chi2.ppf(0.95, 3), rel=1e-12)
    assert result.threshold == pytest.approx(result.nll_min + result.delta / 2, rel=1e-14)
    # NLL - NLL_min = q / 2 exactly, so |q - Delta| <= 2 tol
    assert np.max(np.abs(q - result.delta)) <= 2.2e-9
    # the points reach the ellipsoid's extremes along every axis: sqrt(Delta * F^-1_ii)
    half_width = np.sqrt(result.delta * np.diag(np.linalg.inv(F)))
    reach = np.max(np.abs(d), axis=0)
    assert np.all(reach <= half_width * (1 + 1e-9))
    assert np.all(reach >= half_width * (1 - 0.01))


def test_one_dimensional_contour_is_the_profile_interval(two_bin):
    result = mc.find_contour(two_bin, parameters=["mu"], rng=0)
    best = mc.fit(two_bin)
    level = best.fun + 0.5 * chi2.ppf(0.95, 1)

    def profiled(mu: float) -> float:
        return mc.profile(two_bin, "mu", [mu], best=best).nll[0] - level

    lo = brentq(profiled, best.x[0] - 5, best.x[0], xtol=1e-13)
    hi = brentq(profiled, best.x[0], best.x[0] + 5, xtol=1e-13)
    assert result.settings["profiled"] == ["theta_0", "theta_1"]
    assert sorted(result.contour_points.ravel()) == pytest.approx([lo, hi], abs=1e-7)
    grid = np.linspace(lo - 0.5, hi + 0.5, 2001)
    interval = mc.profile(two_bin, "mu", grid, best=best).interval(0.95)
    assert sorted(result.contour_points.ravel()) == pytest.approx(interval, abs=1e-5)
    # the profiled parameters in full_points are the inner fits' solutions
    for row in result.full_points:
        refit = mc.fit(two_bin, fixed={"mu": row[0]})
        assert row[1:] == pytest.approx(refit.x[1:], abs=1e-6)


def test_profiled_two_dimensional_contour(two_bin):
    result = mc.find_contour(two_bin, parameters=["mu", "theta_0"], rng=1, n_radial=24,
                             n_chains=0, spacing=1e-6)
    assert result.settings["profiled"] == ["theta_1"]
    assert len(result.contour_points) == 24
    for (mu, t0) in result.contour_points[:6]:
        refit = mc.fit(two_bin, fixed={"mu": mu, "theta_0": t0})
        assert refit.fun == pytest.approx(result.threshold, abs=1e-8)


# --- the seed model: symmetric, bounded, flat -------------------------------------------------

def test_seed_model_flat_valley_warning_and_both_signs(seed_run):
    result, _ = seed_run
    assert result.status == "complete"
    assert any("flat direction" in w for w in result.warnings)
    c1 = result.contour_points[:, 1]
    # the model is symmetric under c1 -> -c1: both halves are covered alike
    assert (c1 > 0.5).sum() > 0.4 * len(c1) and (c1 < -0.5).sum() > 0.4 * len(c1)
    assert c1.max() == pytest.approx(-c1.min(), rel=0.02)
    # the tube reaches the c0 bound at c1 ~ +-5.8 (c0 = -(16 + 26 c1^2) / 18 on the valley)
    assert np.abs(c1).max() > 5.8
    mirrored = result.contour_points * [1, -1, 1]
    from scipy.spatial import cKDTree
    gap = cKDTree(result.contour_points / result.scale).query(mirrored / result.scale)[0]
    assert np.quantile(gap, 0.99) < 2 * result.settings["spacing"]


def test_seed_model_residuals_and_bounds(seed_run, three_shapes):
    result, _ = seed_run
    on = result.on_bound
    full = result.full_points
    nll = three_shapes.nll(full)
    assert np.all(full[:, 0] == 1.0)
    assert np.all(np.abs(nll[~on] - result.threshold) <= result.settings["tol"])
    assert np.allclose(result.residuals, nll - result.threshold, atol=1e-12)
    # points flagged on_bound sit exactly on a c0 bound, inside the region (or on the
    # edge of its face, within tol of T)
    assert on.sum() > 0
    assert np.all(np.isin(result.contour_points[on, 0], [-50.0, 1.0]))
    assert np.all(nll[on] <= result.threshold + result.settings["tol"])
    assert np.all((result.contour_points[:, 0] >= -50) & (result.contour_points[:, 0] <= 1))


def test_seed_model_points_are_evenly_spaced(seed_run):
    from scipy.spatial import cKDTree

    result, _ = seed_run
    U = result.contour_points / result.scale
    d = cKDTree(U).query(U, k=2)[0][:, 1]
    assert d.min() >= result.settings["spacing"] * (1 - 1e-12)
    assert len(U) <= 20000


def test_seed_model_coverage(seed_coverage):
    assert seed_coverage.fraction_within(0.01) >= 0.99
    assert seed_coverage.largest_gap < 0.02


def test_bounded_one_dimensional_contour(two_bin):
    best = mc.fit(two_bin, bounds={"mu": (0.0, 10.0)})
    result = mc.find_contour(two_bin, parameters=["mu"], bounds={"mu": (0.0, 10.0)}, rng=0)
    order = np.argsort(result.contour_points[:, 0])
    points, on_bound = result.contour_points[order, 0], result.on_bound[order]
    assert result.theta_mle[0] == pytest.approx(best.x[0])
    assert list(on_bound) == [True, False]
    assert points[0] == 0.0 and result.residuals[order][0] < 0
    assert abs(result.residuals[order][1]) <= 1e-9


def test_unbounded_flat_valley_warns_and_ends(three_shapes):
    result = mc.find_contour(three_shapes, bounds={"c0": (None, None)}, rng=5, max_walk=20,
                             max_points=3000, **SMALL)
    assert any("flat direction" in w for w in result.warnings)
    assert any("unbounded" in w for w in result.warnings)
    assert result.status in ("complete", "budget_exhausted")
    assert 0 < len(result.contour_points) <= 3000
    assert np.all(np.isfinite(result.contour_points))


def test_separate_basins_are_all_searched():
    # c**2 signal with data above background: two minima at c = +-sqrt(s)
    spec = {"kind": "multivariate_normal", "data": [60.0], "background": [50.0],
            "covariance": [[4.0]], "signal": {"templates": {"A": [10.0]}, "expression": "c**2*A"},
            "parameters": {"mu": {"fixed": True}, "c": {"init": 0.3}}}
    model = mc.build_model(spec)
    result = mc.find_contour(model, rng=0, n_starts=8)
    points = np.sort(result.contour_points[:, 0])
    # NLL = (10 - 10 c^2)^2 / 8: the region is 10 c^2 in 10 +- 2 sqrt(chi2_1(0.95))
    half = 2.0 * np.sqrt(chi2.ppf(0.95, 1))
    outer, inner = np.sqrt((10 + half) / 10), np.sqrt((10 - half) / 10)
    assert points == pytest.approx([-outer, -inner, inner, outer], abs=1e-8)
    assert len(result.minima) == 2


# --- streaming, cancellation, settings ----------------------------------------------------------

def test_batches_stream_only_new_points(seed_run):
    result, batches = seed_run
    first = batches[0]
    assert first.stage == "mle" and len(first.points) == 0
    assert first.threshold == result.threshold and first.nll_min == result.nll_min
    assert np.array_equal(first.theta_mle, result.theta_mle)
    stages = [b.stage for b in batches]
    assert stages.index("radial") < stages.index("rattle")
    assert np.array_equal(np.vstack([b.points for b in batches]), result.contour_points)
    assert [b.n_points for b in batches] == list(np.cumsum([len(b.points) for b in batches]))
    assert np.array_equal(np.concatenate([b.on_bound for b in batches]), result.on_bound)


def test_cancel_after_first_batch(three_shapes):
    seen = []
    result = mc.find_contour(three_shapes, rng=0, on_batch=seen.append, should_stop=lambda: True)
    assert result.status == "cancelled"
    assert [b.stage for b in seen] == ["mle", "done"] and seen[-1].result is result
    assert len(result.contour_points) == 0 and np.isfinite(result.threshold)


def test_cancel_after_first_points(three_shapes):
    seen = []
    result = mc.find_contour(three_shapes, rng=0, on_batch=seen.append,
                             should_stop=lambda: sum(len(b.points) for b in seen) > 0, **SMALL)
    assert result.status == "cancelled" and "radial" in result.message
    stages = [b.stage for b in seen]
    assert stages[0] == "mle" and stages[-2:] == ["radial", "done"]
    assert set(stages[1:-2]) == {"explore"}  # the search for islands adds no points
    assert len(result.contour_points) == len(seen[-2].points) > 0


def test_iter_contour_can_be_closed_early(three_shapes):
    gen = mc.iter_contour(three_shapes, rng=0, **SMALL)
    assert next(gen).stage == "mle"
    assert next(gen).stage == "explore"
    gen.close()


def test_same_rng_same_points_whatever_the_batch_size(three_shapes):
    a = mc.find_contour(three_shapes, rng=11, **SMALL)
    b = mc.find_contour(three_shapes, rng=11, batch_size=5, **SMALL)
    c = mc.find_contour(three_shapes, rng=12, **SMALL)
    assert np.array_equal(a.contour_points, b.contour_points)
    assert a.seed_entropy == 11
    assert not np.array_equal(a.contour_points[:50], c.contour_points[:50])


@pytest.mark.parametrize("settings, match", [
    ({"n_chain": 3}, "unknown contour setting 'n_chain'"),
    ({"n_chains": -1}, "n_chains=-1 must be an integer >= 0"),
    ({"tol": 0.0}, "tol=0.0 must be a positive number"),
    ({"saturation": 1.5}, "saturation=1.5 must lie in"),
    # settings that size arrays held at once: the setting, the value and the limit
    ({"batch_size": 10**12}, "batch_size=1000000000000 exceeds its limit of 100,000"),
    ({"n_explore": 10**9}, "n_explore=1000000000 exceeds its limit of 1,000,000"),
    ({"max_points": 10**8}, "max_points=100000000 exceeds its limit of 10,000,000"),
    ({"n_radial": 2 * 10**6}, "n_radial=2000000 exceeds its limit of 1,000,000"),
    ({"n_chains": 10**5, "sync_every": 100},
     "n_chains=100000 and sync_every=100 record 10,000,000 chain steps per round, above the "
     "limit of 4,000,000"),
])
def test_bad_settings_are_named(three_shapes, settings, match):
    with pytest.raises(ValueError, match=match):
        mc.find_contour(three_shapes, **settings)


def test_bad_axes_and_bounds_are_named(three_shapes):
    with pytest.raises(ValueError, match="'mu' is both fixed and a contour axis"):
        mc.find_contour(three_shapes, parameters=["mu", "c0"])
    with pytest.raises(KeyError, match="unknown parameter 'c9'"):
        mc.find_contour(three_shapes, parameters=["c9"])
    with pytest.raises(ValueError, match="bounds of 'c0': low"):
        mc.find_contour(three_shapes, bounds={"c0": (1, -1)})
    with pytest.raises(ValueError, match="confidence_level"):
        mc.find_contour(three_shapes, confidence_level=95)


def test_defaults_are_documented():
    assert {"n_radial", "n_chains", "n_steps", "step_size", "n_gap_candidates",
            "tol"} <= set(DEFAULTS)
    assert DEFAULTS["tol"] == 1e-9


def test_max_points_ends_the_run(three_shapes):
    result = mc.find_contour(three_shapes, rng=0, max_points=150, **SMALL)
    assert result.status == "budget_exhausted" and "max_points=150" in result.message
    assert len(result.contour_points) == 150


# --- the run's contract: settings, stages, notes --------------------------------------------

def test_settings_are_a_frozen_dataclass():
    from dataclasses import FrozenInstanceError

    from model_core.contour.settings import ContourSettings

    settings = ContourSettings.from_mapping({"n_chains": np.int64(7), "spacing": 1})
    assert settings.n_chains == 7 and isinstance(settings.n_chains, int)
    assert settings.spacing == 1.0 and isinstance(settings.spacing, float)
    assert settings.as_dict() == {**DEFAULTS, "n_chains": 7, "spacing": 1.0}
    with pytest.raises(FrozenInstanceError):
        settings.n_chains = 3
    with pytest.raises(ValueError, match="faces='yes' must be True or False"):
        ContourSettings(faces="yes")


def test_every_stage_is_named_and_the_last_batch_carries_the_result(three_shapes):
    from model_core.contour.results import STAGES

    batches = list(mc.iter_contour(three_shapes, fixed={"mu": 1.0}, bounds={"c0": (-50, 1)},
                                   rng=4, **SMALL))
    stages = [b.stage for b in batches]
    assert set(stages) <= set(STAGES)
    # hole filling and the bound faces have their own names; "done" comes last, once
    assert {"mle", "explore", "radial", "gaps", "rattle", "fill", "faces"} <= set(stages)
    assert stages.index("rattle") < stages.index("fill") < stages.index("faces")
    assert stages[-1] == "done" and stages.count("done") == 1
    result = batches[-1].result
    assert all(b.result is None for b in batches[:-1])
    # find_contour drains iter_contour: the same points, in the same order
    found = mc.find_contour(three_shapes, fixed={"mu": 1.0}, bounds={"c0": (-50, 1)}, rng=4,
                            **SMALL)
    assert np.array_equal(found.contour_points, result.contour_points)
    assert np.array_equal(np.vstack([b.points for b in batches]), result.contour_points)
    # notes are a field, apart from how the run ended and from the warnings
    assert any(n.startswith("valley walk") for n in result.notes)
    assert any("filled holes" in n for n in result.notes)
    assert not any(n in result.message for n in (*result.notes, *result.warnings))
    assert result.stage == "faces" and result.status == "complete"


def test_the_run_is_an_explicit_context(three_shapes):
    from model_core.contour.finder import search
    from model_core.contour.run import ContourRun

    run = ContourRun.start(three_shapes, 0.95, None, {"mu": 1.0}, {"c0": (-50, 1)}, 5, None,
                           {**SMALL, "n_chains": 0, "faces": False})
    batches = list(search(run))
    assert run.n_points == len(run.points) == sum(len(b.points) for b in batches)
    assert run.n_evaluations == batches[-1].n_evaluations > 0
    assert run.room == run.settings.max_points - run.n_points
    assert run.spaced is not None and len(run.spaced) == run.n_points
    result = run.result()
    assert result.stage == "radial" and np.array_equal(result.contour_points, run.points.points)
