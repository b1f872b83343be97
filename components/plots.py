"""Pure functions from model_core results to HoloViews objects (Bokeh backend).

No likelihood maths here: the grids, profiles and thresholds come from
:mod:`model_core`; these functions only arrange them for display (Delta
chi-square is ``2 (NLL - NLL_min)`` of values the core computed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import contourpy
import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh backend's options)
import numpy as np

import model_core as mc

__all__ = ["Level", "arrow_field", "format_interval", "likelihood_map", "map_levels",
           "profile_plot"]

hv.Store.set_current_backend("bokeh")

DCHI2 = hv.Dimension("dchi2", label="Δχ²")
NLL = hv.Dimension("nll", label="NLL")
MAP_SIZE = 400


@dataclass(frozen=True, slots=True)
class Level:
    """A contour level: its label, its Delta chi-square and its line style."""

    label: str
    delta: float
    color: str
    dash: str


def map_levels(confidence_level: float, dof: int = 2) -> list[Level]:
    """The 1 and 2 sigma levels and the chosen CL, for ``dof`` parameters."""
    return [
        Level("1σ", mc.delta_chi2(mc.sigma_to_cl(1.0), dof), "white", "solid"),
        Level("2σ", mc.delta_chi2(mc.sigma_to_cl(2.0), dof), "#9ecae1", "dashed"),
        Level(f"{100 * confidence_level:.4g}% CL", mc.delta_chi2(confidence_level, dof),
              "#ff7f0e", "solid"),
    ]


def _finite(values: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(values), values, np.nan)


def likelihood_map(grid: mc.GridResult, best_xy: tuple[float, float], nll_min: float, *,
                   quantity: str, levels: list[Level], n_arrows: int = 15) -> hv.Overlay:
    """Heatmap of Delta chi-square (or NLL), contour lines, gradient arrows and the best fit.

    Parameters
    ----------
    grid
        From :func:`model_core.nll_grid`.
    best_xy
        The best fit in the map's two parameters.
    nll_min
        The global NLL minimum (the Delta chi-square reference).
    quantity
        ``"dchi2"`` or ``"nll"``.
    levels
        Contour levels in Delta chi-square.
    """
    px, py = grid.parameters
    dchi2 = 2.0 * (grid.nll - nll_min)
    top = 4.0 * max(level.delta for level in levels)
    if quantity == "nll":
        z, vdim, clim, offset, scale = _finite(grid.nll), NLL, (nll_min, nll_min + top / 2), \
            nll_min, 0.5
    else:
        z, vdim, clim, offset, scale = _finite(dchi2), DCHI2, (0.0, top), 0.0, 1.0
    # float32 halves what goes to the browser; the colours cannot tell the difference
    image = hv.Image((grid.x_values, grid.y_values, z.astype(np.float32)), kdims=[px, py],
                     vdims=[vdim]).opts(
        cmap="viridis", clim=clim, colorbar=True, clipping_colors={"max": "#fde725",
                                                                   "NaN": "#d9d9d9"},
        tools=["hover"], colorbar_opts={"title": vdim.label})
    # contour the finite surface; the walls where rates turn negative count as "very high"
    surface = np.where(np.isfinite(z), z, offset + scale * 1e3 * top)
    generator = contourpy.contour_generator(grid.x_values, grid.y_values, surface,
                                            line_type="Separate")
    # every level in one columnar element (each element costs a lot on every update; a
    # table of segments is far cheaper than a list of paths); colours tell the levels apart
    labels = [f"{lv.label} (Δχ²={lv.delta:.2f})" for lv in levels]
    pieces = [(line[:-1], line[1:], label) for level, label in zip(levels, labels, strict=True)
              for line in generator.lines(offset + scale * level.delta) if len(line) > 1]
    if pieces:
        start_xy = np.vstack([a for a, _, _ in pieces])
        end_xy = np.vstack([b for _, b, _ in pieces])
        level_of = np.concatenate([[label] * len(a) for a, _, label in pieces])
    else:
        start_xy = end_xy = np.full((1, 2), np.nan)
        level_of = np.array(labels[:1])
    lines = hv.Segments((start_xy[:, 0], start_xy[:, 1], end_xy[:, 0], end_xy[:, 1], level_of),
                        kdims=[px, py, f"{px}_end", f"{py}_end"], vdims=["level"],
                        datatype=["dictionary"]).opts(
        color="level", cmap=dict(zip(labels, (lv.color for lv in levels), strict=True)),
        line_width=2.5, show_legend=True)
    layers = [image, lines]
    best = hv.Points(np.array([best_xy], dtype=float), kdims=[px, py], label="best fit",
                     datatype=["array"]).opts(
        marker="star", size=20, color="#e6194b", line_color="white", line_width=1.5)
    layers += [arrow_field(grid, n_arrows=n_arrows), best]
    return hv.Overlay(layers).opts(
        hv.opts.Overlay(legend_position="top_left", frame_width=MAP_SIZE, frame_height=MAP_SIZE,
                        hooks=[_declare_size], toolbar="right",
                        title=f"{_title(quantity)} over ({px}, {py})",
                        legend_opts={"background_fill_color": "#17324d",
                                     "background_fill_alpha": 0.55, "label_text_color": "white",
                                     "label_text_font_size": "11px", "spacing": 0,
                                     "padding": 4}))


def _declare_size(plot, element) -> None:
    """Fixed-size Bokeh figures must state width and height (the frame size decides)."""
    figure = plot.state
    if figure.width is None or figure.height is None:
        figure.update(width=MAP_SIZE + 170, height=MAP_SIZE + 80)


def _title(quantity: str) -> str:
    return "NLL" if quantity == "nll" else "Δχ² = 2 (NLL − NLL_min)"


def arrow_field(grid: mc.GridResult, *, n_arrows: int = 15) -> hv.VectorField:
    """Arrows of steepest ascent of log L (i.e. along ``-grad NLL``) on an ``n x n`` subgrid.

    Directions are those seen on the (square) plot: each axis is scaled to its
    range, so the arrows cross the contour lines at right angles.  Lengths grow
    as the square root of the gradient's size (so weak slopes stay visible).
    """
    px, py = grid.parameters
    xs, ys = grid.x_values, grid.y_values
    ix = np.unique(np.linspace(0, len(xs) - 1, n_arrows + 2)[1:-1].round().astype(int))
    iy = np.unique(np.linspace(0, len(ys) - 1, n_arrows + 2)[1:-1].round().astype(int))
    span = np.array([xs[-1] - xs[0], ys[-1] - ys[0]], dtype=float)
    span[span <= 0] = 1.0
    ascent = -grid.grad[np.ix_(iy, ix)]  # (ny, nx, 2), d log L / d(x, y)
    on_plot = ascent * span  # components in units of the plot's side
    size = np.linalg.norm(on_plot, axis=-1)
    ok = np.isfinite(size) & (size > 0)
    gx, gy = np.meshgrid(xs[ix], ys[iy])
    largest = np.max(size[ok]) if ok.any() else 1.0
    cell = 1.0 / (max(len(ix), len(iy)) + 1)
    length = 0.9 * cell * np.sqrt(np.where(ok, size, 0.0) / largest)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = on_plot / size[..., None]
    dx, dy = unit[..., 0] * length * span[0], unit[..., 1] * length * span[1]
    data = (gx[ok], gy[ok], np.arctan2(dy, dx)[ok], np.hypot(dx, dy)[ok])
    return hv.VectorField(np.column_stack(data), kdims=[px, py], vdims=["angle", "length"],
                          label="−∇NLL (ascent of log L)", datatype=["array"]).opts(
        magnitude="length", normalize_lengths=False, rescale_lengths=False, pivot="tail",
        color="white", line_width=1.4, alpha=0.85)


def format_interval(interval: tuple[float, float], grid: np.ndarray,
                    bounds: tuple[float, float]) -> str:
    """``[lo, hi]``; an end that does not cross within the scanned ``grid`` reads as the bound
    (when the grid reaches it) or as beyond the grid's end."""
    ends = []
    for value, edge, bound, sign in ((interval[0], grid[0], bounds[0], "<"),
                                     (interval[1], grid[-1], bounds[1], ">")):
        if math.isfinite(value):
            ends.append(f"{value:.4g}")
        elif edge == bound:
            ends.append(f"{bound:.4g} (bound)")
        else:
            ends.append(f"{sign} {edge:.4g}")
    return f"[{ends[0]}, {ends[1]}]"


