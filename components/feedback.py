"""Turning core errors into messages next to the field and in a notification."""

from __future__ import annotations

import html
from typing import Any

import panel as pn

import model_core as mc

__all__ = ["SECTIONS", "describe", "notify", "section_for"]

#: Editor sections an error can be shown next to.
SECTIONS = ("general", "upload", "bins", "covariance", "expression", "parameters",
            "workspace")


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


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe(exc: BaseException) -> str:
    """An HTML message: field, problem, offending value, fix (and a caret under a bad
    expression)."""
    if isinstance(exc, mc.ExpressionError):
        problem = exc.problem.split("\n", 1)[0]
        text = (f"<b>signal expression</b>: {html.escape(problem)}")
        if exc.position is not None:
            caret = " " * exc.position + "^"
            text += (f"<pre class='expr-caret'>{html.escape(exc.expression)}\n{caret}</pre>")
        if exc.fix:
            text += f"<div><i>Fix:</i> {html.escape(exc.fix)}</div>"
        return text
    if isinstance(exc, mc.SpecError):
        text = f"<b>{html.escape(exc.field)}</b>: {html.escape(exc.problem)}"
        if exc.value is not None and exc.value != "...":
            text += f" (got <code>{html.escape(_short(exc.value))}</code>)"
        if exc.fix:
            text += f"<div><i>Fix:</i> {html.escape(exc.fix)}</div>"
        return text
    return html.escape(str(exc))


def notify(message: str, *, level: str = "error", duration: int = 6000) -> None:
    """Show a toast when the page has a notification area (a no-op without a browser)."""
    area = pn.state.notifications
    if area is None:
        return
    getattr(area, level)(message, duration=duration)
