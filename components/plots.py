"""Pure functions from model_core results to what the figures draw: the confidence levels
on display, the likelihood map's layers (drawn by :mod:`components.map_figure`), gradient
arrows, and interval ends in words.

No likelihood maths here: the grids, profiles and thresholds come from
:mod:`model_core`; these functions only arrange them for display (Delta
chi-square is ``2 (NLL - NLL_min)`` of values the core computed).
"""

from __future__ import annotations

from dataclasses import dataclass

import contourpy
import numpy as np

import model_core as mc
from model_core.summary import ProfileInterval

__all__ = ["Level", "MapLayers", "arrow_field", "arrow_segments", "contour_segments",
           "describe_end", "drawn_levels", "format_interval", "format_level", "map_layers",
           "segments"]

DCHI2_LABEL = "Δχ²"
NLL_LABEL = "NLL"


@dataclass(frozen=True, slots=True)
class Level:
    """A level drawn in the map and the profiles: a Gaussian-equivalent ``sigma`` level
    (``confidence_level`` = 68.27% for 1 sigma, ...) or, with ``sigma=None``, the chosen
    confidence level."""

    label: str
    confidence_level: float
    sigma: int | None = None

    def delta(self, dof: int) -> float:
        """The level in Delta chi-square for ``dof`` parameters."""
        return mc.delta_chi2(self.confidence_level, dof)


def format_level(confidence_level: float) -> str:
    """``0.95`` as ``"95%"``, ``0.6827`` as ``"68.27%"``."""
    return f"{100 * confidence_level:.4g}%"


def drawn_levels(confidence_level: float, sigmas: list[int] | tuple[int, ...]) -> list[Level]:
    """The sigma levels asked for, smallest first, then the chosen confidence level (drawn
    last, so on top: dashed, it leaves a sigma line at nearly the same level visible)."""
    out = [Level(f"{n}σ", mc.sigma_to_cl(float(n)), n) for n in sorted(sigmas)]
    return out + [Level(f"{format_level(confidence_level)} CL", confidence_level)]


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
        One ``(level, delta, x0, y0, x1, y1)`` per contour level: the level, its Delta
        chi-square for two parameters and the segments of its contour lines.
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
    lines: tuple[tuple[Level, float, np.ndarray, np.ndarray, np.ndarray, np.ndarray], ...]
    arrows: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    best: tuple[float, float]


def map_layers(grid: mc.GridResult, best_xy: tuple[float, float], nll_min: float, *,
               quantity: str, levels: list[Level], n_arrows: int = 15,
               frame: tuple[float, float] = (1.0, 1.0)) -> MapLayers:
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
    frame
        Width and height of the plot's frame (their ratio sets the arrows' directions).
    levels
        The contour levels (drawn for two parameters).
    """
    px, py = grid.parameters
    dchi2 = 2.0 * (grid.nll - nll_min)
    deltas = [level.delta(2) for level in levels]
    top = 4.0 * max(deltas)
    if quantity == "nll":
        z, label, clim, offset, scale = _finite(grid.nll), NLL_LABEL, \
            (nll_min, nll_min + top / 2), nll_min, 0.5
    else:
        z, label, clim, offset, scale = _finite(dchi2), DCHI2_LABEL, (0.0, top), 0.0, 1.0
    # contour the finite surface; the walls where rates turn negative count as "very high"
    surface = np.where(np.isfinite(z), z, offset + scale * 1e3 * top)
    generator = contourpy.contour_generator(grid.x_values, grid.y_values, surface,
                                            line_type="Separate")
    lines = [(level, delta, *segments(generator, offset + scale * delta))
             for level, delta in zip(levels, deltas, strict=True)]
    return MapLayers(
        parameters=(px, py), x=grid.x_values, y=grid.y_values, z=z, clim=clim,
        quantity_label=label, title=f"{_title(quantity)} over ({px}, {py})",
        lines=tuple(lines), arrows=arrow_field(grid, n_arrows=n_arrows, frame=frame),
        best=(float(best_xy[0]), float(best_xy[1])))


def segments(generator: contourpy.ContourGenerator, level: float
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The contour lines of ``generator`` at ``level`` as segments ``(x0, y0, x1, y1)``."""
    paths = [line for line in generator.lines(level) if len(line) > 1]
    start = np.vstack([line[:-1] for line in paths]) if paths else np.zeros((0, 2))
    end = np.vstack([line[1:] for line in paths]) if paths else np.zeros((0, 2))
    return start[:, 0], start[:, 1], end[:, 0], end[:, 1]


