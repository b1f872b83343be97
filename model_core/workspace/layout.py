"""Parameters of a HistFactory workspace, laid out exactly as pyhf 0.7.6 does.

pyhf orders channels and samples by name and gives every modifier name one
*parameter set*: scalar (``normfactor``, ``lumi``, ``normsys``, ``histosys``)
or one component per bin (``shapefactor``, ``shapesys``, ``staterror``).  The
sets appear in the order of the modifier types ``histosys, lumi, normfactor,
normsys, shapefactor, shapesys, staterror``; within a type in order of first
use (channels, then samples, then modifier names, all sorted), except
``staterror`` whose sets are sorted by name.  A name used by two types shares
one set when both define the same defaults (``normsys`` + ``histosys``) and is
an error otherwise.  The measurement's parameter configurations then replace
defaults (``inits``, ``bounds``, ``fixed``, ``auxdata``, ``sigmas``,
``factors``), with pyhf's rules about which set accepts which key;
configurations of names no modifier uses are ignored, as pyhf does (ROOT
exports carry a ``lumi`` configuration whether or not a sample uses it).

The flattened vector (``names``, ``inits``, ``bounds``, ``fixed``) is pyhf's
``suggested_init()`` order; vector sets are named ``name[i]`` like pyhf's
``par_names``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..exceptions import SpecError
from ..guards import MAX_MAGNITUDE, MIN_VARIANCE

__all__ = ["TYPE_ORDER", "Channel", "Layout", "ParameterSet", "build_layout"]

#: Modifier types in the order pyhf creates their parameter sets.
TYPE_ORDER = ("histosys", "lumi", "normfactor", "normsys", "shapefactor", "shapesys", "staterror")
_CONFIG_KEYS = ("inits", "bounds", "auxdata", "factors", "sigmas", "fixed")
_REQUIREMENT_KEYS = ("constraint", "n", "is_scalar", *_CONFIG_KEYS)
# Gaussian widths: sigma**2 and 1 / sigma**2 must stay far from overflow
_MIN_SIGMA = math.sqrt(MIN_VARIANCE)
_MAX_RELATIVE = 1 / _MIN_SIGMA
# numbers above this have squares far from underflow
_NORMAL_SQUARE = 1e-150
_LUMI_EXAMPLE = ('{"name": "lumi", "auxdata": [1.0], "sigmas": [0.02], "inits": [1.0], '
                 '"bounds": [[0.9, 1.1]]}')


@dataclass(frozen=True)
class Channel:
    """One channel in pyhf order: ``offset`` is its first global bin (binned channels)."""

    name: str
    index: int
    unbinned: bool
    n_bins: int
    offset: int
    samples: tuple[Mapping[str, Any], ...]
    where: tuple[str, ...]


@dataclass(frozen=True)
class ParameterSet:
    """A pyhf parameter set after the measurement's configuration is applied.

    ``constraint`` is ``None`` (free), ``"normal"`` or ``"poisson"``.
    """

    name: str
    types: tuple[str, ...]
    constraint: str | None
    n: int
    is_scalar: bool
    start: int
    inits: tuple[float, ...]
    bounds: tuple[tuple[float, float], ...]
    fixed: tuple[bool, ...]
    auxdata: tuple[float, ...] = ()
    sigmas: tuple[float, ...] = ()
    factors: tuple[float, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name,) if self.is_scalar else tuple(f"{self.name}[{i}]" for i in range(self.n))

    @property
    def indices(self) -> range:
        return range(self.start, self.start + self.n)


@dataclass(frozen=True)
class Layout:
    """Channels, parameter sets and the flattened parameter vector of one measurement."""

    channels: tuple[Channel, ...]
    sets: Mapping[str, ParameterSet]
    names: tuple[str, ...]
    inits: np.ndarray
    bounds: np.ndarray
    fixed: np.ndarray
    poi: str
    poi_index: int
    staterror_bins: Mapping[str, tuple[int, ...]]

    @property
    def n_bins(self) -> int:
        return sum(c.n_bins for c in self.channels if not c.unbinned)

    @property
    def auxdata(self) -> np.ndarray:
        """pyhf's ``config.auxdata``: constrained sets in parameter order."""
        return np.array([a for s in self.sets.values() if s.constraint for a in s.auxdata])


