"""Validated readers for JSON fields, shared by model specs and workspaces.

Each reader raises :class:`~model_core.exceptions.SpecError` naming the field
(a dotted / indexed path), the offending value and the fix.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .exceptions import SpecError

__all__ = ["ParameterSpec", "parameter_overrides", "read_json", "read_number"]


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


def read_json(source: str | Path, field: str = "spec") -> Any:
    """Parse JSON text (starting with ``{``) or a JSON file; errors name ``field``."""
    text_given = isinstance(source, str) and source.lstrip().startswith("{")
    origin = "JSON text" if text_given else str(source)
    if text_given:
        text = str(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise SpecError(field, "no such file", str(path), "check the path")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise SpecError(field, "the file is not UTF-8 text (is it a JSON file?)", str(path),
                            "save it as UTF-8 JSON") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        ends_early = exc.pos >= len(text.rstrip())
        raise SpecError(field, f"malformed JSON in {origin}: {exc.msg} at line {exc.lineno} "
                        f"column {exc.colno}" + (" (the text ends early: truncated?)"
                                                 if ends_early else ""),
                        fix="correct the JSON syntax there, or save the file again") from None


def read_number(value: Any, where: str, *, nonnegative: bool = False,
                allow_inf: bool = False) -> float:
    """A real number (not a bool); finite unless ``allow_inf``; ``>= 0`` if ``nonnegative``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise SpecError(where, "not a number", value, "enter a number")
    try:
        number = float(value)
    except OverflowError:
        raise SpecError(where, "the number is too large", f"{str(value)[:20]}...",
                        "enter a smaller value") from None
    if math.isnan(number) or (math.isinf(number) and not allow_inf):
        raise SpecError(where, "not a finite number", value, "enter a finite number")
    if nonnegative and number < 0:
        raise SpecError(where, "must not be negative", value, "enter a value >= 0")
    return number


def parameter_overrides(raw: Any, default_inits: Mapping[str, float],
                        where: str = "parameters") -> dict[str, ParameterSpec]:
    """Validate ``{"name": {"init": ..., "bounds": [lo, hi], "fixed": ...}}`` overrides.

    ``default_inits`` maps every known parameter to its default initial value
    (used to check that the initial value lies inside overridden bounds).
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
        extra = sorted(set(entry) - {"init", "bounds", "fixed"})
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
        out[name] = ParameterSpec(init=init, bounds=bounds, fixed=fixed)
    return out
