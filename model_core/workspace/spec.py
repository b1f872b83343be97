"""HistFactory workspaces as model specs: load, validate, choose a measurement, save.

:func:`load_workspace` accepts a pyhf 1.0.0 workspace (a dict, JSON text or a
file) or this project's wrapper around one::

    {"version": 1, "kind": "histfactory", "name": "...", "measurement": "meas",
     "workspace": {...pyhf workspace...},
     "parameters": {"mu": {"bounds": [-5, 10]}},
     "modifier_settings": {"normsys": {"interpcode": "code1"}, ...}}

Validation runs in three layers, each raising a
:class:`~model_core.exceptions.SpecError` whose field is the JSON path of the
problem (``channels[1].samples[0].modifiers[2].data``): the JSON schema
(``model_core/schema/1.0.0/workspace.json``), structural checks (names, bin
counts, data lengths, observations) and the parameter layout of the chosen
measurement (name reuse across modifier types, parameter configurations, the
POI).  Per-event files of unbinned channels are read and checked here too.

``modifier_settings`` mirrors pyhf's ``Model(..., modifier_settings=...)``:
when absent, normsys uses code 4 and histosys code 4p; when given, a type it
does not mention falls back to pyhf's per-type default (normsys code 1,
histosys code 0), exactly as pyhf does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from copy import deepcopy
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..exceptions import SpecError
from ..fields import (
    ParameterSpec,
    folder_and_name,
    parameter_overrides,
    read_json,
    read_version,
)
from ..guards import check_model_size, check_nesting
from ..models.interpolation import HISTOSYS_CODES, NORMSYS_CODES
from ..schema import validate
from .arrays import load_unbinned_arrays
from .layout import Layout, build_layout
from .semantics import check_structure

__all__ = ["DEFAULT_MODIFIER_SETTINGS", "WorkspaceSpec", "is_workspace", "load_workspace",
           "resolve_modifier_settings"]

#: pyhf's interpolation codes when no ``modifier_settings`` are given.
DEFAULT_MODIFIER_SETTINGS: Mapping[str, Mapping[str, str]] = {
    "normsys": {"interpcode": "code4"}, "histosys": {"interpcode": "code4p"}}
# pyhf's per-type fallback when modifier_settings are given but omit a type
_TYPE_FALLBACK = {"normsys": "code1", "histosys": "code0"}
_CODES = {"normsys": NORMSYS_CODES, "histosys": HISTOSYS_CODES}
_PYHF_KEYS = ("channels", "observations", "measurements")
_WRAPPER_KEYS = {"version", "kind", "name", "description", "measurement", "workspace",
                 "parameters", "modifier_settings"}


@dataclass(frozen=True)
class WorkspaceSpec:
    """A validated HistFactory workspace with one chosen measurement.

    Attributes
    ----------
    workspace
        The pyhf workspace (validated; treat as read-only).
    measurement
        Name of the measurement whose POI and parameter configuration apply.
    name, description
        Display name and text.
    base_dir
        Folder that relative per-event file paths of unbinned channels refer to.
    parameters
        Overrides of ``init``, ``bounds`` and ``fixed`` by (component) parameter name.
    modifier_settings
        Interpolation codes, pyhf's ``modifier_settings``; ``None`` for pyhf's defaults.
    arrays
        The per-event arrays of unbinned channels, by JSON path.
    """

    kind: ClassVar[str] = "histfactory"

    workspace: Mapping[str, Any]
    measurement: str
    name: str = "HistFactory workspace"
    description: str = ""
    base_dir: Path | None = None
    parameters: Mapping[str, ParameterSpec] = field(default_factory=dict)
    modifier_settings: Mapping[str, Mapping[str, str]] | None = None
    arrays: Mapping[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)
    version: int = 1

    @property
    def measurement_index(self) -> int:
        return [m["name"] for m in self.workspace["measurements"]].index(self.measurement)

    @cached_property
    def layout(self) -> Layout:
        """Channels and parameter sets in pyhf order (see :mod:`.layout`)."""
        return build_layout(self.workspace, self.measurement_index)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """pyhf's ``par_names``: parameter sets in pyhf order, vector sets as ``name[i]``."""
        return self.layout.names

    @property
    def poi(self) -> str:
        return self.layout.poi

    @property
    def n_bins(self) -> int:
        """Number of bins of the binned channels."""
        return self.layout.n_bins

    def data(self, include_auxdata: bool = True) -> np.ndarray:
        """Observed counts in pyhf's channel order, then its auxiliary data (``Workspace.data``)."""
        observed = {o["name"]: o["data"] for o in self.workspace["observations"]}
        main = [v for c in self.layout.channels if not c.unbinned for v in observed[c.name]]
        aux = self.layout.auxdata.tolist() if include_auxdata else []
        return np.array(main + aux, dtype=float)

    def to_dict(self) -> dict[str, Any]:
        """The wrapper form, JSON-ready; :func:`load_workspace` accepts it unchanged."""
        out: dict[str, Any] = {"version": self.version, "kind": self.kind, "name": self.name}
        if self.description:
            out["description"] = self.description
        out["measurement"] = self.measurement
        out["workspace"] = deepcopy(dict(self.workspace))
        params = {k: v.to_dict() for k, v in self.parameters.items() if v.to_dict()}
        if params:
            out["parameters"] = params
        if self.modifier_settings is not None:
            out["modifier_settings"] = {k: dict(v) for k, v in self.modifier_settings.items()}
        return out

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)


