"""Validated readers for JSON fields, shared by model specs and workspaces.

Each reader raises :class:`~model_core.exceptions.SpecError` naming the field
(a dotted / indexed path), the offending value and the fix.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .exceptions import SpecError, clip
from .guards import (
    MAX_CONTAINERS,
    MAX_DEPTH,
    MAX_JSON_BYTES,
    MAX_MAGNITUDE,
    check_magnitude,
    json_nesting,
    regular_file,
)
from .schema.validate import json_path

__all__ = ["ParameterSpec", "folder_and_name", "parameter_overrides", "read_json", "read_number",
           "read_numbers", "read_version"]

_PLAIN_NUMBERS = (int, float)
# more digits than Python converts to an int (sys.get_int_max_str_digits)
_LONG_INTEGER = re.compile(r"\d{4301,}")


@dataclass(frozen=True)
class ParameterSpec:
    """User overrides for one parameter; ``None`` means "use the default"."""

    init: float | None = None
    bounds: tuple[float, float] | None = None
    fixed: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.init is not None:
            out["init"] = self.init
        if self.bounds is not None:
            out["bounds"] = [None if math.isinf(b) else b for b in self.bounds]
        if self.fixed:
            out["fixed"] = True
        return out


def folder_and_name(path: Path) -> tuple[Path | None, str]:
    """The folder of a spec file (where its relative event files live) and its name.

    The folder is ``None`` when the path cannot be resolved (a loop of links, an
    overlong name): :func:`read_json` then explains the problem.
    """
    try:
        return path.resolve().parent, path.stem
    except (OSError, RuntimeError, ValueError):
        return None, path.stem


def read_json(source: str | Path, field: str = "spec") -> Any:
    """Parse JSON text (starting with ``{``) or a JSON file; errors name ``field``.

    Before parsing, the size (:data:`~model_core.guards.MAX_JSON_BYTES`), the
    nesting depth and the number of lists and objects are checked, so the decoder
    never recurses too deep nor fills memory.  A key given twice in one object is
    refused, naming its path (JSON parsers silently keep the last one); an integer
    too long to convert is refused with its line and column.
    """
    text_given = isinstance(source, str) and source.lstrip().startswith("{")
    origin = "JSON text" if text_given else clip(str(source))
    if text_given:
        text = str(source)
    else:
        path = Path(source)
        size = regular_file(path, field, str(path), "check the path").st_size
        _check_size(size, field, origin)
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            raise SpecError(field, "the file is not UTF-8 text (is it a JSON file?)", str(path),
                            "save it as UTF-8 JSON") from None
        except OSError as exc:
            raise SpecError(field, f"cannot read the file ({exc.strerror})", str(path),
                            "check the file's permissions") from None
    _check_size(len(text), field, origin)
    depth, containers = json_nesting(text)
    if depth > MAX_DEPTH:
        raise SpecError(field, f"lists and objects are nested {depth} deep (at most "
                        f"{MAX_DEPTH}) in {origin}", f"{depth} levels", "remove the extra "
                        "brackets; a model spec or workspace needs fewer than ten levels")
    if containers > MAX_CONTAINERS:
        raise SpecError(field, f"{containers:,} lists and objects (at most {MAX_CONTAINERS:,}) "
                        f"in {origin}", f"{containers:,} lists and objects",
                        "remove empty entries, or split the document")
    duplicates: list[tuple[dict, str]] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(items)
        if len(obj) != len(items) and not duplicates:
            seen: set[str] = set()
            duplicates.append((obj, next(k for k, _ in items if k in seen or seen.add(k))))
        return obj

    try:
        document = json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        ends_early = exc.pos >= len(text.rstrip())
        raise SpecError(field, f"malformed JSON in {origin}: {exc.msg} at line {exc.lineno} "
                        f"column {exc.colno}" + (" (the text ends early: truncated?)"
                                                 if ends_early else ""),
                        fix="correct the JSON syntax there, or save the file again") from None
    except ValueError:  # Python converts integers of at most 4300 digits
        digits = _LONG_INTEGER.search(text)
        if digits is None:
            raise
        line, column = _line_column(text, digits.start())
        raise SpecError(field, f"an integer of {len(digits.group()):,} digits at line {line} "
                        f"column {column} of {origin} is far too large for a number",
                        clip(digits.group()), "write it with an exponent, e.g. 1.5e12, or use "
                        "a smaller value") from None
    if duplicates:
        obj, key = duplicates[0]
        raise SpecError(_path_to(document, obj, key), f"the key {clip(repr(key))} appears twice "
                        "in the same object (JSON would silently keep only the last one)",
                        obj[key], f"remove one of the two {clip(repr(key))} entries, or rename "
                        "one")
    return document


def _check_size(size: int, field: str, origin: str) -> None:
    if size > MAX_JSON_BYTES:
        raise SpecError(field, f"{origin} is {size:,} bytes long, more than the "
                        f"{MAX_JSON_BYTES:,} accepted", f"{size:,} bytes",
                        "remove unused channels or samples, or keep large per-event arrays in "
                        ".npy / .npz files next to the workspace")


def _line_column(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - text.rfind("\n", 0, pos)


def _path_to(document: Any, target: dict, key: str) -> str:
    """The JSON path of ``key`` in the object ``target`` inside ``document`` (iterative)."""
    stack: list[tuple[Any, tuple]] = [(document, ())]
    while stack:
        node, parts = stack.pop()
        if node is target:
            return json_path([*parts, key])
        if isinstance(node, dict):
            stack.extend((v, (*parts, k)) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, (*parts, i)) for i, v in enumerate(node))
    return json_path([key])


def read_version(version: Any) -> None:
    """The format version must be the number 1 (``true``, which equals 1 in Python, is not)."""
    if isinstance(version, bool) or not isinstance(version, (int, float)) or version != 1:
        raise SpecError("version", "unsupported spec version", version, "use version 1")


def read_number(value: Any, where: str, *, nonnegative: bool = False,
                allow_inf: bool = False, bounded: bool = False) -> float:
    """A real number (not a bool); finite unless ``allow_inf``; ``>= 0`` if ``nonnegative``;
    at most :data:`~model_core.guards.MAX_MAGNITUDE` in size if ``bounded`` (yields, counts
    and uncertainties)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise SpecError(where, "not a number", value, "enter a number")
    try:
        number = float(value)
    except OverflowError:
        raise SpecError(where, "the number is too large for a float", value,
                        "enter a smaller value") from None
    if math.isnan(number) or (math.isinf(number) and not allow_inf):
        raise SpecError(where, "not a finite number", value, "enter a finite number")
    if nonnegative and number < 0:
        raise SpecError(where, "must not be negative", value, "enter a value >= 0")
    if bounded:
        check_magnitude(number, where)
    return number


def read_numbers(values: Sequence[Any], where: str, *, nonnegative: bool = False,
                 bounded: bool = False) -> tuple[float, ...]:
    """:func:`read_number` for every entry of ``values`` (fields ``where[i]``), vectorised.

    Plain ints and floats are checked together at numpy's speed; anything else, or a
    bad value, goes through :func:`read_number`, which names the first bad entry.
    """
    if all(type(v) in _PLAIN_NUMBERS for v in values):
        try:
            array = np.array(values, dtype=float)
        except OverflowError:
            array = None
        if array is not None:
            ok = np.isfinite(array)
            if nonnegative:
                ok &= array >= 0
            if bounded:
                ok &= np.abs(array) <= MAX_MAGNITUDE
            if ok.all():
                return tuple(array.tolist())
    return tuple(read_number(v, f"{where}[{i}]", nonnegative=nonnegative, bounded=bounded)
                 for i, v in enumerate(values))


def parameter_overrides(raw: Any, default_inits: Mapping[str, float],
                        where: str = "parameters", *,
                        default_bounds: Mapping[str, tuple[float, float]] | None = None
                        ) -> dict[str, ParameterSpec]:
    """Validate ``{"name": {"init": ..., "bounds": [lo, hi], "fixed": ...}}`` overrides.

    ``default_inits`` maps every known parameter to its default initial value and
    ``default_bounds`` (when given) to its default bounds: the initial value must
    lie inside the overridden bounds, or else inside the default ones.
    """
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise SpecError(where, "must be an object keyed by parameter name", raw,
                        'write {"mu": {"bounds": [0, 10]}}')
    out = {}
    for name, entry in raw.items():
        at = f"{where}.{name}"
        if name not in default_inits:
            raise SpecError(at, "unknown parameter", name,
                            "use one of " + ", ".join(default_inits))
        if not isinstance(entry, Mapping):
            raise SpecError(at, "must be an object", entry, 'write {"init": 1.0}')
        extra = sorted(set(entry) - {"init", "bounds", "fixed"}, key=str)
        if extra:
            raise SpecError(f"{at}.{extra[0]}", "unknown field", entry[extra[0]],
                            "use init, bounds and fixed")
        init = None if entry.get("init") is None else read_number(entry["init"], f"{at}.init")
        bounds = None
        if entry.get("bounds") is not None:
            b = entry["bounds"]
            if not isinstance(b, Sequence) or isinstance(b, str) or len(b) != 2:
                raise SpecError(f"{at}.bounds", "must be [low, high]", b,
                                "write [low, high], with null for no limit")
            lo = -math.inf if b[0] is None else read_number(b[0], f"{at}.bounds[0]", allow_inf=True)
            hi = math.inf if b[1] is None else read_number(b[1], f"{at}.bounds[1]", allow_inf=True)
            if not lo < hi:
                raise SpecError(f"{at}.bounds", "the lower bound must be below the upper bound",
                                b, "swap them or widen the range")
            bounds = (lo, hi)
        fixed = entry.get("fixed", False)
        if not isinstance(fixed, bool):
            raise SpecError(f"{at}.fixed", "must be true or false", fixed, "write true or false")
        value = default_inits[name] if init is None else init
        if bounds is not None and not bounds[0] <= value <= bounds[1]:
            raise SpecError(f"{at}.init", f"initial value {value:g} lies outside the bounds "
                            f"[{bounds[0]:g}, {bounds[1]:g}]", value,
                            "move init inside the bounds or widen them")
        own = None if default_bounds is None else default_bounds.get(name)
        if bounds is None and own is not None and not own[0] <= value <= own[1]:
            raise SpecError(f"{at}.init", f"initial value {value:g} lies outside the parameter's "
                            f"own bounds [{own[0]:g}, {own[1]:g}]", value,
                            "move init inside them, or widen them with \"bounds\": [low, high] "
                            "next to init")
        out[name] = ParameterSpec(init=init, bounds=bounds, fixed=fixed)
    return out
