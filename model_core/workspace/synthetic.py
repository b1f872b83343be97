"""Deterministic synthetic HistFactory workspaces, for benchmarks and tests.

:func:`synthetic_workspace` draws a pyhf 1.0.0 workspace with many channels
and every binned modifier type from an explicit ``rng``; the same seed always
gives the same workspace.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..random import RngLike, as_generator

__all__ = ["synthetic_workspace"]


def synthetic_workspace(
    *,
    n_channels: int = 20,
    n_bins: int = 10,
    n_normsys: int = 49,
    n_histosys: int = 30,
    n_staterror_channels: int = 2,
    n_shapesys_channels: int = 0,
    n_shapefactor_channels: int = 0,
    lumi: bool = True,
    rng: RngLike = None,
) -> dict[str, Any]:
    """A random workspace: ``signal`` (``mu``) plus two backgrounds per channel.

    Every channel has samples ``signal`` (normfactor ``mu``, ``lumi``), ``bkg_a``
    and ``bkg_b``.  Each background draws three normsys and two histosys
    modifiers from shared pools of ``n_normsys`` and ``n_histosys`` parameters
    (every pool member is used at least once).  The first
    ``n_staterror_channels`` channels carry a staterror on both backgrounds,
    the next ``n_shapesys_channels`` a shapesys on ``bkg_b`` and the next
    ``n_shapefactor_channels`` a shared shapefactor ``sf`` on ``bkg_a``.
    Observations are Poisson draws around the nominal yields.

    The number of nuisance parameters is ``lumi + n_normsys + n_histosys +
    n_bins * (n_staterror_channels + n_shapesys_channels) + n_bins * (shapefactor
    used)``; the defaults give 100 (plus ``mu``).
    """
    rng = as_generator(rng)
    special = n_staterror_channels + n_shapesys_channels + n_shapefactor_channels
    if special > n_channels:
        raise ValueError(f"{special} special channels requested but only {n_channels} channels")
    slots = 2 * n_channels
    normsys_pool = _assignments(rng, n_normsys, slots, min(3, n_normsys))
    histosys_pool = _assignments(rng, n_histosys, slots, min(2, n_histosys))
    channels, observations = [], []
    for c in range(n_channels):
        name = f"SR_{c:02d}"
        shape = np.exp(-np.linspace(0.0, 2.0, n_bins))
        peak = rng.uniform(2.0, 8.0)
        signal = rng.uniform(2.0, 8.0) * np.exp(-0.5 * ((np.arange(n_bins) - peak) / 2.0) ** 2)
        bkg = {s: rng.uniform(40.0, 120.0) * shape * rng.uniform(0.8, 1.2, n_bins)
               for s in ("bkg_a", "bkg_b")}
        samples = [{"name": "signal", "data": _list(signal + 0.01), "modifiers": [
            {"name": "mu", "type": "normfactor", "data": None}]}]
        if lumi:
            samples[0]["modifiers"].append({"name": "lumi", "type": "lumi", "data": None})
        for k, sname in enumerate(("bkg_a", "bkg_b")):
            nominal = bkg[sname]
            mods: list[dict[str, Any]] = []
            if lumi and sname == "bkg_a":
                mods.append({"name": "lumi", "type": "lumi", "data": None})
            for j in normsys_pool[2 * c + k]:
                hi = 1.0 + rng.uniform(0.02, 0.2)
                lo = 1.0 - rng.uniform(0.02, 0.2)
                mods.append({"name": f"ns_{j:02d}", "type": "normsys",
                             "data": {"hi": hi, "lo": lo}})
            for j in histosys_pool[2 * c + k]:
                tilt = rng.uniform(0.02, 0.1) * np.linspace(-1.0, 1.0, n_bins)
                up = nominal * (1.0 + tilt + rng.uniform(0.0, 0.05, n_bins))
                down = nominal * (1.0 - tilt - rng.uniform(0.0, 0.03, n_bins))
                mods.append({"name": f"hs_{j:02d}", "type": "histosys",
                             "data": {"hi_data": _list(up), "lo_data": _list(down)}})
            if c < n_staterror_channels:
                mods.append({"name": f"staterror_{name}", "type": "staterror",
                             "data": _list(np.sqrt(nominal) * rng.uniform(0.5, 1.5, n_bins))})
            elif sname == "bkg_b" and c < n_staterror_channels + n_shapesys_channels:
                mods.append({"name": f"shapesys_{name}", "type": "shapesys",
                             "data": _list(nominal * rng.uniform(0.05, 0.2, n_bins))})
            elif sname == "bkg_a" and c < special:
                mods.append({"name": "sf", "type": "shapefactor", "data": None})
            samples.append({"name": sname, "data": _list(nominal), "modifiers": mods})
        channels.append({"name": name, "samples": samples})
        total = signal + 0.01 + bkg["bkg_a"] + bkg["bkg_b"]
        observations.append({"name": name, "data": _list(rng.poisson(total).astype(float))})
    parameters: list[dict[str, Any]] = [{"name": "mu", "bounds": [[-5.0, 10.0]]}]
    if lumi:
        parameters.append({"name": "lumi", "auxdata": [1.0], "sigmas": [0.02],
                           "inits": [1.0], "bounds": [[0.8, 1.2]]})
    return {
        "version": "1.0.0",
        "channels": channels,
        "observations": observations,
        "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": parameters}}],
    }


def _assignments(rng: np.random.Generator, n_pool: int, n_slots: int, per_slot: int
                 ) -> list[list[int]]:
    """``per_slot`` distinct pool members per slot; every member is used when
    ``n_slots * per_slot >= n_pool``."""
    if not n_pool:
        return [[] for _ in range(n_slots)]
    labels = rng.permutation(n_pool)
    return [sorted(int(labels[(s * per_slot + i) % n_pool]) for i in range(per_slot))
            for s in range(n_slots)]


def _list(values: np.ndarray) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=float)]
