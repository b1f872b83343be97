"""Pure edits of counting-kind spec dictionaries, and their table views.

The model editor keeps a *draft*: the spec as JSON-ready data, possibly
invalid.  Each user action maps the draft to a new draft with one of these
functions; whether the result is a valid model is decided only by
:func:`model_core.load_spec`.  Nothing here validates numbers: a value the
user typed is carried into the draft unchanged (a negative standard deviation
becomes a negative variance, which ``load_spec`` then rejects with its own
message), so every error the user sees comes from the core.
"""

from __future__ import annotations

import copy
import math
import re
from typing import Any

import numpy as np
import pandas as pd

from model_core.exceptions import ExpressionError
from model_core.expression import parse_expression

__all__ = [
    "BIN_COLUMNS", "TEMPLATE_PREFIX", "add_bin", "add_template", "apply_bins_frame",
    "apply_matrix_edit", "apply_parameters_frame", "bins_frame", "matrix_frame",
    "auto_name", "expression_notes", "parameters_frame", "prune_parameters", "remove_bin",
    "remove_template", "set_kind", "structure",
]

TEMPLATE_PREFIX = "t:"
BIN_COLUMNS = ("bin", "data", "background", "uncertainty")
_NUISANCE = re.compile(r"^theta_(\d+)$")


def _uses_covariance(draft: dict[str, Any]) -> bool:
    return draft["kind"] != "uncorrelated_background"


def _sigmas(draft: dict[str, Any]) -> list[float]:
    if _uses_covariance(draft):
        return [math.copysign(math.sqrt(abs(v)), v) if _is_number(v) else math.nan
                for v in np.diag(np.array(draft["covariance"], dtype=float))]
    return list(draft["background_uncertainty"])


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)


def _bin_names(draft: dict[str, Any]) -> list[str]:
    return list(draft.get("bins") or [f"bin{i + 1}" for i in range(len(draft["data"]))])


# ---------------------------------------------------------------- bins table
def bins_frame(draft: dict[str, Any]) -> pd.DataFrame:
    """One row per bin: name, data, background, background uncertainty, one column per template.

    For the covariance kinds the uncertainty is ``sqrt(covariance[i][i])`` (shown, not edited).
    """
    columns: dict[str, list[Any]] = {
        "bin": _bin_names(draft),
        "data": list(draft["data"]),
        "background": list(draft["background"]),
        "uncertainty": _sigmas(draft),
    }
    for name, values in draft["signal"]["templates"].items():
        columns[TEMPLATE_PREFIX + name] = list(values)
    frame = pd.DataFrame(columns)
    for column in frame.columns[1:]:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return frame


def apply_bins_frame(draft: dict[str, Any], frame: pd.DataFrame) -> dict[str, Any]:
    """The draft with the bins table's values written back (uncertainty only for the
    uncorrelated kind)."""
    out = copy.deepcopy(draft)
    out["bins"] = [str(b) for b in frame["bin"]]
    out["data"] = _numbers(frame["data"])
    out["background"] = _numbers(frame["background"])
    if not _uses_covariance(out):
        out["background_uncertainty"] = _numbers(frame["uncertainty"])
    out["signal"]["templates"] = {
        c[len(TEMPLATE_PREFIX):]: _numbers(frame[c]) for c in frame.columns
        if c.startswith(TEMPLATE_PREFIX)}
    return out


def _numbers(column: pd.Series) -> list[float]:
    return [float(v) for v in column]


def add_bin(draft: dict[str, Any]) -> dict[str, Any]:
    """Append a copy of the last bin (uncorrelated with the others), with a fresh name."""
    out = copy.deepcopy(draft)
    names = _bin_names(out)
    n = len(names)
    k = n + 1
    while f"bin{k}" in names:
        k += 1
    out["bins"] = [*names, f"bin{k}"]
    for key in ("data", "background", "background_uncertainty"):
        if out.get(key) is not None:
            out[key] = [*out[key], out[key][-1]]
    for name, values in out["signal"]["templates"].items():
        out["signal"]["templates"][name] = [*values, values[-1]]
    if out.get("covariance") is not None:
        cov = [list(row) + [0.0] for row in out["covariance"]]
        cov.append([0.0] * n + [out["covariance"][-1][-1]])
        out["covariance"] = cov
    return out


