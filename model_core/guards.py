"""Limits on untrusted input, each with its reason, and the checks that apply them.

Model specs, workspaces and event files arrive from uploads to a shared app and
from scripts run over many files.  Whatever they hold, loading them must end in
a model or a :class:`~model_core.exceptions.SpecError`, never in a crash, a
hang or an allocation far beyond the data itself.  The checks here run before
the costly step they protect: file types before opening, sizes and nesting
before parsing, magnitudes before the NLL's derivatives, the model's size
before its first Hessian.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .exceptions import SpecError

__all__ = ["MAX_CONTAINERS", "MAX_DEPTH", "MAX_JSON_BYTES", "MAX_MAGNITUDE", "MAX_MODEL_SIZE",
           "MIN_VARIANCE", "check_magnitude", "check_model_size", "check_nesting",
           "json_nesting", "regular_file"]

#: Largest JSON document read, in bytes.  Parsed and validated, its numbers take up
#: to ~20 times as much memory as Python objects; a model small enough to explore
#: (:data:`MAX_MODEL_SIZE`) fits in a few MB of JSON.
MAX_JSON_BYTES = 16 * 2**20
#: Deepest nesting of lists and objects: a wrapped workspace needs 8 levels; the JSON
#: decoder and every recursive check stay far from Python's recursion limit.
MAX_DEPTH = 64
#: Most lists and objects in one document: an empty ``[]`` costs 2 bytes of JSON but
#: ~60 bytes as a Python object, so without this cap a small file could take GBs.
MAX_CONTAINERS = 1_000_000
#: Largest yield, count or uncertainty: NLL values grow like ``n log n`` and must
#: resolve differences of 0.01 after rounding; beyond ~1e12 they no longer do.
MAX_MAGNITUDE = 1e12
#: Smallest variance or Gaussian width: ``(residual / sigma)**2`` and its second
#: derivatives must not overflow for residuals up to :data:`MAX_MAGNITUDE`.
MIN_VARIANCE = 1e-100
#: Most "parameters x yield terms": the exact Hessian evaluates every term of the
#: NLL once per parameter in one batched pass, measured at ~40 bytes per unit for
#: HistFactory workspaces (~35 for the counting kinds): ~300 MB at this size.
MAX_MODEL_SIZE = 8_000_000

_BRACKET = np.zeros(256, np.int8)
_BRACKET[[ord("["), ord("{")]] = 1
_BRACKET[[ord("]"), ord("}")]] = -1
_SCAN_CHUNK = 1 << 20
_CONTAINERS = (Mapping, list, tuple)
_QUOTE, _BACKSLASH = ord('"'), ord("\\")
_FILE_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe"),
               (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"),
               (stat.S_ISBLK, "a device"))
_OS_PROBLEMS = {errno.ELOOP: "a loop of symbolic links (or too many levels of them)",
                errno.ENAMETOOLONG: "the file name is too long",
                errno.ENOTDIR: "a part of the path is not a folder",
                errno.EACCES: "permission denied"}


def regular_file(path: Path, field: str, shown: Any, fix: str) -> os.stat_result:
    """``os.stat`` of ``path`` when it is a regular file; else a :class:`SpecError` saying why.

    Folders, named pipes (which would block a reader forever), symbolic link loops and
    overlong names each get their own message; ``shown`` is the name the user gave.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        raise SpecError(field, "no such file", shown, fix) from None
    except (OSError, ValueError) as exc:
        code = getattr(exc, "errno", None)
        problem = _OS_PROBLEMS.get(code) or (
            f"cannot access the file ({exc.strerror})" if isinstance(exc, OSError)
            else "not a usable file name (it contains a NUL character)")
        raise SpecError(field, problem, shown, fix) from None
    if not stat.S_ISREG(info.st_mode):
        what = next((name for test, name in _FILE_KINDS if test(info.st_mode)), "not a file")
        raise SpecError(field, f"not a regular file ({what})", shown, fix)
    return info