def is_workspace(raw: Mapping[str, Any]) -> bool:
    """Whether ``raw`` is a pyhf workspace (it has any of pyhf's top-level keys, so one
    missing ``channels`` is still explained as a workspace) or a wrapper around one."""
    return (any(key in raw for key in _PYHF_KEYS) or "workspace" in raw
            or raw.get("kind") == "histfactory")


def load_workspace(
    source: WorkspaceSpec | Mapping[str, Any] | str | Path,
    measurement: str | int | None = None,
    *,
    base_dir: str | Path | None = None,
    name: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    modifier_settings: Mapping[str, Mapping[str, str]] | None = None,
    copy: bool = True,
) -> WorkspaceSpec:
    """Load and validate a HistFactory workspace.

    Parameters
    ----------
    source
        A pyhf workspace or a ``kind: histfactory`` wrapper: dict, JSON text or file path.
    measurement
        Measurement name or index; defaults to the wrapper's choice, else the first.
    base_dir
        Folder of per-event files; defaults to the file's folder when ``source`` is a path.
    name
        Display name (default: the wrapper's name, the file name or the measurement name).
    parameters, modifier_settings
        Replace the wrapper's overrides and interpolation codes.
    copy
        Copy a dict ``source``, so that later changes to it do not reach the result;
        ``False`` hands it over (for JSON just parsed, which nothing else holds).

    Raises
    ------
    SpecError
        Naming the JSON path of the problem, the offending value and the fix.
    """
    if isinstance(source, WorkspaceSpec):
        base_dir = source.base_dir if base_dir is None else base_dir
        source = source.to_dict()
    file_name = None
    parsed = isinstance(source, (str, Path))
    if parsed:
        if not (isinstance(source, str) and source.lstrip().startswith("{")):
            path = Path(source)
            folder, file_name = folder_and_name(path)
            base_dir = folder if base_dir is None else base_dir
        source = read_json(source, "workspace")
    if not isinstance(source, Mapping):
        raise SpecError("workspace", "a workspace must be a JSON object", type(source).__name__,
                        "pass a dict or a path to a JSON file")
    if not parsed:
        check_nesting(source, "workspace")
    prefix = ""
    wrapper: Mapping[str, Any] = {}
    if source.get("kind") == "histfactory" or "workspace" in source:
        wrapper, source, prefix = _unwrap(source), source.get("workspace"), "workspace"
        if not isinstance(source, Mapping):
            raise SpecError("workspace", "missing or not an object", source,
                            'put the pyhf workspace under "workspace"')
    # a caller's data is copied (it may change later); freshly parsed JSON is ours already
    workspace = deepcopy(dict(source)) if copy and not parsed else dict(source)
    validate(workspace, prefix=prefix)
    check_structure(workspace, prefix)
    base = None if base_dir is None else Path(base_dir).resolve()
    arrays = load_unbinned_arrays(workspace, base, prefix)
    chosen = _measurement(workspace, wrapper.get("measurement") if measurement is None
                          else measurement, prefix)
    spec = WorkspaceSpec(
        workspace=workspace, measurement=chosen,
        name=name or wrapper.get("name") or file_name or chosen,
        description=wrapper.get("description", ""),
        base_dir=base, arrays=arrays,
        modifier_settings=validate_modifier_settings(
            wrapper.get("modifier_settings") if modifier_settings is None else modifier_settings),
    )
    try:
        layout = spec.layout
    except SpecError as exc:
        if prefix:
            raise SpecError(f"{prefix}.{exc.field}", exc.problem, exc.value, exc.fix) from None
        raise
    check_model_size(len(layout.names), _yield_terms(layout, arrays),
                     f"{prefix}.channels" if prefix else "channels")
    defaults = dict(zip(layout.names, layout.inits.tolist(), strict=True))
    own_bounds = dict(zip(layout.names, map(tuple, layout.bounds.tolist()), strict=True))
    overrides = parameter_overrides(wrapper.get("parameters") if parameters is None
                                    else parameters, defaults, default_bounds=own_bounds)
    return replace(spec, parameters=overrides)


