"""Fit summaries: Hessian errors, correlations and MINOS-style profile intervals.

A profile interval at confidence level CL is where the profiled
``Delta chi-square = 2 (NLL_p(x) - NLL_min)`` of one parameter crosses
``chi2.ppf(CL, 1)`` on each side of the best fit (MINOS's asymmetric errors
at ``errordef = 0.5`` for CL = 68.27%).  Grids cannot find these ends
reliably: an end may lie far outside any range chosen in advance, at a
parameter bound, or nowhere (a flat, unconstrained direction).  Each side is
therefore searched outwards on a geometric ladder (every rung profiled in one
batched call) until the threshold is crossed, a bound is met or the ladder ends,
and every crossing is then refined by a batched Illinois regula falsi in
``sqrt(Delta chi-square)`` (exact in one step for a quadratic NLL).

Each end says what it is (:data:`END_KINDS`): a ``"crossing"``; the parameter's
``"bound"``, reached before any crossing; an ``"edge"`` beyond which the
likelihood vanishes (some expected rate would turn negative); or ``"open"``:
the profile stays below the threshold as far as the search went, so the
parameter is not constrained on that side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .extent import quadratic_width
from .model import Model
from .params import resolve_fixed
from .profile import profile_points
from .results import FitResult
from .stats import delta_chi2, sigma_to_cl

__all__ = ["END_KINDS", "SUMMARY_LEVELS", "FitSummary", "ProfileInterval", "fit_summary",
           "profile_intervals"]

#: The levels of a fit summary: 68.27% (1 sigma, MINOS's default) and 95%.
SUMMARY_LEVELS = (sigma_to_cl(1.0), 0.95)
#: What an interval's end is (see the module docstring).
END_KINDS = ("crossing", "bound", "edge", "open")
#: The search reaches this many times the Hessian's half-width on each side (rungs a factor
#: sqrt(2) apart): far enough that a parameter whose profile stays below the threshold over
#: it is unconstrained for any practical purpose.
MAX_REACH = 1e4
#: A crossing is refined until sqrt(Delta chi-square) is this close to its target, relatively
#: (a few 1e-7 of the interval in the end's position).
_RTOL = 1e-7
#: Rungs tried first (out to 16 times the first step): most crossings lie within them.
_FIRST_RUNGS = 9
_MAX_REFINE = 60
#: A flat direction whose component along a parameter exceeds this makes that parameter's
#: Hessian error undefined.
_FLAT_WEIGHT = 1e-3


@dataclass(frozen=True, slots=True)
class ProfileInterval:
    """The profile interval of one parameter at one confidence level.

    Attributes
    ----------
    parameter : str
    confidence_level : float
    delta : float
        ``chi2.ppf(confidence_level, 1)``, the threshold in Delta chi-square.
    value : float
        The best-fit value.
    lower, upper : float
        The interval's ends (finite: for an ``"open"`` end, as far as the search reached).
    lower_kind, upper_kind : str
        One of :data:`END_KINDS`.
    """

    parameter: str
    confidence_level: float
    delta: float
    value: float
    lower: float
    upper: float
    lower_kind: str
    upper_kind: str

    @property
    def constrained(self) -> bool:
        """Whether the data bound the parameter on both sides (no ``"open"`` end)."""
        return "open" not in (self.lower_kind, self.upper_kind)

    @property
    def errors(self) -> tuple[float, float]:
        """MINOS-style asymmetric errors ``(lower - value, upper - value)``."""
        return self.lower - self.value, self.upper - self.value


@dataclass(frozen=True, slots=True, eq=False)
class FitSummary:
    """A fit at a glance, as iminuit shows one (:func:`fit_summary`).

    Attributes
    ----------
    parameter_names : tuple of str
        The free parameters.
    values : ndarray (m,)
    errors : ndarray (m,)
        Parabolic (Hessian) errors ``sqrt(diag(H^-1))``; NaN for a parameter that moves
        along a flat direction of the Hessian (no parabolic error exists).
    correlation : ndarray (m, m)
        Correlations from ``H^-1``; NaN rows and columns where the errors are NaN.
    intervals : dict of str to tuple of ProfileInterval
        One interval per confidence level, for every free parameter.
    confidence_levels : tuple of float
    fun : float
        ``NLL_min``.
    edm : float
        Estimated distance to the minimum, ``g^T H^-1 g / 2``.
    success, has_posdef_hessian : bool
    message : str
    at_bound : tuple of str
        Free parameters whose best fit lies on a bound.
    """

    parameter_names: tuple[str, ...]
    values: np.ndarray
    errors: np.ndarray
    correlation: np.ndarray
    intervals: dict[str, tuple[ProfileInterval, ...]]
    confidence_levels: tuple[float, ...]
    fun: float
    edm: float
    success: bool
    has_posdef_hessian: bool
    message: str
    at_bound: tuple[str, ...]


def profile_intervals(model: Model, parameter: str,
                      confidence_levels: Sequence[float] = SUMMARY_LEVELS, *, best: FitResult,
                      fixed: Mapping[str, float] | None = None) -> tuple[ProfileInterval, ...]:
    """The profile intervals of ``parameter`` at each of ``confidence_levels``.

    Parameters
    ----------
    model
        The likelihood.
    parameter
        A free parameter.
    confidence_levels
        Levels in (0, 1).
    best
        The best fit of ``model`` (with the same ``fixed``); every other free parameter is
        re-fitted at each trial value.
    fixed
        Extra parameters held fixed, by name.

    Returns
    -------
    tuple of ProfileInterval
        In the order of ``confidence_levels``.
    """
    i = model.index(parameter)
    fixed_idx = resolve_fixed(model, fixed)
    if i in fixed_idx:
        raise ValueError(f"{parameter!r} is fixed; unfix it to find its interval")
    deltas = np.array([delta_chi2(cl, 1) for cl in confidence_levels])
    pinned = sorted({i, *fixed_idx})
    others = [j for j in range(model.npar) if j not in pinned]
    x0 = float(best.x[i])
    lo_bound, hi_bound = (float(b) for b in model.bounds[i])
    width = quadratic_width(best.hess, i, others, float(deltas.max()), x0)
    bound = (lo_bound, hi_bound)
    reach = float(deltas.max())
    sides = [_Ladder(model, best, i, pinned, others, x0, -width, lo_bound, reach),
             _Ladder(model, best, i, pinned, others, x0, width, hi_bound, reach)]
    ends = np.empty((2, len(deltas)))
    kinds = np.empty((2, len(deltas)), dtype=object)
    brackets = []
    for side, ladder in enumerate(sides):
        for n, delta in enumerate(deltas):
            k = ladder.first_above(delta)
            if k is None:
                ends[side, n] = ladder.x[-1]
                kinds[side, n] = "bound" if ladder.x[-1] == bound[side] else "open"
                continue
            # the two points inside the crossing (their solutions start the refinement)
            xs = np.concatenate([[x0], ladder.x[:k]])
            levels = np.concatenate([[0.0], ladder.level[:k]])
            starts = np.vstack([best.x, ladder.start[:k]])
            inner = [(xs[j], max(levels[j], 0.0), starts[j]) for j in (-2, -1) if len(xs) >= -j]
            brackets.append((side, n, delta, inner, (ladder.x[k], ladder.level[k])))
    for (side, n), (end, kind) in zip(((b[0], b[1]) for b in brackets),
                                      _refine(model, i, pinned, others, best, brackets),
                                      strict=True):
        ends[side, n], kinds[side, n] = end, kind
    return tuple(ProfileInterval(parameter, float(cl), float(delta), x0, float(ends[0, n]),
                                 float(ends[1, n]), str(kinds[0, n]), str(kinds[1, n]))
                 for n, (cl, delta) in enumerate(zip(confidence_levels, deltas, strict=True)))


class _Ladder:
    """Trial values on one side of the best fit, ``sqrt(2)`` apart, profiled in batches: the
    first :data:`_FIRST_RUNGS` at once, the rest (out to :data:`MAX_REACH` times the first
    step) only when asked for a level that the first ones never reach."""

    def __init__(self, model: Model, best: FitResult, i: int, pinned: list[int],
                 others: list[int], x0: float, step: float, bound: float, reach: float) -> None:
        self._args = (model, best, i, pinned, others)
        self._reach = reach
        rungs = np.sqrt(2.0) ** np.arange(int(np.ceil(2 * np.log2(MAX_REACH))) + 1)
        # rungs past the bound collapse onto it: one rung there
        self._all = np.unique(np.clip(x0 + step * rungs, min(bound, x0), max(bound, x0)))
        if step < 0:
            self._all = self._all[::-1]
        self.x = np.zeros(0)
        self.level = np.zeros(0)
        self.start = np.zeros((0, model.npar))
        self._extend(_FIRST_RUNGS)

    def _extend(self, n: int) -> None:
        model, best, i, pinned, others = self._args
        x = self._all[len(self.x):n]
        if x.size == 0:
            return
        base = np.tile(best.x if not len(self.start) else self.start[-1], (x.size, 1))
        base[:, i] = x
        solved, fun = _profiled(model, best, i, pinned, others, base)
        for k in range(len(x)):
            # a rung that no start reaches: creep along the valley from the last two rungs,
            # up to the first rung beyond every threshold
            known = np.concatenate([self.x, x[:k]])
            levels = np.concatenate([self.level, 2.0 * (fun[:k] - best.fun)])
            if np.isfinite(fun[k]) or len(known) < 2 or (levels >= self._reach).any():
                continue
            points = np.concatenate([self.start, solved[:k]])
            solved[k:k + 1], fun[k:k + 1] = _profiled(
                model, best, i, pinned, others,
                _extrapolated(x[k], points[-2:], known[-2:], i)[None])
            if not np.isfinite(fun[k]):
                break
        self.x = np.concatenate([self.x, x])
        self.level = np.concatenate([self.level, 2.0 * (fun - best.fun)])
        self.start = np.concatenate([self.start, solved])

    def first_above(self, delta: float) -> int | None:
        """Index of the first rung at or above ``delta`` (or where the NLL is infinite)."""
        for n in (len(self.x), len(self._all)):
            self._extend(n)
            above = np.flatnonzero(~np.isfinite(self.level) | (self.level >= delta))
            if above.size:
                return int(above[0])
            if self.x[-1] == self._all[-1]:  # a bound (or the reach) ends the ladder
                break
        return None


def _profiled(model: Model, best: FitResult, i: int, pinned: list[int], others: list[int],
              *starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The profiled NLL at each row of the ``starts`` (the trial value in column ``i`` of the
    first), fitted from every start and from the best fit: a start may have a rate <= 0
    where another has none.  The best solutions (full vectors) and their NLLs."""
    fresh = np.tile(best.x, (len(starts[0]), 1))
    rows = np.vstack([*starts, fresh])
    rows[:, i] = np.tile(starts[0][:, i], len(starts) + 1)
    solved = profile_points(model, rows, pinned)
    rows[:, others] = solved.x
    fun = solved.fun.reshape(len(starts) + 1, -1)
    pick = np.argmin(np.where(np.isnan(fun), np.inf, fun), axis=0)
    n = len(starts[0])
    return rows[pick * n + np.arange(n)], fun[pick, np.arange(n)]


