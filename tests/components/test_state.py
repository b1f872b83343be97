"""The session state: accepted edits replace the model; rejected ones keep it."""

import json
import math

import numpy as np
import pytest

import model_core as mc
from model_core.examples import load_example


def _edited(state, **changes):
    draft = state.spec_dict
    draft.update(changes)
    return draft


def test_default_model_is_the_seed_model(state):
    assert state.spec.name == load_example().name
    # the exact-fit valley of the seed model: NLL_min = 0.5 log det(2 pi Sigma)
    cov = np.array(state.spec.covariance)
    assert state.best.fun == pytest.approx(0.5 * np.linalg.slogdet(2 * np.pi * cov)[1], abs=1e-9)
    assert state.error is None


def test_accepted_edit_replaces_model_and_fit(state):
    revision = state.revision
    draft = state.spec_dict
    draft["data"] = [40.0, 30.0]
    assert state.propose(draft) is None
    assert state.spec.data == (40.0, 30.0)
    reference = mc.fit(mc.build_model(draft), n_starts=4, rng=1)
    assert state.best.fun == pytest.approx(reference.fun, abs=1e-8)
    assert state.revision == revision + 1


BAD_EDITS = {
    "negative yield": (lambda d: d["data"].__setitem__(0, -3.0), "data[0]"),
    "NaN yield": (lambda d: d["background"].__setitem__(1, math.nan), "background[1]"),
    "wrong length": (lambda d: d.__setitem__("data", [36.0, 33.0, 12.0]), "background"),
    "non-symmetric covariance": (
        lambda d: d.__setitem__("covariance", [[144.0, 13.0], [25.0, 256.0]]), "covariance[0][1]"),
    "non-positive-definite covariance": (
        lambda d: d.__setitem__("covariance", [[144.0, 200.0], [200.0, 256.0]]), "covariance"),
    "bad expression": (lambda d: d["signal"].__setitem__("expression", "c0*A + *B"),
                       "signal.expression"),
}


@pytest.mark.parametrize("edit", list(BAD_EDITS), ids=list(BAD_EDITS))
def test_rejected_edit_keeps_previous_model(state, edit):
    apply, field = BAD_EDITS[edit]
    model, best, spec, revision = state.model, state.best, state.spec, state.revision
    draft = state.spec_dict
    apply(draft)
    error = state.propose(draft)
    assert isinstance(error, mc.SpecError)
    assert error.field == field
    assert state.error is error
    assert (state.model, state.best, state.spec, state.revision) == (model, best, spec, revision)


def test_expression_error_carries_the_position(state):
    error = state.propose(_edited(state, signal={"templates": {"A": [1.0, 2.0]},
                                                 "expression": "2*A + (A"}))
    assert isinstance(error, mc.ExpressionError)
    assert error.position is not None and 5 <= error.position <= 8


@pytest.mark.parametrize("payload, problem", [
    (b'{"kind": "multivariate_normal", "data": [1, 2', "malformed JSON"),
    (b"\xff\xfe\x00garbage", "not UTF-8"),
    (b"[1, 2, 3]", "not a JSON object"),
], ids=["truncated", "binary", "array"])
def test_malformed_upload_is_rejected(state, payload, problem):
    best = state.best
    error = state.propose(payload)
    assert isinstance(error, mc.SpecError) and problem in str(error)
    assert state.best is best


def test_uploaded_json_is_accepted(state):
    text = json.dumps(load_example("two_bin_uncorrelated").to_dict()).encode()
    assert state.propose(text) is None
    assert state.model.parameter_names == ("mu", "theta_0", "theta_1")


def test_model_with_no_positive_rate_is_rejected(state):
    # a huge negative fixed signal: every rate is negative wherever the fit can go
    draft = _edited(state, kind="uncorrelated_background", background_uncertainty=[1.0, 1.0],
                    covariance=None, signal={"templates": {"S": [-500.0, -500.0]},
                                             "expression": "S"},
                    parameters={"mu": {"init": 1.0, "fixed": True}})
    draft.pop("covariance")
    best = state.best
    error = state.propose(draft)
    assert isinstance(error, mc.SpecError) and error.field == "model"
    assert state.best is best


