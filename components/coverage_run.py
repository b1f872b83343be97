"""The session's coverage study as data: its settings, status, progress, the toys' ``q`` as
they stream in, the final :class:`model_core.toys.CoverageStudy`, where it came from and
whether it still belongs to the model on screen.

A study calls ``model_core.coverage_study`` in the session's background lane
``"coverage"`` (one study at a time): every ``CoverageBatch`` it hands to ``on_batch``
reaches :meth:`CoverageRun.receive` on the session's loop, at most about twice a second,
and the final study arrives last.  ``should_stop`` polls the job's cancel event, so Cancel
(or a closed tab) stops the study after its current batch; the toys fitted so far are kept.

A study belongs to the model it was computed for: when the model changes,
:attr:`CoverageRun.stale` says so (the views mark the result, disable the exports and
take the toy-calibrated lines off the profiles and the map).  A new confidence level on
the page does not: ``q`` does not depend on it, and the drawn thresholds are its quantiles
at the page's level.  Every export carries :attr:`CoverageRun.provenance`.
"""

from __future__ import annotations

import datetime
import io
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import param

import model_core as mc
from model_core.toys import CoverageBatch, CoverageStudy

from .contour_run import app_version
from .contour_settings import SettingsError, roles_of
from .jobs import JobBusy, Work
from .plots import drawn_levels, format_level
from .processes import in_process, in_thread
from .state import StateParameter

__all__ = ["ENDED", "LANE", "STREAM_BATCH", "CoverageRun", "coverage_work", "format_levels",
           "page_levels", "parse_levels", "study_arguments"]

LANE = "coverage"
#: Toys per batched fit in the app: the core's default (1000) fits a default study in one
#: batch; 500 streams the first histogram after half of them (about 0.1 s on the default
#: model) and costs little more in all (see benchmarks/bench_toys.py).
STREAM_BATCH = 500
#: Statuses of a study that has ended.
ENDED = ("complete", "cancelled", "failed")
#: Percent digits kept of a typed level (68.27, 99.73).
PERCENT_DIGITS = 4


def page_levels(confidence_level: float, sigmas: Sequence[int]) -> tuple[float, ...]:
    """The levels drawn on the page (the sigma levels and the chosen one), smallest first."""
    return tuple(sorted({level.confidence_level for level in drawn_levels(confidence_level,
                                                                          list(sigmas))}))


def format_levels(levels: Sequence[float]) -> str:
    """Levels as percentages to four digits, ``"68.27, 95"`` (as the page shows them)."""
    return ", ".join(f"{100 * cl:.4g}" for cl in levels)


def parse_levels(text: str) -> tuple[float, ...]:
    """Percentages separated by commas (``"68.27, 95"``) as fractions, sorted.

    Raises
    ------
    SettingsError
        An entry that is not a number strictly between 0 and 100, or no entry.
    """
    levels = set()
    for entry in (part.strip() for part in text.replace(";", ",").split(",")):
        if not entry:
            continue
        try:
            percent = float(entry.rstrip("%"))
        except ValueError:
            percent = float("nan")
        if not 0.0 < percent < 100.0:
            raise SettingsError(f"Confidence levels: {entry!r} is not a percentage between 0 "
                                "and 100; type them separated by commas, e.g. 68.27, 95")
        levels.add(round(percent / 100, PERCENT_DIGITS + 2))
    if not levels:
        raise SettingsError("Confidence levels: none given; type percentages separated by "
                            "commas, e.g. 68.27, 95")
    return tuple(sorted(levels))


def study_arguments(frame: pd.DataFrame, *, confidence_levels: Sequence[float], n_toys: int,
                    seed: int) -> dict[str, Any]:
    """Keyword arguments of ``model_core.coverage_study`` (the model aside) from a roles table
    whose ``value`` column is the truth (every parameter, in the model's order).

    Raises
    ------
    SettingsError
        No axis, a fixed parameter without a value, or a truth that is not a number.
    """
    axes, fixed = roles_of(frame)
    at = np.asarray(frame["value"], dtype=float)
    for name, value in zip(frame["parameter"], at, strict=True):
        if not np.isfinite(value):
            raise SettingsError(f"{name}: the truth must be a finite number (it is where the "
                                "toys are drawn); type a value in the table")
    return dict(at=at, parameters=axes, fixed=fixed,
                confidence_levels=tuple(confidence_levels), n_toys=int(n_toys), rng=int(seed))


def coverage_work(model: mc.Model, arguments: dict[str, Any],
                  batch_size: int = STREAM_BATCH, *, in_child: bool = False) -> Work:
    """Job work: ``coverage_study(model, **arguments)``, emitting every batch, returning the
    study; in a child process with ``in_child`` (see :mod:`components.processes`)."""
    return (in_process if in_child else in_thread)(mc.coverage_study, model,
                                                   batch_size=batch_size, **arguments)


