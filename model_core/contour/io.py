"""Writing (and reading back) contour results: CSV, NPZ and JSON, chosen by the file suffix.

* ``.csv``: one row per point: the contour axes, every other parameter (fixed
  or profiled, from ``full_points``), ``residual``, ``from_radial`` and
  ``on_bound``; the run's summary as ``# key: value`` lines on top (``numpy.loadtxt``
  and ``pandas.read_csv(comment="#")`` skip them).
* ``.npz``: the arrays, plus the scalar fields as a JSON string (``meta``).
* ``.json``: every field (:func:`contour_to_dict`).

:func:`load_contour` reads NPZ and JSON back into a :class:`ContourResult`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .results import ContourResult, Island

__all__ = ["FORMATS", "contour_to_dict", "load_contour", "save_contour"]

FORMATS = (".csv", ".npz", ".json")
_ARRAYS = ("theta_mle", "contour_points", "from_radial", "residuals", "on_bound", "full_points",
           "minima", "scale", "island", "search_box")


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if isinstance(value, Island):
        return {"minimum": value.minimum.tolist(), "nll": _plain(value.nll),
                "n_points": value.n_points}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    return value


def contour_to_dict(result: ContourResult) -> dict[str, Any]:
    """Every field of ``result`` as JSON-ready Python values (``inf`` and ``nan`` as strings)."""
    return {name: _plain(getattr(result, name)) for name in result.__dataclass_fields__}


def _check_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"cannot tell the format of {str(path)!r} from its suffix "
                         f"{suffix or '(none)'!r}: use one of {', '.join(FORMATS)}")
    return suffix


def save_contour(result: ContourResult, path: str | Path, *,
                 metadata: dict[str, Any] | None = None) -> Path:
    """Write ``result`` to ``path``; the suffix (``.csv``, ``.npz``, ``.json``) picks the format.

    ``metadata`` (JSON-ready: where the result came from, e.g. the model spec and the
    program's version) is stored beside it: the key ``"metadata"`` of the JSON file and of
    the NPZ file's ``meta``, a ``# metadata: {...}`` line of the CSV file.
    :func:`load_contour` ignores it.
    """
    path = Path(path)
    suffix = _check_suffix(path)
    extra = {} if metadata is None else {"metadata": _plain(metadata)}
    if suffix == ".json":
        path.write_text(json.dumps({**contour_to_dict(result), **extra}))
    elif suffix == ".npz":
        meta = {k: v for k, v in contour_to_dict(result).items() if k not in _ARRAYS}
        arrays = {k: np.asarray(getattr(result, k)) for k in _ARRAYS
                  if getattr(result, k) is not None}
        np.savez_compressed(path, meta=np.array(json.dumps({**meta, **extra})), **arrays)
    else:
        _write_csv(result, path, extra)
    return path


def _write_csv(result: ContourResult, path: Path, extra: dict[str, Any]) -> None:
    names = list(result.parameter_names)
    all_names = list(result.settings.get("all_parameters", ()))
    others = [(i, n) for i, n in enumerate(all_names) if n not in names]
    full = result.full_points
    columns = [result.contour_points] + ([full[:, [i for i, _ in others]]] if others else [])
    columns += [result.residuals[:, None], result.from_radial[:, None].astype(int),
                result.on_bound[:, None].astype(int)]
    header = names + [n for _, n in others] + ["residual", "from_radial", "on_bound"]
    summary = {"status": result.status, "confidence_level": result.confidence_level,
               "dof": result.dof, "nll_min": repr(result.nll_min),
               "threshold": repr(result.threshold), "delta": repr(result.delta),
               "theta_mle": " ".join(repr(float(v)) for v in result.theta_mle),
               "n_points": len(result.contour_points), "message": result.message,
               "warnings": " | ".join(result.warnings), "notes": " | ".join(result.notes),
               "islands": len(result.islands)}
    lines = [f"# {key}: {value}" for key, value in summary.items()]
    lines += [f"# {key}: {json.dumps(value)}" for key, value in extra.items()]
    table = np.hstack(columns) if len(result.contour_points) else np.zeros((0, len(header)))
    with path.open("w") as fh:
        fh.write("\n".join(lines) + "\n" + ",".join(header) + "\n")
        np.savetxt(fh, table, delimiter=",", fmt="%.17g")


def load_contour(path: str | Path) -> ContourResult:
    """Read a result written by :func:`save_contour` as ``.npz`` or ``.json``."""
    path = Path(path)
    suffix = _check_suffix(path)
    if suffix == ".csv":
        raise ValueError(f"{str(path)!r}: CSV keeps only the points; read it with numpy.loadtxt "
                         "or save as .npz or .json to load a full result")
    if suffix == ".json":
        data = json.loads(path.read_text())
    else:
        with np.load(path) as npz:
            data = json.loads(str(npz["meta"]))
            data.update({k: npz[k] for k in npz.files if k != "meta"})
    return _from_dict(data)


def _from_dict(data: dict[str, Any]) -> ContourResult:
    floats = ("nll_min", "threshold", "delta", "confidence_level", "elapsed")
    values = {}
    for name, field in ContourResult.__dataclass_fields__.items():
        if name not in data:
            values[name] = field.default  # a file written before the field existed
            continue
        value = data[name]
        if name in ("from_radial", "on_bound"):
            value = np.asarray(value, dtype=bool)
        elif name == "island":
            value = None if value is None else np.asarray(value, dtype=int)
        elif name in _ARRAYS and value is not None:
            value = np.asarray(value, dtype=float)
        elif name in floats or (name == "uncovered" and value is not None):
            value = float(value)
        elif name in ("parameter_names", "warnings", "notes"):
            value = tuple(value)
        elif name == "islands":
            value = tuple(Island(np.asarray(i["minimum"], dtype=float), float(i["nll"]),
                                 int(i["n_points"])) for i in value)
        values[name] = value
    k = len(values["parameter_names"])
    values["contour_points"] = values["contour_points"].reshape(-1, k)
    values["minima"] = values["minima"].reshape(-1, k)
    if values["search_box"] is not None:
        values["search_box"] = values["search_box"].reshape(k, 2)
    n = len(values["contour_points"])
    values["full_points"] = values["full_points"].reshape(n, -1)
    return ContourResult(**values)
