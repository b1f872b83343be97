"""HistFactory interpolation codes, as pyhf 0.7.6 defines them, in traceable form.

Additive (``histosys``): the shift of a yield is written as
``c_up(alpha) * (hi - nom) + c_down(alpha) * (nom - lo)`` so that all bins and
samples are summed with one matrix product.

- code 0 (piecewise linear): ``c_up = max(alpha, 0)``, ``c_down = min(alpha, 0)``.
- code 4p (pyhf's default): linear for ``|alpha| > 1``; inside,
  ``alpha * S + alpha^2 (15 - 10 alpha^2 + 3 alpha^4) A`` with
  ``S = (up + down) / 2`` and ``A = (up - down) / 16``, i.e.
  ``c_up = alpha / 2 + q``, ``c_down = alpha / 2 - q`` with
  ``q = alpha^2 (15 - 10 alpha^2 + 3 alpha^4) / 16``.

Multiplicative (``normsys``), as the logarithm of the factor so that many
factors multiply with one matrix product:

- code 1: ``hi^alpha`` for ``alpha > 0``, ``lo^-alpha`` otherwise.
- code 4 (pyhf's default): code 1 for ``|alpha| >= 1``; inside, the polynomial
  ``1 + sum_{i=1..6} a_i alpha^i`` whose coefficients match value, first and
  second derivative of the exponential branches at ``alpha = +-1``.

Exactly at ``alpha = -1`` code 4 takes the ``lo`` branch and at ``alpha = 1``
the ``hi`` branch, as pyhf does (the branches agree there anyway).

Every function takes the array namespace ``xp``: :mod:`autograd.numpy` (the
default, differentiable) or plain :mod:`numpy` (faster on plain arrays).
"""

from __future__ import annotations

import autograd.numpy as anp
import numpy as np

__all__ = ["HISTOSYS_CODES", "NORMSYS_CODES", "code4_coefficients", "histosys_coefficients",
           "histosys_derivatives", "histosys_second_derivatives", "normsys_log_derivatives",
           "normsys_log_factors", "normsys_log_second_derivatives"]

HISTOSYS_CODES = ("code0", "code4p")
NORMSYS_CODES = ("code1", "code4")

# Rows: f(1), f(-1), f'(1), f'(-1), f''(1), f''(-1) of f(a) = sum_{i=1..6} a_i a^i.
_POWERS = np.arange(1, 7)
_CONDITIONS = np.array([
    np.ones(6),
    (-1.0) ** _POWERS,
    _POWERS,
    _POWERS * (-1.0) ** (_POWERS - 1),
    _POWERS * (_POWERS - 1),
    _POWERS * (_POWERS - 1) * (-1.0) ** (_POWERS - 2),
])