class CoverageRun(param.Parameterized):
    """The session's coverage study (a data store: the views render it)."""

    state = StateParameter()
    status = param.Selector(default="idle", objects=["idle", "running", "cancelling", *ENDED],
                            doc="Where the study is.")
    n_done = param.Integer(default=0, doc="Toys fitted so far.")
    n_total = param.Integer(default=0, doc="Toys asked for.")
    n_failed = param.Integer(default=0, doc="Toys whose fits failed so far (not counted).")
    progress = param.Number(default=0.0, bounds=(0.0, 1.0), doc="""
        Share of the toys fitted; back to 0 once a study is cancelled or fails.""")
    elapsed = param.Number(default=0.0, doc="Seconds since the study started.")
    failure = param.String(default="", doc="Why the study failed.")
    refused = param.String(default="", doc="Why the last Start was refused.")
    pushes = param.Integer(default=0, doc="Deliveries of toys so far in this study.")
    dof = param.Integer(default=0, doc="k, the number of axes.")
    parameters = param.List(default=[], item_type=str, doc="The region's axes.")
    confidence_levels = param.List(default=[], item_type=float,
                                   doc="The study's confidence levels.")
    study = param.ClassSelector(class_=CoverageStudy, allow_None=True, doc="""
        The ended study (complete, or cancelled with the toys fitted until then).""")
    provenance = param.Dict(default={}, doc="""
        Where the study came from: model spec and name, truth, axes, fixed values, levels,
        number of toys, seed, batch size, the app's version and the start time.""")
    stale = param.String(default="", doc="""
        Why the study no longer belongs to the model on screen ('' while it does).""")
    min_interval = param.Number(default=0.5, bounds=(0.0, None), doc="""
        Seconds between two deliveries of toys to the page.""")
    in_child = param.Boolean(default=None, allow_None=True, doc="""
        Whether studies go to a child process (see components.processes); by default they
        do in a served session, where the server's core is everybody's.""")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        if self.in_child is None:
            self.in_child = self.state.jobs.served
        self._chunks: list[np.ndarray] = []
        self._q: np.ndarray | None = np.zeros(0)
        self._revision: int | None = None
        self._result: CoverageStudy | None = None
        self.state.param.watch(self._model_changed, "revision")

    # ------------------------------------------------------------------ queries
    @property
    def running(self) -> bool:
        return self.state.jobs.running(LANE)

    @property
    def q(self) -> np.ndarray:
        """Every toy's ``q`` so far, in toy order (NaN for failed toys)."""
        if self._q is None:
            self._q = np.concatenate(self._chunks) if self._chunks else np.zeros(0)
        return self._q

    @property
    def exportable(self) -> bool:
        """An ended study with toys, still belonging to the model on screen."""
        return (self.study is not None and len(self.study.q) > 0 and not self.stale
                and not self.running)

    @property
    def current(self) -> CoverageStudy | None:
        """The ended study while it belongs to the model on screen, else None (what the
        profiles, the map and the Learn tab draw on)."""
        return None if self.stale or self.study is None or not self.study.n_ok else self.study

    # ------------------------------------------------------------------ running
    def start(self, arguments: dict[str, Any], *, work: Work | None = None,
              batch_size: int = STREAM_BATCH) -> bool:
        """Start ``coverage_study(model, **arguments)`` (``work`` replaces it, for tests);
        False, with :attr:`refused` saying why, when one is already going."""
        if self.running:
            self.refused = ("A study is already in progress in this session: cancel it or "
                            "wait for it to finish before starting another.")
            return False
        state = self.state
        work = work or coverage_work(state.model, arguments, batch_size,
                                     in_child=self.in_child)
        self._revision = state.revision
        self._chunks, self._q, self._result = [], None, None
        self.param.update(
            status="running", n_done=0, n_total=int(arguments["n_toys"]), n_failed=0,
            progress=0.0, elapsed=0.0, failure="", refused="", pushes=0, study=None,
            stale="", dof=len(arguments["parameters"]),
            parameters=list(arguments["parameters"]),
            confidence_levels=list(arguments["confidence_levels"]),
            provenance=self._provenance(arguments, batch_size))
        try:
            state.jobs.submit(LANE, work, self.receive, self._ended,
                              min_interval=self.min_interval)
        except JobBusy as exc:
            self.param.update(status="idle", refused=str(exc))
            return False
        return True

    def _provenance(self, arguments: dict[str, Any], batch_size: int) -> dict[str, Any]:
        state = self.state
        names = state.model.parameter_names
        axes, fixed = list(arguments["parameters"]), dict(arguments["fixed"])
        return {
            "app": "Likelihood Explorer", "app_version": app_version(),
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "model_name": state.spec.name, "model": state.spec_dict,
            "truth": dict(zip(names, np.asarray(arguments["at"], float).tolist(), strict=True)),
            "axes": axes, "fixed": fixed,
            "profiled": [n for n in names if n not in axes and n not in fixed],
            "confidence_levels": list(arguments["confidence_levels"]),
            "n_toys": int(arguments["n_toys"]), "seed": arguments["rng"],
            "batch_size": batch_size}

    def cancel(self) -> None:
        """Stop the study after its current batch."""
        if self.running:
            self.state.jobs.cancel(LANE)
            self.status = "cancelling"

    def receive(self, items: list[Any]) -> None:
        """Take a delivery of batches (and, last, the study) from the worker."""
        for item in items:
            if isinstance(item, CoverageStudy):
                self._result = item  # taken when the job ends
        batches = [item for item in items if isinstance(item, CoverageBatch)]
        if not batches:
            return
        self._chunks.extend(np.asarray(b.q, dtype=float) for b in batches)
        self._q = None
        last = batches[-1]
        updates: dict[str, Any] = dict(n_done=last.n_done, n_failed=last.n_failed,
                                       elapsed=last.elapsed, pushes=self.pushes + 1)
        if self.status == "running":
            updates["progress"] = last.n_done / max(last.n_total, 1)
        self.param.update(**updates)

    def _ended(self, status: str, error: BaseException | None) -> None:
        result = self._result
        if error is not None or result is None:
            self.param.update(status="failed", progress=0.0, failure=(
                f"The study failed: {type(error).__name__}: {error}" if error is not None
                else "The study ended without a result."))
            return
        self._chunks, self._q = [np.asarray(result.q, dtype=float)], None
        self.param.update(
            status=result.status, study=result, n_done=len(result.q),
            n_failed=result.n_failed, elapsed=result.elapsed,
            progress=1.0 if result.status == "complete" else 0.0)

    def _model_changed(self, *events: Any) -> None:
        if self._revision is None:
            return
        self.stale = ("" if self.state.revision == self._revision else
                      f"the model has changed since this study (it was for "
                      f"“{self.provenance.get('model_name', '')}”)")

    # ------------------------------------------------------------------ results
    def summary(self) -> list[dict[str, float]]:
        """Per confidence level of the study: Wilks' threshold, the coverage, its 68.27%
        Clopper-Pearson interval and the toy-calibrated threshold."""
        study = self.study
        if study is None:
            return []
        rows = []
        for cl, wilks in zip(study.confidence_levels, study.thresholds, strict=True):
            low, high = study.coverage_interval(cl)
            rows.append({"confidence_level": cl, "wilks_threshold": float(wilks),
                         "coverage": study.coverage[cl], "coverage_low": low,
                         "coverage_high": high,
                         "calibrated_threshold": study.calibrated_threshold(cl)})
        return rows

    def export(self, suffix: str) -> bytes:
        """The study and its provenance as ``.json`` or ``.csv`` bytes.

        The JSON holds ``metadata`` (the provenance) and ``study``
        (``CoverageStudy.to_dict()``: the summary and every ``q``); the CSV one row per toy
        (``toy``, ``q``, ``failed``) under ``#`` lines holding the provenance and the
        summary as JSON.
        """
        if not self.exportable:  # the buttons are disabled meanwhile
            raise RuntimeError("no ended coverage study of the model on screen to export")
        study = self.study
        if suffix == ".json":
            return json.dumps({"metadata": self.provenance, "study": study.to_dict()},
                              indent=1).encode("utf-8")
        if suffix != ".csv":
            raise ValueError(f"unknown export format {suffix!r}; use .json or .csv")
        summary = {k: v for k, v in study.to_dict().items() if k not in ("q", "failed")}
        out = io.StringIO()
        out.write(f"# metadata: {json.dumps(self.provenance)}\n")
        out.write(f"# summary: {json.dumps(summary)}\n")
        failed = np.zeros(len(study.q), bool)
        failed[study.failed] = True
        pd.DataFrame({"toy": np.arange(len(study.q)), "q": study.q, "failed": failed}).to_csv(
            out, index=False, float_format="%.17g")
        return out.getvalue().encode("utf-8")

    def describe_levels(self) -> str:
        """The study's levels in words (``"68.27%, 95%"``)."""
        return ", ".join(format_level(cl) for cl in self.confidence_levels)
