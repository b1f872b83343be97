"""Pure functions from contour-finder results to plotly figures.

Every figure sets ``layout.uirevision`` so that a streamed update keeps the
user's camera and zoom.  Figures are written as plain plotly specs and wrapped
without validation (``go.Figure(spec, _validate=False)``): validating a few
thousand points per trace took most of a streamed update's time.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

__all__ = ["ORIGINS", "coverage_figure", "figures_html", "projections_figure",
           "residual_figure", "scatter_figure", "subsample"]

#: Point origin -> (legend label, colour).
ORIGINS = {True: ("radial search", "#1f77b4"), False: ("constrained chains", "#ff7f0e")}
BEST = dict(color="#e6194b", size=14, symbol="diamond", line=dict(color="white", width=1))
_TEMPLATE = pio.templates["plotly_white"].to_plotly_json()
_LAYOUT = dict(template=_TEMPLATE, margin=dict(l=10, r=10, t=60, b=10),
               legend=dict(orientation="h", yanchor="bottom", y=1.0, x=1.0, xanchor="right"),
               font=dict(size=12))
_TITLE = dict(x=0.0, xanchor="left", y=0.98, yanchor="top")


def _figure(traces: list[dict[str, Any]], layout: dict[str, Any]) -> go.Figure:
    return go.Figure({"data": traces, "layout": {**_LAYOUT, **layout}}, _validate=False)


def subsample(n: int, limit: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of at most ``limit`` of ``n`` points (all when ``n <= limit``);
    the same ``n`` always gives the same choice."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng([seed, n]).choice(n, size=limit, replace=False))


def _trace(points: np.ndarray, axes: tuple[int, ...], **kwargs: Any) -> dict[str, Any]:
    """Markers at ``points`` over ``axes``: 3-D for three axes, else 2-D (y = 0 for one)."""
    points = np.atleast_2d(np.asarray(points, dtype=float))
    if len(axes) == 3:
        x, y, z = (points[:, i] for i in axes)
        return dict(type="scatter3d", x=x, y=y, z=z, mode="markers", **kwargs)
    y = points[:, axes[1]] if len(axes) == 2 else np.zeros(len(points))
    return dict(type="scattergl", x=points[:, axes[0]], y=y, mode="markers", **kwargs)


def _axes_layout(labels: list[str]) -> dict[str, Any]:
    if len(labels) == 3:
        return dict(scene=dict(xaxis=dict(title=dict(text=labels[0])),
                               yaxis=dict(title=dict(text=labels[1])),
                               zaxis=dict(title=dict(text=labels[2])), aspectmode="cube"))
    if len(labels) == 2:
        return dict(xaxis=dict(title=dict(text=labels[0])),
                    yaxis=dict(title=dict(text=labels[1])))
    # one axis: the interval's ends on the parameter's line
    return dict(xaxis=dict(title=dict(text=labels[0])), yaxis=dict(visible=False, range=[-1, 1]))


def scatter_figure(points: np.ndarray, from_radial: np.ndarray, on_bound: np.ndarray,
                   names: tuple[str, ...], theta_mle: np.ndarray | None,
                   axes: tuple[int, ...], *, title: str = "") -> go.Figure:
    """The contour points over ``axes`` (1, 2 or 3 of them; 3-D for three), coloured by
    origin, points on a bound circled, the best fit marked.

    The traces are always the same four (radial, chains, on a bound, best fit), empty
    or not, so that a streamed update changes data, not the figure's structure."""
    dims = len(axes)
    traces = [_trace(points[from_radial == origin], axes, name=label,
                     marker=dict(color=color, size=3 if dims == 3 else 5))
              for origin, (label, color) in ORIGINS.items()]
    # the same traces whatever the points, so that a streamed update only sends new data
    traces.append(_trace(points[on_bound], axes, name="on a bound",
                         marker=dict(color="rgba(0,0,0,0)", size=9 if dims < 3 else 5,
                                     line=dict(color="black", width=1.5))))
    if theta_mle is not None and len(theta_mle):
        traces.append(_trace(np.asarray(theta_mle)[None], axes, name="best fit", marker=BEST))
    return _figure(traces, dict(title=dict(text=title, **_TITLE), uirevision="contour-scatter",
                                **_axes_layout([names[i] for i in axes])))


