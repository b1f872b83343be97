"""Export a model spec as an equivalent pyhf workspace, where HistFactory can express it.

- ``uncorrelated_background``: the background sample gets one ``histosys``
  per bin, named ``theta_i``, shifting that bin by ``+-sigma_i``.  For such
  symmetric shifts code 4p (and code 0) is exactly linear, and the unit
  Gaussian constraint of a histosys is the spec's, constants included: the
  NLL is identical at identical parameter values.
- ``correlated_background``: the background shifts ``sigma_i theta_i`` with
  ``theta ~ N(0, rho)`` are rewritten with the eigen-decomposition
  ``rho = V diag(l) V^T`` as ``theta = V diag(sqrt(l)) eta``, ``eta ~ N(0, 1)``:
  one histosys per eigenvector, named ``eigen_k``, shifting the bins by
  ``+-sigma * V[:, k] sqrt(l_k)``.  At corresponding points the NLLs differ by
  the constant ``log det(rho) / 2``.
- The signal expression must be linear in each template: a sum of terms, each
  one template times a number and distinct parameters (``c0*A + 2*c1*B``).
  Each term becomes a sample with a ``normfactor`` for the POI and one for
  each parameter.  Anything else (``c1**2*B``, ``exp(k)*A``) is refused.
- ``multivariate_normal`` is refused: HistFactory's main term is Poisson.

JSON has no infinity: unbounded parameters get the bounds ``+-EXPORT_BOUND``.
A :class:`~model_core.workspace.WorkspaceSpec` exports its own workspace with
the parameter overrides merged into the measurement's configuration.
"""

from __future__ import annotations

import ast
import copy
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import SpecError
from ..spec import ModelSpec, load_spec, parameter_layout
from .spec import WorkspaceSpec

__all__ = ["EXPORT_BOUND", "to_workspace"]

#: Finite stand-in for an infinite bound (JSON cannot hold infinity).
EXPORT_BOUND = 1.0e4


def to_workspace(spec: ModelSpec | WorkspaceSpec | Mapping[str, Any] | str | Path
                 ) -> dict[str, Any]:
    """An equivalent pyhf 1.0.0 workspace (a dict ready for ``json.dump`` or ``pyhf.Workspace``).

    Raises
    ------
    SpecError
        When the model has no HistFactory equivalent, saying why.
    """
    spec = load_spec(spec)
    if isinstance(spec, WorkspaceSpec):
        return _from_workspace(spec)
    if spec.kind == "multivariate_normal":
        raise SpecError("kind", "a multivariate normal likelihood of the counts cannot be "
                        "exported: HistFactory models counts as Poisson", spec.kind,
                        "use correlated_background (Poisson counts with correlated background "
                        "shifts), which exports exactly")
    names, init, bounds, fixed = parameter_layout(spec)
    nominal = np.array(spec.background)
    if spec.kind == "uncorrelated_background":
        shifts = np.diag(spec.background_uncertainty)
        labels = [f"theta_{i}" for i in range(spec.n_bins)]
    else:
        cov = np.array(spec.covariance)
        sigma = np.sqrt(np.diag(cov))
        eigenvalues, vectors = np.linalg.eigh(cov / np.outer(sigma, sigma))
        shifts = (sigma[:, None] * vectors * np.sqrt(eigenvalues)).T
        labels = [f"eigen_{k}" for k in range(spec.n_bins)]
        for name in names[1 + len(spec.shape_parameters):]:
            override = spec.parameters.get(name)
            if override is not None and (override.fixed or override.bounds is not None):
                raise SpecError(f"parameters.{name}", "fixing or bounding a correlated nuisance "
                                "parameter cannot be exported (the workspace uses eigenvector "
                                "combinations of them)", override.to_dict(),
                                "remove the override before exporting")
    samples = _signal_samples(spec)
    taken = {s["name"] for s in samples}
    background = next(n for n in ("background", "background_", "bkg_total") if n not in taken)
    samples.append({"name": background, "data": nominal.tolist(), "modifiers": [
        {"name": label, "type": "histosys",
         "data": {"hi_data": (nominal + shift).tolist(), "lo_data": (nominal - shift).tolist()}}
        for label, shift in zip(labels, shifts, strict=True)]})
    if spec.kind == "uncorrelated_background":
        config = [_config(n, init[i], bounds[i], fixed[i]) for i, n in enumerate(names)]
    else:
        n_free = 1 + len(spec.shape_parameters)
        config = [_config(n, init[i], bounds[i], fixed[i]) for i, n in enumerate(names[:n_free])]
        config += [_config(label, 0.0, (-math.inf, math.inf), False) for label in labels]
    return {
        "version": "1.0.0",
        "channels": [{"name": "counts", "samples": samples}],
        "observations": [{"name": "counts", "data": list(spec.data)}],
        "measurements": [{"name": spec.name, "config": {"poi": spec.poi, "parameters": config}}],
    }


