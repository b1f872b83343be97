"""HistFactory workspaces (pyhf 1.0.0 JSON, plus unbinned channels): loading and export."""

from .export import to_workspace
from .spec import (
    DEFAULT_MODIFIER_SETTINGS,
    WorkspaceSpec,
    load_workspace,
    resolve_modifier_settings,
    validate_modifier_settings,
)
from .synthetic import synthetic_workspace

__all__ = ["DEFAULT_MODIFIER_SETTINGS", "WorkspaceSpec", "load_workspace",
           "resolve_modifier_settings", "synthetic_workspace", "to_workspace",
           "validate_modifier_settings"]
