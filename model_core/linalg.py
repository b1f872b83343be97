"""Hessians free of the parameters' units: the unit-diagonal scaling and its eigensystem.

A parameter measured in units a million times larger has a Hessian entry a
million-squared times smaller; eigenvalues of the raw Hessian mix such units
and thresholds on them mean nothing.  Scaled to unit diagonal,
``D^-1 H D^-1`` with ``D = sqrt(|diag H|)``, the Hessian's eigenvalues compare
curvatures as correlations do, so one threshold (:data:`FLAT_RTOL`) tells a
flat direction (a valley of equal NLL the data do not constrain) in any units.
Fits, Newton steps, whitening maps and valley walks all use this one helper.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FLAT_RTOL", "unit_diagonal_eigh"]

#: Eigenvalues of the unit-diagonal Hessian at or below this are flat: a correlation of
#: ``1 - 1e-8`` between two parameters is beyond what the data can distinguish.
FLAT_RTOL = 1e-8
#: Diagonal entries below this share of the largest are floored to it (a parameter the
#: NLL does not depend on at all), so the scaling stays finite.
_DIAGONAL_FLOOR = 1e-12


def unit_diagonal_eigh(hess: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eigensystem of the unit-diagonal Hessian, batched over leading axes.

    Parameters
    ----------
    hess
        ``(..., n, n)`` symmetric matrices with finite entries.

    Returns
    -------
    w, v, d
        ``w (..., n)`` ascending eigenvalues and ``v (..., n, n)`` eigenvectors
        (columns) of ``D^-1 H D^-1``, and the scales ``d (..., n) = diag(D)``.
        Directions in the parameters are ``v / d[..., :, None]``.
    """
    hess = np.asarray(hess, dtype=float)
    diag = np.abs(np.diagonal(hess, axis1=-2, axis2=-1))
    floor = np.maximum(_DIAGONAL_FLOOR * diag.max(axis=-1, keepdims=True), 1e-300)
    d = np.sqrt(np.maximum(diag, floor))
    w, v = np.linalg.eigh(hess / (d[..., :, None] * d[..., None, :]))
    return w, v, d
