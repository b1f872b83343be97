"""Per-event arrays of unbinned channels: inline lists or ``.npy`` / ``.npz`` files.

A source is either a list of numbers or ``{"file": "ratios/sig.npy"}`` /
``{"file": "events.npz", "key": "sig"}``, the path being relative to the
workspace's folder (``base_dir``).  Paths that resolve outside that folder
(``..``, absolute paths, symlinks pointing out) are refused; files are read
with ``allow_pickle=False``; truncated or malformed files, wrong shapes and
non-finite values give a :class:`~model_core.exceptions.SpecError` naming the
JSON path and the file.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import SpecError

__all__ = ["load_unbinned_arrays", "read_array"]


def read_array(source: Any, where: str, base_dir: Path | None) -> np.ndarray:
    """The 1-D float array a source describes."""
    if not isinstance(source, Mapping):
        return _checked(np.asarray(source, dtype=float), where, "the list")
    name = source["file"]
    at = f"{where}.file"
    if base_dir is None:
        raise SpecError(at, "file references need the workspace's folder", name,
                        "load the workspace from its file, or pass base_dir= to load_workspace")
    base = Path(base_dir).resolve()
    try:
        path = (base / name).resolve()
    except (OSError, ValueError) as exc:
        raise SpecError(at, f"not a usable file name ({exc})", name,
                        "use a plain relative path such as ratios/signal.npy") from None
    if not path.is_relative_to(base):
        raise SpecError(at, f"the file lies outside the workspace folder {base}", name,
                        "keep per-event files in the workspace's folder or below it and use a "
                        "relative path without '..'")
    if not path.is_file():
        raise SpecError(at, f"no such file in {base}", name, "check the file name")
    suffix = path.suffix.lower()
    key = source.get("key")
    if suffix not in (".npy", ".npz"):
        raise SpecError(at, "per-event arrays must be .npy or .npz files", name,
                        "save the array with numpy.save (.npy) or numpy.savez (.npz)")
    if suffix == ".npy" and key is not None:
        raise SpecError(f"{where}.key", "a .npy file holds one array; 'key' is only for .npz "
                        "files", key, "remove 'key'")
    try:
        with open(path, "rb") as handle:
            loaded = np.load(handle, allow_pickle=False)
            if suffix == ".npy":
                array = loaded
            else:
                keys = list(loaded.files)
                if key is None and len(keys) != 1:
                    raise SpecError(f"{where}.key", f"{name} holds {len(keys)} arrays", None,
                                    "name one of them: " + ", ".join(keys))
                if key is not None and key not in keys:
                    raise SpecError(f"{where}.key", f"{name} has no array of this name", key,
                                    "use one of " + ", ".join(keys))
                array = loaded[key or keys[0]]
    except SpecError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise SpecError(at, f"cannot read {name}: the file is truncated or not a numpy file "
                        f"({exc})", name, "write it again with numpy.save / numpy.savez") from None
    return _checked(array, where, name)


def _checked(array: np.ndarray, where: str, origin: str) -> np.ndarray:
    if array.dtype.kind not in "biuf":
        raise SpecError(where, f"{origin} holds {array.dtype} values, not real numbers",
                        str(array.dtype), "store a float array")
    if array.ndim != 1 or array.size == 0:
        raise SpecError(where, f"{origin} must be a non-empty 1-D array (one value per event)",
                        f"shape {array.shape}", "store a flat array with one value per event")
    array = array.astype(float)
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise SpecError(where, f"{origin} has a non-finite value at event {bad[0]}",
                        float(array[bad[0]]), "replace NaN / inf values")
    return array


def load_unbinned_arrays(workspace: Mapping[str, Any], base_dir: Path | None,
                         prefix: str = "") -> dict[str, np.ndarray]:
    """Every per-event array of every unbinned channel, keyed by JSON path (without ``prefix``).

    Checks that all arrays of a channel have one value per event and that
    density ratios are not negative.
    """
    p = f"{prefix}." if prefix else ""
    out: dict[str, np.ndarray] = {}
    for i, ch in enumerate(workspace["channels"]):
        if ch.get("type") != "unbinned":
            continue
        sources: list[tuple[str, Any, bool]] = []
        if "weights" in ch:
            sources.append((f"channels[{i}].weights", ch["weights"], False))
        for j, sample in enumerate(ch["samples"]):
            at = f"channels[{i}].samples[{j}]"
            sources.append((f"{at}.ratios", sample["ratios"], True))
            for k, mod in enumerate(sample["modifiers"]):
                if mod["type"] == "histosys":
                    for side in ("lo_data", "hi_data"):
                        path = f"{at}.modifiers[{k}].data.{side}"
                        sources.append((path, mod["data"][side], True))
        n_events = None
        for key, source, is_ratio in sources:
            array = read_array(source, p + key, base_dir)
            if n_events is None:
                n_events, first = array.size, key
            elif array.size != n_events:
                raise SpecError(p + key, f"has {array.size} events but {p + first} has "
                                f"{n_events}", f"{array.size} values",
                                "give every per-event array of the channel the same events")
            if is_ratio and (array < 0).any():
                k = int(np.flatnonzero(array < 0)[0])
                raise SpecError(p + key, f"density ratios must not be negative (event {k})",
                                float(array[k]), "check the ratio estimates")
            out[key] = array
    return out
