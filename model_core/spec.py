"""Model specifications (JSON format version 1): load, validate, normalise, save.

A spec is plain data; :func:`load_spec` checks every field and raises a
:class:`~model_core.exceptions.SpecError` naming the field, the offending value
and the fix.  :meth:`ModelSpec.to_dict` gives back JSON-ready data that
:func:`load_spec` accepts again unchanged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from .exceptions import SpecError
from .expression import FUNCTIONS, SignalExpression, parse_expression
from .fields import (
    ParameterSpec,
    folder_and_name,
    parameter_overrides,
    read_json,
    read_numbers,
    read_version,
)
from .guards import MAX_MAGNITUDE, MIN_VARIANCE, check_model_size, check_nesting

__all__ = ["KINDS", "ModelSpec", "load_spec", "parameter_layout"]

#: Likelihood kinds built into the core, with the background fields each needs.
KINDS: Mapping[str, str] = {
    "uncorrelated_background": "background_uncertainty",
    "correlated_background": "covariance",
    "multivariate_normal": "covariance",
}
_TOP_KEYS = {
    "version", "name", "description", "kind", "bins", "data", "background",
    "background_uncertainty", "covariance", "signal", "poi", "parameters",
}
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NUISANCE = re.compile(r"^theta_\d+$")
_SYMMETRY_RTOL = 1e-9


@dataclass(frozen=True)
class ModelSpec:
    """A validated model specification.

    Attributes
    ----------
    kind
        One of :data:`KINDS`.
    bins
        Bin names.
    data, background
        Observed counts and background yields per bin.
    background_uncertainty
        Absolute background uncertainty per bin (``uncorrelated_background``).
    covariance
        Background covariance matrix (the other kinds).
    templates
        Signal templates by name, each a per-bin yield vector.
    expression
        The signal expression over template names and shape parameters.
    poi
        Name of the parameter of interest (the signal strength).
    parameters
        Per-parameter overrides of ``init``, ``bounds`` and ``fixed``.
    """

    kind: str
    bins: tuple[str, ...]
    data: tuple[float, ...]
    background: tuple[float, ...]
    templates: Mapping[str, tuple[float, ...]]
    expression: str
    background_uncertainty: tuple[float, ...] | None = None
    covariance: tuple[tuple[float, ...], ...] | None = None
    poi: str = "mu"
    parameters: Mapping[str, ParameterSpec] = field(default_factory=dict)
    name: str = "Untitled model"
    description: str = ""
    version: int = 1

    @property
    def n_bins(self) -> int:
        return len(self.bins)

    @cached_property
    def signal(self) -> SignalExpression:
        """The parsed signal expression."""
        return parse_expression(self.expression)

    @property
    def shape_parameters(self) -> tuple[str, ...]:
        return self.signal.parameters(tuple(self.templates))

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """POI, shape parameters in order of appearance, then nuisance parameters."""
        nuisance = () if self.kind == "multivariate_normal" else tuple(
            f"theta_{i}" for i in range(self.n_bins))
        return (self.poi, *self.shape_parameters, *nuisance)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary that :func:`load_spec` accepts unchanged."""
        out: dict[str, Any] = {"version": self.version, "name": self.name}
        if self.description:
            out["description"] = self.description
        out.update(kind=self.kind, bins=list(self.bins), data=list(self.data),
                   background=list(self.background))
        if self.background_uncertainty is not None:
            out["background_uncertainty"] = list(self.background_uncertainty)
        if self.covariance is not None:
            out["covariance"] = [list(row) for row in self.covariance]
        out["signal"] = {"templates": {k: list(v) for k, v in self.templates.items()},
                         "expression": self.expression}
        out["poi"] = self.poi
        params = {k: v.to_dict() for k, v in self.parameters.items() if v.to_dict()}
        if params:
            out["parameters"] = params
        return out

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)


def parameter_layout(spec: ModelSpec) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray]:
    """Names, initial values, bounds ``(npar, 2)`` and fixed mask, after overrides."""
    names = spec.parameter_names
    n_free = 1 + len(spec.shape_parameters)
    init = np.array([1.0] * n_free + [0.0] * (len(names) - n_free))
    bounds = np.tile([-np.inf, np.inf], (len(names), 1))
    fixed = np.zeros(len(names), dtype=bool)
    for i, name in enumerate(names):
        override = spec.parameters.get(name)
        if override is None:
            continue
        if override.bounds is not None:
            bounds[i] = override.bounds
        if override.init is not None:
            init[i] = override.init
        fixed[i] = override.fixed
    return names, init, bounds, fixed


