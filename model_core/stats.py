"""Chi-square thresholds and conversions between confidence level and sigma."""

from __future__ import annotations

from scipy.stats import chi2

__all__ = ["delta_chi2", "nll_threshold", "sigma_to_cl", "cl_to_sigma"]


def _check_cl(confidence_level: float) -> float:
    cl = float(confidence_level)
    if not 0.0 < cl < 1.0:
        raise ValueError(f"confidence_level must lie strictly between 0 and 1, got {cl!r}; "
                         "write 0.95 for 95%")
    return cl


def delta_chi2(confidence_level: float, dof: int) -> float:
    """``Delta = F^-1_{chi2_k}(CL)``: the chi-square quantile with ``dof`` degrees of freedom."""
    if int(dof) < 1:
        raise ValueError(f"dof must be a positive integer, got {dof!r}")
    return float(chi2.ppf(_check_cl(confidence_level), int(dof)))


def nll_threshold(nll_min: float, confidence_level: float, dof: int) -> float:
    """``T = NLL_min + Delta / 2``, the level of the confidence region's boundary."""
    return float(nll_min) + 0.5 * delta_chi2(confidence_level, dof)


def sigma_to_cl(n_sigma: float) -> float:
    """Two-sided Gaussian coverage of ``n_sigma`` (1 -> 0.6827, 2 -> 0.9545)."""
    return float(chi2.cdf(float(n_sigma) ** 2, 1))


def cl_to_sigma(confidence_level: float) -> float:
    """Inverse of :func:`sigma_to_cl`."""
    return float(chi2.ppf(_check_cl(confidence_level), 1) ** 0.5)
