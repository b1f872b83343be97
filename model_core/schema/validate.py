"""Validate documents against the shipped JSON schemas, with errors that name the JSON path.

The schemas live in ``model_core/schema/<version>/<name>.json``.  A failure
raises :class:`~model_core.exceptions.SpecError` whose ``field`` is the path of
the offending value in the document (``channels[1].samples[0].modifiers[2].data``),
whose ``value`` is that value and whose ``fix`` says what to write instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError, best_match

from ..exceptions import SpecError

__all__ = ["SCHEMA_VERSION", "json_path", "load_schema", "validate"]

#: The workspace format version the shipped schema describes (pyhf's).
SCHEMA_VERSION = "1.0.0"
_ROOT = Path(__file__).resolve().parent
_TYPE_HINTS = {
    "array": "a list, e.g. [1.0, 2.0]",
    "number": "a number",
    "string": "a text string",
    "object": "an object {...}",
    "boolean": "true or false",
    "null": "null",
}


@cache
def load_schema(name: str = "workspace", version: str = SCHEMA_VERSION) -> Mapping[str, Any]:
    """The schema ``<version>/<name>.json`` as a dict."""
    path = _ROOT / version / f"{name}.json"
    if not path.is_file():
        raise ValueError(f"no schema {name!r} for version {version!r} (looked for {path})")
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def _validator(name: str, version: str) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(load_schema(name, version))


def json_path(parts: Iterable[Any], prefix: str = "") -> str:
    """Format path parts as ``a[1].b``: integers index, strings name a key."""
    out = prefix
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "workspace"


def validate(document: Any, name: str = "workspace", version: str = SCHEMA_VERSION,
             *, prefix: str = "") -> None:
    """Check ``document`` against a schema; raise :class:`SpecError` for the most relevant problem.

    ``prefix`` is prepended to reported paths (e.g. ``"workspace"`` when the
    document sits inside a wrapper).
    """
    error = best_match(_validator(name, version).iter_errors(document))
    if error is not None:
        raise _as_spec_error(_innermost(error), prefix)


def _innermost(error: ValidationError) -> ValidationError:
    """For ``anyOf`` failures, the alternative that got furthest (deepest path)."""
    while error.validator in ("anyOf", "oneOf") and error.context:
        deepest = max(error.context, key=lambda e: len(e.absolute_path))
        if len(deepest.absolute_path) <= len(error.absolute_path):
            break
        error = deepest
    return error


def _as_spec_error(error: ValidationError, prefix: str) -> SpecError:
    path = list(error.absolute_path)
    where = json_path(path, prefix)
    kind, expected, value = error.validator, error.validator_value, error.instance
    if kind == "required":
        missing = [k for k in expected if k not in value]
        key = missing[0] if missing else "?"
        return SpecError(json_path([*path, key], prefix), "missing required key",
                         fix=f"add {key!r} to {where}")
    if kind == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(k for k in value if k not in allowed)
        key = extra[0] if extra else "?"
        return SpecError(json_path([*path, key], prefix), "unknown key", value.get(key),
                         f"remove it; allowed keys here are {', '.join(allowed)}")
    if kind == "type":
        hint = _TYPE_HINTS.get(expected, str(expected))
        return SpecError(where, f"must be {hint}", value, f"write {hint} there")
    if kind == "enum":
        return SpecError(where, "not an allowed value", value,
                         "use one of " + ", ".join(map(str, expected)))
    if kind == "const":
        return SpecError(where, f"must be {expected!r}", value, f"write {json.dumps(expected)}")
    if kind == "minItems":
        return SpecError(where, f"needs at least {expected} entries", value,
                         f"give at least {expected} entries")
    if kind == "maxItems":
        return SpecError(where, f"allows at most {expected} entries", value,
                         f"give at most {expected} entries")
    if kind == "minLength":
        return SpecError(where, "must not be empty", value, "write a non-empty name")
    if kind == "not" and isinstance(value, Mapping) and "weights" in value:
        return SpecError(json_path([*path, "weights"], prefix),
                         "per-event weights belong to unbinned channels only", "...",
                         'add "type": "unbinned" to the channel or remove "weights"')
    if kind in ("anyOf", "oneOf"):
        return SpecError(where, "is neither a list of numbers nor a file reference", value,
                         'write [1.0, 2.0, ...] or {"file": "name.npy"} '
                         '(or {"file": "name.npz", "key": "array"})')
    return SpecError(where, error.message, value, "see the workspace schema")
