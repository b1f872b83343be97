"""Checks a schema-valid workspace must pass before its parameters are laid out.

The JSON schema fixes the shape of every object; these checks relate values to
each other: unique names, equal bin counts, modifier data of the right length,
positive normsys factors, one observation per binned channel, finite yields and
counts no larger than :data:`~model_core.guards.MAX_MAGNITUDE`, shapesys
uncertainties whose constraint (``tau``) stays within that size too.
Every failure is a :class:`~model_core.exceptions.SpecError` naming the JSON path.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..exceptions import SpecError
from ..guards import MAX_MAGNITUDE, check_magnitude

__all__ = ["check_structure"]


def check_structure(workspace: Mapping[str, Any], prefix: str = "") -> None:
    """Raise :class:`SpecError` for the first inconsistency in ``workspace``."""
    p = f"{prefix}." if prefix else ""
    _check_numbers(workspace, prefix)
    channels = workspace["channels"]
    _unique([c["name"] for c in channels], f"{p}channels", "channel")
    binned: dict[str, int] = {}
    for i, ch in enumerate(channels):
        where = f"{p}channels[{i}]"
        _unique([s["name"] for s in ch["samples"]], f"{where}.samples", "sample")
        if ch.get("type") == "unbinned":
            for j, sample in enumerate(ch["samples"]):
                _check_modifiers(sample, f"{where}.samples[{j}]", None)
                _finite(sample["yield"], f"{where}.samples[{j}].yield", nonnegative=True)
            continue
        n_bins = len(ch["samples"][0]["data"])
        binned[ch["name"]] = n_bins
        for j, sample in enumerate(ch["samples"]):
            at = f"{where}.samples[{j}]"
            if len(sample["data"]) != n_bins:
                raise SpecError(f"{at}.data", f"has {len(sample['data'])} bins but the channel's "
                                f"first sample has {n_bins}", sample["data"],
                                f"give {n_bins} values, one per bin of channel {ch['name']!r}")
            for k, v in enumerate(sample["data"]):
                _finite(v, f"{at}.data[{k}]")
            _check_modifiers(sample, at, n_bins)
    _check_observations(workspace["observations"], binned, channels, p)
    _unique([m["name"] for m in workspace["measurements"]], f"{p}measurements", "measurement")


def _check_modifiers(sample: Mapping[str, Any], at: str, n_bins: int | None) -> None:
    seen: dict[tuple[str, str], int] = {}
    for k, mod in enumerate(sample["modifiers"]):
        where = f"{at}.modifiers[{k}]"
        key = (mod["type"], mod["name"])
        if key in seen:
            raise SpecError(f"{where}.name", f"the sample already has a {mod['type']} modifier "
                            f"with this name (modifiers[{seen[key]}])", mod["name"],
                            "remove the duplicate or rename it")
        seen[key] = k
        data = mod["data"]
        if mod["type"] == "normsys":
            for side in ("hi", "lo"):
                value = data[side]
                if not math.isfinite(value) or not 0 < value <= MAX_MAGNITUDE:
                    raise SpecError(f"{where}.data.{side}", "normsys factors must be positive "
                                    "(they are raised to the power alpha) and at most "
                                    f"{MAX_MAGNITUDE:g}", value,
                                    "give the relative yield at alpha = "
                                    + ("+1" if side == "hi" else "-1") + ", e.g. "
                                    + ("1.1" if side == "hi" else "0.9"))
        elif n_bins is not None and mod["type"] == "histosys":
            for side in ("lo_data", "hi_data"):
                _length(data[side], n_bins, f"{where}.data.{side}")
        elif n_bins is not None and mod["type"] in ("shapesys", "staterror"):
            _length(data, n_bins, f"{where}.data")
            if mod["type"] == "shapesys":
                _check_shapesys(sample["data"], data, f"{where}.data")


def _check_shapesys(nominal: Sequence[float], uncertainty: Sequence[float], where: str) -> None:
    """The Poisson constraint's ``tau = (nominal / uncertainty)**2`` acts as a count of
    events: it must stay below :data:`~model_core.guards.MAX_MAGNITUDE`."""
    largest = math.sqrt(MAX_MAGNITUDE)
    for k, (nom, unc) in enumerate(zip(nominal, uncertainty, strict=True)):
        if nom > 0 and unc > 0 and nom > largest * unc:
            raise SpecError(f"{where}[{k}]", f"the uncertainty is too small for the nominal "
                            f"yield {nom:g}: the constraint's tau = (nominal / uncertainty)^2 "
                            f"would exceed {MAX_MAGNITUDE:g}", unc,
                            f"give at least {nom / largest:.3g} (a relative uncertainty of "
                            f"{1 / largest:g}), or 0 to leave the bin unconstrained")


def _length(values: Sequence[Any], n_bins: int, where: str) -> None:
    if len(values) != n_bins:
        raise SpecError(where, f"has {len(values)} entries but the sample has {n_bins} bins",
                        values, f"give exactly {n_bins} values, one per bin")
    for k, v in enumerate(values):
        _finite(v, f"{where}[{k}]")


def _check_observations(observations: Sequence[Mapping[str, Any]], binned: Mapping[str, int],
                        channels: Sequence[Mapping[str, Any]], p: str) -> None:
    _unique([o["name"] for o in observations], f"{p}observations", "observation")
    unbinned = {c["name"] for c in channels if c.get("type") == "unbinned"}
    for i, obs in enumerate(observations):
        where = f"{p}observations[{i}]"
        if obs["name"] in unbinned:
            raise SpecError(f"{where}.name", "unbinned channels take their events from the "
                            "channel's weights and ratios, not from observations", obs["name"],
                            "remove this observation")
        if obs["name"] not in binned:
            raise SpecError(f"{where}.name", "no channel has this name", obs["name"],
                            ("rename it to one of " + ", ".join(binned) + " or remove it")
                            if binned else "remove it")
        n = binned[obs["name"]]
        if len(obs["data"]) != n:
            raise SpecError(f"{where}.data", f"has {len(obs['data'])} counts but channel "
                            f"{obs['name']!r} has {n} bins", obs["data"],
                            f"give exactly {n} counts")
        for k, v in enumerate(obs["data"]):
            _finite(v, f"{where}.data[{k}]", nonnegative=True)
    observed = {o["name"] for o in observations}
    for name in binned:
        if name not in observed:
            i = next(k for k, c in enumerate(channels) if c["name"] == name)
            raise SpecError(f"{p}observations", f"channel {name!r} (channels[{i}]) has no "
                            "observation", name,
                            f'add {{"name": "{name}", "data": [...]}} with {binned[name]} counts')


def _check_numbers(node: Any, where: str) -> None:
    """Every number must fit a float (JSON allows integers like 1e400 written out in full)."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            _check_numbers(value, f"{where}.{key}" if where else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _check_numbers(value, f"{where}[{i}]")
    elif isinstance(node, int) and not isinstance(node, bool):
        try:
            float(node)
        except OverflowError:
            raise SpecError(where or "workspace", "the number is too large for a float", node,
                            "enter a smaller value") from None


def _unique(names: Sequence[str], where: str, what: str) -> None:
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            raise SpecError(f"{where}[{i}].name", f"duplicate {what} name (also {where}"
                            f"[{seen[name]}])", name, f"give every {what} a unique name")
        seen[name] = i


def _finite(value: float, where: str, *, nonnegative: bool = False) -> None:
    """A yield, count or uncertainty: finite, bounded in size, ``>= 0`` if ``nonnegative``."""
    if not math.isfinite(value):
        raise SpecError(where, "not a finite number", value, "enter a finite number")
    if nonnegative and value < 0:
        raise SpecError(where, "must not be negative", value, "enter a value >= 0")
    check_magnitude(value, where)
