"""The Learn tab quotes the live model's numbers and follows edits when shown."""

import pytest

import model_core as mc
from components.learn import Learn


@pytest.mark.parametrize("example", ["three_shapes", "two_bin_uncorrelated",
                                     "three_shapes_correlated"])
def test_text_quotes_the_model(state, example):
    assert state.load_example(example) is None
    text = Learn(state=state).markdown()
    assert state.spec.name in text and f"{state.best.fun:.6g}" in text
    for k in (1, 2):
        assert f"{mc.delta_chi2(0.95, k):.3f}" in text
        assert f"{mc.nll_threshold(state.best.fun, 0.95, k):.4f}" in text
    assert ("flat direction" in text) == bool(len(state.best.flat_directions))


def test_updates_only_when_shown(state):
    learn = Learn(state=state, active=False)
    assert learn.text.object == ""
    learn.active = True
    first = learn.text.object
    assert "7.09307" in first
    learn.active = False
    state.confidence_level = 0.68
    assert learn.text.object == first  # off screen: left alone
    learn.active = True
    assert f"{mc.delta_chi2(0.68, 1):.3f}" in learn.text.object
