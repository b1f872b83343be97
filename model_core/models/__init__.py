"""Model builders: from a validated spec to a :class:`~model_core.model.Model`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..exceptions import SpecError
from ..model import Model
from ..spec import ModelSpec, load_spec
from ..workspace.spec import WorkspaceSpec
from .counting import build_counting_model
from .histfactory import build_histfactory_model

__all__ = ["build_model"]


def build_model(spec: ModelSpec | WorkspaceSpec | Mapping[str, Any] | str | Path, *,
                modifier_settings: Mapping[str, Mapping[str, str]] | None = None) -> Model:
    """Build a :class:`Model` from a spec (validated first when given as data or a path).

    HistFactory workspaces (:class:`~model_core.workspace.WorkspaceSpec`, a raw
    pyhf workspace or a ``kind: histfactory`` wrapper) accept pyhf-style
    ``modifier_settings`` choosing the interpolation codes, e.g.
    ``{"normsys": {"interpcode": "code1"}, "histosys": {"interpcode": "code0"}}``.
    """
    spec = load_spec(spec)
    if isinstance(spec, WorkspaceSpec):
        return build_histfactory_model(spec, modifier_settings)
    if modifier_settings is not None:
        raise SpecError("modifier_settings", f"only HistFactory workspaces have interpolation "
                        f"settings, not kind {spec.kind!r}", modifier_settings,
                        "leave modifier_settings out")
    return build_counting_model(spec)
