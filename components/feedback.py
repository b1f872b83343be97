"""Core errors as the editor shows them: next to the field, named as on screen ("b, bin
SR1"), with the value as typed, the problem and the fix (and a caret under a bad
expression); a matrix that fails only because a correlation exceeds 1 is reported as that
correlation.  Messages are HTML for HTML panes (never Markdown, which would read
``c1**2*B`` as emphasis)."""

from __future__ import annotations

import html
import math
import re
from typing import Any

import numpy as np

import model_core as mc

__all__ = ["SECTIONS", "correlation_error", "describe", "field_label", "format_value",
           "section_for"]

#: Editor sections an error can be shown next to.
SECTIONS = ("general", "upload", "bins", "covariance", "expression", "parameters",
            "workspace")
#: Column titles of the bins table (what the user sees for each spec field).
COLUMN_TITLES = {"data": "n", "background": "b", "background_uncertainty": "σ_b"}
_INDEXED = re.compile(r"^(?P<name>[A-Za-z_.]+?)(?P<index>(\[\d+\])+)$")
_VALUE_LIMIT = 80


def section_for(field: str) -> str:
    """The editor section that shows an error about spec field ``field``."""
    if field.startswith(("data", "background", "bins", "signal.templates")):
        return "bins"
    if field.startswith("covariance"):
        return "covariance"
    if field.startswith("signal"):
        return "expression"
    if field.startswith(("parameters", "poi")):
        return "parameters"
    if field.startswith(("workspace", "observations", "channels", "measurement",
                         "modifier_settings")):
        return "workspace"
    return "general"


def _bin(draft: dict[str, Any], i: int) -> str:
    bins = draft.get("bins") or []
    return str(bins[i]) if i < len(bins) else f"bin{i + 1}"


def field_label(field: str, draft: dict[str, Any] | None = None) -> str:
    """``field`` (a spec path such as ``background[0]``) as the editor shows it
    (``b, bin SR1``)."""
    draft = draft or {}
    if field == "signal.expression":
        return "signal expression"
    match = _INDEXED.match(field)
    indices = [int(i) for i in re.findall(r"\d+", match.group("index"))] if match else []
    name = match.group("name") if match else field
    if name in COLUMN_TITLES and len(indices) == 1:
        return f"{COLUMN_TITLES[name]}, bin {_bin(draft, indices[0])}"
    if name.startswith("signal.templates.") and len(indices) == 1:
        return f"{name.split('.', 2)[2]}, bin {_bin(draft, indices[0])}"
    if name.startswith("signal.templates."):
        return f"template {name.split('.', 2)[2]}"
    if name == "covariance" and len(indices) == 2:
        i, j = indices
        return (f"variance of bin {_bin(draft, i)}" if i == j else
                f"covariance of bins {_bin(draft, i)} and {_bin(draft, j)}")
    if name == "bins" and len(indices) == 1:
        return f"name of bin {indices[0] + 1}"
    if field.startswith("parameters."):
        parts = field.split(".")
        what = {"init": "init", "bounds": "bounds", "bounds[0]": "lower bound",
                "bounds[1]": "upper bound", "fixed": "fixed"}.get(".".join(parts[2:]), "")
        return f"{parts[1]}: {what}" if what else f"parameter {parts[1]}"
    if name.startswith("observations") and field.endswith("]"):
        observed = re.match(r"observations\[(\d+)\]\.data\[(\d+)\]", field)
        if observed:
            k, i = (int(v) for v in observed.groups())
            channels = (draft.get("workspace") or {}).get("observations") or []
            channel = channels[k]["name"] if k < len(channels) else f"channel {k}"
            return f"observed n, {channel} bin {i}"
    return field


def format_value(value: Any) -> str:
    """A value as the user typed it: ``-5`` rather than ``np.float64(-5.0)``, lists in
    brackets, long values cut short."""
    if isinstance(value, (bool, np.bool_)):
        text = str(bool(value)).lower()
    elif isinstance(value, (int, float, np.integer, np.floating)):
        number = float(value)
        if math.isfinite(number) and number == int(number) and abs(number) < 1e15:
            text = str(int(number))
        else:
            text = repr(number)
    elif isinstance(value, (list, tuple, np.ndarray)):
        text = "[" + ", ".join(format_value(v) for v in value) + "]"
    else:
        text = str(value)
    return text if len(text) <= _VALUE_LIMIT else text[:_VALUE_LIMIT - 1] + "…"


def correlation_error(draft: dict[str, Any], error: mc.SpecError, mode: str = "covariance"
                      ) -> mc.SpecError | None:
    """When ``draft``'s covariance is refused as not positive definite because some pair's
    correlation is beyond ±1, that correlation as the error; else None."""
    matrix = draft.get("covariance")
    if error.field != "covariance" or "positive definite" not in error.problem or not matrix:
        return None
    cov = np.asarray(matrix, dtype=float)
    sigma = np.sqrt(np.abs(np.diag(cov)))
    for i in range(len(cov)):
        for j in range(i + 1, len(cov)):
            limit = sigma[i] * sigma[j]
            if limit > 0 and abs(cov[i, j]) >= limit:
                rho = cov[i, j] / limit
                where = f"correlation of bins {_bin(draft, i)} and {_bin(draft, j)}"
                if mode == "correlation":
                    return mc.SpecError(where, "a correlation must lie strictly between −1 and "
                                        "1", float(rho), "enter a value between −1 and 1")
                return mc.SpecError(
                    where, f"covariance {format_value(cov[i, j])} with standard deviations "
                    f"{format_value(sigma[i])} and {format_value(sigma[j])} means a correlation "
                    f"of {rho:.3g}, and a correlation must lie strictly between −1 and 1",
                    fix=f"keep |covariance| below {limit:.4g} (their product)")
    return None


def describe(exc: BaseException, draft: dict[str, Any] | None = None) -> str:
    """An HTML message: the field as on screen, the problem, the value as typed, the fix
    (and a caret under the offending character of a bad expression)."""
    if isinstance(exc, mc.ExpressionError):
        problem = exc.problem.split("\n", 1)[0]
        text = f"<b>signal expression</b>: {html.escape(problem)}"
        if exc.position is not None:
            caret = " " * exc.position + "^"
            text += f"<pre class='expr-caret'>{html.escape(exc.expression)}\n{caret}</pre>"
        if exc.fix:
            text += f"<div><i>Fix:</i> {html.escape(exc.fix)}</div>"
        return text
    if isinstance(exc, mc.SpecError):
        label = field_label(exc.field, draft) if exc.field.count(" ") == 0 else exc.field
        text = f"<b>{html.escape(label)}</b>: {html.escape(exc.problem)}"
        if exc.value is not None and exc.value != "..." and exc.field != "covariance":
            text += f" (got <code>{html.escape(format_value(exc.value))}</code>)"
        if exc.fix:
            text += f"<div><i>Fix:</i> {html.escape(exc.fix)}</div>"
        return text
    return html.escape(str(exc))