def json_nesting(text: str) -> tuple[int, int]:
    """Deepest nesting and number of lists and objects of JSON ``text``, without parsing it.

    Brackets inside strings do not count: a quote opens or closes a string unless an
    odd number of backslashes precedes it.  The scan is vectorised and runs in chunks
    (carrying the nesting level, whether a string is open and a trailing run of
    backslashes across chunk ends), so its time is linear and its memory small
    whatever the text.  Beyond the first syntax error the counts may be off, but a
    JSON parser never gets there.
    """
    data = text.encode("utf-8", "replace")
    level = deepest = containers = 0
    inside, backslashes = 0, 0  # across chunk ends: a string is open; trailing backslashes
    for start in range(0, len(data), _SCAN_CHUNK):
        chunk = np.frombuffer(data, np.uint8, min(_SCAN_CHUNK, len(data) - start), start)
        index = np.arange(chunk.size, dtype=np.int64)
        slash = chunk == _BACKSLASH
        # the last position at or before each one that is not a backslash (before the
        # chunk: a virtual position that accounts for the backslashes carried over)
        plain = np.maximum.accumulate(np.where(slash, -1 - backslashes, index))
        before = np.concatenate(([-1 - backslashes], plain[:-1]))
        quote = (chunk == _QUOTE) & ((index - 1 - before) % 2 == 0)
        strings = np.cumsum(quote, dtype=np.int64) + inside
        step = np.where(strings % 2 == 1, 0, _BRACKET[chunk])
        levels = level + np.cumsum(step, dtype=np.int64)
        deepest = max(deepest, int(levels.max()))
        level, inside = int(levels[-1]), int(strings[-1] % 2)
        backslashes = int(chunk.size - 1 - plain[-1])
        containers += int(np.count_nonzero(step > 0))
    return deepest, containers


def check_nesting(document: Any, field: str) -> None:
    """Refuse data (already parsed, e.g. a dict from Python) nested deeper than
    :data:`MAX_DEPTH` or holding more than :data:`MAX_CONTAINERS` lists and objects.

    Iterative, so it cannot itself exceed the recursion limit.
    """
    if not isinstance(document, _CONTAINERS):
        return
    stack = [(document, 1)]
    containers = 0
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, Mapping) else node
        containers += 1
        if depth > MAX_DEPTH:
            raise SpecError(field, f"lists and objects are nested more than {MAX_DEPTH} deep",
                            f"depth > {MAX_DEPTH}", "remove the extra brackets; a model spec "
                            "or workspace needs fewer than ten levels")
        if containers > MAX_CONTAINERS:
            raise SpecError(field, f"more than {MAX_CONTAINERS:,} lists and objects",
                            f"> {MAX_CONTAINERS:,}", "split the input or remove empty entries")
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, _CONTAINERS))


def check_magnitude(value: float, where: str, *, what: str = "value") -> None:
    """Refuse ``|value| > MAX_MAGNITUDE`` (``value`` is already a finite float)."""
    if abs(value) > MAX_MAGNITUDE:
        raise SpecError(where, f"the {what} is too large (more than {MAX_MAGNITUDE:g} in "
                        "magnitude, beyond which the likelihood's rounding hides its "
                        "features)", value, "rescale the model: express yields in events, "
                        f"at most {MAX_MAGNITUDE:g}")


def check_model_size(n_parameters: int, n_terms: int, field: str) -> None:
    """Refuse a model whose exact Hessian would need more than :data:`MAX_MODEL_SIZE` units.

    ``n_terms`` counts the yield terms one NLL evaluation computes (bins times
    samples and modifiers, events times samples).
    """
    size = n_parameters * n_terms
    if size > MAX_MODEL_SIZE:
        raise SpecError(field, f"the model is too large to explore here: {n_parameters:,} "
                        f"parameters x {n_terms:,} yield terms = {size:,} (at most "
                        f"{MAX_MODEL_SIZE:,}, to keep the exact Hessian within a few hundred "
                        "MB)", f"{n_parameters} parameters",
                        "merge bins or channels, or drop per-bin modifiers (staterror, "
                        "shapesys) that the question at hand does not need")