def contour_segments(x: np.ndarray, y: np.ndarray, z: np.ndarray, level: float
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Segments ``(x0, y0, x1, y1)`` of the contour ``z = level`` of ``z (ny, nx)`` over
    ``x, y``; NaN values of ``z`` are left out (masked)."""
    surface = np.ma.masked_invalid(np.asarray(z, dtype=float))
    return segments(contourpy.contour_generator(x, y, surface, line_type="Separate"), level)


def _title(quantity: str) -> str:
    return "NLL" if quantity == "nll" else "Δχ² = 2 (NLL − NLL_min)"


def arrow_field(grid: mc.GridResult, *, n_arrows: int = 15,
                frame: tuple[float, float] = (1.0, 1.0),
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Arrows of steepest ascent of log L (i.e. along ``-grad NLL``) on an ``n x n`` subgrid,
    as ``(x, y, angle, length)`` of their tails, angles and lengths in data units.

    Directions are those seen on the plot, whose frame is ``frame`` (width, height) for
    the grid's ranges: each axis is scaled to its range and its side, so the arrows cross
    the contour lines at right angles on screen.  Lengths grow as the square root of the
    gradient's size (so weak slopes stay visible).
    """
    xs, ys = grid.x_values, grid.y_values
    ix = np.unique(np.linspace(0, len(xs) - 1, n_arrows + 2)[1:-1].round().astype(int))
    iy = np.unique(np.linspace(0, len(ys) - 1, n_arrows + 2)[1:-1].round().astype(int))
    span = np.array([xs[-1] - xs[0], ys[-1] - ys[0]], dtype=float)
    span[span <= 0] = 1.0
    side = np.asarray(frame, dtype=float) / max(frame)
    ascent = -grid.grad[np.ix_(iy, ix)]  # (ny, nx, 2), d log L / d(x, y)
    # a data step d shows as d * side / span on screen; the screen gradient is its dual
    on_plot = ascent * span / side
    size = np.linalg.norm(on_plot, axis=-1)
    ok = np.isfinite(size) & (size > 0)
    gx, gy = np.meshgrid(xs[ix], ys[iy])
    largest = np.max(size[ok]) if ok.any() else 1.0
    cell = 1.0 / (max(len(ix), len(iy)) + 1)
    length = 0.9 * cell * np.sqrt(np.where(ok, size, 0.0) / largest)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = on_plot / size[..., None]
    # back from screen (in units of the longer side) to data units
    dx = unit[..., 0] * length * span[0] / side[0]
    dy = unit[..., 1] * length * span[1] / side[1]
    return gx[ok], gy[ok], np.arctan2(dy, dx)[ok], np.hypot(dx, dy)[ok]


def arrow_segments(arrows: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
                   span: tuple[float, float], head: float = 0.3,
                   frame: tuple[float, float] = (1.0, 1.0),
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Segments ``(x0, y0, x1, y1)`` that draw ``arrows``: each shaft and the two strokes of
    its head (``head`` of the shaft's length, 25 degrees off it, as seen on a plot whose
    frame ``(width, height)`` shows the data ranges ``span``)."""
    x, y, angle, length = arrows
    side = np.asarray(frame, dtype=float) / max(frame)
    sx, sy = ((s if s > 0 else 1.0) / k for s, k in zip(span, side, strict=True))
    tip_x, tip_y = x + length * np.cos(angle), y + length * np.sin(angle)
    # the head is drawn in screen units, then scaled back to data units
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


def describe_end(value: float, kind: str, side: str) -> str:
    """One end of a profile interval in words: a number, ``"-50 (bound)"``,
    ``"−10.9 (edge: likelihood 0 beyond)"`` or ``"none beyond 1.2e4"`` (side ``"<"`` or
    ``">"``)."""
    if kind == "crossing":
        return f"{value:.4g}"
    if kind == "bound":
        return f"{value:.4g} (bound)"
    if kind == "edge":
        return f"{value:.4g} (edge: likelihood 0 beyond)"
    return f"{side} {value:.4g} (open)"


def format_interval(interval: ProfileInterval) -> str:
    """``[lo, hi]`` with each end described (:func:`describe_end`), and a plain statement
    when the data do not constrain the parameter on a side."""
    kinds = {interval.lower_kind, interval.upper_kind}
    if kinds == {"open"}:
        return (f"unconstrained: the profile stays below Δχ² = {interval.delta:.3g} from "
                f"{interval.lower:.4g} to {interval.upper:.4g} (flat)")
    text = (f"[{describe_end(interval.lower, interval.lower_kind, '<')}, "
            f"{describe_end(interval.upper, interval.upper_kind, '>')}]")
    if "crossing" not in kinds:
        text += " · never reaches the threshold: not constrained by the data"
    elif "open" in kinds:
        text += " · unconstrained on one side"
    return text
