"""Whitening: coordinates in which the confidence region near a minimum is a unit-ish sphere.

With ``H`` the Hessian of the (profiled) NLL at a minimum ``a``, the map
``x = a + M phi`` with ``M M^T = H^-1`` makes ``NLL(x) ~ NLL(a) + |phi|^2 / 2``,
so the contour is close to the sphere ``|phi| = sqrt(Delta)``.

Flat directions (a valley of equal NLL, where ``H`` has a zero eigenvalue) are
detected on the unit-diagonal Hessian ``D^-1 H D^-1`` (``D = sqrt(diag H)``),
which is free of the parameters' units.  Their eigenvalue is replaced by the
smallest non-flat one, so a flat direction is searched like the softest real
one; an inverse with a tiny floor instead would stretch it so far that almost
every ray would run along the valley.  The rays along such a direction then
stop at the parameter bounds or at a cap (:mod:`.radial`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..linalg import FLAT_RTOL, unit_diagonal_eigh

__all__ = ["Whitener", "build_whitener"]


@dataclass(frozen=True, slots=True, eq=False)
class Whitener:
    """Affine map between parameters ``x`` and whitened coordinates ``phi``.

    Attributes
    ----------
    anchor : ndarray (k,)
        The minimum the map is centred on.
    matrix : ndarray (k, k)
        ``M``: ``x = anchor + M @ phi``.
    inverse : ndarray (k, k)
        ``M^-1``: ``phi = M^-1 @ (x - anchor)``.
    flat : ndarray (n_flat, k)
        Unit vectors (in ``x``) along which the Hessian vanishes.
    eigenvalues : ndarray (k,)
        Eigenvalues of the unit-diagonal Hessian, ascending.
    """

    anchor: np.ndarray
    matrix: np.ndarray
    inverse: np.ndarray
    flat: np.ndarray
    eigenvalues: np.ndarray

    def to_x(self, phi: np.ndarray) -> np.ndarray:
        """Parameters for whitened coordinates ``phi (..., k)``."""
        return self.anchor + np.asarray(phi) @ self.matrix.T

    def to_phi(self, x: np.ndarray) -> np.ndarray:
        """Whitened coordinates of parameters ``x (..., k)``."""
        return (np.asarray(x) - self.anchor) @ self.inverse.T


def build_whitener(anchor: np.ndarray, hessian: np.ndarray, *, flat_rtol: float = FLAT_RTOL
                   ) -> Whitener:
    """The whitening map at ``anchor`` from the (profiled) Hessian there.

    Non-finite Hessians give the identity map with every direction flat.
    """
    anchor = np.asarray(anchor, dtype=float)
    k = len(anchor)
    hess = 0.5 * (hessian + hessian.T)
    if not np.all(np.isfinite(hess)) or not np.any(np.diag(hess)):
        return Whitener(anchor, np.eye(k), np.eye(k), np.eye(k), np.zeros(k))
    w, v, d = unit_diagonal_eigh(hess)
    w = np.abs(w)
    flat = w <= flat_rtol
    soft = w[~flat].min() if (~flat).any() else 1.0
    w_reg = np.where(flat, soft, w)
    matrix = (v / np.sqrt(w_reg)) / d[:, None]
    inverse = (v.T * np.sqrt(w_reg)[:, None]) * d[None, :]
    directions = (v[:, flat] / d[:, None]).T
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    order = np.argsort(w)
    return Whitener(anchor, matrix, inverse, directions, w[order])
