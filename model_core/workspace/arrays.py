"""Per-event arrays of unbinned channels: inline lists or ``.npy`` / ``.npz`` files.

A source is either a list of numbers or ``{"file": "ratios/sig.npy"}`` /
``{"file": "events.npz", "key": "sig"}``, the path being relative to the
workspace's folder (``base_dir``).  Paths that resolve outside that folder
(``..``, absolute paths, symlinks pointing out) are refused, and so is anything
but a regular file (a folder, a named pipe).  Files are checked before they are
read: a ``.npy`` file must start with numpy's magic bytes and its header must
declare a 1-D array of real numbers that the file actually holds and that fits
the event budget; in a ``.npz`` file the number of arrays and the chosen
array's declared (uncompressed) size are checked the same way before anything
is decompressed, and reading stops at the declared size, so neither a header
declaring 10^12 values nor a small archive expanding to gigabytes allocates
more than the budget.  Nothing is ever unpickled.  Truncated or malformed files,
wrong shapes and non-finite values give a
:class:`~model_core.exceptions.SpecError` naming the JSON path and the file.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..exceptions import SpecError
from ..guards import regular_file

__all__ = ["MAX_EVENTS", "MAX_EVENT_VALUES", "load_unbinned_arrays", "read_array"]

#: Most events of all unbinned channels together: the NLL holds every sample's
#: density at every event, and its exact Hessian one copy of them per parameter.
MAX_EVENTS = 1_000_000
#: Most values read from all per-event arrays of a workspace together (80 MB as float64).
MAX_EVENT_VALUES = 10_000_000
# arrays in one .npz file: finding one reads the archive's whole directory into memory
_MAX_NPZ_ARRAYS = 1000
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK\x03\x04"
_ZIP_END = b"PK\x05\x06"
_ZIP_END_SIZE = 22
_ZIP_COMMENT_MAX = 0xFFFF
# bytes per value of the widest real dtype (float128), and room for a .npy header
_LARGEST_ITEM = 16
_HEADER_ROOM = 10_240
_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0,
                   (2, 0): np.lib.format.read_array_header_2_0}
_UNREADABLE = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error,
               NotImplementedError, RuntimeError, struct.error)
_REWRITE = "write it again with numpy.save / numpy.savez"


def read_array(source: Any, where: str, base_dir: Path | None,
               limit: int = MAX_EVENTS) -> np.ndarray:
    """The 1-D float array a source describes, of at most ``limit`` values."""
    if not isinstance(source, Mapping):
        array = _checked(np.asarray(source, dtype=float), where, "the list")
        _within(array.size, limit, where, "the list")
        return array
    name = source["file"]
    at = f"{where}.file"
    if base_dir is None:
        raise SpecError(at, "file references need the workspace's folder", name,
                        "load the workspace from its file, or pass base_dir= to load_workspace")
    base = Path(base_dir).resolve()
    try:
        path = (base / name).resolve()
    except RuntimeError:  # Python < 3.13 reports a loop of symbolic links this way
        raise SpecError(at, "a loop of symbolic links", name,
                        "point the link at the file itself") from None
    except (OSError, ValueError) as exc:
        raise SpecError(at, f"not a usable file name ({exc})", name,
                        "use a plain relative path such as ratios/signal.npy") from None
    if not path.is_relative_to(base):
        raise SpecError(at, f"the file lies outside the workspace folder {base}", name,
                        "keep per-event files in the workspace's folder or below it and use a "
                        "relative path without '..'")
    size = regular_file(path, at, name, f"check the file name (looked in {base})").st_size
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
            if suffix == ".npy":
                array = _read_npy(handle, size, limit, where, name)
            else:
                array = _read_npz(handle, size, key, limit, where, name)
    except SpecError:
        raise
    except _UNREADABLE as exc:
        raise SpecError(at, f"cannot read {name}: the file is truncated or not a numpy file "
                        f"({exc})", name, _REWRITE) from None
    return _checked(array, where, name)


def _read_npy(handle: IO[bytes], available: int, limit: int, where: str, name: str
              ) -> np.ndarray:
    """Read one ``.npy`` array of at most ``limit`` values from ``handle`` (``available``
    bytes long), checking the header's claims before reading any data."""
    at = f"{where}.file"
    if handle.read(len(_NPY_MAGIC)) != _NPY_MAGIC:
        raise SpecError(at, f"{name} is not a .npy file (it does not start with numpy's magic "
                        "bytes)", name, "save the array with numpy.save")
    version = tuple(handle.read(2))
    reader = _HEADER_READERS.get(version)
    if reader is None:
        raise SpecError(at, f"{name} uses .npy format version {version}, not 1.0 or 2.0",
                        name, "save a plain float array with numpy.save")
    shape, _, dtype = reader(handle)
    if dtype.hasobject or dtype.kind not in "biuf":
        raise SpecError(where, f"{name} holds {dtype} values, not real numbers", str(dtype),
                        "store a float array")
    if len(shape) != 1 or shape[0] == 0:
        raise SpecError(where, f"{name} must be a non-empty 1-D array (one value per event)",
                        f"shape {shape}", "store a flat array with one value per event")
    count = shape[0]
    _within(count, limit, where, name)
    needed = count * dtype.itemsize
    if available - handle.tell() < needed:
        raise SpecError(f"{where}.file", f"{name} is truncated: its header declares {count:,} "
                        f"values ({needed:,} bytes) but the file holds fewer", name, _REWRITE)
    data = handle.read(needed)
    if len(data) < needed:
        raise SpecError(f"{where}.file", f"{name} is truncated", name, _REWRITE)
    return np.frombuffer(data, dtype=dtype)