def projections_figure(points: np.ndarray, from_radial: np.ndarray, names: tuple[str, ...],
                       theta_mle: np.ndarray | None, pairs: list[tuple[int, int]] | None = None,
                       ) -> go.Figure:
    """Pairwise 2-D projections (all pairs by default), three per row."""
    pairs = pairs if pairs is not None else list(combinations(range(len(names)), 2))
    cols = min(3, max(1, len(pairs)))
    rows = max(1, -(-len(pairs) // cols))
    hgap, vgap = 0.08, 0.12 / rows
    width, height = (1 - hgap * (cols - 1)) / cols, (1 - vgap * (rows - 1)) / rows
    traces: list[dict[str, Any]] = []
    layout: dict[str, Any] = {}
    for n, (i, j) in enumerate(pairs):
        row, col = divmod(n, cols)
        suffix = "" if n == 0 else str(n + 1)
        axis = dict(xaxis=f"x{suffix}", yaxis=f"y{suffix}")
        for origin, (label, color) in ORIGINS.items():
            mask = from_radial == origin
            traces.append(dict(type="scattergl", x=points[mask, i], y=points[mask, j],
                               mode="markers", marker=dict(color=color, size=3), name=label,
                               legendgroup=label, showlegend=n == 0, **axis))
        if theta_mle is not None and len(theta_mle):
            traces.append(dict(type="scattergl", x=[theta_mle[i]], y=[theta_mle[j]],
                               mode="markers", marker=BEST, name="best fit",
                               legendgroup="best", showlegend=n == 0, **axis))
        left, top = col * (width + hgap), 1 - row * (height + vgap)
        layout[f"xaxis{suffix}"] = dict(domain=[left, left + width], anchor=f"y{suffix}",
                                        title=dict(text=names[i]))
        layout[f"yaxis{suffix}"] = dict(domain=[top - height, top], anchor=f"x{suffix}",
                                        title=dict(text=names[j]))
    return _figure(traces, dict(layout, height=300 * rows, uirevision="contour-projections",
                                title=dict(text="Pairwise projections", **_TITLE)))


def residual_figure(residuals: np.ndarray, from_radial: np.ndarray,
                    on_bound: np.ndarray) -> go.Figure:
    """Histogram of ``NLL - T`` by origin for the points on the surface (every one should
    sit at zero); points on a parameter bound lie inside the region and are only counted."""
    surface = ~np.asarray(on_bound, dtype=bool)
    residuals, from_radial = residuals[surface], from_radial[surface]
    traces = [dict(type="histogram", x=residuals[from_radial == origin], name=label,
                   marker=dict(color=color), opacity=0.7, nbinsx=40)
              for origin, (label, color) in ORIGINS.items()
              if np.any(from_radial == origin)]
    largest = float(np.max(np.abs(residuals))) if len(residuals) else 0.0
    title = f"Residuals NLL − T (largest |r| = {largest:.2g})"
    n_bound = int(np.count_nonzero(~surface))
    if n_bound:
        title += f" · {n_bound} points on a bound (inside the region) not shown"
    return _figure(traces, dict(
        barmode="overlay", uirevision="contour-residuals", height=300,
        title=dict(text=title, **_TITLE),
        xaxis=dict(title=dict(text="NLL − T")), yaxis=dict(title=dict(text="points"))))


def coverage_figure(reference: np.ndarray, faces: np.ndarray, samples: np.ndarray,
                    covered: np.ndarray, points: np.ndarray, names: tuple[str, ...]
                    ) -> go.Figure:
    """The reference surface ``NLL = T`` (a translucent mesh for k = 3, its curve for k = 2,
    its crossings for k = 1), the reference samples no contour point comes near (red), and
    the contour points (blue)."""
    k = len(names)
    axes = tuple(range(k))
    traces: list[dict[str, Any]] = []
    if k == 3 and len(faces):
        x, y, z = reference.T
        traces.append(dict(type="mesh3d", x=x, y=y, z=z, i=faces[:, 0], j=faces[:, 1],
                           k=faces[:, 2], color="#9e9e9e", opacity=0.35,
                           name="reference surface", showlegend=True, hoverinfo="skip",
                           flatshading=True))
    elif k == 2 and len(faces):
        # the segments as one line, broken between segments
        ends = reference[faces]
        line = np.concatenate([ends, np.full((len(faces), 1, 2), np.nan)], axis=1)
        line = line.reshape(-1, 2)
        traces.append(dict(type="scattergl", x=line[:, 0], y=line[:, 1], mode="lines",
                           connectgaps=False, line=dict(color="#9e9e9e", width=6),
                           name="reference curve"))
    else:
        traces.append(_trace(reference, axes, name="reference crossings",
                             marker=dict(color="#9e9e9e", size=16, symbol="line-ns-open",
                                         line=dict(width=3, color="#9e9e9e"))))
    traces.append(_trace(points, axes, name="contour points",
                         marker=dict(color="#1f77b4", size=2 if k == 3 else 4, opacity=0.7)))
    missed = samples[~covered]
    traces.append(_trace(missed if len(missed) else np.full((1, k), np.nan), axes,
                         name=f"reference samples not covered ({len(missed)})",
                         marker=dict(color="#d62728", size=4 if k == 3 else 7)))
    return _figure(traces, dict(
        uirevision="contour-coverage", height=520,
        title=dict(text="Contour points over the reference surface", **_TITLE),
        **_axes_layout(list(names))))


def figures_html(figures: dict[str, go.Figure], title: str) -> str:
    """One self-contained HTML page with every figure (plotly.js inlined: works offline)."""
    parts = []
    for n, (name, fig) in enumerate(figures.items()):
        body = fig.to_html(full_html=False, include_plotlyjs=n == 0)
        parts.append(f"<h2>{name}</h2>\n{body}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head>"
            f"<body style='font-family:sans-serif'><h1>{title}</h1>\n" + "\n".join(parts)
            + "</body></html>")
