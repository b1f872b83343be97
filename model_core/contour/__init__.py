"""The contour finder: points on the boundary ``NLL = T`` of a confidence region.

``find_contour`` / ``iter_contour`` (:mod:`.finder`), the coverage check
(:mod:`.coverage`) and result files (:mod:`.io`).
"""

from .coverage import ContourCoverage, ReferenceSurface, contour_coverage, reference_surface
from .finder import find_contour, iter_contour
from .io import load_contour, save_contour
from .results import ContourBatch, ContourResult

__all__ = ["ContourBatch", "ContourCoverage", "ContourResult", "ReferenceSurface",
           "contour_coverage", "find_contour", "iter_contour", "load_contour",
           "reference_surface", "save_contour"]
