"""The session's contour run as data: its status, progress, points, result, coverage check,
where it came from and whether it still belongs to the model on screen.

A run calls ``model_core.find_contour`` in the session's background lane
``"contour"`` (one run at a time): every ``ContourBatch`` it hands to ``on_batch``
reaches :meth:`ContourRun.receive` on the session's loop, at most about twice a
second, and the final ``ContourResult`` arrives last.  ``should_stop`` polls the job's
cancel event, so Cancel (or a closed tab) stops the run after its current batch.  The
coverage check (``model_core.contour_coverage``) runs in the same lane.

A result belongs to the model and confidence level it was computed for: when either
changes, :attr:`ContourRun.stale` says so (the views mark the figures and disable the
exports).  Every export carries :attr:`ContourRun.provenance`: the model spec, the
confidence level, the settings, the seed and the app's version.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import param

import model_core as mc

from .contour_data import STAGE_LABELS, ContourData, run_notes
from .jobs import JobBusy, Work
from .plots import format_level
from .processes import in_process, in_thread
from .state import StateParameter

__all__ = ["ContourRun", "app_version", "contour_work", "export_bytes"]

#: The coverage check reports the covered fraction within these relative distances.
COVERAGE_DISTANCES = (0.01, 0.02)
#: Statuses of a run that has ended.
ENDED = ("complete", "cancelled", "failed", "budget_exhausted")
LANE = "contour"


def app_version() -> str:
    """The installed version of Likelihood Explorer (its package metadata)."""
    try:
        return importlib.metadata.version("likelihood-explorer")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def contour_work(model: mc.Model, arguments: dict[str, Any], *, workers: int = 1,
                 finder: Callable[..., mc.ContourResult] | None = None,
                 in_child: bool = False) -> Work:
    """Job work: ``find_contour(model, **arguments)``, emitting every batch, returning the
    result; in a child process with ``in_child`` (see :mod:`components.processes`), a pool
    of ``workers`` threads running its batches when ``workers > 1``."""
    run = (in_process if in_child else in_thread)(finder or mc.find_contour, model,
                                                  workers=workers, **arguments)

    def work(cancel: threading.Event, emit: Callable[[Any], None]) -> mc.ContourResult:
        held: list[Any] = []

        def on_batch(batch: mc.ContourBatch) -> None:
            # a batch without points (the fit's) waits for the first points, so that the
            # first delivery to the page, which comes at once, draws them
            held.append(batch)
            if len(batch.points):
                for item in held:
                    emit(item)
                held.clear()

        try:
            return run(cancel, on_batch)
        finally:
            for item in held:
                emit(item)

    return work


def export_bytes(result: mc.ContourResult, suffix: str,
                 metadata: dict[str, Any] | None = None) -> bytes:
    """``result`` (and ``metadata``) written by ``model_core.save_contour`` in the format of
    ``suffix``."""
    with tempfile.TemporaryDirectory(prefix="le-contour-") as folder:
        path = mc.save_contour(result, Path(folder) / f"contour{suffix}", metadata=metadata)
        return path.read_bytes()


class ContourRun(param.Parameterized):
    """The session's contour run (a data store: the views render it)."""

    state = StateParameter()
    status = param.Selector(default="idle", objects=["idle", "running", "cancelling",
                                                     *ENDED], doc="Where the run is.")
    phase = param.String(default="", doc="The finder's phase (a key of STAGE_LABELS).")
    n_done = param.Integer(default=0, doc="Progress within the phase.")
    n_total = param.Integer(default=0, doc="The phase's total (0 when unknown).")
    n_points = param.Integer(default=0)
    n_evaluations = param.Integer(default=0)
    progress = param.Number(default=0.0, bounds=(0.0, 1.0), doc="""
        Overall progress; back to 0 once a run is cancelled or fails.""")
    warnings = param.List(default=[], item_type=str)
    notes = param.List(default=[], item_type=str, doc="The finder's notes on the ended run.")
    failure = param.String(default="", doc="Why the run failed.")
    refused = param.String(default="", doc="Why the last Start (or check) was refused.")
    pushes = param.Integer(default=0, doc="Deliveries of points so far in this run.")
    data = param.ClassSelector(class_=ContourData, doc="The points so far.")
    result = param.ClassSelector(class_=mc.ContourResult, allow_None=True)
    provenance = param.Dict(default={}, doc="""
        Where the run came from: the model spec and name, the confidence level, the roles,
        the finder's settings, the seed, the app's version and the start time.""")
    stale = param.String(default="", doc="""
        Why the run no longer belongs to the model on screen ('' while it does).""")
    coverage = param.ClassSelector(class_=mc.ContourCoverage, allow_None=True)
    coverage_status = param.Selector(default="idle", objects=["idle", "checking", "done",
                                                              "failed"])
    min_interval = param.Number(default=0.5, bounds=(0.0, None), doc="""
        Seconds between two deliveries of points to the page.""")
    in_child = param.Boolean(default=None, allow_None=True, doc="""
        Whether runs go to a child process (see components.processes); by default they do
        in a served session, where the server's core is everybody's.""")

    def __init__(self, **params: Any) -> None:
        params.setdefault("data", ContourData())
        super().__init__(**params)
        if self.in_child is None:
            self.in_child = self.state.jobs.served
        self._revision = self._level = None
        self.state.param.watch(self._model_changed, ["revision", "confidence_level"])

    # ------------------------------------------------------------------ queries
    @property
    def running(self) -> bool:
        return self.state.jobs.running(LANE)

    @property
    def stage_label(self) -> str:
        return STAGE_LABELS.get(self.phase, self.phase)

    @property
    def exportable(self) -> bool:
        """A finished run with points, still belonging to the model on screen."""
        return (self.result is not None and len(self.result.contour_points) > 0
                and not self.stale and not self.running)

    # ------------------------------------------------------------------ running
    def start(self, arguments: dict[str, Any], *, settings: dict[str, Any] | None = None,
              workers: int = 1, work: Work | None = None) -> bool:
        """Start a run of ``find_contour(model, **arguments)`` (``work`` replaces it, for
        tests); False, with :attr:`refused` saying why, when one is already going."""
        if self.running:
            self.refused = ("A run is already in progress in this session: cancel it or wait "
                            "for it to finish before starting another.")
            return False
        state = self.state
        model = state.model
        work = work or contour_work(model, arguments, workers=workers, in_child=self.in_child)
        self._revision, self._level = state.revision, state.confidence_level
        self.param.update(
            status="running", phase="", n_done=0, n_total=0, n_points=0, n_evaluations=0,
            progress=0.0, warnings=[], notes=[], failure="", refused="", pushes=0,
            data=ContourData(), result=None, coverage=None, coverage_status="idle", stale="",
            provenance=self._provenance(arguments, settings or {}))
        try:
            state.jobs.submit(LANE, work, self.receive, self._ended,
                              min_interval=self.min_interval)
        except JobBusy as exc:
            self.param.update(status="idle", refused=str(exc))
            return False
        return True

    def _provenance(self, arguments: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
        state = self.state
        return {
            "app": "Likelihood Explorer", "app_version": app_version(),
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "model_name": state.spec.name, "model": state.spec_dict,
            "confidence_level": state.confidence_level, "seed": arguments.get("rng"),
            "contour_axes": arguments.get("parameters"), "fixed": arguments.get("fixed"),
            "bounds": arguments.get("bounds"),
            "settings": {**settings, **{k: v for k, v in arguments.items() if k not in (
                "confidence_level", "parameters", "fixed", "bounds", "rng")}}}

    def cancel(self) -> None:
        """Stop the run after its current batch."""
        if self.running:
            self.state.jobs.cancel(LANE)
            self.status = "cancelling"

    def receive(self, items: list[Any]) -> None:
        """Take a delivery of batches (and, last, the result) from the worker."""
        data = self.data
        data.extend(items)
        updates: dict[str, Any] = dict(
            phase=data.phase, n_done=data.n_done, n_total=data.n_total,
            n_points=data.n_points, n_evaluations=data.n_evaluations,
            warnings=list(data.warnings), pushes=self.pushes + 1)
        if self.status == "running":
            updates["progress"] = data.progress
        self.param.update(**updates)

    def _ended(self, status: str, error: BaseException | None) -> None:
        result = self.data.result
        if error is not None or result is None:
            self.param.update(status="failed", progress=0.0, failure=(
                f"The run failed: {type(error).__name__}: {error}" if error is not None else
                "The run ended without a result."))
            return
        ended = result.status if result.status in ENDED else "failed"
        self.param.update(
            status=ended, result=result, n_points=len(result.contour_points),
            n_evaluations=int(result.n_evaluations), warnings=list(result.warnings),
            notes=run_notes(result),
            progress=1.0 if ended in ("complete", "budget_exhausted") else 0.0)

    def _model_changed(self, *events: Any) -> None:
        if self._revision is None:
            return
        reasons = []
        if self.state.revision != self._revision:
            reasons.append(f"the model has changed since this run (it was for "
                           f"“{self.provenance.get('model_name', '')}”)")
        if self.state.confidence_level != self._level:
            reasons.append(f"it was computed at {format_level(self._level)} CL, the page is "
                           f"now at {format_level(self.state.confidence_level)}")
        self.stale = "; ".join(reasons)

    # ------------------------------------------------------------------ results
    def export(self, suffix: str) -> bytes:
        """The result and its provenance as ``.csv``, ``.npz`` or ``.json`` bytes."""
        if not self.exportable:  # the buttons are disabled meanwhile
            raise RuntimeError("no finished contour of the model on screen to export")
        return export_bytes(self.result, suffix, self.provenance)

    def check_coverage(self, seed: int) -> bool:
        """Compare the points with an independent reference surface (k <= 3), in the
        background; False, with :attr:`refused` saying why, when it cannot run."""
        result = self.result
        if result is None or result.dof > 3 or self.stale:
            self.refused = ("The coverage check needs a finished contour of the model on "
                            "screen with at most three axes.")
            return False
        model = self.state.model

        def work(cancel: threading.Event, emit: Callable[[Any], None]) -> mc.ContourCoverage:
            return mc.contour_coverage(model, result, distance=COVERAGE_DISTANCES[0],
                                       distances=COVERAGE_DISTANCES, rng=seed)

        def done(status: str, error: BaseException | None) -> None:
            if error is not None:
                self.param.update(coverage_status="failed",
                                  failure=f"The coverage check failed: "
                                          f"{type(error).__name__}: {error}")

        def arrived(items: list[mc.ContourCoverage]) -> None:
            self.param.update(coverage=items[-1], coverage_status="done")

        try:
            self.state.jobs.submit(LANE, work, arrived, done)
        except JobBusy as exc:
            self.refused = str(exc)
            return False
        self.param.update(coverage_status="checking", coverage=None, refused="")
        return True