def _read_npz(handle: IO[bytes], size: int, key: str | None, limit: int, where: str,
              name: str) -> np.ndarray:
    at = f"{where}.file"
    if handle.read(len(_ZIP_MAGIC)) != _ZIP_MAGIC:
        raise SpecError(at, f"{name} is not a .npz file (it is not a zip archive)", name,
                        "save the arrays with numpy.savez")
    n_arrays = _zip_entries(handle, size)
    if n_arrays is None:
        raise SpecError(at, f"cannot read {name}: the archive has no directory at its end "
                        "(truncated?)", name, _REWRITE)
    if n_arrays > _MAX_NPZ_ARRAYS:
        raise SpecError(at, f"{name} holds more than {_MAX_NPZ_ARRAYS} arrays", n_arrays,
                        "keep the per-event arrays in a smaller .npz file")
    handle.seek(0)
    with zipfile.ZipFile(handle) as archive:
        members = {m.filename.removesuffix(".npy"): m for m in archive.infolist()}
        keys = list(members)
        if key is None and len(keys) != 1:
            raise SpecError(f"{where}.key", f"{name} holds {len(keys)} arrays", None,
                            "name one of them: " + ", ".join(keys))
        if key is not None and key not in members:
            raise SpecError(f"{where}.key", f"{name} has no array of this name", key,
                            "use one of " + ", ".join(keys))
        member = members[key or keys[0]]
        # the declared uncompressed size bounds what reading can produce: check it first
        if member.file_size > limit * _LARGEST_ITEM + _HEADER_ROOM:
            raise SpecError(where, f"{name} declares {member.file_size:,} bytes for this array "
                            f"when decompressed, more than {limit:,} values can take", name,
                            "use fewer events")
        with archive.open(member) as stream:
            return _read_npy(stream, member.file_size, limit, where, name)


def _zip_entries(handle: IO[bytes], size: int) -> int | None:
    """Number of entries a zip archive's end record declares (``None`` when there is none),
    read before ``zipfile`` loads the archive's whole directory."""
    tail = min(size, _ZIP_END_SIZE + _ZIP_COMMENT_MAX)
    handle.seek(size - tail)
    data = handle.read(tail)
    end = data.rfind(_ZIP_END)
    if end < 0 or len(data) < end + _ZIP_END_SIZE:
        return None
    return struct.unpack_from("<H", data, end + 10)[0]


def _within(count: int, limit: int, where: str, origin: str) -> None:
    if count > limit:
        raise SpecError(where, f"{origin} holds {count:,} values, more than the {limit:,} left "
                        f"of the budget for per-event arrays ({MAX_EVENTS:,} events and "
                        f"{MAX_EVENT_VALUES:,} values per workspace)", f"{count:,} values",
                        "use fewer events, or fewer per-event variations")


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

    Checks that all arrays of a channel have one value per event, that density
    ratios are not negative and that the arrays keep within :data:`MAX_EVENTS`
    events and :data:`MAX_EVENT_VALUES` values in all.
    """
    p = f"{prefix}." if prefix else ""
    out: dict[str, np.ndarray] = {}
    values_left, events_left = MAX_EVENT_VALUES, MAX_EVENTS
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
            array = read_array(source, p + key, base_dir, min(values_left, events_left))
            values_left -= array.size
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
        events_left -= n_events or 0
    return out