def build_layout(workspace: Mapping[str, Any], measurement_index: int) -> Layout:
    """Lay out the parameters of ``workspace`` for its measurement ``measurement_index``.

    ``workspace`` must already be valid against the schema and the structural checks.
    """
    channels = _channels(workspace)
    requirements, used_by = _requirements(channels)
    where = f"measurements[{measurement_index}].config"
    config = workspace["measurements"][measurement_index]["config"]
    user = _user_configs(config["parameters"], where)
    sets: dict[str, ParameterSet] = {}
    start = 0
    for name, req in requirements.items():
        cfg_where, cfg = user.get(name, (None, {}))
        pset = _apply_config(name, req, cfg, cfg_where, used_by[name], start, where)
        sets[name] = pset
        start += pset.n
    names = tuple(n for s in sets.values() for n in s.names)
    inits = np.array([v for s in sets.values() for v in s.inits], dtype=float)
    bounds = np.array([b for s in sets.values() for b in s.bounds], dtype=float).reshape(-1, 2)
    fixed = np.array([f for s in sets.values() for f in s.fixed], dtype=bool)
    poi = config["poi"]
    scalar = [n for n, s in sets.items() if s.n == 1]
    if poi not in sets:
        raise SpecError(f"{where}.poi", "the parameter of interest is not a parameter of the "
                        "workspace (no modifier has this name)", poi,
                        "use one of " + ", ".join(scalar) if scalar else "add a normfactor")
    if sets[poi].n != 1:
        raise SpecError(f"{where}.poi", f"{poi!r} has {sets[poi].n} components; the parameter "
                        "of interest must be a single parameter", poi,
                        "use one of " + ", ".join(scalar))
    staterror = {n: req["_bins"] for n, req in requirements.items() if "_bins" in req}
    return Layout(channels, sets, names, inits, bounds, fixed, poi, sets[poi].start, staterror)


def _channels(workspace: Mapping[str, Any]) -> tuple[Channel, ...]:
    raw = workspace["channels"]
    order = sorted(range(len(raw)), key=lambda i: raw[i]["name"])
    out, offset = [], 0
    for i in order:
        ch = workspace["channels"][i]
        unbinned = ch.get("type") == "unbinned"
        n_bins = 0 if unbinned else len(ch["samples"][0]["data"])
        ranked = sorted(range(len(ch["samples"])), key=lambda j: ch["samples"][j]["name"])
        out.append(Channel(ch["name"], i, unbinned, n_bins, offset,
                           tuple(ch["samples"][j] for j in ranked),
                           tuple(f"channels[{i}].samples[{j}]" for j in ranked)))
        offset += n_bins
    return tuple(out)


def _requirements(channels: Sequence[Channel]
                  ) -> tuple[dict[str, dict], dict[str, list[tuple[str, str]]]]:
    """pyhf's default parameter-set requirements by name, in pyhf's order."""
    per_type: dict[str, dict[str, tuple[str, dict]]] = {t: {} for t in TYPE_ORDER}
    staterror_users: dict[str, dict[str, set[str]]] = {}
    for ch in channels:
        for sample, where in zip(ch.samples, ch.where, strict=True):
            mods = sorted(enumerate(sample["modifiers"]), key=lambda im: im[1]["name"])
            for k, mod in mods:
                mtype, name = mod["type"], mod["name"]
                at = f"{where}.modifiers[{k}]"
                if mtype == "staterror":
                    users = staterror_users.setdefault(name, {})
                    users.setdefault(sample["name"], set()).add(ch.name)
                    per_type[mtype].setdefault(name, (at, {}))
                    continue
                req = _default_requirement(mtype, sample, mod, ch)
                if mtype == "shapesys" and name in per_type[mtype]:
                    raise SpecError(at, f"shapesys {name!r} is already used at "
                                    f"{per_type[mtype][name][0]}; a shapesys belongs to one "
                                    "sample in one channel", name,
                                    "give each shapesys its own name")
                first = per_type[mtype].setdefault(name, (at, req))
                if mtype == "shapefactor" and first[1]["n"] != req["n"]:
                    raise SpecError(at, f"shapefactor {name!r} is shared by channels with "
                                    f"different numbers of bins ({first[1]['n']} at {first[0]}, "
                                    f"{req['n']} here)", name,
                                    "give the shapefactors of channels with different binning "
                                    "different names")
    for name in sorted(per_type["staterror"]):
        at, _ = per_type["staterror"][name]
        per_type["staterror"][name] = (at, _staterror_requirement(name, channels,
                                                                   staterror_users[name], at))
    requirements: dict[str, dict] = {}
    used_by: dict[str, list[tuple[str, str]]] = {}
    for mtype in TYPE_ORDER:
        entries = per_type[mtype]
        if mtype == "staterror":
            entries = dict(sorted(entries.items()))
        for name, (at, req) in entries.items():
            if name in requirements:
                first = requirements[name]
                mismatch = [k for k in _REQUIREMENT_KEYS if first.get(k) != req.get(k)]
                if mismatch:
                    other, other_at = used_by[name][0]
                    raise SpecError(at, f"the name {name!r} is used by a {mtype} modifier and by "
                                    f"a {other} modifier ({other_at}), which need different "
                                    f"parameters ({mismatch[0]} differs)", name,
                                    "use unique modifier names for different modifier types")
            else:
                requirements[name] = req
            used_by.setdefault(name, []).append((mtype, at))
    return requirements, used_by


