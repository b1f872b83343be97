"""Counting-experiment likelihoods: the three built-in kinds of DESIGN.md section 4.

With signal ``S(c)`` from the spec's expression and rates
``lambda = mu * S(c) + b (+ sigma * theta)``:

``uncorrelated_background``
    Poisson terms times independent unit-Gaussian constraints on ``theta``,
    with ``sigma`` the absolute background uncertainty per bin.
``correlated_background``
    The same rates with ``sigma_i = sqrt(Sigma_ii)`` and the constraint
    ``N(theta | 0, rho)``, ``rho = D^-1 Sigma D^-1``.
``multivariate_normal``
    ``N(n | mu * S(c) + b, Sigma)``.

All constants are kept, so values equal spey's ``-logpdf``.  Poisson terms use
``lgamma``, so non-integer data are allowed; rates at or below zero give ``+inf``.

Pseudo-experiments (DESIGN.md section 9) replace the counts and the centres
``a`` of the nuisance constraints, ``N(theta | a, rho)`` (``a = 0`` observed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import autograd.numpy as anp
import numpy as np
from autograd.extend import Box, defvjp, primitive
from scipy.special import gammaln

from ..expression import SignalJet
from ..model import Dataset, Model, align_rows
from ..spec import ModelSpec, parameter_layout

__all__ = ["CountingNLL", "build_counting_model", "gaussian_nll", "poisson_nll"]

_LOG_2PI = float(np.log(2.0 * np.pi))
#: Arrays over each axis (bins, parameters, jets) one pass holds at once, at most: an
#: estimate for :meth:`CountingNLL.row_floats`.
_PER_TERM = 8


def poisson_nll(rates: np.ndarray, counts: np.ndarray, log_factorials: np.ndarray | None = None
                ) -> np.ndarray:
    """``-sum_i log Poisson(n_i | lambda_i)`` over the last axis, continuous in ``n``.

    ``log_factorials`` (``lgamma(n + 1)``) may be passed precomputed.  Rates at
    or below zero (or NaN) give ``+inf``.
    """
    if log_factorials is None:
        log_factorials = gammaln(np.asarray(counts, dtype=float) + 1.0)
    positive = rates > 0
    safe = anp.where(positive, rates, 1.0)
    terms = safe - counts * anp.log(safe) + log_factorials
    return anp.sum(anp.where(positive, terms, anp.inf), axis=-1)


def gaussian_nll(residual: np.ndarray, inverse: np.ndarray, logdet: float) -> np.ndarray:
    """``-log N(r | 0, C)`` over the last axis, given ``C^-1`` and ``log det C``.

    ``einsum`` rather than ``matmul``: numpy's ``matmul`` takes another code path
    for a single row, so a row's value would depend on the size of its batch.
    """
    quadratic = anp.sum(anp.einsum("...j,jk->...k", residual, inverse) * residual, axis=-1)
    return 0.5 * quadratic + 0.5 * (logdet + residual.shape[-1] * _LOG_2PI)


def build_counting_model(spec: ModelSpec) -> Model:
    """Build the :class:`~model_core.model.Model` of a counting-kind spec."""
    names, init, bounds, fixed = parameter_layout(spec)
    likelihood = CountingNLL(_constants(spec), None)
    return Model(likelihood, names, init, bounds, fixed=fixed, poi_index=0,
                 expected_fn=likelihood.expected, name=spec.name, spec=spec)


@dataclass(frozen=True)
class _Constants:
    """What a counting likelihood does not take from its data."""

    kind: str
    n_shape: int
    signal: Callable[[np.ndarray], np.ndarray]
    signal_jet: SignalJet
    background: np.ndarray
    sigma: np.ndarray | None          # per-bin shift of one unit of theta (Poisson kinds)
    inverse: np.ndarray               # of the constraint's correlation, or of the covariance
    logdet: float
    cholesky: np.ndarray              # of the same matrix, to draw pseudo-data
    observed: Dataset

    @property
    def gaussian(self) -> bool:
        return self.kind == "multivariate_normal"

    @property
    def start(self) -> int:
        """Index of ``theta_0``."""
        return 1 + self.n_shape


def _constants(spec: ModelSpec) -> _Constants:
    shape = spec.shape_parameters
    templates = {k: np.array(v, dtype=float) for k, v in spec.templates.items()}
    data = np.array(spec.data, dtype=float)
    if spec.kind == "multivariate_normal":
        matrix = np.array(spec.covariance, dtype=float)
        sigma = None
        n_aux = 0
    else:
        if spec.kind == "uncorrelated_background":
            sigma = np.array(spec.background_uncertainty, dtype=float)
            matrix = np.eye(spec.n_bins)
        else:
            cov = np.array(spec.covariance, dtype=float)
            sigma = np.sqrt(np.diag(cov))
            matrix = cov / np.outer(sigma, sigma)
        n_aux = spec.n_bins
    return _Constants(spec.kind, len(shape), spec.signal.compile(templates, shape),
                      spec.signal.compile_jet(templates, shape),
                      np.array(spec.background, dtype=float), sigma, np.linalg.inv(matrix),
                      float(np.linalg.slogdet(matrix)[1]), np.linalg.cholesky(matrix),
                      Dataset(data[None], np.zeros((1, n_aux))))


class CountingNLL:
    """NLL, exact gradient and exact Hessian of a counting kind, written by hand.

    The signal's derivatives come from forward-mode jets over the compiled
    expression (:meth:`~model_core.expression.SignalExpression.compile_jet`);
    everything else is a few numpy operations, so single points and large
    batches cost little.  Called on autograd boxes, the NLL is an autograd
    primitive whose gradient is another primitive with the hand-written Hessian
    as its derivative, so compositions stay exactly twice differentiable.

    Parameters
    ----------
    c
        The model's constants.
    data
        ``None`` for the observed data, or one :class:`~model_core.model.Dataset`
        row per batch row (counts, and the centres of the nuisance constraints).
    """

    def __init__(self, c: _Constants, data: Dataset | None) -> None:
        self.c = c
        self.per_row = data is not None
        self.data = c.observed if data is None else data
        counts = np.asarray(self.data.main, dtype=float)
        aux = np.asarray(self.data.aux, dtype=float)
        if counts.shape[1:] != c.observed.main.shape[1:] or aux.shape[1:] != \
                c.observed.aux.shape[1:] or len(aux) != len(counts):
            raise ValueError(f"datasets must have main {c.observed.main.shape[1:]} and aux "
                             f"{c.observed.aux.shape[1:]} per row, got {counts.shape} and "
                             f"{aux.shape}")
        self._counts = counts if self.per_row else counts[0]
        self._aux = aux if self.per_row else aux[0]
        self._lgf = gammaln(self._counts + 1.0)
        self._value_p = primitive(self.value)
        self._grad_p = primitive(self.gradient)
        self._hess_p = primitive(self.hessian)  # no derivative: third order is not available
        defvjp(self._value_p, lambda ans, X: lambda g: anp.expand_dims(g, -1) * self._grad_p(X))
        defvjp(self._grad_p,
               lambda ans, X: lambda g: anp.einsum("...a,...ab->...b", g, self._hess_p(X)))

    @property
    def aux_parameters(self) -> np.ndarray:
        """Index of the parameter each auxiliary measurement constrains (the thetas)."""
        return np.arange(self.c.start, self.c.start + self.c.observed.aux.shape[1])

    def with_data(self, data: Dataset) -> CountingNLL:
        """The same likelihood with dataset ``i`` in batch row ``i``."""
        return CountingNLL(self.c, data)

    def __call__(self, X):
        return self._value_p(X) if isinstance(X, Box) else self.value(X)

    def _data(self, X) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not self.per_row:
            return self._counts, self._aux, self._lgf
        return align_rows(self._counts, X), align_rows(self._aux, X), align_rows(self._lgf, X)

    # -- rates -----------------------------------------------------------------------------
    def expected(self, X):
        """Expected yields ``(..., n_bins)`` (autograd-traceable)."""
        c = self.c
        rates = X[..., 0:1] * c.signal(X[..., 1:c.start]) + c.background
        return rates if c.gaussian else rates + c.sigma * X[..., c.start:]

    def _rates(self, X: np.ndarray, S: np.ndarray) -> np.ndarray:
        c = self.c
        rates = X[..., 0:1] * S + c.background
        return rates if c.gaussian else rates + c.sigma * X[..., c.start:]

    def _value(self, X: np.ndarray, rates: np.ndarray, counts, aux, lgf) -> np.ndarray:
        c = self.c
        if c.gaussian:
            return gaussian_nll(counts - rates, c.inverse, c.logdet)
        return poisson_nll(rates, counts, lgf) + gaussian_nll(X[..., c.start:] - aux, c.inverse,
                                                              c.logdet)

    # -- value and derivatives ---------------------------------------------------------------
    def value(self, X: np.ndarray) -> np.ndarray:
        """The NLL at ``X (..., npar)`` (``+inf`` where a rate is not positive)."""
        X = np.asarray(X, dtype=float)
        return self._value(X, self.expected(X), *self._data(X))

    def value_and_grad(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """NLL and gradient; the gradient is NaN where the NLL is infinite."""
        X = np.asarray(X, dtype=float)
        counts, aux, lgf = self._data(X)
        S, dS, _ = self.c.signal_jet(X[..., 1:self.c.start], False)
        rates = self._rates(X, S)
        slope = self._slope(rates, counts)
        grad = self._grad(X, S, dS, slope, aux)
        return self._value(X, rates, counts, aux, lgf), grad

    def gradient(self, X: np.ndarray) -> np.ndarray:
        """``d NLL / d X``, shape ``(..., npar)``."""
        return self.value_and_grad(X)[1]

    def _slope(self, rates: np.ndarray, counts) -> np.ndarray:
        """``d NLL / d rates``."""
        if self.c.gaussian:
            return -np.einsum("...j,jk->...k", counts - rates, self.c.inverse)
        return 1.0 - counts / np.where(rates > 0, rates, np.nan)

    def _grad(self, X, S, dS, slope, aux) -> np.ndarray:
        c = self.c
        mu = X[..., 0:1]
        parts = [np.sum(slope * S, axis=-1, keepdims=True),
                 mu * np.einsum("...j,...jk->...k", slope, dS)]
        if not c.gaussian:
            parts.append(slope * c.sigma
                         + np.einsum("...j,jk->...k", X[..., c.start:] - aux, c.inverse))
        return np.concatenate(parts, axis=-1)

    def hessian(self, X: np.ndarray) -> np.ndarray:
        """Exact Hessian ``(..., npar, npar)``; NaN where the NLL is infinite."""
        c = self.c
        X = np.asarray(X, dtype=float)
        counts, _, _ = self._data(X)
        mu = X[..., 0:1]
        S, dS, d2S = c.signal_jet(X[..., 1:c.start], True)
        rates = self._rates(X, S)
        npar = X.shape[-1]
        n_bins = rates.shape[-1]
        jac = np.zeros(rates.shape + (npar,))         # d rates / d X
        jac[..., 0] = S
        jac[..., 1:c.start] = mu[..., None] * dS
        if c.gaussian:
            slope = self._slope(rates, counts)
            weighted = np.einsum("jk,...ka->...ja", c.inverse, jac)
            hess = np.einsum("...ja,...jb->...ab", jac, weighted)
        else:
            bins = np.arange(n_bins)
            jac[..., bins, c.start + bins] = c.sigma
            safe = np.where(rates > 0, rates, np.nan)
            slope = 1.0 - counts / safe
            curvature = counts / (safe * safe)
            hess = np.einsum("...j,...ja,...jb->...ab", curvature, jac, jac)
            hess[..., c.start:, c.start:] += c.inverse
        # second derivatives of the rates: d2/dmu dc = dS, d2/dc2 = mu d2S
        cross = np.einsum("...j,...jk->...k", slope, dS)
        hess[..., 0, 1:c.start] += cross
        hess[..., 1:c.start, 0] += cross
        hess[..., 1:c.start, 1:c.start] += mu[..., None] * np.einsum("...j,...jkl->...kl",
                                                                     slope, d2S)
        return hess

    def row_floats(self, order: int) -> int:
        """Floats of intermediate arrays per row of a value (``order`` 0), value and
        gradient (1) or Hessian (2) call: an upper estimate (a few arrays over the bins
        and parameters; the signal's jets add ``bins x shape parameters`` (squared for the
        Hessian), the Hessian the rates' Jacobian and ``npar**2`` matrices)."""
        c = self.c
        bins = c.background.size
        npar = c.start + (0 if c.gaussian else bins)
        floats = _PER_TERM * (bins + npar)
        if order >= 1:
            floats += _PER_TERM * bins * (1 + c.n_shape)
        if order == 2:
            floats += _PER_TERM * (bins * npar + bins * c.n_shape ** 2 + npar * npar)
        return floats

    # -- pseudo-data ---------------------------------------------------------------------------
    def sample(self, x: np.ndarray, n: int, rng: np.random.Generator) -> Dataset:
        """``n`` pseudo-datasets at the parameter point ``x (npar,)`` (DESIGN.md section 9).

        Poisson kinds: counts ``~ Poisson(rates)`` and auxiliary measurements
        ``a ~ N(theta, rho)``; ``multivariate_normal``: ``n ~ N(rates, Sigma)``.
        """
        c = self.c
        x = np.asarray(x, dtype=float)
        rates = np.asarray(self.expected(x), dtype=float)
        n_bins = rates.size
        if c.gaussian:
            main = rates + rng.standard_normal((n, n_bins)) @ c.cholesky.T
            return Dataset(main, np.zeros((n, 0)))
        bad = np.flatnonzero(~(rates > 0))
        if bad.size:
            raise ValueError(f"the expected count of bin {int(bad[0])} is {rates[bad[0]]:.6g} "
                             "at this point: Poisson pseudo-data need positive rates; choose "
                             "parameter values where every rate is positive")
        main = rng.poisson(rates, size=(n, n_bins)).astype(float)
        aux = x[c.start:] + rng.standard_normal((n, n_bins)) @ c.cholesky.T
        return Dataset(main, aux)
