"""The function whose level set the contour finder traces: the (profiled) NLL over the axes.

:class:`ContourSurface` reduces a :class:`~model_core.model.Model` to the
contour axes: fixed parameters are pinned, and parameters that are neither
fixed nor on an axis are profiled, i.e. minimised at every evaluation by a
batched, warm-started Newton fit (:func:`~model_core.inner.newton_minimize`).
The gradient of the profiled NLL is the partial gradient of the full NLL at
the inner optimum (envelope theorem), so one batched reverse pass gives every
row's gradient.  Every method works on a whole batch ``Y (B, k)`` at once and
carries the profiled parameters ``P (B, m)`` as warm starts.

The object pickles (the model pickles by its spec), so it can be shipped to
process pools and Dask workers with each work unit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..inner import newton_minimize
from ..model import Model
from ..params import ReducedModel

__all__ = ["ContourSurface"]

#: Newton-decrement tolerance of the inner (profiling) fits, in NLL units.
INNER_TOL = 1e-14
#: Singular values of the profiled block below this share of the largest are dropped
#: (a profiled parameter the NLL does not depend on).
_PINV_RTOL = 1e-12


class ContourSurface:
    """The NLL as a function of the contour axes, batched, with exact gradients.

    Parameters
    ----------
    model
        The full model.
    axes
        Indices of the contour axes in ``model``.
    fixed
        Fixed parameters: index to value.
    bounds
        ``(npar, 2)`` bounds of every parameter.
    threshold
        The level ``T`` (may be set later with :meth:`at_level`).
    """

    def __init__(self, model: Model, axes: Sequence[int], fixed: dict[int, float],
                 bounds: np.ndarray, threshold: float = float("nan")) -> None:
        self.model = model
        self.axes = np.asarray(axes, dtype=int)
        self.fixed = dict(fixed)
        taken = set(self.axes.tolist()) | set(self.fixed)
        self.profiled = np.array([i for i in range(model.npar) if i not in taken], dtype=int)
        self.all_bounds = np.array(bounds, dtype=float)
        self.bounds = self.all_bounds[self.axes]
        self.threshold = float(threshold)
        base = model.init.copy()
        for i, v in self.fixed.items():
            base[i] = v
        self.base = base

    def at_level(self, threshold: float) -> ContourSurface:
        """A copy with the level ``T`` set."""
        return ContourSurface(self.model, self.axes, self.fixed, self.all_bounds, threshold)

    @property
    def k(self) -> int:
        """Number of contour axes."""
        return len(self.axes)

    @property
    def m(self) -> int:
        """Number of profiled parameters."""
        return len(self.profiled)

    @property
    def axis_names(self) -> tuple[str, ...]:
        return tuple(self.model.parameter_names[i] for i in self.axes)

    @property
    def profiled_names(self) -> tuple[str, ...]:
        return tuple(self.model.parameter_names[i] for i in self.profiled)

    def full(self, Y: np.ndarray, P: np.ndarray | None = None) -> np.ndarray:
        """Full parameter vectors for axis values ``Y (..., k)`` and profiled values ``P``."""
        Y = np.asarray(Y, dtype=float)
        X = np.broadcast_to(self.base, Y.shape[:-1] + (self.model.npar,)).copy()
        X[..., self.axes] = Y
        if self.m:
            X[..., self.profiled] = self.default_profiled(len(Y)) if P is None else P
        return X

    def default_profiled(self, n: int) -> np.ndarray:
        """Starting values of the profiled parameters for ``n`` rows."""
        return np.tile(self.base[self.profiled], (n, 1))

    def _inner(self, Y: np.ndarray, P0: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Profile: minimise over the profiled parameters at every row; ``(value, P)``."""
        X = self.full(Y, P0)
        inner = ReducedModel(self.model, self.profiled, X, self.all_bounds[self.profiled])
        result = newton_minimize(inner, X[:, self.profiled], max_iter=50, tol=INNER_TOL,
                                 hessian="differences")
        value = np.where(result.success, result.fun, np.nan)
        return value, result.x

    def value(self, Y: np.ndarray, P0: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
        """The (profiled) NLL at every row of ``Y (B, k)``; returns ``(value (B,), P (B, m))``.

        ``value`` is ``+inf`` where the NLL is infinite and ``nan`` where an
        inner fit did not converge.
        """
        Y = np.atleast_2d(np.asarray(Y, dtype=float))
        if not self.m:
            return self.model.nll(self.full(Y)), np.zeros((len(Y), 0))
        return self._inner(Y, P0)

    def nll_at(self, Y: np.ndarray, P: np.ndarray) -> np.ndarray:
        """The NLL at axis values ``Y (B, k)`` with the profiled parameters at ``P`` (no fit)."""
        return self.model.nll(self.full(np.atleast_2d(np.asarray(Y, dtype=float)), P))

    def value_and_grad(self, Y: np.ndarray, P0: np.ndarray | None = None
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Value, gradient with respect to the axes ``(B, k)`` and profiled values."""
        Y = np.atleast_2d(np.asarray(Y, dtype=float))
        if not self.m:
            value, grad = self.model.value_and_grad(self.full(Y))
            return value, grad[:, self.axes], np.zeros((len(Y), 0))
        value, P = self._inner(Y, P0)
        _, grad = self.model.value_and_grad(self.full(Y, P))
        return value, grad[:, self.axes], P

    def hessian(self, Y: np.ndarray, P: np.ndarray | None = None) -> np.ndarray:
        """Hessian of the (profiled) NLL over the axes: the Schur complement when profiling.

        ``P`` must be the profiled optimum at ``Y`` (from :meth:`value`).
        """
        return self.curvature(Y, P)[0]

    def curvature(self, Y: np.ndarray, P: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`hessian` and ``dP/dY (B, m, k)``, the profiled optimum's linear response
        to the axes (``-H_pp^-1 H_pa``), from one exact Hessian per row."""
        Y = np.atleast_2d(np.asarray(Y, dtype=float))
        hess = self.model.hessian(self.full(Y, P))
        a, p = self.axes, self.profiled
        h_aa = hess[:, a[:, None], a[None, :]]
        if not self.m:
            return h_aa, np.zeros((len(Y), 0, self.k))
        h_pa = hess[:, p[:, None], a[None, :]]
        h_pp = hess[:, p[:, None], p[None, :]]
        finite = np.all(np.isfinite(hess), axis=(1, 2))
        inverse = np.full_like(h_pp, np.nan)
        inverse[finite] = np.linalg.pinv(h_pp[finite], rtol=_PINV_RTOL, hermitian=True)
        predictor = -inverse @ h_pa
        schur = h_aa + np.swapaxes(h_pa, -1, -2) @ predictor
        return 0.5 * (schur + np.swapaxes(schur, -1, -2)), predictor

    def inside_bounds(self, Y: np.ndarray) -> np.ndarray:
        """Rows of ``Y`` within the axes' bounds."""
        return np.all((Y >= self.bounds[:, 0]) & (Y <= self.bounds[:, 1]), axis=-1)