def _extrapolated(x: float, points: np.ndarray, values: np.ndarray, i: int) -> np.ndarray:
    """A start at ``x``: the last two solutions ``points`` (at ``values`` of parameter ``i``)
    carried on linearly, which follows a valley whose fitted parameters move with ``x``."""
    step = (x - values[-1]) / (values[-1] - values[-2])
    start = points[-1] + step * (points[-1] - points[-2])
    start[i] = x
    return start


def _refine(model: Model, i: int, pinned: list[int], others: list[int], best: FitResult,
            brackets: list) -> list[tuple[float, str]]:
    """Refine every bracket at once: Illinois regula falsi in ``r = sqrt(level)`` between
    finite levels, bisection towards a wall where the NLL is infinite."""
    if not brackets:
        return []
    m = len(brackets)
    target = np.sqrt([b[2] for b in brackets])
    x_in = np.array([b[3][-1][0] for b in brackets], dtype=float)
    r_in = np.sqrt([b[3][-1][1] for b in brackets])
    start = np.array([b[3][-1][2] for b in brackets], dtype=float)
    # the inner point before, to carry solutions on along a valley (the best fit if none)
    x_prev = np.array([b[3][0][0] if len(b[3]) > 1 else np.nan for b in brackets])
    start_prev = np.array([b[3][0][2] for b in brackets], dtype=float)
    x_out = np.array([b[4][0] for b in brackets], dtype=float)
    r_out = np.array([np.sqrt(b[4][1]) if np.isfinite(b[4][1]) else np.inf for b in brackets])
    # Illinois: halve the weight of an end that stays put twice in a row
    w_in, w_out = np.ones(m), np.ones(m)
    last = np.zeros(m, dtype=int)
    done = np.zeros(m, dtype=bool)
    end = np.where(np.isfinite(r_out) & (np.abs(r_out - target) <= _RTOL * target), x_out, np.nan)
    done |= np.isfinite(end)
    for _ in range(_MAX_REFINE):
        rows = np.flatnonzero(~done)
        if rows.size == 0:
            break
        finite = np.isfinite(r_out[rows])
        a, b = (target[rows] - r_in[rows]) * w_in[rows], (r_out[rows] - target[rows]) * w_out[rows]
        with np.errstate(invalid="ignore"):
            t = np.where(finite, a / (a + b), 0.5)
        x = x_in[rows] + t * (x_out[rows] - x_in[rows])
        base = start[rows].copy()
        base[:, i] = x
        carried = np.array([
            _extrapolated(xr, np.stack([start_prev[row], start[row]]),
                          np.array([x_prev[row], x_in[row]]), i)
            if np.isfinite(x_prev[row]) and x_prev[row] != x_in[row] else base[n]
            for n, (row, xr) in enumerate(zip(rows, x, strict=True))])
        solved, fun = _profiled(model, best, i, pinned, others, base, carried)
        level = 2.0 * (fun - best.fun)
        r = np.where(np.isfinite(level), np.sqrt(np.maximum(level, 0.0)), np.inf)
        for row, xr, rr, zr in zip(rows, x, r, solved[:, others], strict=True):
            if np.isfinite(rr) and abs(rr - target[row]) <= _RTOL * target[row]:
                end[row], done[row] = xr, True
                continue
            if rr < target[row]:
                x_prev[row], start_prev[row] = x_in[row], start[row]
                x_in[row], r_in[row] = xr, rr
                start[row, others] = zr
                w_out[row] = 0.5 * w_out[row] if last[row] == -1 else 1.0
                w_in[row], last[row] = 1.0, -1
            else:
                x_out[row], r_out[row] = xr, rr
                w_in[row] = 0.5 * w_in[row] if last[row] == 1 else 1.0
                w_out[row], last[row] = 1.0, 1
            if abs(x_out[row] - x_in[row]) <= 1e-12 * max(1.0, abs(x_in[row])):
                done[row] = True
    out = []
    for row in range(m):
        if np.isfinite(end[row]):
            out.append((float(end[row]), "crossing"))
        elif not np.isfinite(r_out[row]):
            out.append((float(x_in[row]), "edge"))
        else:
            t = (target[row] - r_in[row]) / (r_out[row] - r_in[row])
            out.append((float(x_in[row] + t * (x_out[row] - x_in[row])), "crossing"))
    return out


