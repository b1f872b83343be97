"""Small HistFactory workspaces for the tests: one per modifier type, plus mixtures."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np

from model_core.examples import EXAMPLES_DIR
from model_core.workspace import synthetic_workspace

_N = None


def _workspace(channels: list[dict], observations: dict[str, list[float]],
               parameters: list[dict] | None = None, poi: str = "mu") -> dict[str, Any]:
    return {
        "version": "1.0.0",
        "channels": channels,
        "observations": [{"name": k, "data": v} for k, v in observations.items()],
        "measurements": [{"name": "meas", "config": {"poi": poi, "parameters": parameters or []}}],
    }


def _signal(data: list[float]) -> dict:
    return {"name": "signal", "data": data,
            "modifiers": [{"name": "mu", "type": "normfactor", "data": _N}]}


def single_type(kind: str) -> dict[str, Any]:
    """A one- or two-channel workspace exercising one modifier type."""
    bkg = [50.0, 40.0, 20.0]
    obs = {"SR": [58.0, 47.0, 19.0]}
    if kind == "normfactor":
        mods = [{"name": "k_bkg", "type": "normfactor", "data": _N}]
    elif kind == "lumi":
        mods = [{"name": "lumi", "type": "lumi", "data": _N}]
        ch = {"name": "SR", "samples": [_signal([5.0, 8.0, 4.0]) | {"modifiers": [
            {"name": "mu", "type": "normfactor", "data": _N}, {"name": "lumi", "type": "lumi",
                                                               "data": _N}]},
            {"name": "bkg", "data": bkg, "modifiers": mods}]}
        return _workspace([ch], obs, [{"name": "lumi", "auxdata": [1.0], "sigmas": [0.05],
                                       "inits": [1.0], "bounds": [[0.5, 1.5]]}])
    elif kind == "normsys":
        mods = [{"name": "bkg_norm", "type": "normsys", "data": {"hi": 1.12, "lo": 0.85}},
                {"name": "other", "type": "normsys", "data": {"hi": 0.95, "lo": 1.07}}]
    elif kind == "histosys":
        mods = [{"name": "shape", "type": "histosys",
                 "data": {"hi_data": [55.0, 41.0, 18.0], "lo_data": [47.0, 38.5, 21.5]}}]
    elif kind == "shapesys":
        # a bin without uncertainty and a bin without yield: fixed gammas, as in pyhf
        mods = [{"name": "bkg_unc", "type": "shapesys", "data": [5.0, 0.0, 3.0]}]
        bkg = [50.0, 40.0, 0.0]
        obs = {"SR": [58.0, 47.0, 2.0]}
    elif kind == "staterror":
        # shared by two samples; the last bin has no uncertainty (fixed gamma)
        return _workspace([{"name": "SR", "samples": [
            _signal([5.0, 8.0, 4.0]) | {"modifiers": [
                {"name": "mu", "type": "normfactor", "data": _N},
                {"name": "stat_SR", "type": "staterror", "data": [1.0, 1.5, 0.0]}]},
            {"name": "bkg", "data": bkg, "modifiers": [
                {"name": "stat_SR", "type": "staterror", "data": [4.0, 3.0, 0.0]}]}]}], obs)
    elif kind == "shapefactor":
        # shared by two channels of equal binning
        channels = [{"name": name, "samples": [
            _signal([5.0, 8.0, 4.0]),
            {"name": "bkg", "data": [b * scale for b in bkg], "modifiers": [
                {"name": "sf", "type": "shapefactor", "data": _N}]}]}
            for name, scale in (("CR", 4.0), ("SR", 1.0))]
        return _workspace(channels, {"CR": [205.0, 157.0, 83.0], "SR": obs["SR"]})
    else:
        raise ValueError(kind)
    samples = [_signal([5.0, 8.0, 4.0]), {"name": "bkg", "data": bkg, "modifiers": mods}]
    return _workspace([{"name": "SR", "samples": samples}], obs)


SINGLE_TYPES = ("normfactor", "shapefactor", "lumi", "normsys", "histosys", "shapesys", "staterror")


def mixed(seed: int = 7) -> dict[str, Any]:
    """Four channels with every binned modifier type."""
    return synthetic_workspace(n_channels=4, n_bins=3, n_normsys=5, n_histosys=4,
                               n_staterror_channels=1, n_shapesys_channels=1,
                               n_shapefactor_channels=2, rng=seed)


def irregular() -> dict[str, Any]:
    """Channels listed out of order, samples present in some channels only, a modifier name
    shared by a normsys and a histosys, an empty bin, and configured sigmas / fixed sets."""
    return _workspace([
        {"name": "B", "samples": [
            _signal([3.0, 4.0]) | {"modifiers": [
                {"name": "mu", "type": "normfactor", "data": _N},
                {"name": "stat", "type": "staterror", "data": [0.5, 0.6]}]},
            {"name": "zz", "data": [20.0, 0.0], "modifiers": [
                {"name": "stat", "type": "staterror", "data": [2.0, 0.0]},
                {"name": "sf", "type": "shapefactor", "data": _N},
                {"name": "x", "type": "normsys", "data": {"hi": 1.2, "lo": 0.7}},
                {"name": "x", "type": "histosys",
                 "data": {"hi_data": [22.0, 0.5], "lo_data": [19.0, 0.0]}}]}]},
        {"name": "A", "samples": [
            {"name": "ww", "data": [30.0, 10.0], "modifiers": [
                {"name": "sf", "type": "shapefactor", "data": _N},
                {"name": "ss", "type": "shapesys", "data": [3.0, 4.0]},
                {"name": "lumi", "type": "lumi", "data": _N}]},
            _signal([1.0, 2.0]) | {"modifiers": [
                {"name": "mu", "type": "normfactor", "data": _N},
                {"name": "lumi", "type": "lumi", "data": _N}]}]}],
        {"A": [33.0, 11.0], "B": [27.0, 5.0]},
        [{"name": "lumi", "auxdata": [1.0], "sigmas": [0.1], "inits": [1.0],
          "bounds": [[0.5, 1.5]]},
         {"name": "ss", "fixed": True}, {"name": "stat", "sigmas": [0.1, 0.2]}])


def preset(name: str) -> dict[str, Any]:
    """The pyhf workspace inside a shipped preset."""
    return copy.deepcopy(json.loads((EXAMPLES_DIR / f"{name}.json").read_text())["workspace"])


def write_unbinned(folder: Path, *, n_events: int = 40, seed: int = 3
                   ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """An unbinned channel (signal, background with a ratio histosys) beside a binned control
    region, written to ``folder/workspace.json`` with its arrays as .npy / .npz files.

    Returns the workspace and the arrays (for reference computations).
    """
    rng = np.random.default_rng(seed)
    arrays = {
        "r_sig": rng.uniform(0.1, 3.0, n_events),
        "r_bkg": rng.uniform(0.5, 1.5, n_events),
        "w": rng.uniform(0.5, 1.5, n_events),
    }
    arrays["r_bkg_up"] = arrays["r_bkg"] * rng.uniform(1.0, 1.3, n_events)
    arrays["r_bkg_dn"] = arrays["r_bkg"] * rng.uniform(0.75, 1.0, n_events)
    np.save(folder / "sig.npy", arrays["r_sig"])
    np.save(folder / "weights.npy", arrays["w"])
    np.savez(folder / "bkg.npz", nom=arrays["r_bkg"], up=arrays["r_bkg_up"],
             dn=arrays["r_bkg_dn"])
    ws = _workspace([
        {"name": "UB", "type": "unbinned", "weights": {"file": "weights.npy"}, "samples": [
            {"name": "signal", "yield": 8.0, "ratios": {"file": "sig.npy"}, "modifiers": [
                {"name": "mu", "type": "normfactor", "data": _N},
                {"name": "lumi", "type": "lumi", "data": _N}]},
            {"name": "bkg", "yield": 35.0, "ratios": {"file": "bkg.npz", "key": "nom"},
             "modifiers": [
                 {"name": "jes", "type": "histosys",
                  "data": {"hi_data": {"file": "bkg.npz", "key": "up"},
                           "lo_data": {"file": "bkg.npz", "key": "dn"}}},
                 {"name": "jes", "type": "normsys", "data": {"hi": 1.08, "lo": 0.9}},
                 {"name": "k_bkg", "type": "normfactor", "data": _N}]}]},
        {"name": "CR", "samples": [{"name": "bkg", "data": [120.0, 80.0], "modifiers": [
            {"name": "jes", "type": "histosys",
             "data": {"hi_data": [126.0, 83.0], "lo_data": [115.0, 78.0]}},
            {"name": "k_bkg", "type": "normfactor", "data": _N}]}]}],
        {"CR": [131.0, 77.0]},
        [{"name": "lumi", "auxdata": [1.0], "sigmas": [0.03], "inits": [1.0],
          "bounds": [[0.8, 1.2]]}])
    (folder / "workspace.json").write_text(json.dumps(ws))
    return ws, arrays
