"""Likelihood Explorer's numerical core: likelihoods, exact derivatives, fits and profiles.

>>> import model_core as mc
>>> model = mc.build_model({"kind": "uncorrelated_background", "data": [36, 33],
...     "background": [50.0, 48.0], "background_uncertainty": [12.0, 16.0],
...     "signal": {"templates": {"s": [12.0, 15.0]}}})
>>> model.parameter_names
('mu', 'theta_0', 'theta_1')
>>> round(float(model.nll([0.5, 0.1, 0.2])), 6)
18.470587
"""

#: The version of the whole distribution (the app and the core); pyproject.toml reads it.
__version__ = "0.2.0.dev0"

from .contour import (
    ContourBatch,
    ContourCoverage,
    ContourResult,
    ReferenceSurface,
    contour_coverage,
    find_contour,
    iter_contour,
    load_contour,
    reference_surface,
    save_contour,
)
from .exceptions import ExpressionError, FitFailed, ModelCoreError, ModelCoreWarning, SpecError
from .extent import region_extent
from .fit import fit
from .grid import nll_grid
from .model import Dataset, Model
from .models import build_model
from .numdiff import numerical_gradient, numerical_hessian, numerical_hessian_diag
from .profile import profile
from .results import FitResult, GridResult, ProfileResult
from .spec import ModelSpec, load_spec
from .stats import cl_to_sigma, delta_chi2, nll_threshold, sigma_to_cl
from .toys import (
    CalibratedGrid,
    CalibratedRow,
    CoverageBatch,
    CoverageStudy,
    ToyData,
    calibrated_grid,
    coverage_study,
    iter_calibrated_grid,
    iter_coverage_study,
    sample_toys,
)
from .workspace import WorkspaceSpec, load_workspace, to_workspace

__all__ = [
    "ContourBatch", "ContourCoverage", "ContourResult", "ReferenceSurface", "contour_coverage",
    "find_contour", "iter_contour", "load_contour", "reference_surface", "save_contour",
    "ExpressionError", "FitFailed", "FitResult", "GridResult", "Model", "ModelCoreError",
    "ModelCoreWarning", "ModelSpec", "ProfileResult", "SpecError", "build_model",
    "cl_to_sigma", "delta_chi2", "fit", "load_spec", "nll_grid", "nll_threshold",
    "numerical_gradient", "numerical_hessian", "numerical_hessian_diag", "profile",
    "region_extent", "sigma_to_cl", "WorkspaceSpec", "load_workspace", "to_workspace",
    "CalibratedGrid", "CalibratedRow", "CoverageBatch", "CoverageStudy", "Dataset", "ToyData",
    "calibrated_grid", "coverage_study", "iter_calibrated_grid", "iter_coverage_study",
    "sample_toys",
]