def _default_requirement(mtype: str, sample: Mapping[str, Any], mod: Mapping[str, Any],
                         ch: Channel) -> dict[str, Any]:
    n = ch.n_bins
    if mtype == "normfactor":
        return dict(constraint=None, n=1, is_scalar=True, inits=(1.0,), bounds=((0.0, 10.0),),
                    fixed=False)
    if mtype == "shapefactor":
        return dict(constraint=None, n=n, is_scalar=False, inits=(1.0,) * n,
                    bounds=((0.0, 10.0),) * n, fixed=False)
    if mtype == "lumi":
        return dict(constraint="normal", n=1, is_scalar=True, inits=None, bounds=None, fixed=False,
                    auxdata=None, sigmas=None)
    if mtype in ("normsys", "histosys"):
        return dict(constraint="normal", n=1, is_scalar=True, inits=(0.0,), bounds=((-5.0, 5.0),),
                    fixed=False, auxdata=(0.0,))
    # shapesys: Poisson constraint with tau = (nominal / uncertainty)^2 where both are positive
    valid = [nom > 0 and unc > 0 for nom, unc in zip(sample["data"], mod["data"], strict=True)]
    tau = tuple(_tau(nom, unc) if ok else 1.0
                for ok, nom, unc in zip(valid, sample["data"], mod["data"], strict=True))
    return dict(constraint="poisson", n=n, is_scalar=False, inits=(1.0,) * n,
                bounds=((1e-10, 10.0),) * n, fixed=tuple(not v for v in valid), auxdata=tau,
                factors=tau)


def _tau(nominal: float, uncertainty: float) -> float:
    """pyhf's ``nominal**2 / uncertainty**2`` (bit for bit), or ``(nominal / uncertainty)**2``
    where the squares would underflow to ``0 / 0`` (the sizes are checked beforehand)."""
    if min(nominal, uncertainty) > _NORMAL_SQUARE:
        return float(nominal) ** 2 / float(uncertainty) ** 2
    return float(nominal / uncertainty) ** 2


def _staterror_requirement(name: str, channels: Sequence[Channel],
                           users: Mapping[str, set[str]], at: str) -> dict[str, Any]:
    """Combined relative uncertainty per bin over the samples sharing the staterror."""
    channel_sets = {frozenset(v) for v in users.values()}
    if len(channel_sets) > 1:
        detail = "; ".join(f"{s}: {', '.join(sorted(c))}" for s, c in sorted(users.items()))
        raise SpecError(at, f"staterror {name!r} must act on the same channels for every sample "
                        f"that uses it ({detail})", name,
                        "add it to the missing samples or give the modifiers different names")
    used = next(iter(channel_sets))
    bins: list[int] = []
    sigmas: list[float] = []
    for ch in channels:
        if ch.name not in used:
            continue
        nominal = np.zeros(ch.n_bins)
        uncertainties = []
        for sample in ch.samples:
            if sample["name"] not in users:
                continue
            nominal += np.asarray(sample["data"], dtype=float)
            mod = next(m for m in sample["modifiers"]
                       if m["type"] == "staterror" and m["name"] == name)
            uncertainties.append(np.asarray(mod["data"], dtype=float))
        safe = np.where(nominal > 0, nominal, 1.0)
        with np.errstate(over="ignore"):
            relative = np.sqrt(sum(np.where(nominal > 0, (u / safe) ** 2, 0.0)
                                   for u in uncertainties))
        if (relative > _MAX_RELATIVE).any():
            k = int(np.argmax(relative > _MAX_RELATIVE))
            raise SpecError(at, f"staterror {name!r} in bin {k} of channel {ch.name!r}: the "
                            f"uncertainties are {relative[k]:.3g} times the summed nominal yield "
                            f"{nominal[k]:g}, too large for a Gaussian constraint", name,
                            "check the uncertainties and nominal yields of that bin")
        bins.extend(range(ch.offset, ch.offset + ch.n_bins))
        sigmas.extend(relative.tolist())
    fixed = tuple(s == 0 for s in sigmas)
    n = len(bins)
    return dict(constraint="normal", n=n, is_scalar=False, inits=(1.0,) * n,
                bounds=((1e-10, 10.0),) * n, fixed=fixed, auxdata=(1.0,) * n,
                sigmas=tuple(1.0 if f else s for f, s in zip(fixed, sigmas, strict=True)),
                _bins=tuple(bins))


