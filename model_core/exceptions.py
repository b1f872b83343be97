"""Exceptions and warnings raised by :mod:`model_core`.

Invalid input raises a subclass of :class:`ModelCoreError` whose message names
the offending field, the value found there and how to fix it.  Numerical
failure is never an exception: results carry ``success=False`` and a message.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ModelCoreError", "SpecError", "ExpressionError", "FitFailed", "ModelCoreWarning"]


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
        self.field = field
        self.problem = problem
        self.value = None if value is self._MISSING else value
        self.fix = fix
        parts = [f"{field}: {problem}"]
        if value is not self._MISSING:
            parts.append(f"(got {_short(value)})")
        message = " ".join(parts)
        if fix:
            message += f". Fix: {fix}"
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
        if position is not None and len(expression) <= 200:
            pointer = f"\n    {expression}\n    {' ' * position}^"
        super().__init__("signal.expression", f"{problem}{where}{pointer}", fix=fix)


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
