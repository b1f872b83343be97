"""The :class:`Model`: a negative log-likelihood with exact, batched derivatives.

Every likelihood in :mod:`model_core` (the counting kinds and HistFactory
workspaces alike) is a :class:`Model` wrapped around one autograd-traceable
function ``nll_fn(X) -> (...)`` that is vectorised over the leading axes of
``X`` (shape ``(..., npar)``).  Rows are independent, so the reverse-mode
derivative of ``nll_fn`` with a cotangent of ones gives every row's gradient
in one pass; the Hessian takes one more pass per parameter.

The built-in likelihoods are objects (see :class:`Likelihood`) that also
compute their gradient (and, for the counting kinds, their Hessian) by hand,
at numpy speed, and that can be evaluated on other measurements: with
:meth:`Model.on_data`, row ``i`` of every batched call uses dataset ``i``
(pseudo-experiments fitted together).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import autograd.numpy as anp
import numpy as np
from autograd import elementwise_grad, make_vjp

from . import autograd_threads  # noqa: F401 - per-thread trace numbers: no lock needed
from .chunks import FLOAT_BYTES, row_slices

__all__ = ["Dataset", "Likelihood", "Model", "align_rows"]

NLLFunction = Callable[[np.ndarray], np.ndarray]
#: Working set per row and parameter (floats) assumed for an NLL function that does not
#: state its own (:meth:`Likelihood.row_floats`): a few dozen intermediate arrays of
#: ``npar`` values, as a short expression traced by autograd keeps.
_GENERIC_ROW_FLOATS = 64
#: autograd keeps every intermediate of a traced pass for the reverse pass, and a
#: Hessian by autograd replays the gradient on ``npar`` replicas of every row: both
#: cost this many times the value's working set, per replica.
_TAPE_FACTOR = 4


@dataclass(frozen=True, slots=True, eq=False)
class Dataset:
    """Measurements a likelihood is evaluated on, one row per dataset.

    Attributes
    ----------
    main : ndarray (B, n_main)
        The main measurement: counts per bin (pyhf's order for workspaces), or
        the Gaussian measurement of a ``multivariate_normal`` model.
    aux : ndarray (B, n_aux)
        Auxiliary measurements of the constraints: one per constrained
        parameter (pyhf's ``auxdata`` order for workspaces); the observed
        data have them at their nominal centres.
    events : ndarray (B, n_events) or None
        Multiplicity of every event of the unbinned channels (the observed
        data: their weights).
    """

    main: np.ndarray
    aux: np.ndarray
    events: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.main)

    def take(self, rows: Any) -> Dataset:
        """The datasets of ``rows``."""
        return Dataset(self.main[rows], self.aux[rows],
                       None if self.events is None else self.events[rows])


def align_rows(a: np.ndarray, X: Any) -> np.ndarray:
    """Per-row data ``a (B, ...)`` shaped to broadcast against points ``X (B, ..., npar)``."""
    shape = np.shape(X)
    if len(shape) < 2 or shape[0] != len(a):
        raise ValueError(f"this model holds {len(a)} datasets: pass one parameter vector per "
                         f"dataset (shape ({len(a)}, ..., npar)), got shape {shape}")
    return np.reshape(a, (len(a),) + (1,) * (len(shape) - 2) + np.shape(a)[1:])


class Likelihood(Protocol):
    """What a model's ``nll_fn`` may offer besides being callable (duck-typed).

    ``value``, ``value_and_grad`` and ``hessian`` are plain-numpy fast paths
    (a likelihood without ``hessian``, or with ``hessian = None``, gets
    autograd's); ``row_floats`` sizes the chunks of rows big batches are
    evaluated in (:mod:`model_core.chunks`); ``with_data`` and ``data`` let
    :meth:`Model.on_data` evaluate it on other measurements; ``sample`` draws
    pseudo-data at one parameter point and ``aux_parameters`` names the
    parameter each auxiliary measurement constrains.
    """

    def __call__(self, X: Any) -> Any: ...

    def value(self, X: np.ndarray) -> np.ndarray: ...

    def value_and_grad(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def with_data(self, data: Dataset) -> Likelihood: ...

    @property
    def data(self) -> Dataset: ...

    @property
    def aux_parameters(self) -> np.ndarray: ...

    def sample(self, x: np.ndarray, n: int, rng: np.random.Generator) -> Dataset: ...

    def row_floats(self, order: int) -> int:
        """Floats of intermediate arrays per row of a value (``order`` 0), value and
        gradient (1) or Hessian (2) call: batches are split to keep them bounded."""


def _quiet() -> np.errstate:
    """Invalid rates are expected (they give +inf): keep numpy from warning about them."""
    return np.errstate(invalid="ignore", divide="ignore", over="ignore")


class Model:
    """A negative log-likelihood over named parameters.

    Parameters
    ----------
    nll_fn
        Autograd-traceable ``X (..., npar) -> NLL (...)``; rows must be independent.
        A :class:`Likelihood` object adds hand-written derivatives and other data.
    parameter_names
        One name per parameter; the POI first by convention.
    init, bounds
        Suggested starting point ``(npar,)`` and bounds ``(npar, 2)`` (``±inf`` for none).
    fixed
        Mask of parameters held at ``init`` by default in fits.
    poi_index
        Index of the parameter of interest, or ``None``.
    expected_fn
        Optional autograd-traceable ``X -> expected yields (..., n_bins)``.
    name, spec
        Display name and the spec the model was built from, if any.

    Notes
    -----
    Non-finite NLL values (rates at or below zero, a signal expression taken
    outside its domain) are reported as ``+inf``, never NaN; gradients at such
    points are NaN.
    """

    def __init__(
        self,
        nll_fn: NLLFunction,
        parameter_names: Sequence[str],
        init: Sequence[float],
        bounds: Sequence[Sequence[float]],
        *,
        fixed: Sequence[bool] | None = None,
        poi_index: int | None = 0,
        expected_fn: NLLFunction | None = None,
        name: str = "",
        spec: Any = None,
    ) -> None:
        self.parameter_names: tuple[str, ...] = tuple(parameter_names)
        npar = len(self.parameter_names)
        self.init = np.array(init, dtype=float).reshape(npar)
        self.bounds = np.array(bounds, dtype=float).reshape(npar, 2)
        self.fixed = np.zeros(npar, bool) if fixed is None else np.array(fixed, bool).reshape(npar)
        self.poi_index = None if poi_index is None else int(poi_index)
        self.name = name
        self.spec = spec
        self._nll_fn = nll_fn
        self._expected_fn = expected_fn
        self._grad_fn = elementwise_grad(nll_fn)
        self._value = getattr(nll_fn, "value", nll_fn)
        self._value_and_grad = getattr(nll_fn, "value_and_grad", None)
        self._hessian = getattr(nll_fn, "hessian", None)
        self._origin: tuple[Model, Dataset] | None = None

    def __repr__(self) -> str:
        return f"Model({self.name!r}, parameters={list(self.parameter_names)})"

    def __reduce__(self) -> tuple:
        """Pickle by spec: the NLL is a closure, so a process pool rebuilds the model.

        A model on other data (:meth:`on_data`) pickles as its observed model and the data.
        """
        if self._origin is not None:
            return (_on_data, self._origin)
        if self.spec is None:
            raise TypeError(f"{self!r} has no spec and cannot be pickled; build it with "
                            "model_core.build_model to send it to other processes")
        from .models import build_model

        return (_rebuild, (build_model, self.spec, self.init, self.bounds, self.fixed))

    @property
    def npar(self) -> int:
        return len(self.parameter_names)

    @property
    def poi(self) -> str | None:
        """Name of the parameter of interest (``None`` when it is not a parameter here)."""
        return None if self.poi_index is None else self.parameter_names[self.poi_index]

    def index(self, name: str) -> int:
        """Position of parameter ``name``; raises ``KeyError`` naming the known parameters."""
        try:
            return self.parameter_names.index(name)
        except ValueError:
            raise KeyError(f"unknown parameter {name!r}; the model has "
                           + ", ".join(self.parameter_names)) from None

    def _as_points(self, x: Any) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if x.ndim == 0 or x.shape[-1] != self.npar:
            raise ValueError(f"expected parameter vectors of length {self.npar} "
                             f"({', '.join(self.parameter_names)}), got shape {x.shape}")
        return x

    @property
    def aligned_rows(self) -> int | None:
        """How many batch rows (first axis) have data of their own (:meth:`on_data`), or
        ``None`` when every row shares the same."""
        return None if self._origin is None else len(self._origin[1])

    def row_bytes(self, order: int) -> float:
        """Estimated bytes of intermediate arrays per row of a batched value (``order`` 0),
        value-and-gradient (1) or Hessian (2) call; larger batches are split into chunks of
        rows that keep them within :data:`model_core.chunks.ROW_BUDGET`."""
        own = getattr(self._nll_fn, "row_floats", None)
        if order == 2 and self._hessian is None:
            value = own(0) if own is not None else _GENERIC_ROW_FLOATS * self.npar
            return FLOAT_BYTES * _TAPE_FACTOR * value * self.npar
        if own is not None:
            return FLOAT_BYTES * own(order)
        return FLOAT_BYTES * _GENERIC_ROW_FLOATS * self.npar * (_TAPE_FACTOR if order else 1)

    def _chunked(self, order: int, x: np.ndarray,
                 compute: Callable[[Model, np.ndarray], tuple[np.ndarray, ...]]
                 ) -> tuple[np.ndarray, ...]:
        """``compute(model, X)`` over chunks of the rows of ``x`` (leading axes) within the
        memory budget, concatenated: bit for bit one call, as rows are independent."""
        if x.ndim < 2:
            return compute(self, x)
        per_row = self.row_bytes(order)
        aligned = self.aligned_rows
        if aligned is not None:
            # data of its own per row of the first axis: chunks of whole first-axis rows
            slices = row_slices(x.shape[0], per_row * math.prod(x.shape[1:-1]))
            if len(slices) == 1 or x.shape[0] != aligned:  # (the second: the model's error)
                return compute(self, x)
            parts = [compute(self.take(np.arange(s.start, s.stop)), x[s]) for s in slices]
            return tuple(np.concatenate(p) for p in zip(*parts, strict=True))
        flat = x.reshape(-1, x.shape[-1])
        slices = row_slices(len(flat), per_row)
        if len(slices) == 1:
            return compute(self, x)
        parts = [compute(self, flat[s]) for s in slices]
        return tuple(np.concatenate(p).reshape(x.shape[:-1] + p[0].shape[1:])
                     for p in zip(*parts, strict=True))

    def nll(self, x: Any) -> np.ndarray:
        """Negative log-likelihood at ``x`` of shape ``(..., npar)``; returns shape ``(...)``."""
        return self._chunked(0, self._as_points(x), lambda m, X: (m._nll_rows(X),))[0]

    def _nll_rows(self, x: np.ndarray) -> np.ndarray:
        with _quiet():
            value = np.asarray(self._value(x), dtype=float)
        return np.where(np.isnan(value), np.inf, value)

    def value_and_grad(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        """NLL and its exact gradient, batched: shapes ``(...)`` and ``(..., npar)``."""
        return self._chunked(1, self._as_points(x), Model._value_and_grad_rows)

    def _value_and_grad_rows(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with _quiet():
            if self._value_and_grad is not None:
                value, grad = self._value_and_grad(x)
            else:
                vjp, value = make_vjp(self._nll_fn)(x)
                grad = vjp(np.ones_like(value))
            value = np.asarray(value, dtype=float)
            grad = np.asarray(grad, dtype=float)
        bad = ~np.isfinite(value)
        if np.any(bad):
            value = np.where(bad, np.inf, value)
            grad = np.where(bad[..., None], np.nan, grad)
        return value, grad

    def grad(self, x: Any) -> np.ndarray:
        """Exact gradient, batched."""
        return self.value_and_grad(x)[1]

    def hessian(self, x: Any) -> np.ndarray:
        """Exact Hessian, batched: shape ``(..., npar, npar)``.

        One reverse-over-reverse pass: each point is replicated ``npar`` times and
        replica ``i`` differentiates the ``i``-th gradient component, which is
        valid because rows are independent.
        """
        return self._chunked(2, self._as_points(x), lambda m, X: (m._hessian_rows(X),))[0]

    def _hessian_rows(self, x: np.ndarray) -> np.ndarray:
        if self._hessian is not None:
            with _quiet():
                return np.asarray(self._hessian(x), dtype=float)
        replicas = np.repeat(x[..., None, :], self.npar, axis=-2)
        eye = np.eye(self.npar)
        with _quiet():
            hess = np.asarray(elementwise_grad(
                lambda X: anp.sum(self._grad_fn(X) * eye, axis=-1))(replicas))
        return 0.5 * (hess + np.swapaxes(hess, -1, -2))

    def expected(self, x: Any) -> np.ndarray:
        """Expected yields per bin at ``x`` (when the model defines them)."""
        if self._expected_fn is None:
            raise NotImplementedError(f"{self.name!r} does not define expected yields")
        return np.asarray(self._expected_fn(self._as_points(x)), dtype=float)

    @property
    def hand_written_hessian(self) -> bool:
        """Whether :meth:`hessian` is written by hand (else autograd: a pass per parameter)."""
        return self._hessian is not None

    @property
    def likelihood(self) -> NLLFunction:
        """The ``nll_fn`` object (a :class:`Likelihood` for the built-in kinds)."""
        return self._nll_fn

    @property
    def data(self) -> Dataset:
        """The measurements the model is evaluated on (one row, or one per batch row)."""
        data = getattr(self._nll_fn, "data", None)
        if data is None:
            raise NotImplementedError(f"{self!r} does not expose its data")
        return data

    def on_data(self, data: Dataset) -> Model:
        """This model on other measurements: row ``i`` of every batched call uses ``data[i]``.

        Calls must then pass exactly ``len(data)`` rows (leading axis); the
        result pickles as this model and ``data``.  Raises ``TypeError`` for
        a likelihood that cannot change its data.
        """
        with_data = getattr(self._nll_fn, "with_data", None)
        if with_data is None:
            raise TypeError(f"{self!r} cannot be evaluated on other data")
        root, _ = self._origin if self._origin is not None else (self, None)
        model = Model(with_data(data), self.parameter_names, self.init, self.bounds,
                      fixed=self.fixed, poi_index=self.poi_index, expected_fn=self._expected_fn,
                      name=self.name, spec=self.spec)
        model._origin = (root, data)
        return model

    def take(self, rows: Any) -> Model:
        """The model for a subset of batch rows: itself, unless it holds one dataset per row."""
        if self._origin is None:
            return self
        root, data = self._origin
        return root.on_data(data.take(rows))

    def nll_traced(self, x: Any) -> Any:
        """The raw autograd-traceable NLL, for composing new differentiable functions."""
        return self._nll_fn(x)


def _on_data(model: Model, data: Dataset) -> Model:
    return model.on_data(data)


def _rebuild(build: Callable[[Any], Model], spec: Any, init: np.ndarray, bounds: np.ndarray,
             fixed: np.ndarray) -> Model:
    model = build(spec)
    model.init, model.bounds, model.fixed = init, bounds, fixed
    return model
