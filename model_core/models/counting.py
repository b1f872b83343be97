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
"""

from __future__ import annotations

from collections.abc import Callable

import autograd.numpy as anp
import numpy as np
from scipy.special import gammaln

from ..model import Model
from ..spec import ModelSpec, parameter_layout

__all__ = ["build_counting_model", "poisson_nll", "gaussian_nll"]

_LOG_2PI = float(np.log(2.0 * np.pi))


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
    """``-log N(r | 0, C)`` over the last axis, given ``C^-1`` and ``log det C``."""
    quadratic = anp.sum(anp.matmul(residual, inverse) * residual, axis=-1)
    return 0.5 * quadratic + 0.5 * (logdet + residual.shape[-1] * _LOG_2PI)


def build_counting_model(spec: ModelSpec) -> Model:
    """Build the :class:`~model_core.model.Model` of a counting-kind spec."""
    names, init, bounds, fixed = parameter_layout(spec)
    shape = spec.shape_parameters
    n_shape = len(shape)
    signal = spec.signal.compile({k: np.array(v) for k, v in spec.templates.items()}, shape)
    data = np.array(spec.data, dtype=float)
    background = np.array(spec.background, dtype=float)

    def mean_rates(X: np.ndarray) -> np.ndarray:
        return X[..., 0:1] * signal(X[..., 1 : 1 + n_shape]) + background

    if spec.kind == "multivariate_normal":
        cov = np.array(spec.covariance, dtype=float)
        inverse, logdet = np.linalg.inv(cov), float(np.linalg.slogdet(cov)[1])

        def nll(X: np.ndarray) -> np.ndarray:
            return gaussian_nll(data - mean_rates(X), inverse, logdet)

        expected: Callable = mean_rates
    else:
        if spec.kind == "uncorrelated_background":
            sigma = np.array(spec.background_uncertainty, dtype=float)
            correlation = np.eye(spec.n_bins)
        else:
            cov = np.array(spec.covariance, dtype=float)
            sigma = np.sqrt(np.diag(cov))
            correlation = cov / np.outer(sigma, sigma)
        inverse, logdet = np.linalg.inv(correlation), float(np.linalg.slogdet(correlation)[1])
        start = 1 + n_shape
        log_factorials = gammaln(data + 1.0)

        def expected(X: np.ndarray) -> np.ndarray:
            return mean_rates(X) + sigma * X[..., start:]

        def nll(X: np.ndarray) -> np.ndarray:
            return (poisson_nll(expected(X), data, log_factorials)
                    + gaussian_nll(X[..., start:], inverse, logdet))

    return Model(nll, names, init, bounds, fixed=fixed, poi_index=0, expected_fn=expected,
                 name=spec.name, spec=spec)
