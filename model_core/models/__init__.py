"""Model builders: from a validated spec to a :class:`~model_core.model.Model`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..model import Model
from ..spec import ModelSpec, load_spec
from .counting import build_counting_model

__all__ = ["build_model"]


def build_model(spec: ModelSpec | Mapping[str, Any] | str | Path) -> Model:
    """Build a :class:`Model` from a spec (validated first when given as data or a path)."""
    return build_counting_model(load_spec(spec))
