"""The points of one contour run, gathered from streamed ``ContourBatch`` objects, and
their exports (CSV, NPZ, JSON)."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["ContourData"]


class ContourData:
    """Accumulates :class:`model_core.contour.results.ContourBatch` objects.

    Attributes
    ----------
    parameter_names : tuple of str
        The contour axes.
    theta_mle : ndarray (k,) or None
    nll_min, threshold : float
    stage : str
        Stage of the last batch.
    n_done, n_total : int
        Progress within that stage.
    n_evaluations : int
    n_batches : int
    messages : list of str
        Non-empty batch messages, in order, without repeats.
    """

    def __init__(self) -> None:
        self.parameter_names: tuple[str, ...] = ()
        self.theta_mle: np.ndarray | None = None
        self.nll_min = float("nan")
        self.threshold = float("nan")
        self.stage = ""
        self.n_done = 0
        self.n_total = 0
        self.n_evaluations = 0
        self.n_batches = 0
        self.messages: list[str] = []
        self._chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self._cache: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def add(self, batch: Any) -> None:
        """Take one batch (only its new points are appended)."""
        self.n_batches += 1
        self.parameter_names = tuple(batch.parameter_names)
        self.theta_mle = np.asarray(batch.theta_mle, dtype=float)
        self.nll_min, self.threshold = float(batch.nll_min), float(batch.threshold)
        self.stage, self.n_done, self.n_total = batch.stage, int(batch.n_done), int(batch.n_total)
        self.n_evaluations = int(batch.n_evaluations)
        if batch.message and batch.message not in self.messages:
            self.messages.append(batch.message)
        points = np.asarray(batch.points, dtype=float).reshape(-1, len(self.parameter_names))
        if len(points):
            self._chunks.append((points.copy(), np.asarray(batch.from_radial, bool).copy(),
                                 np.asarray(batch.on_bound, bool).copy(),
                                 np.asarray(batch.residuals, float).copy()))
            self._cache = None

    def extend(self, batches: list[Any]) -> None:
        for batch in batches:
            self.add(batch)

    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if self._cache is None:
            k = len(self.parameter_names)
            if self._chunks:
                self._cache = tuple(np.concatenate(parts) for parts in zip(*self._chunks,
                                                                           strict=True))
            else:
                self._cache = (np.zeros((0, k)), np.zeros(0, bool), np.zeros(0, bool),
                               np.zeros(0))
        return self._cache

    @property
    def points(self) -> np.ndarray:
        return self._arrays()[0]

    @property
    def from_radial(self) -> np.ndarray:
        return self._arrays()[1]

    @property
    def on_bound(self) -> np.ndarray:
        return self._arrays()[2]

    @property
    def residuals(self) -> np.ndarray:
        return self._arrays()[3]

    @property
    def n_points(self) -> int:
        return sum(len(chunk[0]) for chunk in self._chunks)

    @property
    def k(self) -> int:
        return len(self.parameter_names)

    @property
    def fraction(self) -> float | None:
        """Progress within the current stage, or None when its total is unknown."""
        return min(1.0, self.n_done / self.n_total) if self.n_total > 0 else None

    # ------------------------------------------------------------------ exports
    def frame(self) -> pd.DataFrame:
        """One row per point: the axes, ``from_radial``, ``on_bound`` and ``residual``."""
        frame = pd.DataFrame(self.points, columns=list(self.parameter_names))
        frame["from_radial"] = self.from_radial
        frame["on_bound"] = self.on_bound
        frame["residual"] = self.residuals
        return frame

    def to_csv(self) -> str:
        return self.frame().to_csv(index=False, float_format="%.17g")

    def to_npz(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(buffer, points=self.points, from_radial=self.from_radial,
                 on_bound=self.on_bound, residuals=self.residuals,
                 parameter_names=np.array(self.parameter_names),
                 theta_mle=np.asarray(self.theta_mle if self.theta_mle is not None else []),
                 nll_min=self.nll_min, threshold=self.threshold)
        return buffer.getvalue()

    def to_json(self, metadata: dict[str, Any] | None = None) -> str:
        """The points and the run's description (``metadata``: settings, model name, status)."""
        data = {
            **(metadata or {}),
            "parameter_names": list(self.parameter_names),
            "theta_mle": None if self.theta_mle is None else self.theta_mle.tolist(),
            "nll_min": self.nll_min, "threshold": self.threshold,
            "n_points": self.n_points, "n_evaluations": self.n_evaluations,
            "messages": self.messages,
            "points": self.points.tolist(), "from_radial": self.from_radial.tolist(),
            "on_bound": self.on_bound.tolist(), "residuals": self.residuals.tolist(),
        }
        return json.dumps(data, indent=1)