def load_spec(source: ModelSpec | Any | Mapping[str, Any] | str | Path) -> ModelSpec | Any:
    """Load and validate a model spec from a dict, a JSON file path or JSON text.

    HistFactory workspaces are recognised too: a raw pyhf workspace (it has
    ``"channels"``), a wrapper with ``"kind": "histfactory"``, or a
    :class:`~model_core.workspace.WorkspaceSpec`; they are loaded by
    :func:`~model_core.workspace.load_workspace` (with the file's folder as
    ``base_dir``) and returned as a ``WorkspaceSpec``.

    Raises
    ------
    SpecError
        Naming the field, the offending value and the fix.
    """
    from .workspace.spec import WorkspaceSpec, is_workspace, load_workspace

    if isinstance(source, (ModelSpec, WorkspaceSpec)):
        return source
    base_dir = name = None
    parsed = isinstance(source, (str, Path))
    if parsed:
        if not (isinstance(source, str) and source.lstrip().startswith("{")):
            base_dir, name = folder_and_name(Path(source))
        source = read_json(source)
    if not isinstance(source, Mapping):
        raise SpecError("spec", "a model spec must be a JSON object", type(source).__name__,
                        "pass a dict or a path to a JSON file")
    if is_workspace(source):
        # the file name names a workspace only when the JSON does not
        return load_workspace(source, base_dir=base_dir, copy=not parsed,
                              name=None if source.get("name") else name)
    if not parsed:
        check_nesting(source, "spec")
    return _validate(source)


def _validate(raw: Mapping[str, Any]) -> ModelSpec:
    unknown = sorted((k for k in raw if k not in _TOP_KEYS), key=str)
    if unknown:
        raise SpecError(unknown[0], "unknown field", raw[unknown[0]],
                        "remove it; allowed fields are " + ", ".join(sorted(_TOP_KEYS)))
    read_version(raw.get("version", 1))
    kind = raw.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        raise SpecError("kind", "unknown kind" if isinstance(kind, str) else "must be text",
                        kind, "use one of " + ", ".join((*KINDS, "histfactory")))
    data = _vector(raw, "data", nonnegative=True)
    n = len(data)
    if n == 0:
        raise SpecError("data", "there must be at least one bin", [], "add a bin")
    background = _vector(raw, "background", nonnegative=True, length=n)
    bins = _bins(raw.get("bins"), n)
    needed = KINDS[kind]
    for other in set(KINDS.values()) - {needed}:
        if raw.get(other) is not None:
            raise SpecError(other, f"not used by kind {kind!r}", raw[other],
                            f"remove it, or choose a kind that uses {other}")
    if raw.get(needed) is None:
        raise SpecError(needed, f"required by kind {kind!r}", fix=f"add {needed}")
    uncertainty = covariance = None
    if needed == "background_uncertainty":
        uncertainty = _vector(raw, needed, nonnegative=True, length=n)
    else:
        covariance = _covariance(raw[needed], n)
    poi = raw.get("poi", "mu")
    if (not isinstance(poi, str) or not _IDENT.match(poi) or poi in FUNCTIONS
            or _NUISANCE.match(poi)):
        raise SpecError("poi", "not a valid parameter name", poi, "use a name like mu")
    templates, expression = _signal(raw.get("signal"), n, poi)
    name = raw.get("name", "Untitled model")
    description = raw.get("description", "")
    for key, value in (("name", name), ("description", description)):
        if not isinstance(value, str):
            raise SpecError(key, "must be text", value, "write it as a string")
    spec = ModelSpec(kind=kind, bins=bins, data=data, background=background,
                     templates=templates, expression=expression,
                     background_uncertainty=uncertainty, covariance=covariance, poi=poi,
                     name=name, description=description)
    parameters = _parameters(raw.get("parameters"), spec)
    spec = replace(spec, parameters=parameters)
    check_model_size(len(spec.parameter_names), n * (len(templates) + 2), "bins")
    return spec


def _vector(raw: Mapping[str, Any], key: str, *, nonnegative: bool = False,
            length: int | None = None, where: str | None = None) -> tuple[float, ...]:
    where = where or key
    values = raw.get(key)
    if values is None:
        raise SpecError(where, "missing", fix=f"add {where} as a list of numbers")
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Sequence | np.ndarray):
        raise SpecError(where, "must be a list of numbers", values, "write [1.0, 2.0, ...]")
    if length is not None and len(values) != length:
        raise SpecError(where, f"has {len(values)} entries but there are {length} bins", values,
                        f"give exactly {length} values, one per bin")
    return read_numbers(values, where, nonnegative=nonnegative, bounded=True)


def _bins(bins: Any, n: int) -> tuple[str, ...]:
    if bins is None:
        return tuple(f"bin{i + 1}" for i in range(n))
    if not isinstance(bins, Sequence) or isinstance(bins, str):
        raise SpecError("bins", "must be a list of bin names", bins, 'write ["SR1", "SR2"]')
    if len(bins) != n:
        raise SpecError("bins", f"has {len(bins)} names but data has {n} values", bins,
                        "give one name per data value")
    for i, b in enumerate(bins):
        if not isinstance(b, str) or not b.strip():
            raise SpecError(f"bins[{i}]", "bin names must be non-empty text", b, "name the bin")
    if len(set(bins)) != n:
        dup = next(b for b in bins if list(bins).count(b) > 1)
        raise SpecError("bins", "bin names must be unique", dup, f"rename one of the {dup!r} bins")
    return tuple(bins)