def remove_bin(draft: dict[str, Any], index: int) -> dict[str, Any]:
    """Drop bin ``index`` everywhere; overrides of later nuisance parameters move down by one."""
    out = copy.deepcopy(draft)
    out["bins"] = [b for i, b in enumerate(_bin_names(out)) if i != index]
    for key in ("data", "background", "background_uncertainty"):
        if out.get(key) is not None:
            out[key] = [v for i, v in enumerate(out[key]) if i != index]
    for name, values in out["signal"]["templates"].items():
        out["signal"]["templates"][name] = [v for i, v in enumerate(values) if i != index]
    if out.get("covariance") is not None:
        out["covariance"] = [[v for j, v in enumerate(row) if j != index]
                             for i, row in enumerate(out["covariance"]) if i != index]
    params = {}
    for name, entry in (out.get("parameters") or {}).items():
        match = _NUISANCE.match(name)
        if match and int(match.group(1)) == index:
            continue
        if match and int(match.group(1)) > index:
            name = f"theta_{int(match.group(1)) - 1}"
        params[name] = entry
    out["parameters"] = params
    return out


def add_template(draft: dict[str, Any], name: str) -> dict[str, Any]:
    """Add a template of zeros named ``name`` (the expression decides how it enters)."""
    out = copy.deepcopy(draft)
    out["signal"]["templates"][name] = [0.0] * len(out["data"])
    return out


def remove_template(draft: dict[str, Any], name: str) -> dict[str, Any]:
    """Drop template ``name``."""
    out = copy.deepcopy(draft)
    out["signal"]["templates"].pop(name, None)
    return out


def set_kind(draft: dict[str, Any], kind: str) -> dict[str, Any]:
    """Switch the likelihood kind, converting the background description.

    Uncertainties become a diagonal covariance and back (``sqrt`` of the diagonal;
    correlations are dropped).  Nuisance-parameter overrides are dropped when the
    new kind has no nuisance parameters.
    """
    out = copy.deepcopy(draft)
    if kind == out["kind"]:
        return out
    sigmas = _sigmas(out)
    if kind == "uncorrelated_background":
        out.pop("covariance", None)
        out["background_uncertainty"] = sigmas
    elif out.get("covariance") is None:
        out.pop("background_uncertainty", None)
        out["covariance"] = np.diag(np.square(sigmas)).tolist()
    if kind == "multivariate_normal":
        out["parameters"] = {k: v for k, v in (out.get("parameters") or {}).items()
                             if not _NUISANCE.match(k)}
    out["kind"] = kind
    return out


# ---------------------------------------------------------------- covariance matrix
def matrix_frame(draft: dict[str, Any], mode: str) -> pd.DataFrame:
    """The covariance (``mode="covariance"``) or, for ``mode="correlation"``, standard
    deviations on the diagonal and correlations off it."""
    cov = np.array(draft["covariance"], dtype=float)
    if mode == "correlation":
        sigma = np.sqrt(np.abs(np.diag(cov)))
        with np.errstate(divide="ignore", invalid="ignore"):
            shown = cov / np.outer(sigma, sigma)
        shown[np.diag_indices_from(shown)] = np.sign(np.diag(cov)) * sigma
    else:
        shown = cov
    names = _bin_names(draft)
    return pd.DataFrame(shown, index=names, columns=names)


def apply_matrix_edit(draft: dict[str, Any], frame: pd.DataFrame, row: int, column: int,
                      mode: str) -> tuple[dict[str, Any], pd.DataFrame]:
    """Take the edited cell ``(row, column)`` of ``frame``, mirror it across the diagonal
    and write the matrix back into the draft's covariance.

    Returns the new draft and the mirrored frame.
    """
    shown = frame.to_numpy(dtype=float).copy()
    shown[column, row] = shown[row, column]
    if mode == "correlation":
        sigma = np.diag(shown).copy()
        # a sign-preserving square keeps a negative or zero deviation visible to load_spec
        cov = shown * np.outer(np.abs(sigma), np.abs(sigma))
        cov[np.diag_indices_from(cov)] = sigma * np.abs(sigma)
    else:
        cov = shown
    out = copy.deepcopy(draft)
    out["covariance"] = cov.tolist()
    return out, pd.DataFrame(shown, index=frame.index, columns=frame.columns)


