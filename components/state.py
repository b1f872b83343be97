"""The per-session data store: the model in use, its best fit, the confidence levels shown,
the last rejected edit and the session's background work; the data derived from them
(profiles and fit summary, the contour run, the coverage study and the toy-calibrated
region) hang off it.

Every view reads from one :class:`SessionState`; the model editor writes to it
through :meth:`SessionState.request` (in a served session: on a worker, in the session's
lane ``"model"``, the newest request winning) or :meth:`SessionState.propose` (at once),
which validate with :func:`model_core.load_spec`, build with :func:`model_core.build_model`
and fit with :func:`model_core.fit`.  A proposal that fails at any step leaves the
previous model, fit and spec in place (so the plots keep showing the last
valid model) and records the error instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import param

import model_core as mc
from model_core.examples import DEFAULT_EXAMPLE, load_example
from model_core.spec import KINDS

from .jobs import Jobs

__all__ = ["SIGMAS", "SessionState", "StateParameter", "as_state", "free_parameters", "is_counting"]

log = logging.getLogger(__name__)

#: Starts of the best fit: the previous best fit or the spec's init, plus more drawn with a
#: fixed seed (the same model always gets the same fit).
FIT_STARTS = 4
FIT_SEED = 20240611
#: When the spec's own starts all sit where the likelihood is zero, this many more (uniform
#: within finite bounds, else spread around init) are tried before the model is refused.
RESCUE_STARTS = 64
#: The Gaussian-equivalent levels that can be drawn beside the chosen confidence level.
SIGMAS = (1, 2, 3)
#: The background lane of model proposals.
LANE = "model"
#: A model's spec, the model and its best fit (each None before the first model).
_Built = tuple[Any, mc.Model, mc.FitResult]


def _prepare(followers: dict[str, Callable[[mc.Model, mc.FitResult], Any]],
             built: _Built) -> dict[str, Any]:
    """Each follower's data for the newly built model; a follower that fails only logs
    (its view computes its data again once the model is accepted)."""
    prepared = {}
    for name, compute in followers.items():
        try:
            prepared[name] = compute(*built[1:])
        except Exception:  # noqa: BLE001 - a view's head start must not block the model
            log.exception("preparing %r for the new model failed", name)
    return prepared


def is_counting(spec: Any) -> bool:
    """Whether ``spec`` is one of the built-in counting kinds (edited with the tables)."""
    return getattr(spec, "kind", None) in KINDS


def free_parameters(model: mc.Model) -> list[str]:
    """Names of the parameters the model does not hold fixed."""
    return [n for n, fixed in zip(model.parameter_names, model.fixed, strict=True) if not fixed]


class SessionState(param.Parameterized):
    """The data store of one browser session (no widgets).

    ``spec``, ``model`` and ``best`` always describe the same, valid model:
    they change together, in one update, when a proposal is accepted.
    """

    spec = param.Parameter(doc="""
        The spec in use: a ModelSpec, or any object with ``kind``, ``name`` and
        ``to_dict()`` that model_core.build_model accepts.""")
    model = param.ClassSelector(class_=mc.Model, doc="The model built from ``spec``.")
    best = param.ClassSelector(class_=mc.FitResult, doc="The best fit of ``model``.")
    error = param.ClassSelector(class_=Exception, allow_None=True, doc="""
        Why the last proposal was rejected (a SpecError names field, problem, value
        and fix), or None when it was accepted.""")
    confidence_level = param.Number(default=0.95, bounds=(0.5, 0.9999), doc="""
        The confidence level: its threshold is drawn in the map and the profiles, its
        profile intervals are shaded, and the contour finder maps its region.""")
    sigmas = param.ListSelector(default=[1, 2], objects=list(SIGMAS), doc="""
        Gaussian-equivalent levels (1 sigma = 68.27%, ...) drawn beside the confidence
        level, for the map's dimension and the profiles' each.""")
    revision = param.Integer(default=0, doc="Incremented with every accepted model.")
    generation = param.Integer(default=0, doc="""
        Incremented when a new model is loaded (a preset or a file), as opposed to an edit
        of the one in use.""")
    jobs = param.ClassSelector(class_=Jobs, doc="The session's background work.")

    def __init__(self, spec: Any = None, **params: Any) -> None:
        """``spec``: what :meth:`propose` takes, a path given as a string, a
        :class:`model_core.Model` built from a spec, or None for the default example."""
        params.setdefault("jobs", Jobs())
        super().__init__(**params)
        self._followers: dict[str, Callable[[mc.Model, mc.FitResult], Any]] = {}
        #: What the followers computed beside the fit of the model being accepted (empty
        #: outside the acceptance).
        self.prepared: dict[str, Any] = {}
        error = self.propose(load_example(DEFAULT_EXAMPLE) if spec is None
                             else _from_program(spec), new_model=True)
        if error is not None:
            raise error

    @cached_property
    def analysis(self) -> Any:
        """The model's profiles, intervals and fit summary (an
        :class:`~components.analysis.Analysis`, made when first asked for)."""
        from .analysis import Analysis

        return Analysis(state=self)

    @cached_property
    def contour(self) -> Any:
        """The session's contour run (a :class:`~components.contour_run.ContourRun`, made
        when first asked for)."""
        from .contour_run import ContourRun

        return ContourRun(state=self)

    @cached_property
    def coverage(self) -> Any:
        """The session's coverage study (a :class:`~components.coverage_run.CoverageRun`,
        made when first asked for)."""
        from .coverage_run import CoverageRun

        return CoverageRun(state=self)

    @cached_property
    def calibrated(self) -> Any:
        """The session's toy-calibrated region (a
        :class:`~components.calibrated_region.CalibratedRun`, made when first asked for)."""
        from .calibrated_region import CalibratedRun

        return CalibratedRun(state=self)

    @property
    def spec_dict(self) -> dict[str, Any]:
        """The spec in use as JSON-ready data."""
        return self.spec.to_dict()

    def propose(self, source: Any, *, new_model: bool = False) -> Exception | None:
        """Try a new spec (a spec object, a dict, JSON text or a path) at once.

        ``new_model`` marks a model loaded from elsewhere (a preset, a file) rather than an
        edit of the one in use.

        Returns
        -------
        None when the model was accepted, else the error (also stored in ``error``);
        the model in use is then unchanged.
        """
        self.jobs.cancel(LANE, discard=True)  # an older request must not land after this one
        return self._settle(self._build(source, self._in_use()), new_model)

    def request(self, source: Any, *, new_model: bool = False,
                on_done: Callable[[Exception | None], None] | None = None) -> None:
        """:meth:`propose` off the session's loop: built and fitted in the lane ``"model"``
        (a newer request supersedes it, and its result is dropped), then accepted or
        rejected on the loop, where ``on_done`` gets what :meth:`propose` returns.  Without
        a served session, at once."""
        if not self.jobs.served:
            error = self.propose(source, new_model=new_model)
            if on_done is not None:
                on_done(error)
            return
        in_use, followers = self._in_use(), dict(self._followers)

        def work(cancel: Any, emit: Any) -> Any:
            built = self._build(source, in_use)
            if isinstance(built, Exception) or cancel.is_set():
                return built, {}
            return built, _prepare(followers, built)

        def arrived(items: list[Any]) -> None:
            built, self.prepared = items[-1]
            log.debug("model request arrived: %s", f"refused ({built})" if isinstance(
                built, Exception) else f"“{built[0].name}”")
            try:
                error = self._settle(built, new_model)
            finally:
                self.prepared = {}
            if on_done is not None:
                on_done(error)

        self.jobs.submit(LANE, work, arrived, supersede=True, poll=False)

    def follow(self, name: str, compute: Callable[[mc.Model, mc.FitResult], Any]) -> None:
        """Have ``compute(model, best)`` run on the worker of every :meth:`request`, right
        after the fit (a view's data for the new model, ready when it is accepted: one trip
        to the worker instead of two); while the new model is being accepted, its result is
        in :attr:`prepared` under ``name``."""
        self._followers[name] = compute

    def _in_use(self) -> _Built:
        return self.spec, self.model, self.best

    def _build(self, source: Any, in_use: _Built) -> _Built | Exception:
        """Spec, model and best fit of ``source`` (``in_use``: those of the model in use, for
        a warm start), or why it is refused; changes nothing, so it may run on a worker."""
        try:
            spec = source if _is_spec_object(source) else mc.load_spec(_as_source(source))
            model = mc.build_model(spec)
            return spec, model, self._fit(spec, model, in_use)
        except (mc.ModelCoreError, ValueError, KeyError) as exc:
            return exc
        except Exception as exc:  # noqa: BLE001 - never let an edit crash the session
            log.exception("unexpected failure while building the model")
            return mc.SpecError("model", f"could not build the model ({type(exc).__name__}: "
                                f"{exc})", fix="undo the last edit")

    def _settle(self, built: _Built | Exception, new_model: bool) -> Exception | None:
        """Accept what :meth:`_build` made, or record why not."""
        if isinstance(built, Exception):
            self.error = built
            return built
        spec, model, best = built
        self.param.update(spec=spec, model=model, best=best, error=None,
                          revision=self.revision + 1,
                          generation=self.generation + int(new_model))
        return None

    @classmethod
    def _fit(cls, spec: Any, model: mc.Model, in_use: _Built) -> mc.FitResult:
        """The best fit: from the previous best fit when it carries over (an edit then moves
        the best fit continuously), else, or when that start finds nothing, from the spec's
        init and fresh starts; a model is refused only when every start sees a zero
        likelihood."""
        warm = cls._warm_start(spec, model, in_use)
        if warm is not None:
            best = mc.fit(model, init=warm, n_starts=FIT_STARTS, rng=FIT_SEED)
            if best.success and np.isfinite(best.fun):
                return best
        best = mc.fit(model, n_starts=FIT_STARTS, rng=FIT_SEED)
        if not np.isfinite(best.fun):
            best = mc.fit(model, n_starts=RESCUE_STARTS, rng=FIT_SEED)
        if not np.isfinite(best.fun):
            raise mc.SpecError("model", "the likelihood is zero everywhere the fit looked: "
                               + best.message, fix="check the yields and the signal "
                               "expression; every expected rate must be positive somewhere")
        return best

    @staticmethod
    def _warm_start(spec: Any, model: mc.Model, in_use: _Built) -> np.ndarray | None:
        """The best fit in use, when the new model has the same parameters and the same
        parameter settings (in a flat valley, where every point is a best fit, the best fit
        then stays put instead of jumping)."""
        spec_in_use, model_in_use, best_in_use = in_use
        if best_in_use is None or model_in_use.parameter_names != model.parameter_names:
            return None
        if getattr(spec_in_use, "parameters", None) != getattr(spec, "parameters", None):
            return None
        return np.clip(best_in_use.x, model.bounds[:, 0], model.bounds[:, 1])

    def load_example(self, name: str) -> Exception | None:
        """Switch to a shipped example by name."""
        try:
            spec = load_example(name)
        except KeyError as exc:
            self.error = exc
            return exc
        return self.propose(spec, new_model=True)


class StateParameter(param.ClassSelector):
    """A view's ``state``: a :class:`SessionState`, or anything ``SessionState()`` takes
    (a model, a spec, a dict, a path), which becomes a new one (for notebooks)."""

    def __init__(self, **params: Any) -> None:
        super().__init__(class_=SessionState, **params)

    def __set__(self, obj: Any, val: Any) -> None:
        super().__set__(obj, None if val is None else as_state(val))


def as_state(source: Any) -> SessionState:
    """``source`` if it is a :class:`SessionState`, else a new one made from it."""
    return source if isinstance(source, SessionState) else SessionState(source)


def _from_program(source: Any) -> Any:
    """What a program may pass beyond a browser upload: a Model's spec, a path as text."""
    if isinstance(source, mc.Model):
        if source.spec is None:
            raise mc.SpecError("model", "this Model was not built from a spec", fix="pass the "
                               "spec (or its path) instead, or build the model with "
                               "model_core.build_model")
        return source.spec
    if isinstance(source, str) and not source.lstrip().startswith("{"):
        return Path(source)
    return source


def _is_spec_object(source: Any) -> bool:
    return all(hasattr(source, a) for a in ("kind", "name", "to_dict"))


def _as_source(source: Any) -> Mapping[str, Any] | str | Path:
    if isinstance(source, bytes):
        try:
            source = source.decode("utf-8")
        except UnicodeDecodeError:
            raise mc.SpecError("spec", "the file is not UTF-8 text", fix="upload a JSON file "
                               "saved as UTF-8") from None
    if isinstance(source, str) and not source.lstrip().startswith("{"):
        # text that is not a JSON object: treat as JSON text, never as a path from the browser
        raise mc.SpecError("spec", "not a JSON object", source[:60],
                           "upload a model spec: a JSON object such as {\"kind\": ...}")
    return source