def _user_configs(parameters: Sequence[Mapping[str, Any]], where: str
                  ) -> dict[str, tuple[str, Mapping[str, Any]]]:
    out: dict[str, tuple[str, Mapping[str, Any]]] = {}
    for i, cfg in enumerate(parameters):
        at = f"{where}.parameters[{i}]"
        if cfg["name"] in out:
            raise SpecError(f"{at}.name", "a second configuration for this parameter", cfg["name"],
                            f"merge it with {out[cfg['name']][0]}")
        out[cfg["name"]] = (at, cfg)
    return out


def _apply_config(name: str, req: Mapping[str, Any], cfg: Mapping[str, Any], at: str | None,
                  used_by: Sequence[tuple[str, str]], start: int, where: str) -> ParameterSet:
    values: dict[str, Any] = {}
    for key in _CONFIG_KEYS:
        default = req.get(key, _UNDEFINED)
        if key not in cfg:
            if default is not _UNDEFINED:
                values[key] = default
            continue
        given = cfg[key]
        if default is _UNDEFINED:
            allowed = [k for k in _CONFIG_KEYS if k in req]
            raise SpecError(f"{at}.{key}", f"{name!r} ({used_by[0][0]}) does not use "
                            f"{key!r}", given, "remove it; this parameter accepts "
                            + ", ".join(allowed))
        n = req["n"]
        if key != "fixed" and len(given) != n:
            raise SpecError(f"{at}.{key}", f"has {len(given)} entries but {name!r} has {n} "
                            f"component{'s' if n > 1 else ''}", given, f"give exactly {n}")
        values[key] = tuple(tuple(b) for b in given) if key == "bounds" else (
            given if key == "fixed" else tuple(given))
    missing = [k for k in ("inits", "bounds", "auxdata") if k in values and values[k] is None]
    if missing:
        raise SpecError(f"{where}.parameters", f"{name!r} needs a parameter configuration with "
                        f"{', '.join(missing)} (pyhf has no defaults for them)", fix=f"add "
                        f"{_LUMI_EXAMPLE.replace('lumi', name, 1)} to the measurement's parameters")
    _check_values(name, values, at or f"{where}.parameters")
    fixed = values["fixed"]
    n = req["n"]
    return ParameterSet(
        name=name, types=tuple(dict.fromkeys(t for t, _ in used_by)), constraint=req["constraint"],
        n=n, is_scalar=req["is_scalar"], start=start, inits=tuple(map(float, values["inits"])),
        bounds=tuple((float(lo), float(hi)) for lo, hi in values["bounds"]),
        fixed=(bool(fixed),) * n if isinstance(fixed, bool) else tuple(map(bool, fixed)),
        auxdata=tuple(map(float, values.get("auxdata") or ())),
        sigmas=tuple(map(float, values.get("sigmas") or ())),
        factors=tuple(map(float, values.get("factors") or ())),
    )


def _check_values(name: str, values: Mapping[str, Any], at: str) -> None:
    for key in ("inits", "auxdata", "sigmas", "factors"):
        for i, v in enumerate(values.get(key) or ()):
            if not math.isfinite(v):
                raise SpecError(f"{at}.{key}[{i}]", "not a finite number", v,
                                "enter a finite number")
            if key in ("sigmas", "factors") and v <= 0:
                raise SpecError(f"{at}.{key}[{i}]", f"{key} of {name!r} must be positive", v,
                                "enter a value > 0")
            if key == "sigmas" and not _MIN_SIGMA <= v <= _MAX_RELATIVE:
                raise SpecError(f"{at}.{key}[{i}]", f"the Gaussian width of {name!r} must lie "
                                f"between {_MIN_SIGMA:g} and {_MAX_RELATIVE:g} (its square and "
                                "the constraint's derivatives must not overflow)", v,
                                "enter a realistic relative uncertainty, e.g. 0.02")
            if key in ("auxdata", "factors") and abs(v) > MAX_MAGNITUDE:
                raise SpecError(f"{at}.{key}[{i}]", f"{key} of {name!r} is too large (more than "
                                f"{MAX_MAGNITUDE:g})", v, "enter a smaller value")
    for i, (lo, hi) in enumerate(values["bounds"]):
        if math.isnan(lo) or math.isnan(hi):
            raise SpecError(f"{at}.bounds[{i}]", "a bound is NaN (not a number)", [lo, hi],
                            "write two numbers [low, high], e.g. [0, 10]")
        if lo > hi:
            raise SpecError(f"{at}.bounds[{i}]", "the lower bound must not exceed the upper bound",
                            [lo, hi], "swap them or widen the range")


_UNDEFINED = object()