def _covariance(matrix: Any, n: int) -> tuple[tuple[float, ...], ...]:
    if not isinstance(matrix, Sequence | np.ndarray) or isinstance(matrix, str):
        raise SpecError("covariance", "must be a list of rows", matrix, "write [[a, b], [b, c]]")
    if len(matrix) != n or any(not isinstance(r, Sequence | np.ndarray) or isinstance(r, str)
                               or len(r) != n for r in matrix):
        raise SpecError("covariance", f"must be a {n}x{n} matrix (one row and column per bin)",
                        matrix, f"give {n} rows of {n} numbers")
    rows = tuple(read_numbers(r, f"covariance[{i}]") for i, r in enumerate(matrix))
    c = np.array(rows)
    if (np.abs(c) > MAX_MAGNITUDE**2).any():
        i, j = np.argwhere(np.abs(c) > MAX_MAGNITUDE**2)[0]
        raise SpecError(f"covariance[{i}][{j}]", f"too large (more than {MAX_MAGNITUDE**2:g}, "
                        "the square of the largest yield)", c[i, j],
                        "rescale the model so that uncertainties are counts of events")
    for i in range(n):
        if c[i, i] <= 0:
            raise SpecError(f"covariance[{i}][{i}]", "variances on the diagonal must be positive",
                            c[i, i], "enter the squared background uncertainty of this bin")
        if c[i, i] < MIN_VARIANCE:
            raise SpecError(f"covariance[{i}][{i}]", f"the variance is too small (below "
                            f"{MIN_VARIANCE:g}, the likelihood's derivatives would overflow)",
                            c[i, i], "rescale the model so that uncertainties are counts of "
                            "events")
    scale = np.sqrt(np.outer(np.diag(c), np.diag(c)))
    asym = np.abs(c - c.T) / scale
    if asym.max() > _SYMMETRY_RTOL:
        i, j = np.unravel_index(np.argmax(asym), asym.shape)
        i, j = min(i, j), max(i, j)
        mean = 0.5 * (c[i, j] + c[j, i])
        raise SpecError(f"covariance[{i}][{j}]",
                        f"the matrix is not symmetric: covariance[{i}][{j}] = {c[i, j]:g} but "
                        f"covariance[{j}][{i}] = {c[j, i]:g}", c[i, j],
                        f"use (C + C.T) / 2, i.e. set both to {mean:g}")
    smallest = float(np.linalg.eigvalsh(c).min())
    try:
        np.linalg.cholesky(c)
    except np.linalg.LinAlgError:
        smallest = min(smallest, 0.0)
    if smallest <= 1e-12 * float(np.max(np.diag(c))):
        raise SpecError("covariance", f"the matrix is not positive definite (smallest "
                        f"eigenvalue {smallest:.6g})", [list(r) for r in rows],
                        "reduce the off-diagonal covariances (|correlation| < 1) or increase "
                        "the variances")
    return rows


def _signal(signal: Any, n: int, poi: str) -> tuple[dict[str, tuple[float, ...]], str]:
    if not isinstance(signal, Mapping):
        raise SpecError("signal", "missing or not an object", signal,
                        'add "signal": {"templates": {"A": [...]}, "expression": "A"}')
    extra = sorted(set(signal) - {"templates", "expression"}, key=str)
    if extra:
        raise SpecError(f"signal.{extra[0]}", "unknown field", signal[extra[0]],
                        "use only templates and expression")
    templates = signal.get("templates")
    if not isinstance(templates, Mapping) or not templates:
        raise SpecError("signal.templates", "at least one template is required", templates,
                        'add e.g. "templates": {"A": [12.0, 15.0]}')
    out: dict[str, tuple[float, ...]] = {}
    for key in templates:
        where = f"signal.templates.{key}"
        if not isinstance(key, str) or not _IDENT.match(key):
            raise SpecError(where, "template names must be identifiers", key,
                            "use letters, digits and _, starting with a letter")
        if key in FUNCTIONS or key == poi or _NUISANCE.match(key):
            raise SpecError(where, "this name is reserved", key, "rename the template")
        out[key] = _vector(templates, key, length=n, where=where)
    expression = signal.get("expression")
    if expression is None:
        if len(out) != 1:
            raise SpecError("signal.expression", "required when there is more than one template",
                            fix="write how the templates combine, e.g. \"c0*A + c1*B\"")
        expression = next(iter(out))
    parsed = parse_expression(expression)
    if not any(name in out for name in parsed.names):
        raise SpecError("signal.expression", "the expression uses no template", expression,
                        "multiply a template, e.g. \"k*" + next(iter(out)) + "\"")
    for name in parsed.parameters(tuple(out)):
        if name == poi:
            raise SpecError("signal.expression", f"the POI {poi!r} is applied to the signal "
                            "automatically and cannot appear in the expression", expression,
                            f"remove {poi} from the expression")
        if _NUISANCE.match(name):
            raise SpecError("signal.expression", "names theta_<i> are reserved for nuisance "
                            "parameters", name, "rename the shape parameter")
    return out, expression


def _parameters(raw: Any, spec: ModelSpec) -> dict[str, ParameterSpec]:
    names = spec.parameter_names
    defaults = {n: 0.0 if _NUISANCE.match(n) else 1.0 for n in names}
    return parameter_overrides(raw, defaults)