def test_confidence_level_is_bounded(state):
    with pytest.raises(ValueError):
        state.confidence_level = 1.5


def test_a_warm_start_that_sees_no_likelihood_falls_back_to_fresh_starts(state):
    """Issue: the previous best fit (mu = -2.9 after n = 15 with b = 50) started the fit
    where every rate is negative once b = 10, and the valid model was refused."""
    assert state.load_example("two_bin_uncorrelated") is None
    draft = state.spec_dict
    for key in ("data", "background", "background_uncertainty", "bins"):
        draft[key] = draft[key][:1]
    draft["signal"]["templates"]["S"] = draft["signal"]["templates"]["S"][:1]
    draft["data"] = [15.0]
    assert state.propose(draft) is None
    assert state.best["mu"] < -2.5  # the warm start of the next edit
    draft["background"] = [10.0]
    model = mc.build_model(draft)
    assert not np.isfinite(model.nll(state.best.x))  # where the old best fit now stands
    assert state.propose(draft) is None
    direct = mc.fit(model, n_starts=4, rng=1)
    assert state.best.fun == pytest.approx(direct.fun, abs=1e-9)
    assert state.best["mu"] == pytest.approx((15.0 - 10.0) / 12.0, abs=1e-6)


class _SessionDoc:
    """Enough of a served session's Document for :class:`Jobs` to work off the loop: the
    wake-ups are dropped, and ``jobs.wait`` drains in the test's thread instead."""

    def add_next_tick_callback(self, callback):
        return None


def _served_state():
    from components.jobs import Jobs
    from components.state import SessionState

    jobs = Jobs()
    jobs._doc = _SessionDoc()
    lanes = []
    submit = jobs.submit
    jobs.submit = lambda lane, *args, **kwargs: lanes.append(lane) or submit(lane, *args,
                                                                             **kwargs)
    return SessionState(jobs=jobs), lanes


def test_a_served_edit_is_fitted_off_the_loop_with_its_map_and_the_newest_wins():
    from components.likelihood_map import LikelihoodMap

    state, lanes = _served_state()
    view = LikelihoodMap(state=state)
    assert state.jobs.wait(timeout=300) and view.grid is not None
    revision, lanes[:] = state.revision, []
    ends = []
    for value in (40.0, 41.0):  # the second edit supersedes the first before it lands
        state.request(_edited(state, data=[value, 33.0]), on_done=ends.append)
    assert state.spec.data[0] == 36.0  # nothing changes until the loop takes the result
    assert state.jobs.wait(timeout=300)
    assert state.spec.data[0] == 41.0 and state.revision == revision + 1 and ends == [None]
    # the map's grid came with the fit (no second trip to a worker), for the new model
    assert lanes == ["model", "model"]
    reference = mc.nll_grid(state.model, view.grid.parameters, view.grid.x_values,
                            view.grid.y_values, at=state.best.x)
    np.testing.assert_array_equal(view.grid.nll, reference.nll)
    # a rejected edit keeps the model and reports why
    state.request(_edited(state, data=[-1.0, 33.0]), on_done=ends.append)
    assert state.jobs.wait(timeout=300)
    assert state.spec.data[0] == 41.0 and state.revision == revision + 1
    assert isinstance(ends[-1], mc.SpecError) and state.error is ends[-1]


def test_a_view_failing_to_prepare_its_data_never_blocks_the_model(caplog):
    """A follower (a view's data computed beside the fit) that raises is logged and left
    out; the model is accepted all the same."""
    state, _ = _served_state()
    state.follow("broken", lambda model, best: 1 / 0)
    assert state.jobs.wait(timeout=300)
    revision, ends = state.revision, []
    state.request(_edited(state, data=[40.0, 33.0]), on_done=ends.append)
    assert state.jobs.wait(timeout=300)
    assert ends == [None] and state.revision == revision + 1 and state.spec.data[0] == 40.0
    assert "preparing 'broken' for the new model failed" in caplog.text
