"""The page's one confidence-level control."""

from components.level_control import LevelControl


def test_one_control_in_percent_without_rounding_noise(state):
    control = LevelControl(state=state)
    assert control.percent.value == 95.0
    for typed in (90.0, 89.0, 68.27, 99.73):  # steps and typed values stay as typed
        control.percent.value = typed
        assert state.confidence_level == round(typed / 100, 6)
        assert control.percent.value == typed
    state.confidence_level = 0.9
    assert control.percent.value == 90.0  # repr 90.0, not 89.99999999999999


def test_sigma_levels(state):
    control = LevelControl(state=state)
    assert control.sigmas.value == [1, 2]
    control.sigmas.value = [3, 1]
    assert state.sigmas == [1, 3]
