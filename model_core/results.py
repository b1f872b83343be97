"""Result types of fits, profiles and grids (frozen; scipy/iminuit vocabulary)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .stats import delta_chi2

__all__ = ["FitResult", "ProfileResult", "GridResult", "plain"]


def plain(value: Any) -> Any:
    """``value`` as JSON-ready Python data: arrays and tuples to lists, numpy scalars to
    Python ones, through dictionaries and lists."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


@dataclass(frozen=True, slots=True, eq=False)
class FitResult:
    """Outcome of :func:`model_core.fit`.

    Attributes
    ----------
    x : ndarray (npar,)
        Best-fit parameters, fixed ones included.
    fun : float
        NLL at ``x``.
    success : bool
        Converged to a local minimum with a positive semi-definite Hessian.
    message : str
        What happened and, on failure, what to try.
    nfev, njev, nit : int
        Function and gradient evaluations, iterations (all starts).
    hess : ndarray (npar, npar)
        Exact Hessian of the NLL at ``x``.
    covariance : ndarray (npar, npar)
        Inverse Hessian over the free parameters (zero rows for fixed ones);
        pseudo-inverse when the Hessian is singular.
    flat_directions : ndarray (n_flat, npar)
        Unit vectors along which the Hessian vanishes (a valley of equal NLL).
    parameter_names : tuple of str
    fixed : ndarray of bool
    at_bound : ndarray of bool
        Free parameters that ended on a bound.
    has_posdef_hessian : bool
    min_eigenvalue : float
        Smallest eigenvalue of the free block of the Hessian.
    minima_x, minima_fun : ndarray
        Distinct local minima found from the starts, best first.
    """

    x: np.ndarray
    fun: float
    success: bool
    message: str
    nfev: int
    njev: int
    nit: int
    hess: np.ndarray
    covariance: np.ndarray
    parameter_names: tuple[str, ...]
    fixed: np.ndarray
    at_bound: np.ndarray
    has_posdef_hessian: bool
    min_eigenvalue: float
    flat_directions: np.ndarray
    minima_x: np.ndarray
    minima_fun: np.ndarray

    @property
    def values(self) -> dict[str, float]:
        """Best-fit values by name."""
        return dict(zip(self.parameter_names, self.x.tolist(), strict=True))

    @property
    def errors(self) -> dict[str, float]:
        """Parabolic (inverse-Hessian) uncertainties by name.

        0 for fixed parameters; ``inf`` for parameters that move along a flat direction.
        """
        err = np.sqrt(np.clip(np.diag(self.covariance), 0.0, None))
        err[np.any(np.abs(self.flat_directions) > 1e-6, axis=0)] = np.inf
        return dict(zip(self.parameter_names, err.tolist(), strict=True))

    def __getitem__(self, name: str) -> float:
        return self.values[name]

    def to_dict(self) -> dict[str, Any]:
        return {k: plain(getattr(self, k)) for k in self.__dataclass_fields__}

    def __repr__(self) -> str:
        flag = "success" if self.success else "FAILED"
        pars = ", ".join(f"{n}={v:.6g}" + (" (fixed)" if f else "")
                         for n, v, f in zip(self.parameter_names, self.x, self.fixed, strict=True))
        return f"FitResult({flag}, fun={self.fun:.10g}, {pars}; {self.message})"


@dataclass(frozen=True, slots=True, eq=False)
class ProfileResult:
    """A 1-D likelihood scan or profile (:func:`model_core.profile`).

    Attributes
    ----------
    parameter : str
    grid : ndarray (N,)
    nll : ndarray (N,)
        NLL at each grid value (others at the best fit for ``scan``, re-fitted for ``profile``).
    success : ndarray of bool (N,)
    x : ndarray (N, npar)
        Full parameter vectors at each point.
    mode : {"profile", "scan"}
    nll_min : float
        NLL of the global best fit (the reference for Delta chi-square).
    x_min : ndarray (npar,)
    """

    parameter: str
    grid: np.ndarray
    nll: np.ndarray
    success: np.ndarray
    x: np.ndarray
    mode: str
    nll_min: float
    x_min: np.ndarray
    parameter_names: tuple[str, ...]

    @property
    def delta_chi2(self) -> np.ndarray:
        """``2 (NLL - NLL_min)`` at each grid point."""
        return 2.0 * (self.nll - self.nll_min)

    def interval(self, confidence_level: float = 0.6826894921370859) -> tuple[float, float]:
        """Where the curve crosses ``chi2.ppf(CL, 1)``, linearly interpolated.

        An end is ``nan`` when the curve does not cross within the grid on that side.
        """
        level = delta_chi2(confidence_level, 1)
        d = np.where(self.success, self.delta_chi2, np.nan)
        best = int(np.nanargmin(d))
        return (_crossing(self.grid[best::-1], d[best::-1], level),
                _crossing(self.grid[best:], d[best:], level))

    def to_dict(self) -> dict[str, Any]:
        return {k: plain(getattr(self, k)) for k in self.__dataclass_fields__}


def _crossing(grid: np.ndarray, values: np.ndarray, level: float) -> float:
    above = np.flatnonzero(values > level)
    if above.size == 0 or above[0] == 0:
        return float("nan")
    i = above[0]
    x0, x1, y0, y1 = grid[i - 1], grid[i], values[i - 1], values[i]
    return float(x0 + (level - y0) * (x1 - x0) / (y1 - y0))


@dataclass(frozen=True, slots=True, eq=False)
class GridResult:
    """NLL and its gradient on a 2-D grid over two parameters (:func:`model_core.nll_grid`).

    Attributes
    ----------
    parameters : tuple of str
        The two axis parameters ``(px, py)``.
    x_values, y_values : ndarray (nx,), (ny,)
    nll : ndarray (ny, nx)
    grad : ndarray (ny, nx, 2)
        ``d NLL / d(px, py)``; for profiled grids, of the profiled NLL (envelope theorem).
    success : ndarray of bool (ny, nx)
    x : ndarray (ny, nx, npar)
        Full parameter vectors at each grid point.
    mode : {"fixed", "profile"}
    """

    parameters: tuple[str, str]
    x_values: np.ndarray
    y_values: np.ndarray
    nll: np.ndarray
    grad: np.ndarray
    success: np.ndarray
    x: np.ndarray
    mode: str

    def to_dict(self) -> dict[str, Any]:
        return {k: plain(getattr(self, k)) for k in self.__dataclass_fields__}