def code4_coefficients(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Coefficients ``a_1..a_6`` (shape ``(..., 6)``) of the code-4 polynomial.

    They make ``1 + sum a_i alpha^i`` meet ``hi^alpha`` and ``lo^-alpha`` at
    ``alpha = +-1`` with equal first and second derivatives.  ``lo, hi > 0``.
    """
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    log_lo, log_hi = np.log(lo), np.log(hi)
    rhs = np.stack([hi - 1.0, lo - 1.0, hi * log_hi, -lo * log_lo, hi * log_hi**2,
                    lo * log_lo**2], axis=-1)
    return np.linalg.solve(_CONDITIONS, rhs[..., None])[..., 0]


def histosys_coefficients(alpha, code: str, xp=anp):
    """``(c_up, c_down)`` multiplying ``hi - nom`` and ``nom - lo``; same shape as ``alpha``."""
    if code == "code0":
        positive = alpha > 0
        return xp.where(positive, alpha, 0.0), xp.where(positive, 0.0, alpha)
    if code != "code4p":
        raise ValueError(f"histosys interpolation {code!r} is not one of {HISTOSYS_CODES}")
    above, below = alpha > 1, alpha < -1
    inner = xp.where(above | below, 0.0, alpha)
    square = inner * inner
    q = square * (15.0 + square * (3.0 * square - 10.0)) / 16.0
    half = 0.5 * inner
    c_up = xp.where(above, alpha, half + q)
    c_down = xp.where(below, alpha, half - q)
    return c_up, c_down


def histosys_derivatives(alpha, code: str, xp=anp):
    """``(d c_up / d alpha, d c_down / d alpha)``, traceable (second derivatives by autograd)."""
    if code == "code0":
        positive = alpha > 0
        return xp.where(positive, 1.0, 0.0), xp.where(positive, 0.0, 1.0)
    above, below = alpha > 1, alpha < -1
    inner = xp.where(above | below, 0.0, alpha)
    square = inner * inner
    dq = inner * (30.0 + square * (18.0 * square - 40.0)) / 16.0
    d_up = xp.where(above, 1.0, xp.where(below, 0.0, 0.5 + dq))
    d_down = xp.where(below, 1.0, xp.where(above, 0.0, 0.5 - dq))
    return d_up, d_down


def histosys_second_derivatives(alpha, code: str, xp=np):
    """``(d2 c_up / d alpha2, d2 c_down / d alpha2)`` (0 on the linear pieces)."""
    if code == "code0":
        zero = xp.zeros_like(alpha)
        return zero, zero
    outside = (alpha > 1) | (alpha < -1)
    inner = xp.where(outside, 0.0, alpha)
    square = inner * inner
    d2q = xp.where(outside, 0.0, (30.0 + square * (90.0 * square - 120.0)) / 16.0)
    return d2q, -d2q


def normsys_log_factors(alpha, log_lo: np.ndarray, log_hi: np.ndarray, code: str,
                        coefficients: np.ndarray | None = None, xp=anp):
    """Logarithm of the normsys factor for each application (last axis of ``alpha``).

    ``coefficients`` (``(n, 6)``, from :func:`code4_coefficients`) are needed for code 4.
    Where the code-4 polynomial is not positive the result is NaN (the NLL then
    becomes ``+inf``, as for any non-positive rate).
    """
    if code == "code1":
        return xp.where(alpha > 0, alpha * log_hi, -alpha * log_lo)
    if code != "code4":
        raise ValueError(f"normsys interpolation {code!r} is not one of {NORMSYS_CODES}")
    up, down = alpha >= 1, alpha <= -1
    outside = xp.where(up, alpha * log_hi, -alpha * log_lo)
    inner = xp.where(up | down, 0.0, alpha)
    poly = 1.0 + inner * _horner(inner, coefficients)
    log_poly = xp.log(xp.where(poly > 0, poly, np.nan))
    return xp.where(up | down, outside, log_poly)


def normsys_log_derivatives(alpha, log_lo: np.ndarray, log_hi: np.ndarray, code: str,
                            coefficients: np.ndarray | None = None, xp=anp):
    """``d log(factor) / d alpha`` for :func:`normsys_log_factors`, traceable."""
    if code == "code1":
        return xp.where(alpha > 0, log_hi, -log_lo)
    up, down = alpha >= 1, alpha <= -1
    inner = xp.where(up | down, 0.0, alpha)
    poly = 1.0 + inner * _horner(inner, coefficients)
    slope = _horner(inner, coefficients * _POWERS)
    inside = slope / xp.where(poly > 0, poly, np.nan)
    return xp.where(up, log_hi, xp.where(down, -log_lo, inside))


def normsys_log_second_derivatives(alpha, log_lo: np.ndarray, log_hi: np.ndarray, code: str,
                                   coefficients: np.ndarray | None = None, xp=np):
    """``d2 log(factor) / d alpha2`` for :func:`normsys_log_factors` (0 outside ``|alpha| < 1``)."""
    if code == "code1":
        return xp.zeros_like(alpha * log_hi)
    outside = (alpha >= 1) | (alpha <= -1)
    inner = xp.where(outside, 0.0, alpha)
    poly = 1.0 + inner * _horner(inner, coefficients)
    slope = _horner(inner, coefficients * _POWERS)
    curve = _horner(inner, (coefficients * _POWERS * (_POWERS - 1))[:, 1:])
    poly = xp.where(poly > 0, poly, np.nan)
    return xp.where(outside, 0.0, curve / poly - (slope / poly) ** 2)


def _horner(x, coefficients: np.ndarray):
    """``sum_i coefficients[:, i] x^i`` (Horner's scheme; columns are ascending powers)."""
    out = coefficients[:, -1]
    for i in range(coefficients.shape[1] - 2, -1, -1):
        out = coefficients[:, i] + x * out
    return out
