"""The points of one contour run, gathered from streamed ``ContourBatch`` objects, and the
run's progress through the finder's (non-monotone) stages."""

from __future__ import annotations

from typing import Any

import numpy as np

import model_core as mc

__all__ = ["STAGE_LABELS", "ContourData", "phase_of", "run_notes"]

#: Display name of each phase of a run: the finder's stages
#: (``model_core.contour.results.Stage``), ``fill`` also for hole filling by gap rays.
STAGE_LABELS = {"mle": "best fit", "explore": "search for islands", "radial": "radial search",
                "gaps": "gap search", "rattle": "constrained chains", "fill": "filling holes",
                "faces": "bound faces", "done": "done"}
#: Share of the progress bar each phase covers.
_SPANS = {"mle": (0.0, 0.05), "explore": (0.05, 0.1), "radial": (0.1, 0.35),
          "gaps": (0.35, 0.4), "rattle": (0.4, 0.8), "fill": (0.8, 0.9), "faces": (0.9, 1.0),
          "done": (1.0, 1.0)}
#: Rounds of hole filling have no known total: each round closes this share of what is left.
_FILL_RATE = 0.4


def phase_of(stage: str, chains_seen: bool) -> str:
    """The phase (a key of :data:`STAGE_LABELS`) of a batch from ``stage``: hole filling is
    the finder's ``"fill"`` stage, or a ``"gaps"`` stage once chains have run."""
    return "fill" if stage == "fill" or (stage == "gaps" and chains_seen) else stage


def run_notes(result: mc.ContourResult) -> list[str]:
    """What the finder noted about the run besides its warnings: its ``notes``, after how
    the run ended (``message``) unless the page says that in its own words (a complete or
    cancelled run); a budget stop or a failure keeps the finder's advice."""
    end = () if result.status in ("complete", "cancelled") else (result.message,)
    return [line for line in (*end, *result.notes) if line]


class ContourData:
    """Accumulates :class:`model_core.ContourBatch` objects (and the final result).

    Attributes
    ----------
    parameter_names : tuple of str
        The contour axes.
    theta_mle : ndarray (k,) or None
    nll_min, threshold : float
    phase : str
        Phase of the last batch: a key of :data:`STAGE_LABELS` (``"fill"`` is the
        finder's ``"gaps"`` stage when it comes after the chains).
    n_done, n_total : int
        Progress within that stage (``n_total`` is 0 when unknown).
    n_evaluations : int
    n_batches : int
    progress : float
        Overall progress in [0, 1]; it never goes back.
    warnings : tuple of str
        Warnings raised so far in the run.
    result : ContourResult or None
        The finished (or cancelled) run, once it has ended.
    """

    def __init__(self) -> None:
        self.parameter_names: tuple[str, ...] = ()
        self.theta_mle: np.ndarray | None = None
        self.nll_min = float("nan")
        self.threshold = float("nan")
        self.phase = ""
        self.n_done = 0
        self.n_total = 0
        self.n_evaluations = 0
        self.n_batches = 0
        self.progress = 0.0
        self.warnings: tuple[str, ...] = ()
        self.result: mc.ContourResult | None = None
        self._chains_seen = False
        self._chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self._cache: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def add(self, item: Any) -> None:
        """Take one batch (only its new points are appended) or the final result."""
        if getattr(item, "result", None) is not None:  # the finder's last ("done") batch
            item = item.result
        if isinstance(item, mc.ContourResult):
            self.result = item
            self.warnings = tuple(item.warnings)
            self.n_evaluations = int(item.n_evaluations)
            self.progress = 1.0 if item.status in ("complete", "budget_exhausted") \
                else self.progress
            return
        self.n_batches += 1
        self.parameter_names = tuple(item.parameter_names)
        self.theta_mle = np.asarray(item.theta_mle, dtype=float)
        self.nll_min, self.threshold = float(item.nll_min), float(item.threshold)
        self._chains_seen |= item.stage == "rattle"
        self.phase = phase_of(item.stage, self._chains_seen)
        self.n_done, self.n_total = int(item.n_done), int(item.n_total)
        self.n_evaluations = int(item.n_evaluations)
        self.warnings = tuple(item.warnings)
        self.progress = max(self.progress, self._overall())
        points = np.asarray(item.points, dtype=float).reshape(-1, len(self.parameter_names))
        if len(points):
            self._chunks.append((points.copy(), np.asarray(item.from_radial, bool).copy(),
                                 np.asarray(item.on_bound, bool).copy(),
                                 np.asarray(item.residuals, float).copy()))
            self._cache = None

    def extend(self, items: list[Any]) -> None:
        for item in items:
            self.add(item)

    def _overall(self) -> float:
        lo, hi = _SPANS.get(self.phase, (0.0, 0.0))
        if self.n_total > 0:
            within = min(1.0, self.n_done / self.n_total)
        else:
            within = 1.0 - (1.0 - _FILL_RATE) ** self.n_done
        return lo + (hi - lo) * within

    @property
    def stage_label(self) -> str:
        return STAGE_LABELS.get(self.phase, self.phase)

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
