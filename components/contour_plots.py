"""Pure functions from contour-finder results to plotly figures.

Every figure sets ``layout.uirevision`` so that a streamed update keeps the
user's camera and zoom.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = ["ORIGINS", "coverage_figure", "figures_html", "projections_figure",
           "residual_figure", "scatter_figure", "subsample"]

#: Point origin -> (legend label, colour).
ORIGINS = {True: ("radial search", "#1f77b4"), False: ("constrained chains", "#ff7f0e")}
BEST = dict(color="#e6194b", size=14, symbol="diamond", line=dict(color="white", width=1))
_LAYOUT = dict(template="plotly_white", margin=dict(l=10, r=10, t=60, b=10),
               legend=dict(orientation="h", yanchor="bottom", y=1.0, x=1.0, xanchor="right"),
               font=dict(size=12))
_TITLE = dict(x=0.0, xanchor="left", y=0.98, yanchor="top")


def subsample(n: int, limit: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of at most ``limit`` of ``n`` points (all when ``n <= limit``);
    the same ``n`` always gives the same choice."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng([seed, n]).choice(n, size=limit, replace=False))


def scatter_figure(points: np.ndarray, from_radial: np.ndarray, on_bound: np.ndarray,
                   names: tuple[str, ...], theta_mle: np.ndarray | None,
                   axes: tuple[int, ...], *, title: str = "") -> go.Figure:
    """The contour points over ``axes`` (1, 2 or 3 of them; 3-D for three), coloured by
    origin, points on a bound circled, the best fit marked."""
    fig = go.Figure()
    dims = len(axes)
    for origin, (label, color) in ORIGINS.items():
        mask = from_radial == origin
        fig.add_trace(_trace(points[mask], axes, name=label, marker=dict(color=color, size=3
                                                                          if dims == 3 else 5)))
    if on_bound.any():
        fig.add_trace(_trace(points[on_bound], axes, name="on a bound",
                             marker=dict(color="rgba(0,0,0,0)", size=9 if dims < 3 else 5,
                                         line=dict(color="black", width=1.5))))
    if theta_mle is not None and len(theta_mle):
        fig.add_trace(_trace(np.asarray(theta_mle)[None], axes, name="best fit", marker=BEST))
    labels = [names[i] for i in axes]
    layout = dict(_LAYOUT, title=dict(text=title, **_TITLE), uirevision="contour-scatter")
    if dims == 3:
        layout["scene"] = dict(xaxis_title=labels[0], yaxis_title=labels[1],
                               zaxis_title=labels[2], aspectmode="cube")
    else:
        layout["xaxis_title"] = labels[0]
        layout["yaxis_title"] = labels[1] if dims == 2 else ""
    fig.update_layout(**layout)
    return fig


def _trace(points: np.ndarray, axes: tuple[int, ...], **kwargs) -> go.Scatter | go.Scatter3d:
    points = np.atleast_2d(np.asarray(points, dtype=float))
    if len(axes) == 3:
        x, y, z = (points[:, i] for i in axes)
        return go.Scatter3d(x=x, y=y, z=z, mode="markers", **kwargs)
    y = points[:, axes[1]] if len(axes) == 2 else np.zeros(len(points))
    return go.Scattergl(x=points[:, axes[0]], y=y, mode="markers", **kwargs)


def projections_figure(points: np.ndarray, from_radial: np.ndarray, names: tuple[str, ...],
                       theta_mle: np.ndarray | None, pairs: list[tuple[int, int]] | None = None,
                       ) -> go.Figure:
    """Pairwise 2-D projections (all pairs by default), three per row."""
    pairs = pairs if pairs is not None else list(combinations(range(len(names)), 2))
    cols = min(3, max(1, len(pairs)))
    rows = max(1, -(-len(pairs) // cols))
    fig = make_subplots(rows=rows, cols=cols, horizontal_spacing=0.08, vertical_spacing=0.12)
    for n, (i, j) in enumerate(pairs):
        row, col = divmod(n, cols)
        for origin, (label, color) in ORIGINS.items():
            mask = from_radial == origin
            fig.add_trace(go.Scattergl(x=points[mask, i], y=points[mask, j], mode="markers",
                                       marker=dict(color=color, size=3), name=label,
                                       legendgroup=label, showlegend=n == 0),
                          row=row + 1, col=col + 1)
        if theta_mle is not None and len(theta_mle):
            fig.add_trace(go.Scattergl(x=[theta_mle[i]], y=[theta_mle[j]], mode="markers",
                                       marker=BEST, name="best fit", legendgroup="best",
                                       showlegend=n == 0), row=row + 1, col=col + 1)
        fig.update_xaxes(title_text=names[i], row=row + 1, col=col + 1)
        fig.update_yaxes(title_text=names[j], row=row + 1, col=col + 1)
    fig.update_layout(**_LAYOUT, height=300 * rows, uirevision="contour-projections",
                      title=dict(text="Pairwise projections", **_TITLE))
    return fig


def residual_figure(residuals: np.ndarray, from_radial: np.ndarray) -> go.Figure:
    """Histogram of ``NLL - T`` by origin (every point should sit at zero)."""
    fig = go.Figure()
    for origin, (label, color) in ORIGINS.items():
        values = residuals[from_radial == origin]
        if len(values):
            fig.add_trace(go.Histogram(x=values, name=label, marker_color=color, opacity=0.7,
                                       nbinsx=40))
    largest = float(np.max(np.abs(residuals))) if len(residuals) else 0.0
    fig.update_layout(**_LAYOUT, barmode="overlay", uirevision="contour-residuals",
                      title=dict(text=f"Residuals NLL − T (largest |r| = {largest:.2g})", **_TITLE),
                      xaxis_title="NLL − T", yaxis_title="points", height=300)
    return fig


def coverage_figure(reference: np.ndarray, covered: np.ndarray, points: np.ndarray,
                    names: tuple[str, ...]) -> go.Figure:
    """Reference-surface samples (grey when a contour point is near, red when not) under the
    contour points, in 2-D or 3-D."""
    axes = tuple(range(min(3, len(names))))
    fig = go.Figure()
    fig.add_trace(_trace(reference[covered], axes, name="reference, covered",
                         marker=dict(color="#bdbdbd", size=2, opacity=0.5)))
    fig.add_trace(_trace(reference[~covered], axes, name="reference, not covered",
                         marker=dict(color="#d62728", size=4)))
    fig.add_trace(_trace(points, axes, name="contour points",
                         marker=dict(color="#1f77b4", size=2, opacity=0.6)))
    layout = dict(_LAYOUT, uirevision="contour-coverage",
                  title=dict(text="Coverage of the reference surface", **_TITLE))
    if len(axes) == 3:
        layout["scene"] = dict(xaxis_title=names[0], yaxis_title=names[1],
                               zaxis_title=names[2], aspectmode="cube")
    else:
        layout["xaxis_title"] = names[0]
        layout["yaxis_title"] = names[1] if len(axes) == 2 else ""
    fig.update_layout(**layout)
    return fig


def figures_html(figures: dict[str, go.Figure], title: str) -> str:
    """One self-contained HTML page with every figure (plotly.js inlined: works offline)."""
    parts = []
    for n, (name, fig) in enumerate(figures.items()):
        body = fig.to_html(full_html=False, include_plotlyjs=n == 0)
        parts.append(f"<h2>{name}</h2>\n{body}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head>"
            f"<body style='font-family:sans-serif'><h1>{title}</h1>\n" + "\n".join(parts)
            + "</body></html>")
