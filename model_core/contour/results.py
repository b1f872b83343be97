"""Result types of the contour finder: streamed batches and the final result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

__all__ = ["ContourBatch", "ContourResult", "Stage"]

Stage = Literal["mle", "radial", "gaps", "rattle", "done"]


@dataclass(frozen=True, slots=True, eq=False)
class ContourBatch:
    """New work from :func:`model_core.iter_contour`, as it arrives.

    Attributes
    ----------
    stage : str
        ``"mle"`` (carries no points, but fixes ``theta_mle``, ``nll_min`` and
        ``threshold``), ``"radial"``, ``"gaps"``, ``"rattle"``, or ``"done"``.
    points : ndarray (n, k)
        Only the points new in this batch, in the contour axes.
    from_radial, on_bound : ndarray of bool (n,)
        Origin of each new point; points that stopped on a parameter bound.
    residuals : ndarray (n,)
        ``NLL - T`` at each new point.
    n_done, n_total : int
        Progress within the stage (``n_total`` may be 0 when unknown).
    n_points : int
        Points reported so far, this batch included.
    n_evaluations : int
        NLL evaluations so far (one per row of every batched call).
    parameter_names : tuple of str
        The contour axes.
    theta_mle : ndarray (k,)
        Best fit in the contour axes.
    nll_min, threshold : float
        ``NLL_min`` and ``T``.
    message : str
        Anything the user should know now (e.g. a flat direction was found).
    full_points : ndarray (n, npar) or None
        Full parameter vectors of the new points (fixed and profiled parameters included).
    warnings : tuple of str
        Warnings raised so far in the run.
    """

    stage: str
    points: np.ndarray
    from_radial: np.ndarray
    on_bound: np.ndarray
    residuals: np.ndarray
    n_done: int
    n_total: int
    n_points: int
    n_evaluations: int
    parameter_names: tuple[str, ...]
    theta_mle: np.ndarray
    nll_min: float
    threshold: float
    message: str = ""
    full_points: np.ndarray | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, eq=False)
class ContourResult:
    """Points on the confidence-region boundary ``NLL = T`` (:func:`model_core.find_contour`).

    The first fields are those of the seed document's ``ContourResult``.

    Attributes
    ----------
    theta_mle : ndarray (k,)
    nll_min : float
    threshold : float
        ``T = nll_min + delta / 2``.
    delta : float
        ``chi2.ppf(confidence_level, dof)``.
    contour_points : ndarray (N, k)
    from_radial : ndarray of bool (N,)
    parameter_names : tuple of str
    confidence_level : float
    dof : int
    residuals : ndarray (N,)
        ``NLL - T`` at every point.
    on_bound : ndarray of bool (N,)
    full_points : ndarray (N, npar)
        Full parameter vectors (fixed and profiled parameters included).
    stage : str
        Last stage reached.
    status : {"complete", "cancelled", "budget_exhausted", "failed"}
        ``"failed"`` when the maximum-likelihood fit did not converge.
    message : str
        Warnings (flat directions, bounds reached) and how the run ended.
    warnings : tuple of str
    n_evaluations : int
    elapsed : float
        Seconds.
    minima : ndarray (m, k)
        Distinct basins' best fits in the contour axes.
    seed_entropy : int | None
        Root ``SeedSequence`` entropy, to reproduce the run.
    settings : dict
        The settings used, plus ``fixed`` and ``bounds`` (by name), the
        ``profiled`` parameters and ``all_parameters`` (the columns of ``full_points``).
    scale : ndarray (k,) or None
        Per-axis lengths of the metric in which points are evenly spaced (the
        extent of the region found by the radial search).
    """

    theta_mle: np.ndarray
    nll_min: float
    threshold: float
    delta: float
    contour_points: np.ndarray
    from_radial: np.ndarray
    parameter_names: tuple[str, ...]
    confidence_level: float
    dof: int
    residuals: np.ndarray
    on_bound: np.ndarray
    full_points: np.ndarray
    stage: str
    status: str
    message: str
    warnings: tuple[str, ...]
    n_evaluations: int
    elapsed: float
    minima: np.ndarray
    seed_entropy: int | None
    settings: dict[str, Any]
    scale: np.ndarray | None = None

    def __repr__(self) -> str:
        axes = ", ".join(f"{n}={v:.4g}" for n, v in zip(self.parameter_names, self.theta_mle,
                                                          strict=True))
        return (f"ContourResult({self.status}, {len(self.contour_points)} points "
                f"({int(np.sum(self.from_radial))} radial, {int(np.sum(self.on_bound))} on bounds) "
                f"at CL {self.confidence_level:g} with k={self.dof}; T={self.threshold:.10g}, "
                f"NLL_min={self.nll_min:.10g} at {axes}; {self.elapsed:.2f} s, "
                f"{self.n_evaluations} evaluations)")
