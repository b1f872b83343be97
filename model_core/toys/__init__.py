"""Pseudo-experiments (toys): pseudo-data, coverage studies and toy-calibrated regions.

See DESIGN.md section 9 for what a toy is for every kind of model.
"""

from .coverage import coverage_study, iter_coverage_study
from .data import ToyData, sample_toys
from .fits import ToyFits, fit_toys
from .neyman import calibrated_grid, iter_calibrated_grid
from .results import (
    CalibratedGrid,
    CalibratedRow,
    CoverageBatch,
    CoverageStudy,
    clopper_pearson,
    toy_quantile,
)

__all__ = ["CalibratedGrid", "CalibratedRow", "CoverageBatch", "CoverageStudy", "ToyData",
           "ToyFits", "calibrated_grid", "clopper_pearson", "coverage_study", "fit_toys",
           "iter_calibrated_grid", "iter_coverage_study", "sample_toys", "toy_quantile"]
