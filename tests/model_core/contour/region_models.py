"""Hand-written models the contour finder was not tuned for, with their independent truths.

Shared by the contour tests (``test_regions.py``, ``test_profiled.py``, ``conftest.py``)
and by ``benchmarks/bench_regions.py``: two islands of equal and of unequal depth, a
banana-shaped 3-D region, axes with scales 1e7 apart, a 3-D ellipsoid (cut by a bound
in the tests), and correlated-background models for profiled contours.  The truths
here need no contour finder: analytic roots and quadratic forms, a plane sampled
inside an ellipse, and root finding on the profiled NLL along a bound.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

import model_core as mc

__all__ = ["BANANA", "CORRELATED", "CORRELATED_3D", "ELLIPSOID_CUT", "ELLIPSOID_SPEC", "ROOTS",
           "TWO_BASINS", "UNEQUAL", "WILD_SCALES", "bound_segment", "ellipsoid_face",
           "ellipsoid_fisher", "ellipsoid_half_widths"]

# c0**2*Q + c0*L + c1*C: with C = (1, 1), the data are matched exactly wherever
# (Q1 - Q2) c0**2 + (L1 - L2) c0 = t1 - t2, i.e. c0**2 + 4.9 c0 - 9.3639 = 0:
# c0 = 1.47 (c1 = 2) and c0 = -6.37 (c1 = -28.576), two minima of equal depth.
ROOTS = np.array([[1.47, 2.0], [-6.37, -28.576]])
TWO_BASINS = {
    "kind": "multivariate_normal", "data": [64.9948, 53.6309], "background": [50.0, 48.0],
    "covariance": [[4.0, 1.0], [1.0, 4.0]],
    "signal": {"templates": {"Q": [2.0, 1.0], "L": [5.9, 1.0], "C": [1.0, 1.0]},
               "expression": "c0**2*Q + c0*L + c1*C"},
    "parameters": {"mu": {"fixed": True}},
}
#: A third bin matched exactly at the first root only: the second basin is shallower.
UNEQUAL = {**TWO_BASINS, "data": [64.9948, 53.6309, 40.2], "background": [50.0, 48.0, 40.0],
           "covariance": [[4.0, 1.0, 0.0], [1.0, 4.0, 0.0], [0.0, 0.0, 4.0]],
           "signal": {"templates": {"Q": [2.0, 1.0, 0.0], "L": [5.9, 1.0, 0.0],
                                    "C": [1.0, 1.0, 0.1]},
                      "expression": "c0**2*Q + c0*L + c1*C"}}
#: (a, b - a**2, c) has a Gaussian likelihood: the region is an ellipsoid in those
#: coordinates and a banana in (a, b, c).
BANANA = {
    "kind": "multivariate_normal", "data": [52.0, 49.0, 41.0], "background": [50.0, 48.0, 40.0],
    "covariance": [[1.0, 0.0, 0.0], [0.0, 0.04, 0.0], [0.0, 0.0, 1.0]],
    "signal": {"templates": {"A": [1.0, 0.0, 0.0], "B": [0.0, 1.0, 0.0], "C": [0.0, 0.0, 1.0]},
               "expression": "a*A + (b - a**2)*B + c*C"},
    "parameters": {"mu": {"fixed": True}},
}
#: a's width is ~2e7, b's ~2: scales 1e7 apart (a_hat = 3e7).
WILD_SCALES = {
    "kind": "multivariate_normal", "data": [53.0, 49.0], "background": [50.0, 48.0],
    "covariance": [[4.0, 1.0], [1.0, 4.0]],
    "signal": {"templates": {"A": [1e-7, 0.0], "B": [0.5, 1.0]}, "expression": "a*A + b*B"},
    "parameters": {"mu": {"fixed": True}},
}

#: A linear signal in a multivariate normal: the NLL is exactly quadratic in (a, b, c).
ELLIPSOID_SPEC = {
    "kind": "multivariate_normal",
    "data": [30.0, 40.0, 50.0],
    "background": [20.0, 30.0, 40.0],
    "covariance": [[25.0, 5.0, 0.0], [5.0, 36.0, 4.0], [0.0, 4.0, 49.0]],
    "signal": {"templates": {"A": [5.0, 1.0, 0.5], "B": [1.0, 6.0, 1.0], "C": [0.5, 1.0, 7.0]},
               "expression": "a*A + b*B + c*C"},
    "parameters": {"mu": {"fixed": True}},
}
#: Where the upper bound on ``a`` cuts the ellipsoid: this fraction of its half-width
#: along ``a`` past the best fit (a face of a fair size, most of the surface kept).
ELLIPSOID_CUT = 0.4

#: Two bins, correlated background: the contour over (mu, theta_0), theta_1 profiled.
CORRELATED = {
    "kind": "correlated_background", "data": [62, 70], "background": [50.0, 48.0],
    "covariance": [[25.0, 5.0], [5.0, 36.0]],
    "signal": {"templates": {"S": [12.0, 15.0]}, "expression": "S"},
}

#: Three bins and three signal shapes over a correlated background: the contour over
#: (a, b, c) with the three background nuisances profiled.
CORRELATED_3D = {
    "kind": "correlated_background", "data": [30, 40, 50], "background": [20.0, 30.0, 40.0],
    "covariance": [[25.0, 5.0, 0.0], [5.0, 36.0, 4.0], [0.0, 4.0, 49.0]],
    "signal": {"templates": {"A": [5.0, 1.0, 0.5], "B": [1.0, 6.0, 1.0], "C": [0.5, 1.0, 7.0]},
               "expression": "a*A + b*B + c*C"},
    "parameters": {"mu": {"fixed": True}},
}


def ellipsoid_fisher() -> np.ndarray:
    """``J^T Sigma^-1 J`` of :data:`ELLIPSOID_SPEC`: the NLL is ``NLL_min + d^T F d / 2``."""
    templates = ELLIPSOID_SPEC["signal"]["templates"]
    J = np.array([templates["A"], templates["B"], templates["C"]]).T
    return J.T @ np.linalg.inv(np.array(ELLIPSOID_SPEC["covariance"])) @ J


def ellipsoid_half_widths(fisher: np.ndarray, delta: float) -> np.ndarray:
    """Half-widths along each axis of the ellipsoid ``d^T F d <= 2 delta``."""
    return np.sqrt(delta * np.diag(np.linalg.inv(fisher)))


def ellipsoid_face(centre: np.ndarray, fisher: np.ndarray, delta: float, cut: float, *,
                   n: int = 40000, rng: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The face where the plane ``a = cut`` meets the ellipsoid, and the cut region's extent.

    Returns ``(face, extent)``: the points of ``n`` uniform samples of the plane (over the
    ellipsoid's bounding box) with ``d^T F d <= 2 delta``, and the extent of the region
    ``{a <= cut}`` along each axis (the metric of the face's coverage).
    """
    half = ellipsoid_half_widths(fisher, delta)
    generator = np.random.default_rng(rng)
    box = np.column_stack([centre[1:] - half[1:], centre[1:] + half[1:]])
    plane = np.column_stack([np.full(n, cut), generator.uniform(*box[0], n),
                             generator.uniform(*box[1], n)])
    d = plane - centre
    face = plane[np.einsum("ni,ij,nj->n", d, fisher, d) <= delta]
    extent = 2.0 * half
    extent[0] = cut - (centre[0] - half[0])
    return face, extent


def bound_segment(model: mc.Model, threshold: float, free: str, value: float,
                  along: str, centre: float, reach: float = 5.0) -> tuple[float, float]:
    """Ends of the face ``{free = value, profiled NLL <= T}`` along the axis ``along``.

    The profiled NLL (every parameter other than ``free`` and ``along`` fitted afresh by
    :func:`model_core.fit`) crosses ``threshold`` once on each side of ``centre`` within
    ``reach``; each crossing is found by ``brentq``.
    """
    def excess(x: float) -> float:
        return mc.fit(model, fixed={free: value, along: x}).fun - threshold

    return (brentq(excess, centre - reach, centre, xtol=1e-12),
            brentq(excess, centre, centre + reach, xtol=1e-12))