def profile_plot(profile: mc.ProfileResult, scan: mc.ProfileResult, *, level: float,
                 confidence_level: float, width: int = 370, height: int = 240) -> hv.Overlay:
    """Profile (solid) and scan (dashed) of Delta chi-square, the threshold line and the
    profile interval shaded."""
    name = profile.parameter
    kdim = hv.Dimension(name)
    prof = hv.Curve(np.column_stack([profile.grid, _finite(profile.delta_chi2)]), kdim, DCHI2,
                    label="profile", datatype=["array"]).opts(color="#1f77b4", line_width=2.5)
    line = hv.Curve(np.column_stack([scan.grid, _finite(scan.delta_chi2)]), kdim, DCHI2,
                    label="scan (others at best fit)", datatype=["array"]).opts(
        color="#7f7f7f", line_dash="dashed", line_width=2)
    threshold = hv.HLine(level, label=f"{100 * confidence_level:.4g}% CL").opts(
        color="#ff7f0e", line_width=1.5)
    lo, hi = profile.interval(confidence_level)
    grid = profile.grid
    span = hv.VSpan(lo if math.isfinite(lo) else grid[0], hi if math.isfinite(hi) else grid[-1])
    span = span.opts(color="#1f77b4", alpha=0.08)
    top = 2.5 * level
    return (line * prof * threshold * span).opts(
        hv.opts.Overlay(width=width, height=height, ylim=(-0.04 * top, top),
                        xlim=(grid[0], grid[-1]), xlabel=name, ylabel="Δχ²",
                        show_legend=False, title=name, toolbar=None))
