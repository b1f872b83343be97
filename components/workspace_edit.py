"""Pure edits of HistFactory workspace drafts (the ``kind: histfactory`` wrapper), and
their table views.

A workspace draft is :meth:`model_core.WorkspaceSpec.to_dict`'s wrapper form:
``{"kind": "histfactory", "name", "measurement", "workspace": {...pyhf...},
"parameters", "modifier_settings"}``.  As for the counting kinds, nothing here
validates: whether a draft is a valid model is decided by
:func:`model_core.load_workspace` (through ``load_spec``).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pandas as pd

import model_core as mc
from model_core.fields import read_json
from model_core.workspace import resolve_modifier_settings

from . import spec_edit

__all__ = ["INTERPOLATION_CODES", "apply_observations", "apply_parameters", "as_upload",
           "modifier_types", "observations_frame", "set_interpolation", "set_measurement",
           "summary_frame"]

#: Interpolation codes the app offers per modifier type (pyhf's default first).
INTERPOLATION_CODES = {"normsys": ("code4", "code1"), "histosys": ("code4p", "code0")}


def summary_frame(spec: mc.WorkspaceSpec) -> pd.DataFrame:
    """One row per sample of every channel (pyhf's order): channel, kind, bins or events,
    sample and its modifiers as ``name (type)``."""
    rows = []
    observed = {o["name"]: o.get("data") for o in spec.workspace["observations"]}
    for channel in spec.layout.channels:
        for sample in channel.samples:
            modifiers = ", ".join(f"{m['name']} ({m['type']})" for m in sample.get("modifiers",
                                                                                   []))
            if channel.unbinned:
                size = f"{len(sample.get('ratios') or [])} events"
            else:
                n_bins = len(observed.get(channel.name) or [])
                size = f"{n_bins} bin{'' if n_bins == 1 else 's'}"
            rows.append({"channel": channel.name,
                         "kind": "unbinned" if channel.unbinned else "binned",
                         "size": size, "sample": sample["name"], "modifiers": modifiers or "—"})
    return pd.DataFrame(rows, columns=["channel", "kind", "size", "sample", "modifiers"])


def modifier_types(spec: mc.WorkspaceSpec) -> set[str]:
    """The modifier types the workspace uses."""
    return {m["type"] for channel in spec.workspace["channels"]
            for sample in channel["samples"] for m in sample.get("modifiers", [])}


def observations_frame(draft: dict[str, Any]) -> pd.DataFrame:
    """One row per bin of every observed (binned) channel: channel, bin, observed count."""
    rows = [{"channel": o["name"], "bin": i, "observed": value}
            for o in draft["workspace"]["observations"]
            for i, value in enumerate(o.get("data") or [])]
    frame = pd.DataFrame(rows, columns=["channel", "bin", "observed"])
    frame["observed"] = pd.to_numeric(frame["observed"], errors="coerce").astype(float)
    return frame


def apply_observations(draft: dict[str, Any], frame: pd.DataFrame) -> dict[str, Any]:
    """The draft with the observations table's counts written back (values unchecked)."""
    out = copy.deepcopy(draft)
    by_name = {o["name"]: o for o in out["workspace"]["observations"]}
    for record in frame.itertuples(index=False):
        data = by_name[record.channel]["data"]
        data[int(record.bin)] = float(record.observed)
    return out


def set_measurement(draft: dict[str, Any], name: str) -> dict[str, Any]:
    """Choose the measurement (its POI and parameter configuration apply).

    Parameter overrides are dropped: another measurement may configure other parameters.
    """
    out = copy.deepcopy(draft)
    out["measurement"] = name
    out.pop("parameters", None)
    return out


def set_interpolation(draft: dict[str, Any], mtype: str, code: str) -> dict[str, Any]:
    """Use interpolation ``code`` for modifier type ``mtype`` (``normsys`` or ``histosys``).

    Both types are written out: pyhf falls back to code1 / code0 for a type that
    ``modifier_settings`` leaves out.
    """
    out = copy.deepcopy(draft)
    codes = resolve_modifier_settings(out.get("modifier_settings"))
    codes[mtype] = code
    out["modifier_settings"] = {t: {"interpcode": c} for t, c in codes.items()}
    return out


def apply_parameters(draft: dict[str, Any], frame: pd.DataFrame, row: int) -> dict[str, Any]:
    """Write row ``row`` of the parameters table into the draft's overrides.

    Unticking ``fixed`` of a parameter that the measurement fixes also removes that
    ``fixed`` from the measurement's configuration (an override can fix, not unfix).
    """
    out = spec_edit.apply_parameters_frame(draft, frame, row)
    record = frame.iloc[row]
    if bool(record["fixed"]):
        return out
    name = str(record["parameter"]).split("[", 1)[0]
    for measurement in out["workspace"]["measurements"]:
        if measurement["name"] != out.get("measurement"):
            continue
        for config in measurement["config"].get("parameters", []):
            if config.get("name") == name:
                config.pop("fixed", None)
    return out


def as_upload(content: bytes | str, filename: str | None) -> dict[str, Any]:
    """An uploaded file as a spec dict: a raw pyhf workspace is wrapped (named after the
    file), a spec is passed on for ``load_spec`` to accept or explain.

    The content is parsed here, never handed on as text: ``load_spec`` reads a string
    that is not JSON as a path, and an upload must not name a file on the server.

    Raises
    ------
    model_core.SpecError
        The file is not UTF-8 JSON text holding an object.
    """
    field = "upload"
    try:
        text = content.decode("utf-8") if isinstance(content, bytes) else content
    except UnicodeDecodeError:
        raise mc.SpecError(field, "the file is not UTF-8 text (is it a JSON file?)",
                           fix="upload a model spec or a pyhf workspace saved as JSON") from None
    if not text.lstrip().startswith("{"):
        raise mc.SpecError(field, "the file does not hold a JSON object", text[:40],
                           "upload a model spec or a pyhf workspace saved as JSON")
    raw = read_json(text, field)
    if "channels" in raw and "kind" not in raw:
        name = Path(filename).stem if filename else "uploaded workspace"
        return {"version": 1, "kind": "histfactory", "name": name, "workspace": raw}
    return raw
