"""Result types of the contour finder: streamed batches and the final result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np

__all__ = ["STAGES", "ContourBatch", "ContourResult", "Island", "Stage"]

#: The stages of a search, in the order they first run (``done`` is the last batch).
Stage = Literal["mle", "explore", "radial", "gaps", "rattle", "fill", "faces", "done"]
STAGES: tuple[Stage, ...] = get_args(Stage)


@dataclass(frozen=True, slots=True, eq=False)
class Island:
    """One connected part of the confidence region.

    Attributes
    ----------
    minimum : ndarray (k,)
        Its lowest point found (a local minimum of the NLL over the axes).
    nll : float
        The NLL there.
    n_points : int
        Contour points on its boundary.
    """

    minimum: np.ndarray
    nll: float
    n_points: int


@dataclass(frozen=True, slots=True, eq=False)
class ContourBatch:
    """New work from :func:`model_core.iter_contour`, as it arrives.

    Attributes
    ----------
    stage : Stage
        ``"mle"`` (carries no points, but fixes ``theta_mle``, ``nll_min`` and
        ``threshold``), ``"explore"`` (the search for separate regions),
        ``"radial"``, ``"gaps"``, ``"rattle"``, ``"fill"`` (hole filling),
        ``"faces"`` (where the region meets a parameter bound), or ``"done"``
        (the last batch: no points, and the finished ``result``).
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
    result : ContourResult or None
        The finished (or cancelled) search, in the ``"done"`` batch only.
    """

    stage: Stage
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
    result: ContourResult | None = None


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
    stage : Stage
        Last stage reached.
    status : {"complete", "cancelled", "budget_exhausted", "failed"}
        ``"failed"`` when the maximum-likelihood fit did not converge.
    message : str
        How the run ended, in one sentence.
    warnings : tuple of str
        What the user must know (flat directions, an unbounded region, regions
        that may lie beyond the searched box).
    n_evaluations : int
    elapsed : float
        Seconds.
    minima : ndarray (m, k)
        Distinct minima inside the region in the contour axes, best first.
    seed_entropy : int | None
        Root ``SeedSequence`` entropy, to reproduce the run.
    settings : dict
        The settings used (:class:`~.settings.ContourSettings` by name), plus
        ``fixed`` and ``bounds`` (by name), the ``profiled`` parameters and
        ``all_parameters`` (the columns of ``full_points``).
    scale : ndarray (k,) or None
        Per-axis lengths of the metric in which points are evenly spaced (the
        extent of the whole region found).
    notes : tuple of str
        What else happened (valley walks, islands, hole filling, faces).
    islands : tuple of Island
        The separate parts of the region, the one holding the best fit first.
    island : ndarray of int (N,)
        Index into ``islands`` of every point.
    search_box : ndarray (k, 2) or None
        The box searched for separate parts of the region.
    uncovered : float or None
        When the point budget stopped the run: the estimated share of the
        surface farther than ``spacing`` from every point.
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
    stage: Stage
    status: str
    message: str
    warnings: tuple[str, ...]
    n_evaluations: int
    elapsed: float
    minima: np.ndarray
    seed_entropy: int | None
    settings: dict[str, Any]
    scale: np.ndarray | None = None
    notes: tuple[str, ...] = ()
    islands: tuple[Island, ...] = ()
    island: np.ndarray | None = None
    search_box: np.ndarray | None = None
    uncovered: float | None = None

    def __repr__(self) -> str:
        axes = ", ".join(f"{n}={v:.4g}" for n, v in zip(self.parameter_names, self.theta_mle,
                                                          strict=True))
        return (f"ContourResult({self.status}, {len(self.contour_points)} points "
                f"({int(np.sum(self.from_radial))} radial, {int(np.sum(self.on_bound))} on bounds) "
                f"at CL {self.confidence_level:g} with k={self.dof}, {len(self.islands)} island"
                f"{'' if len(self.islands) == 1 else 's'}; T={self.threshold:.10g}, "
                f"NLL_min={self.nll_min:.10g} at {axes}; {self.elapsed:.2f} s, "
                f"{self.n_evaluations} evaluations)")
