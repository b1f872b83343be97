"""Fixtures for the browserless component tests."""

import pytest

from components.state import SessionState


@pytest.fixture
def state():
    """A fresh session state with the default model."""
    return SessionState()
