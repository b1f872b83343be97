"""Pure functions from model_core results to what the plots draw: arrays for the
likelihood map (drawn by :mod:`components.map_figure`), HoloViews objects for profiles.

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

__all__ = ["Level", "MapLayers", "arrow_field", "arrow_segments", "format_interval",
           "map_layers", "map_levels", "profile_plot"]

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


@dataclass(frozen=True, slots=True)
class MapLayers:
    """What the likelihood map draws, as plain arrays (see :func:`map_layers`).

    Attributes
    ----------
    parameters
        The (x, y) parameter names.
    x, y
        The grid's coordinates.
    z
        The coloured quantity, shape ``(ny, nx)``, NaN where the likelihood is zero.
    clim
        The colour range; larger values show the top colour.
    quantity_label
        ``"Δχ²"`` or ``"NLL"``.
    title
        The figure's title.
    lines
        One ``(level, x0, y0, x1, y1)`` per contour level: the level and the segments of
        its contour lines.
    arrows
        ``(x, y, angle, length)`` of the gradient arrows (see :func:`arrow_field`).
    best
        The best fit in the map's two parameters.
    """

    parameters: tuple[str, str]
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    clim: tuple[float, float]
    quantity_label: str
    title: str
    lines: tuple[tuple[Level, np.ndarray, np.ndarray, np.ndarray, np.ndarray], ...]
    arrows: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    best: tuple[float, float]


def map_layers(grid: mc.GridResult, best_xy: tuple[float, float], nll_min: float, *,
               quantity: str, levels: list[Level], n_arrows: int = 15) -> MapLayers:
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
        z, label, clim, offset, scale = _finite(grid.nll), NLL.label, \
            (nll_min, nll_min + top / 2), nll_min, 0.5
    else:
        z, label, clim, offset, scale = _finite(dchi2), DCHI2.label, (0.0, top), 0.0, 1.0
    # contour the finite surface; the walls where rates turn negative count as "very high"
    surface = np.where(np.isfinite(z), z, offset + scale * 1e3 * top)
    generator = contourpy.contour_generator(grid.x_values, grid.y_values, surface,
                                            line_type="Separate")
    lines = []
    for level in levels:
        paths = [line for line in generator.lines(offset + scale * level.delta)
                 if len(line) > 1]
        start = np.vstack([line[:-1] for line in paths]) if paths else np.zeros((0, 2))
        end = np.vstack([line[1:] for line in paths]) if paths else np.zeros((0, 2))
        lines.append((level, start[:, 0], start[:, 1], end[:, 0], end[:, 1]))
    return MapLayers(
        parameters=(px, py), x=grid.x_values, y=grid.y_values, z=z, clim=clim,
        quantity_label=label, title=f"{_title(quantity)} over ({px}, {py})",
        lines=tuple(lines), arrows=arrow_field(grid, n_arrows=n_arrows),
        best=(float(best_xy[0]), float(best_xy[1])))


def _title(quantity: str) -> str:
    return "NLL" if quantity == "nll" else "Δχ² = 2 (NLL − NLL_min)"


def arrow_field(grid: mc.GridResult, *, n_arrows: int = 15
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Arrows of steepest ascent of log L (i.e. along ``-grad NLL``) on an ``n x n`` subgrid,
    as ``(x, y, angle, length)`` of their tails, angles and lengths in data units.

    Directions are those seen on the (square) plot: each axis is scaled to its
    range, so the arrows cross the contour lines at right angles.  Lengths grow
    as the square root of the gradient's size (so weak slopes stay visible).
    """
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
    return gx[ok], gy[ok], np.arctan2(dy, dx)[ok], np.hypot(dx, dy)[ok]


def arrow_segments(arrows: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
                   span: tuple[float, float], head: float = 0.3,
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Segments ``(x0, y0, x1, y1)`` that draw ``arrows``: each shaft and the two strokes of
    its head (``head`` of the shaft's length, 25 degrees off it, as seen on a square plot
    whose sides are ``span``)."""
    x, y, angle, length = arrows
    sx, sy = (s if s > 0 else 1.0 for s in span)
    tip_x, tip_y = x + length * np.cos(angle), y + length * np.sin(angle)
    # the head is drawn in plot units, then scaled back to data units
    u, v = np.cos(angle) * length / sx, np.sin(angle) * length / sy
    seen = np.arctan2(v, u)
    x0, y0, x1, y1 = [x], [y], [tip_x], [tip_y]
    for turn in (np.pi - np.radians(25), np.pi + np.radians(25)):
        stroke = head * np.hypot(u, v)
        x0.append(tip_x)
        y0.append(tip_y)
        x1.append(tip_x + stroke * np.cos(seen + turn) * sx)
        y1.append(tip_y + stroke * np.sin(seen + turn) * sy)
    return tuple(np.concatenate(c) for c in (x0, y0, x1, y1))


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
