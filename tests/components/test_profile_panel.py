"""Profiles: the core's curves, intervals against closed forms, recomputed after edits."""

import time

import numpy as np
import pytest

import model_core as mc
from components.profile_panel import ProfilePanel


def test_linear_model_intervals_are_analytic(linear_state):
    panel = ProfilePanel(state=linear_state)
    best = linear_state.best
    m = np.array([[10.0, 3.0], [2.0, 8.0]])
    cov = np.linalg.inv(m.T @ np.linalg.inv([[4.0, 1.0], [1.0, 9.0]]) @ m)
    level = mc.delta_chi2(0.95, 1)
    assert list(panel.results) == ["a", "b"]
    for i, name in enumerate(["a", "b"]):
        result = panel.results[name]
        half = np.sqrt(level * cov[i, i])  # the profile's interval: the marginal width
        assert result.interval == pytest.approx((best[name] - half, best[name] + half), rel=1e-3)
        conditional = np.sqrt(level / np.linalg.inv(cov)[i, i])  # the scan's: conditional
        assert result.scan_interval == pytest.approx(
            (best[name] - conditional, best[name] + conditional), rel=1e-3)
        assert np.all(result.profile.nll <= result.scan.nll + 1e-9)


def test_profiles_follow_edits_and_level(state):
    panel = ProfilePanel(state=state)
    assert list(panel.results) == ["c0", "c1", "c2"]
    old = panel.results["c2"]
    draft = state.spec_dict
    draft["data"] = [40.0, 20.0]
    assert state.propose(draft) is None  # no session: the update runs at once
    new = panel.results["c2"]
    assert new is not old
    reference = mc.profile(state.model, "c2", new.profile.grid, best=state.best)
    np.testing.assert_allclose(new.profile.nll, reference.nll, rtol=1e-9)
    state.confidence_level = 0.68
    assert panel.results["c2"].level == pytest.approx(mc.delta_chi2(0.68, 1))
    assert "68%" in panel.summary.value


def test_open_interval_is_explained(state):
    panel = ProfilePanel(state=state)
    text = panel._panes["c0"][1].value
    # the seed model's valley: the c0 profile stays flat up to the c0 bound at 1
    assert "1 (bound)" in text


def _wait(job, hang=120.0):
    """Until the job and its final delivery are done (a hang guard, not a speed claim)."""
    assert job.join(hang)
    deadline = time.monotonic() + hang
    while job.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not job.running


def test_background_updates_stream_and_supersede(state):
    panel = ProfilePanel(state=state, background=True)
    _wait(panel._job)
    first = {k: v.profile.nll.copy() for k, v in panel.results.items()}
    assert list(first) == ["c0", "c1", "c2"]
    draft = state.spec_dict
    draft["data"] = [40.0, 20.0]
    assert state.propose(draft) is None  # starts a run
    state.confidence_level = 0.9  # supersedes it
    _wait(panel._job)
    result = panel.results["c2"]
    assert result.confidence_level == 0.9
    reference = mc.profile(state.model, "c2", result.profile.grid, best=state.best)
    np.testing.assert_allclose(result.profile.nll, reference.nll, rtol=1e-9)
