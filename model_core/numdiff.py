"""Numerical derivatives of arbitrary callables, used to cross-check exact derivatives.

Derivatives are central finite differences refined by Ridders' method: the
difference quotient ``D(h)`` is evaluated at a geometric sequence of steps
``h_k = h_0 / shrink**k`` and extrapolated to ``h -> 0`` with a Neville tableau.
Central differences have truncation errors in even powers of ``h``, so each
tableau column eliminates one more power of ``h**2``.  Every tableau entry comes
with an error estimate (its distance to its two parents); the entry with the
smallest estimate is kept, and the search stops once the diagonal of the
tableau drifts by more than ``2x`` that best error, the sign that round-off has
taken over (the stopping rule of Numerical Recipes' ``dfridr``).

Stencils: ``[f(x+h e_i) - f(x-h e_i)] / 2h`` for first derivatives,
``[f(x+h e_i) - 2 f(x) + f(x-h e_i)] / h**2`` for diagonal second derivatives and
``[f(++) - f(+-) - f(-+) + f(--)] / (4 h_i h_j)`` for mixed ones.  Only the upper
triangle of a Hessian is evaluated; it is mirrored.  Outputs of ``f`` may be
tensors: derivatives are taken componentwise and every component has its own
extrapolation, best estimate and stopping point.

All stencil points of a computation (every parameter, every step) are built
before ``f`` is called, so a vectorised ``f`` is called exactly once, and the
looping path (one call per point) gives identical numbers.

A component whose difference quotient is non-finite at any step (``f`` returned
NaN or inf at one of its stencil points) gets value NaN and error ``inf``;
nothing is raised.  Floating-point warnings emitted inside ``f`` itself are left
to the caller.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "DerivativeEstimate",
    "ridders_gradient",
    "ridders_jacobian",
    "ridders_hessian",
    "numerical_gradient",
    "numerical_hessian",
    "numerical_hessian_diag",
]

Function = Callable[[np.ndarray], Any]

_EPS = np.finfo(float).eps
_SAFE = 2.0  # stop when the tableau diagonal drifts by more than _SAFE x the best error
_METHODS = ("ridders", "central")


@dataclass(frozen=True, slots=True)
class DerivativeEstimate:
    """A numerical derivative with its error estimate.

    Attributes
    ----------
    value
        The derivative, shape ``(*out_shape, p)`` (first derivatives, Hessian
        diagonal) or ``(*out_shape, p, p)`` (Hessians).
    error
        Ridders' error estimate, same shape as ``value``; ``inf`` where ``value`` is NaN.
    step
        The initial (largest) step used per parameter, shape ``(p,)``.
    """

    value: np.ndarray
    error: np.ndarray
    step: np.ndarray


def _check_x0(x0: Any) -> np.ndarray:
    x = np.asarray(x0, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"x0 must be a non-empty 1-D array of parameters, got shape {x.shape}")
    bad = np.flatnonzero(~np.isfinite(x))
    if bad.size:
        raise ValueError(f"x0 must be finite, but x0[{bad[0]}] = {x[bad[0]]}")
    return x


def _initial_step(step: Any, x: np.ndarray, default_scale: float) -> np.ndarray:
    if step is None:
        return default_scale * np.maximum(np.abs(x), 1.0)
    h = np.asarray(step, dtype=float)
    if h.ndim != 0 and h.shape != x.shape:
        raise ValueError(f"step must be a scalar or have shape {x.shape}, got shape {h.shape}")
    h = np.broadcast_to(h, x.shape).copy()
    bad = np.flatnonzero(~(np.isfinite(h) & (h > 0)))
    if bad.size:
        raise ValueError(f"step must be positive and finite, but step[{bad[0]}] = {h[bad[0]]}")
    return h


def _level_steps(x: np.ndarray, h0: np.ndarray, num_steps: int, shrink: float) -> np.ndarray:
    """Steps ``(num_steps, p)``, each rounded so that ``x + h`` is exactly representable."""
    h = h0 / shrink ** np.arange(num_steps)[:, None]
    return (x + h) - x


def _evaluate(f: Function, points: np.ndarray, vectorized: bool) -> np.ndarray:
    """Values of ``f`` at ``points (m, p)``, shape ``(m, *out_shape)``."""
    if not vectorized:
        return np.stack([np.asarray(f(point), dtype=float) for point in points])
    values = np.asarray(f(points), dtype=float)
    if values.ndim == 0 or values.shape[0] != len(points):
        raise ValueError(f"with vectorized=True, f must map X of shape {points.shape} to an "
                         f"array with {len(points)} rows, got shape {values.shape}")
    return values


def _per_param(a: np.ndarray, out_ndim: int) -> np.ndarray:
    """Append ``out_ndim`` singleton axes so ``a`` broadcasts against ``f`` values."""
    return a.reshape(a.shape + (1,) * out_ndim)


def _difference_table(f: Function, x: np.ndarray, h: np.ndarray, vectorized: bool,
                      order: int, mixed: bool = False) -> np.ndarray:
    """Difference quotients at every step level, shape ``(levels, *out_shape, n)``.

    ``order=1``: the ``n = p`` first derivatives.  ``order=2``: the ``p`` diagonal
    second derivatives followed, if ``mixed``, by the upper-triangle mixed ones
    in ``np.triu_indices(p, 1)`` order.  Non-finite quotients are set to NaN.
    """
    levels, p = h.shape
    disp = h[:, :, None] * np.eye(p)  # disp[k, i] = h[k, i] e_i
    iu, ju = np.triu_indices(p if mixed else 0, 1)
    di, dj = disp[:, iu], disp[:, ju]
    blocks = [x + disp, x - disp, x + di + dj, x + di - dj, x - di + dj, x - di - dj]
    points = np.concatenate([b.reshape(-1, p) for b in blocks] + [x[None]] * (order == 2))
    values = _evaluate(f, points, vectorized)
    out_ndim = values.ndim - 1
    sizes = np.cumsum([b.shape[0] * b.shape[1] for b in blocks])
    plus, minus, pp, pm, mp, mm = (
        v.reshape(levels, -1, *values.shape[1:]) for v in np.split(values[: sizes[-1]], sizes[:-1]))
    hh = _per_param(h, out_ndim)
    with np.errstate(invalid="ignore", over="ignore"):
        if order == 1:
            table = (plus - minus) / (2.0 * hh)
        else:
            diag = (plus - 2.0 * values[-1] + minus) / hh**2
            cross = (pp - pm - mp + mm) / (4.0 * _per_param(h[:, iu] * h[:, ju], out_ndim))
            table = np.concatenate([diag, cross], axis=1)
    table = np.moveaxis(table, 1, -1)
    return np.where(np.isfinite(table), table, np.nan)


def _extrapolate(table: np.ndarray, shrink: float) -> tuple[np.ndarray, np.ndarray]:
    """Ridders' extrapolation of ``table[k] = D(h0 / shrink**k)``, componentwise.

    Returns the best estimate and its error; components with any NaN quotient
    get NaN and ``inf``.
    """
    con2 = shrink**2
    best, error = table[0].copy(), np.full(table.shape[1:], np.inf)
    active = np.ones(table.shape[1:], dtype=bool)
    previous = [table[0]]
    with np.errstate(invalid="ignore", over="ignore"):
        for i in range(1, len(table)):
            row, fac = [table[i]], con2
            for j in range(1, i + 1):
                entry = (row[j - 1] * fac - previous[j - 1]) / (fac - 1.0)
                fac *= con2
                err = np.maximum(np.abs(entry - row[j - 1]), np.abs(entry - previous[j - 1]))
                better = active & (err <= error)
                best, error = np.where(better, entry, best), np.where(better, err, error)
                row.append(entry)
            active &= np.abs(row[i] - previous[i - 1]) < _SAFE * error
            previous = row
    bad = np.isnan(table).any(axis=0)
    return np.where(bad, np.nan, best), np.where(bad, np.inf, error)


def _ridders(f: Function, x0: Any, step: Any, vectorized: bool, num_steps: int,
             shrink: float, order: int, mixed: bool) -> tuple[np.ndarray, ...]:
    """Validate, evaluate and extrapolate: flat ``(value, error, initial step)``."""
    if int(num_steps) != num_steps or num_steps < 2:
        raise ValueError(f"num_steps must be an integer >= 2, got {num_steps!r}")
    if not (np.isfinite(shrink) and shrink > 1.0):
        raise ValueError(f"shrink must be a finite number > 1, got {shrink!r}")
    x = _check_x0(x0)
    h0 = _initial_step(step, x, 0.1)
    table = _difference_table(f, x, _level_steps(x, h0, int(num_steps), shrink),
                              vectorized, order, mixed)
    return (*_extrapolate(table, shrink), h0)


def _square(flat: np.ndarray, p: int) -> np.ndarray:
    """``(..., p + p(p-1)/2)`` diagonal-then-upper-triangle entries to ``(..., p, p)``."""
    square = np.empty(flat.shape[:-1] + (p, p))
    iu, ju = np.triu_indices(p, 1)
    idx = np.arange(p)
    square[..., idx, idx] = flat[..., :p]
    square[..., iu, ju] = square[..., ju, iu] = flat[..., p:]
    return square


def ridders_jacobian(f: Function, x0: Any, *, step: Any = None, vectorized: bool = False,
                     num_steps: int = 10, shrink: float = 1.4) -> DerivativeEstimate:
    """First derivatives of ``f`` by Ridders-extrapolated central differences.

    Parameters
    ----------
    f
        ``f(x)`` for ``x`` of shape ``(p,)`` returns a scalar or an array of shape
        ``out_shape``; with ``vectorized=True``, ``f(X)`` for ``X`` of shape
        ``(m, p)`` returns shape ``(m, *out_shape)`` and is called exactly once.
    x0
        The point, a finite 1-D array of length ``p``.
    step
        Initial (largest) step, scalar or shape ``(p,)``; default ``0.1 * max(|x0|, 1)``.
    vectorized
        Whether ``f`` accepts a batch of points.
    num_steps
        Number of step levels (tableau size), at least 2.
    shrink
        Ratio between successive steps, > 1.

    Returns
    -------
    DerivativeEstimate
        ``value`` and ``error`` of shape ``(*out_shape, p)``.

    Raises
    ------
    ValueError
        For a non-1-D or non-finite ``x0``, a non-positive step, or invalid settings.
    """
    return DerivativeEstimate(*_ridders(f, x0, step, vectorized, num_steps, shrink, 1, False))


def ridders_gradient(f: Function, x0: Any, *, step: Any = None, vectorized: bool = False,
                     num_steps: int = 10, shrink: float = 1.4) -> DerivativeEstimate:
    """Gradient of ``f`` by Ridders' method; see :func:`ridders_jacobian` (same rules).

    For a scalar ``f``, ``value`` has shape ``(p,)``; tensor outputs give ``(*out_shape, p)``.
    """
    return ridders_jacobian(f, x0, step=step, vectorized=vectorized,
                            num_steps=num_steps, shrink=shrink)


def ridders_hessian(f: Function, x0: Any, *, step: Any = None, vectorized: bool = False,
                    diagonal: bool = False, num_steps: int = 10,
                    shrink: float = 1.4) -> DerivativeEstimate:
    """Second derivatives of ``f`` by Ridders-extrapolated central differences.

    Parameters
    ----------
    f, x0, step, vectorized, num_steps, shrink
        As in :func:`ridders_jacobian`.
    diagonal
        Only the pure second derivatives ``d2f/dx_i2``, skipping mixed partials.

    Returns
    -------
    DerivativeEstimate
        ``value`` and ``error`` of shape ``(*out_shape, p, p)``, symmetric in the
        last two axes, or ``(*out_shape, p)`` with ``diagonal=True``.
    """
    value, error, h0 = _ridders(f, x0, step, vectorized, num_steps, shrink, 2, not diagonal)
    if not diagonal:
        value, error = _square(value, h0.size), _square(error, h0.size)
    return DerivativeEstimate(value, error, h0)


def _central(f: Function, x0: Any, step: Any, vectorized: bool, order: int,
             mixed: bool) -> np.ndarray:
    x = _check_x0(x0)
    h = _initial_step(step, x, _EPS ** (1.0 / (order + 2)))
    return _difference_table(f, x, _level_steps(x, h, 1, 1.0), vectorized, order, mixed)[0]


def _check_method(method: str) -> None:
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")


def numerical_gradient(f: Function, x0: Any, *, method: str = "ridders", step: Any = None,
                       vectorized: bool = False) -> np.ndarray:
    """Gradient (or Jacobian) of ``f`` at ``x0``, shape ``(*out_shape, p)``.

    Parameters
    ----------
    f, x0, vectorized
        As in :func:`ridders_jacobian`.
    method
        ``"ridders"`` (extrapolated, default) or ``"central"`` (one central
        difference, default step ``eps**(1/3) * max(|x0|, 1)``).
    step
        Initial step (Ridders) or the step (central), scalar or shape ``(p,)``.
    """
    _check_method(method)
    if method == "central":
        return _central(f, x0, step, vectorized, 1, False)
    return ridders_jacobian(f, x0, step=step, vectorized=vectorized).value


def numerical_hessian(f: Function, x0: Any, *, method: str = "ridders", step: Any = None,
                      vectorized: bool = False) -> np.ndarray:
    """Hessian of ``f`` at ``x0``, shape ``(*out_shape, p, p)``.

    Parameters are as in :func:`numerical_gradient`; the default central step
    is ``eps**(1/4) * max(|x0|, 1)``.
    """
    _check_method(method)
    if method == "central":
        return _square(_central(f, x0, step, vectorized, 2, True), np.size(x0))
    return ridders_hessian(f, x0, step=step, vectorized=vectorized).value


def numerical_hessian_diag(f: Function, x0: Any, *, method: str = "ridders", step: Any = None,
                           vectorized: bool = False) -> np.ndarray:
    """Diagonal of the Hessian of ``f`` at ``x0``, shape ``(*out_shape, p)``.

    Parameters are as in :func:`numerical_hessian`.
    """
    _check_method(method)
    if method == "central":
        return _central(f, x0, step, vectorized, 2, False)
    return ridders_hessian(f, x0, step=step, vectorized=vectorized, diagonal=True).value