# ---------------------------------------------------------------- parameters table
def parameters_frame(names: list[str], init: np.ndarray, bounds: np.ndarray,
                     fixed: np.ndarray) -> pd.DataFrame:
    """One row per parameter: init, lower, upper (NaN for no bound) and fixed."""
    lower = np.where(np.isfinite(bounds[:, 0]), bounds[:, 0], np.nan)
    upper = np.where(np.isfinite(bounds[:, 1]), bounds[:, 1], np.nan)
    return pd.DataFrame({"parameter": list(names), "init": np.asarray(init, dtype=float),
                         "lower": lower, "upper": upper, "fixed": np.asarray(fixed, dtype=bool)})


def apply_parameters_frame(draft: dict[str, Any], frame: pd.DataFrame, row: int
                           ) -> dict[str, Any]:
    """Write row ``row`` of the parameters table into the draft's overrides.

    An empty (NaN) bound means no bound; an empty init is carried as NaN, which
    ``load_spec`` rejects.
    """
    out = copy.deepcopy(draft)
    record = frame.iloc[row]
    lower, upper = float(record["lower"]), float(record["upper"])
    entry: dict[str, Any] = {"init": float(record["init"])}
    if not (math.isnan(lower) and math.isnan(upper)):
        entry["bounds"] = [None if math.isnan(lower) else lower,
                           None if math.isnan(upper) else upper]
    if bool(record["fixed"]):
        entry["fixed"] = True
    params = dict(out.get("parameters") or {})
    params[str(record["parameter"])] = entry
    out["parameters"] = params
    return out


def prune_parameters(draft: dict[str, Any]) -> dict[str, Any]:
    """Drop overrides of shape parameters that the signal expression no longer uses.

    Left unchanged when the expression does not parse (``load_spec`` reports that).
    """
    out = copy.deepcopy(draft)
    templates = tuple(out["signal"]["templates"])
    try:
        shape = parse_expression(out["signal"]["expression"]).parameters(templates)
    except ExpressionError:
        return out
    keep = {out.get("poi", "mu"), *shape}
    out["parameters"] = {k: v for k, v in (out.get("parameters") or {}).items()
                         if k in keep or _NUISANCE.match(k)}
    return out


# ---------------------------------------------------------------- names and expressions
_KIND_PHRASES = {"uncorrelated_background": "uncorrelated background",
                 "correlated_background": "correlated background",
                 "multivariate_normal": "multivariate normal"}
_COUNTS = {1: "One bin", 2: "Two bins", 3: "Three bins"}


def structure(draft: dict[str, Any]) -> tuple[Any, ...]:
    """What a model's name describes: its bins, kind, templates and signal expression."""
    signal = draft.get("signal") or {}
    return (len(draft.get("data") or []), draft.get("kind"),
            tuple(signal.get("templates") or {}), signal.get("expression"))


def auto_name(draft: dict[str, Any]) -> str:
    """A name that says what the model is: ``"One bin, uncorrelated background"``, plus the
    signal expression when it combines templates."""
    n = len(draft.get("data") or [])
    name = f"{_COUNTS.get(n, f'{n} bins')}, {_KIND_PHRASES.get(draft.get('kind'), 'model')}"
    signal = draft.get("signal") or {}
    expression = signal.get("expression")
    if expression and expression not in (signal.get("templates") or {}):
        name += f", signal {expression}"
    return name


def expression_notes(expression: str, templates: list[str] | tuple[str, ...],
                     known: list[str] | tuple[str, ...]) -> tuple[list[str], list[str]]:
    """What a signal expression would change: the names in it that are neither templates nor
    ``known`` parameters (they would become new parameters), and the templates it does not
    use.  Raises ``ExpressionError`` when it does not parse."""
    parsed = parse_expression(expression)
    new = [name for name in parsed.parameters(tuple(templates)) if name not in known]
    unused = [name for name in templates if name not in parsed.names]
    return new, unused
