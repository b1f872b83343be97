"""Exceptions and warnings raised by :mod:`model_core`.

Invalid input raises a subclass of :class:`ModelCoreError` whose message names
the offending field, the value found there and how to fix it.  Numerical
failure is never an exception: results carry ``success=False`` and a message.

Messages stay short whatever the input: an offending value is echoed in at
most :data:`MAX_ECHO` characters (:func:`shorten`), and field paths and
sentences that quote user text are clipped too.
"""

from __future__ import annotations

import json
import reprlib
from typing import Any

__all__ = ["MAX_ECHO", "ModelCoreError", "SpecError", "ExpressionError", "FitFailed",
           "ModelCoreWarning", "clip", "shorten"]

#: Longest echo of an offending value in a message, in characters.
MAX_ECHO = 80
# field paths hold user-chosen names; problems and fixes may quote them
_FIELD_LIMIT = 160
_TEXT_LIMIT = 600
# an expression up to this long is repeated under its problem, with a caret
_POINTER_LIMIT = 200
# integers beyond this many bits cannot be printed in full (Python refuses 4300+ digits)
_PRINTABLE_BITS = 1000
_LOG10_2 = 0.30103

# container levels and entries a shortened repr shows
_REPR_LEVELS = 3
_REPR_ENTRIES = 8


def clip(text: str, limit: int = MAX_ECHO) -> str:
    """``text``, cut to ``limit`` characters with a trailing ``...`` when longer."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def shorten(value: Any, limit: int = MAX_ECHO) -> str:
    """A ``repr`` of ``value`` of at most ``limit`` characters, at a cost bounded by ``limit``.

    Long containers and strings are elided (:mod:`reprlib`), integers too long to
    print are described by their number of digits.

    >>> shorten("x" * 1000)[-6:]
    "xx...'"
    >>> shorten(10**5000)
    '<an integer of about 5001 digits>'
    """
    if isinstance(value, int) and not isinstance(value, bool) \
            and value.bit_length() > _PRINTABLE_BITS:
        try:
            return f"<an integer of {len(str(abs(value)))} digits>"
        except ValueError:  # too long to print at all
            return f"<an integer of about {int(value.bit_length() * _LOG10_2) + 1} digits>"
    shortener = reprlib.Repr()
    shortener.maxlevel, shortener.maxstring, shortener.maxother = _REPR_LEVELS, limit, limit
    shortener.maxlist = shortener.maxtuple = shortener.maxdict = shortener.maxset = _REPR_ENTRIES
    try:
        text = shortener.repr(value)
    except Exception:  # noqa: BLE001 - a value whose repr fails is still an offending value
        text = f"<{type(value).__name__}>"
    return clip(text, limit)


class ModelCoreError(ValueError):
    """Base class for invalid input to :mod:`model_core`."""


class SpecError(ModelCoreError):
    """A model specification is invalid.

    Parameters
    ----------
    field
        Dotted / indexed path of the offending field, e.g. ``"covariance[0][1]"``.
    problem
        What is wrong, in a sentence.
    value
        The offending value (shown abbreviated in the message).
    fix
        How to correct it.

    Attributes
    ----------
    field, problem, value, fix
        As given; the UI shows them next to the field.
    """

    _MISSING = object()

    def __init__(self, field: str, problem: str, value: Any = _MISSING, fix: str = "") -> None:
        field = str(field)
        if not field.strip() or not field.isprintable():  # an empty or invisible key: quote it
            field = json.dumps(field)
        self.field = clip(field, _FIELD_LIMIT)
        self.problem = clip(str(problem), _TEXT_LIMIT)
        self.value = None if value is self._MISSING else value
        self.fix = clip(str(fix), _TEXT_LIMIT)
        parts = [f"{self.field}: {self.problem}"]
        if value is not self._MISSING:
            parts.append(f"(got {shorten(value)})")
        message = " ".join(parts)
        if self.fix:
            message += f". Fix: {self.fix}"
        super().__init__(message)


class ExpressionError(SpecError):
    """A signal expression cannot be parsed or uses a forbidden construct.

    Attributes
    ----------
    position
        0-based character offset of the problem in the expression, or ``None``.
    """

    def __init__(self, expression: str, problem: str, position: int | None, fix: str = "") -> None:
        self.position = position
        self.expression = expression
        where = "" if position is None else f" at position {position}"
        pointer = ""
        if position is not None and len(expression) <= _POINTER_LIMIT:
            # invisible characters (a NUL, a tab) shown as one visible mark, so the caret aligns
            shown = "".join(c if c.isprintable() else "\N{REPLACEMENT CHARACTER}"
                            for c in expression)
            pointer = f"\n    {shown}\n    {' ' * position}^"
        super().__init__("signal.expression", f"{clip(problem, _FIELD_LIMIT)}{where}{pointer}",
                         fix=fix)


class FitFailed(ModelCoreError):
    """Raised by ``fit(..., strict=True)`` when the fit did not converge.

    Attributes
    ----------
    result
        The unsuccessful :class:`~model_core.results.FitResult`.
    """

    def __init__(self, result: Any) -> None:
        self.result = result
        super().__init__(f"fit failed: {result.message}")


class ModelCoreWarning(RuntimeWarning):
    """Numerical caveats worth a user's attention (flat directions, points at bounds)."""
