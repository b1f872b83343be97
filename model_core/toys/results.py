"""Result types of the toy studies: streamed batches and rows, and the final results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import binomtest, chi2

from ..results import plain

__all__ = ["CalibratedGrid", "CalibratedRow", "CoverageBatch", "CoverageStudy",
           "clopper_pearson", "toy_quantile"]

#: Quantile rule of the toy-calibrated thresholds: the smallest ``t`` with
#: ``fraction(q <= t) >= CL``, so the calibrated region covers at least ``CL`` of the toys.
QUANTILE_METHOD = "inverted_cdf"


def clopper_pearson(k: int, n: int, level: float = 0.6827) -> tuple[float, float]:
    """Exact (Clopper-Pearson) interval of a binomial fraction ``k / n`` at ``level``."""
    if n == 0:
        return (float("nan"), float("nan"))
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="exact")
    return float(ci.low), float(ci.high)


def toy_quantile(q: np.ndarray, cl: float) -> float:
    """The toy-calibrated threshold: the ``cl``-quantile of the finite ``q`` (NaN if none)."""
    q = q[np.isfinite(q)]
    return float(np.quantile(q, cl, method=QUANTILE_METHOD)) if q.size else float("nan")


@dataclass(frozen=True, slots=True, eq=False)
class CoverageBatch:
    """Toys fitted since the previous batch of :func:`model_core.iter_coverage_study`.

    Attributes
    ----------
    start : int
        Index of the batch's first toy.
    q : ndarray (n,)
        The batch's test statistics (NaN for failed toys).
    failed : ndarray of int
        Indices (in the study) of the batch's failed toys.
    n_done, n_total : int
        Toys fitted so far, and requested.
    n_failed : int
        Failed toys so far.
    n_covered : ndarray of int (n_cl,)
        Toys so far with ``q <= chi2.ppf(CL, k)``, per confidence level.
    parameters : tuple of str
        The region's axes (``k = len(parameters)``).
    at : ndarray (npar,)
        The point the toys are drawn at.
    confidence_levels : tuple of float
    thresholds : ndarray (n_cl,)
        Wilks' ``chi2.ppf(CL, k)``.
    elapsed : float
        Seconds since the study started.
    """

    start: int
    q: np.ndarray
    failed: np.ndarray
    n_done: int
    n_total: int
    n_failed: int
    n_covered: np.ndarray
    parameters: tuple[str, ...]
    at: np.ndarray
    confidence_levels: tuple[float, ...]
    thresholds: np.ndarray
    elapsed: float

    @property
    def coverage(self) -> dict[float, float]:
        """Coverage so far: confidence level -> fraction of converged toys covered."""
        n_ok = self.n_done - self.n_failed
        return {cl: (float(k) / n_ok if n_ok else float("nan"))
                for cl, k in zip(self.confidence_levels, self.n_covered, strict=True)}


@dataclass(frozen=True, slots=True, eq=False)
class CoverageStudy:
    """Outcome of :func:`model_core.coverage_study`: does the Wilks region cover?

    Attributes
    ----------
    q : ndarray (n_toys,)
        ``2 (NLL_i(at_axes, profiled) - NLL_i,min)`` per toy; NaN for failed toys.
    dof : int
        ``k``, the number of axes.
    at : ndarray (npar,)
        The point the toys were drawn at (the truth).
    parameters : tuple of str
        The region's axes.
    parameter_names : tuple of str
        Every parameter of the model (the order of ``at``).
    fixed : dict
        Fixed parameters, name to value (the others are profiled).
    confidence_levels : tuple of float
    coverage : dict
        Confidence level -> fraction of converged toys with ``q <= chi2.ppf(CL, k)``.
    thresholds : ndarray (n_cl,)
        Wilks' ``chi2.ppf(CL, k)``.
    failed : ndarray of int
        Indices of the toys whose fits failed (excluded from ``coverage``).
    n_toys : int
        Toys requested; ``len(q)`` is smaller when the study was cancelled.
    status : str
        ``"complete"`` or ``"cancelled"``.
    elapsed : float
        Seconds.
    seed_entropy : int or None
        Entropy of the root seed: ``rng=seed_entropy`` repeats the study.
    nll_min : ndarray (n_toys,)
        Every toy's unconditional minimum.
    """

    q: np.ndarray
    dof: int
    at: np.ndarray
    parameters: tuple[str, ...]
    parameter_names: tuple[str, ...]
    fixed: dict[str, float]
    confidence_levels: tuple[float, ...]
    coverage: dict[float, float]
    thresholds: np.ndarray
    failed: np.ndarray
    n_toys: int
    status: str
    elapsed: float
    seed_entropy: int | None
    nll_min: np.ndarray

    @property
    def n_failed(self) -> int:
        return int(self.failed.size)

    @property
    def n_ok(self) -> int:
        """Toys whose fits converged."""
        return int(np.isfinite(self.q).sum())

    def covered(self, cl: float) -> int:
        """Number of converged toys with ``q <= chi2.ppf(cl, k)``."""
        return int(np.sum(self.q[np.isfinite(self.q)] <= chi2.ppf(cl, self.dof)))

    def coverage_interval(self, cl: float, level: float = 0.6827) -> tuple[float, float]:
        """Clopper-Pearson interval at ``level`` of the coverage at confidence level ``cl``."""
        return clopper_pearson(self.covered(cl), self.n_ok, level)

    def calibrated_threshold(self, cl: float) -> float:
        """The toy-calibrated Delta chi-square: the ``cl``-quantile of ``q``.

        The region ``q <= calibrated_threshold(cl)`` covers at least ``cl`` of the
        toys (Wilks' threshold is ``chi2.ppf(cl, dof)``).
        """
        return toy_quantile(self.q, cl)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary and every toy's ``q`` (NaN for failed toys)."""
        return plain({
            "status": self.status, "n_toys": self.n_toys, "n_done": len(self.q),
            "n_failed": self.n_failed, "failed": self.failed, "dof": self.dof,
            "parameters": list(self.parameters), "fixed": self.fixed,
            "at": dict(zip(self.parameter_names, self.at.tolist(), strict=True)),
            "confidence_levels": list(self.confidence_levels),
            "wilks_thresholds": self.thresholds,
            "coverage": {str(cl): v for cl, v in self.coverage.items()},
            "coverage_interval_68": {str(cl): list(self.coverage_interval(cl))
                                     for cl in self.confidence_levels},
            "calibrated_thresholds": {str(cl): self.calibrated_threshold(cl)
                                      for cl in self.confidence_levels},
            "seconds": self.elapsed, "seed_entropy": self.seed_entropy, "q": self.q})


@dataclass(frozen=True, slots=True, eq=False)
class CalibratedRow:
    """One finished row (``y = ys[row]``) of :func:`model_core.iter_calibrated_grid`.

    Attributes
    ----------
    row : int
    y : float
    xs : ndarray (nx,)
    q_observed : ndarray (nx,)
        The observed data's ``q`` at every point of the row.
    p_value : ndarray (nx,)
        Fraction of the point's converged toys with ``q >= q_observed``.
    thresholds : ndarray (nx, n_cl)
        Toy-calibrated thresholds at every point, per confidence level.
    n_failed : ndarray of int (nx,)
    n_rows_done, n_rows : int
    elapsed : float
    """

    row: int
    y: float
    xs: np.ndarray
    q_observed: np.ndarray
    p_value: np.ndarray
    thresholds: np.ndarray
    n_failed: np.ndarray
    n_rows_done: int
    n_rows: int
    elapsed: float


@dataclass(frozen=True, slots=True, eq=False)
class CalibratedGrid:
    """A Neyman construction on a 2-D grid (:func:`model_core.calibrated_grid`).

    At every grid point ``(x, y)`` toys drawn at the point (the other
    parameters at their best fit to the observed data there) give the
    distribution of ``q``; the observed ``q`` is compared with it.

    Attributes
    ----------
    parameters : (px, py)
    xs, ys : ndarray
    confidence_levels : tuple of float
    q_observed : ndarray (ny, nx)
        ``2 (NLL(x, y, profiled) - NLL_min)`` of the observed data.
    p_value : ndarray (ny, nx)
        ``P(q >= q_observed)`` under the toys of each point (NaN where not computed).
    thresholds : ndarray (ny, nx, n_cl)
        Toy-calibrated Delta chi-square per point and confidence level.
    wilks_thresholds : ndarray (n_cl,)
        ``chi2.ppf(CL, 2)``.
    truth : ndarray (ny, nx, npar)
        The point every grid point's toys were drawn at.
    n_toys : int
        Toys per grid point.
    n_failed : ndarray of int (ny, nx)
    rows_done : int
        Rows computed (``ny`` unless cancelled).
    status : str
        ``"complete"`` or ``"cancelled"``.
    theta_mle : ndarray (npar,); nll_min : float
        The best fit to the observed data.
    fixed : dict
    elapsed : float
    seed_entropy : int or None
    """

    parameters: tuple[str, str]
    xs: np.ndarray
    ys: np.ndarray
    confidence_levels: tuple[float, ...]
    q_observed: np.ndarray
    p_value: np.ndarray
    thresholds: np.ndarray
    wilks_thresholds: np.ndarray
    truth: np.ndarray
    n_toys: int
    n_failed: np.ndarray
    rows_done: int
    status: str
    theta_mle: np.ndarray
    nll_min: float
    fixed: dict[str, float]
    elapsed: float
    seed_entropy: int | None

    def _level(self, cl: float) -> int:
        try:
            return self.confidence_levels.index(cl)
        except ValueError:
            raise ValueError(f"confidence level {cl!r} was not computed; the grid has "
                             f"{list(self.confidence_levels)}") from None

    def inside(self, cl: float) -> np.ndarray:
        """Toy-calibrated region at ``cl``: points whose p-value exceeds ``1 - cl``."""
        self._level(cl)
        with np.errstate(invalid="ignore"):
            return self.p_value > 1.0 - cl

    def wilks_inside(self, cl: float) -> np.ndarray:
        """Wilks' region at ``cl``: ``q_observed <= chi2.ppf(cl, 2)``."""
        return self.q_observed <= self.wilks_thresholds[self._level(cl)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready arrays (NaN where not computed)."""
        return plain({
            "parameters": list(self.parameters), "xs": self.xs, "ys": self.ys,
            "confidence_levels": list(self.confidence_levels), "q_observed": self.q_observed,
            "p_value": self.p_value, "thresholds": self.thresholds,
            "wilks_thresholds": self.wilks_thresholds, "n_toys": self.n_toys,
            "n_failed": self.n_failed, "rows_done": self.rows_done, "status": self.status,
            "theta_mle": self.theta_mle, "nll_min": self.nll_min, "fixed": self.fixed,
            "seconds": self.elapsed, "seed_entropy": self.seed_entropy})