def fit_summary(model: Model, best: FitResult,
                confidence_levels: Sequence[float] = SUMMARY_LEVELS, *,
                fixed: Mapping[str, float] | None = None,
                intervals: Mapping[str, tuple[ProfileInterval, ...]] | None = None,
                ) -> FitSummary:
    """Values, Hessian errors, correlations and profile intervals of every free parameter.

    Parameters
    ----------
    model
        The likelihood.
    best
        Its best fit (with the same ``fixed``).
    confidence_levels
        The levels of the profile intervals.
    fixed
        Extra parameters held fixed, by name.
    intervals
        Profile intervals already found (by :func:`profile_intervals`, at
        ``confidence_levels``), used as given: a caller that streams them one parameter at
        a time passes what it has.  Computed for every free parameter when omitted.
    """
    fixed_idx = resolve_fixed(model, fixed)
    free = [j for j in range(model.npar) if j not in fixed_idx and not best.fixed[j]]
    names = tuple(model.parameter_names[j] for j in free)
    cov = np.asarray(best.covariance, dtype=float)[np.ix_(free, free)]
    errors = np.sqrt(np.maximum(np.diag(cov), 0.0))
    flat = np.abs(np.asarray(best.flat_directions, dtype=float)[:, free])
    undefined = (flat > _FLAT_WEIGHT).any(axis=0) if len(flat) else np.zeros(len(free), bool)
    errors = np.where(undefined | ~np.isfinite(errors), np.nan, errors)
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = cov / np.outer(errors, errors)
    correlation[np.diag_indices_from(correlation)] = np.where(np.isnan(errors), np.nan, 1.0)
    grad = model.value_and_grad(best.x)[1][free]
    edm = float(0.5 * grad @ cov @ grad) if len(free) else 0.0
    if intervals is None:
        intervals = {name: profile_intervals(model, name, confidence_levels, best=best,
                                             fixed=fixed) for name in names}
    return FitSummary(
        parameter_names=names, values=np.asarray(best.x, dtype=float)[free], errors=errors,
        correlation=correlation, intervals=dict(intervals),
        confidence_levels=tuple(float(c) for c in confidence_levels), fun=float(best.fun),
        edm=edm, success=bool(best.success), has_posdef_hessian=bool(best.has_posdef_hessian),
        message=best.message,
        at_bound=tuple(model.parameter_names[j] for j in free if best.at_bound[j]))
