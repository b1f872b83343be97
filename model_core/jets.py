"""Second-order forward-mode differentiation ("jets") for the signal expressions.

A :class:`Jet` carries a value and its exact first and second derivatives
with respect to ``p`` inputs, batched like the value:

``v (..., n)``, ``g (..., n, p)``, ``h (..., n, p, p)`` (``None`` when zero).

Jets implement numpy's ufunc protocol for the operations a signal expression
may use (``+ - * / **``, negation, ``exp log sqrt sin cos tanh abs``), so the
closures :mod:`model_core.expression` compiles evaluate unchanged on jets:
one pass gives the value, the Jacobian and the Hessian of the signal at every
row, at numpy speed (autograd records every operation and replays the graph
once per derivative order, at tens of microseconds per primitive).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["Jet", "seed_jets"]

# f(u) -> (f, f', f'') for the one-argument functions, element-wise
_Unary = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]


def _exp(u):
    e = np.exp(u)
    return e, e, e


def _log(u):
    return np.log(u), 1.0 / u, -1.0 / (u * u)


def _sqrt(u):
    r = np.sqrt(u)
    return r, 0.5 / r, -0.25 / (r * u)


def _sin(u):
    s = np.sin(u)
    return s, np.cos(u), -s


def _cos(u):
    c = np.cos(u)
    return c, -np.sin(u), -c


def _tanh(u):
    t = np.tanh(u)
    d = 1.0 - t * t
    return t, d, -2.0 * t * d


def _abs(u):
    # the derivative at 0 is 0, as autograd's
    return np.abs(u), np.sign(u), np.zeros_like(u)


def _negative(u):
    return -u, -np.ones_like(u), np.zeros_like(u)


def _power_of(k: float) -> _Unary:
    """``u ** k`` for a constant ``k``; derivatives whose factor vanishes are exactly 0."""

    def power(u):
        first = np.zeros_like(u) if k == 0 else k * u ** (k - 1)
        second = np.zeros_like(u) if k * (k - 1) == 0 else k * (k - 1) * u ** (k - 2)
        return u**k, first, second

    return power


def _exponential_of(base: np.ndarray) -> _Unary:
    """``base ** u`` for a constant ``base``."""
    log_base = np.log(base)

    def exponential(u):
        value = base**u
        return value, value * log_base, value * log_base * log_base

    return exponential


_UNARY: dict[np.ufunc, _Unary] = {
    np.exp: _exp, np.log: _log, np.sqrt: _sqrt, np.sin: _sin, np.cos: _cos, np.tanh: _tanh,
    np.absolute: _abs, np.negative: _negative,
}


def _outer(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[..., :, None] * b[..., None, :]


def _add_h(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if a is None:
        return b
    return a if b is None else a + b


class Jet:
    """A batched value with exact first (``g``) and second (``h``) derivatives.

    ``second=False`` propagates first derivatives only (``h`` stays ``None``).
    """

    __slots__ = ("v", "g", "h", "second")
    __array_priority__ = 1000

    def __init__(self, v, g, h=None, second: bool = True) -> None:
        self.v, self.g, self.h, self.second = v, g, h, second

    # -- the rules ---------------------------------------------------------------------------
    def _chain(self, f: _Unary) -> Jet:
        value, d1, d2 = f(self.v)
        g = d1[..., None] * self.g
        h = None
        if self.second:
            h = d2[..., None, None] * _outer(self.g, self.g)
            if self.h is not None:
                h = h + d1[..., None, None] * self.h
        return Jet(value, g, h, self.second)

    def _scaled(self, c) -> Jet:
        c = np.asarray(c, dtype=float)
        h = None if self.h is None else self.h * c[..., None, None]
        return Jet(self.v * c, self.g * c[..., None], h, self.second)

    def _shifted(self, c) -> Jet:
        return Jet(self.v + c, self.g, self.h, self.second)

    def _plus(self, other: Jet, sign: float) -> Jet:
        other_h = other.h if other.h is None or sign > 0 else -other.h
        return Jet(self.v + sign * other.v, self.g + sign * other.g, _add_h(self.h, other_h),
                   self.second)

    def _times(self, other: Jet) -> Jet:
        g = self.g * other.v[..., None] + other.g * self.v[..., None]
        h = None
        if self.second:
            h = _outer(self.g, other.g) + _outer(other.g, self.g)
            if self.h is not None:
                h = h + self.h * other.v[..., None, None]
            if other.h is not None:
                h = h + other.h * self.v[..., None, None]
        return Jet(self.v * other.v, g, h, self.second)

    # -- numpy's ufunc protocol ---------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__" or kwargs:
            return NotImplemented
        if ufunc in _UNARY and len(inputs) == 1:
            return self._chain(_UNARY[ufunc])
        if len(inputs) != 2:
            return NotImplemented
        a, b = inputs
        if ufunc is np.add:
            if isinstance(a, Jet) and isinstance(b, Jet):
                return a._plus(b, 1.0)
            return a._shifted(b) if isinstance(a, Jet) else b._shifted(a)
        if ufunc is np.subtract:
            if isinstance(a, Jet) and isinstance(b, Jet):
                return a._plus(b, -1.0)
            return a._shifted(-np.asarray(b)) if isinstance(a, Jet) else (-b)._shifted(a)
        if ufunc is np.multiply:
            if isinstance(a, Jet) and isinstance(b, Jet):
                return a._times(b)
            return a._scaled(b) if isinstance(a, Jet) else b._scaled(a)
        if ufunc in (np.true_divide, np.divide):
            if isinstance(b, Jet):
                inverse = b._chain(_power_of(-1.0))
                return inverse._times(a) if isinstance(a, Jet) else inverse._scaled(a)
            return a._scaled(1.0 / np.asarray(b, dtype=float))
        if ufunc is np.power:
            if not isinstance(b, Jet):
                exponent = np.asarray(b, dtype=float)
                if exponent.ndim == 0:
                    return a._chain(_power_of(float(exponent)))
                return np.exp(np.log(a) * exponent)
            if not isinstance(a, Jet):
                return b._chain(_exponential_of(np.asarray(a, dtype=float)))
            return np.exp(np.log(a) * b)
        return NotImplemented

    def __neg__(self) -> Jet:
        return self._chain(_negative)

    def __abs__(self) -> Jet:
        return self._chain(_abs)

    def __add__(self, other):
        return np.add(self, other)

    __radd__ = __add__

    def __sub__(self, other):
        return np.subtract(self, other)

    def __rsub__(self, other):
        return np.subtract(other, self)

    def __mul__(self, other):
        return np.multiply(self, other)

    __rmul__ = __mul__

    def __truediv__(self, other):
        return np.true_divide(self, other)

    def __rtruediv__(self, other):
        return np.true_divide(other, self)

    def __pow__(self, other):
        return np.power(self, other)

    def __rpow__(self, other):
        return np.power(other, self)


def seed_jets(P: np.ndarray, second: bool = True) -> list[Jet]:
    """One jet per column of ``P (..., p)``: ``P[..., i:i+1]`` with unit derivative ``e_i``.

    The values keep a trailing axis of length 1 so that they broadcast over bins.
    """
    P = np.asarray(P, dtype=float)
    p = P.shape[-1]
    eye = np.eye(p)
    return [Jet(P[..., i:i + 1], eye[i][None, :], None, second) for i in range(p)]