def _config(name: str, init: float, bounds: Any, fixed: bool) -> dict[str, Any]:
    lo, hi = (max(float(bounds[0]), -EXPORT_BOUND), min(float(bounds[1]), EXPORT_BOUND))
    out: dict[str, Any] = {"name": name, "inits": [float(init)], "bounds": [[lo, hi]]}
    if fixed:
        out["fixed"] = True
    return out


def _signal_samples(spec: ModelSpec) -> list[dict[str, Any]]:
    """One sample per (template, parameters) term of a linear signal expression."""
    tree = ast.parse(spec.expression.strip(), mode="eval").body
    terms: dict[tuple[str, tuple[str, ...]], float] = {}
    for coefficient, factors in _expand(tree, spec.expression):
        templates = [f for f in factors if f in spec.templates]
        parameters = [f for f in factors if f not in spec.templates]
        if len(templates) != 1 or len(set(parameters)) != len(parameters):
            what = "no template" if not templates else (
                "several templates" if len(templates) > 1 else "a repeated parameter")
            raise SpecError("signal.expression", f"cannot be exported: a term has {what} "
                            f"({' * '.join(factors) or coefficient}); HistFactory scales each "
                            "template by a product of distinct free factors", spec.expression,
                            "write the signal as a sum of template * parameters terms, "
                            "e.g. c0*A + c1*B")
        key = (templates[0], tuple(sorted(parameters)))
        terms[key] = terms.get(key, 0.0) + coefficient
    samples = []
    used: dict[str, int] = {}
    for (template, parameters), coefficient in terms.items():
        if coefficient == 0.0:
            continue
        used[template] = used.get(template, 0) + 1
        name = template if used[template] == 1 else f"{template}_{used[template]}"
        mods = [{"name": p, "type": "normfactor", "data": None} for p in (spec.poi, *parameters)]
        samples.append({"name": name, "modifiers": mods,
                        "data": (coefficient * np.array(spec.templates[template])).tolist()})
    return samples


def _expand(node: ast.AST, source: str) -> list[tuple[float, list[str]]]:
    """The expression as a sum of monomials ``(number, [names])``; refuses non-polynomial forms."""
    if isinstance(node, ast.Constant):
        return [(float(node.value), [])]
    if isinstance(node, ast.Name):
        return [(1.0, [node.id])]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        sign = -1.0 if isinstance(node.op, ast.USub) else 1.0
        return [(sign * c, f) for c, f in _expand(node.operand, source)]
    if isinstance(node, ast.BinOp):
        left, right = _expand(node.left, source), _expand(node.right, source)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left + [(-c, f) for c, f in right]
        if isinstance(node.op, ast.Mult):
            return [(a * b, fa + fb) for a, fa in left for b, fb in right]
        if isinstance(node.op, ast.Div) and len(right) == 1 and not right[0][1]:
            return [(c / right[0][0], f) for c, f in left]
        if isinstance(node.op, ast.Pow) and len(right) == 1 and right[0] == (1.0, []):
            return left
    segment = ast.get_source_segment(source.strip(), node) or type(node).__name__
    raise SpecError("signal.expression", f"cannot be exported: {segment!r} is not linear in "
                    "the templates and parameters", source,
                    "HistFactory scales templates by products of free factors only; write the "
                    "signal as a sum of template * parameters terms, e.g. c0*A + c1*B")


def _from_workspace(spec: WorkspaceSpec) -> dict[str, Any]:
    if any(c.unbinned for c in spec.layout.channels):
        raise SpecError("channels", "unbinned channels cannot be exported: pyhf workspaces "
                        "are binned", [c.name for c in spec.layout.channels if c.unbinned],
                        "save the workspace with save/to_dict instead")
    workspace = copy.deepcopy(dict(spec.workspace))
    config = workspace["measurements"][spec.measurement_index]["config"]["parameters"]
    by_name = {c["name"]: c for c in config}
    layout = spec.layout
    for pset in layout.sets.values():
        names = pset.names
        touched = [n for n in names if n in spec.parameters]
        if not touched:
            continue
        idx = list(pset.indices)
        entry = by_name.setdefault(pset.name, {"name": pset.name})
        inits = [spec.parameters[n].init if n in touched and spec.parameters[n].init is not None
                 else float(layout.inits[i]) for n, i in zip(names, idx, strict=True)]
        bounds = [spec.parameters[n].bounds if n in touched and spec.parameters[n].bounds
                  is not None else tuple(layout.bounds[i]) for n, i in zip(names, idx, strict=True)]
        fixed = {bool(layout.fixed[i]) or (n in touched and spec.parameters[n].fixed)
                 for n, i in zip(names, idx, strict=True)}
        if len(fixed) > 1:
            raise SpecError(f"parameters.{touched[0]}", "pyhf fixes a parameter set as a whole; "
                            f"only some components of {pset.name!r} are fixed", touched,
                            "fix all components or none")
        entry["inits"] = [float(v) for v in inits]
        entry["bounds"] = [[max(float(lo), -EXPORT_BOUND), min(float(hi), EXPORT_BOUND)]
                           for lo, hi in bounds]
        entry["fixed"] = fixed.pop()
        if entry not in config:
            config.append(entry)
    return workspace