def _yield_terms(layout: Layout, arrays: Mapping[str, np.ndarray]) -> int:
    """Yield terms of one NLL evaluation: bins times (1 + modifiers) per binned sample,
    events times (1 + 2 per histosys) per unbinned sample."""
    terms = 0
    for channel in layout.channels:
        for sample, where in zip(channel.samples, channel.where, strict=True):
            if channel.unbinned:
                shifts = sum(m["type"] == "histosys" for m in sample["modifiers"])
                terms += arrays[f"{where}.ratios"].size * (1 + 2 * shifts)
            else:
                terms += channel.n_bins * (1 + len(sample["modifiers"]))
    return terms



def validate_modifier_settings(settings: Any) -> dict[str, dict[str, str]] | None:
    """Check pyhf-style ``{"normsys": {"interpcode": "code1"}, ...}``; ``None`` stays ``None``."""
    if settings is None:
        return None
    if not isinstance(settings, Mapping):
        raise SpecError("modifier_settings", "must be an object keyed by modifier type", settings,
                        'write {"normsys": {"interpcode": "code4"}}')
    out = {}
    for mtype, entry in settings.items():
        where = f"modifier_settings.{mtype}"
        if mtype not in _CODES:
            raise SpecError(where, "only normsys and histosys have interpolation settings", mtype,
                            "use normsys or histosys")
        if not isinstance(entry, Mapping) or set(entry) != {"interpcode"}:
            raise SpecError(where, 'must be {"interpcode": ...}', entry,
                            f'write {{"interpcode": "{_CODES[mtype][-1]}"}}')
        code = entry["interpcode"]
        if code not in _CODES[mtype]:
            note = (" (pyhf's code2 is discontinuous at |alpha| = 1 and is not supported)"
                    if code == "code2" else "")
            raise SpecError(f"{where}.interpcode", f"unknown {mtype} interpolation code{note}",
                            code, "use one of " + ", ".join(_CODES[mtype]))
        out[mtype] = {"interpcode": code}
    return out


def resolve_modifier_settings(settings: Mapping[str, Mapping[str, str]] | None) -> dict[str, str]:
    """Interpolation code per type, with pyhf's defaults and fallbacks."""
    if settings is None:
        settings = DEFAULT_MODIFIER_SETTINGS
    return {t: settings.get(t, {}).get("interpcode", _TYPE_FALLBACK[t]) for t in _TYPE_FALLBACK}


def _unwrap(wrapper: Mapping[str, Any]) -> Mapping[str, Any]:
    extra = sorted(set(wrapper) - _WRAPPER_KEYS, key=str)
    if extra:
        raise SpecError(extra[0], "unknown field", wrapper[extra[0]],
                        "remove it; allowed fields are " + ", ".join(sorted(_WRAPPER_KEYS)))
    read_version(wrapper.get("version", 1))
    if wrapper.get("kind", "histfactory") != "histfactory":
        raise SpecError("kind", "a wrapper around a workspace must have kind 'histfactory'",
                        wrapper["kind"], 'write "kind": "histfactory"')
    for key in ("name", "description", "measurement"):
        if key in wrapper and not isinstance(wrapper[key], str):
            raise SpecError(key, "must be text", wrapper[key], "write it as a string")
    return wrapper


def _measurement(workspace: Mapping[str, Any], chosen: str | int | None, prefix: str) -> str:
    names = [m["name"] for m in workspace["measurements"]]
    if chosen is None:
        return names[0]
    if isinstance(chosen, int) and not isinstance(chosen, bool):
        if not 0 <= chosen < len(names):
            raise SpecError("measurement", f"index out of range: the workspace has {len(names)} "
                            "measurement(s)", chosen, f"use 0 to {len(names) - 1} or a name")
        return names[chosen]
    if chosen not in names:
        raise SpecError("measurement", "no measurement of this name in "
                        + (f"{prefix}.measurements" if prefix else "measurements"), chosen,
                        "use one of " + ", ".join(names))
    return chosen
