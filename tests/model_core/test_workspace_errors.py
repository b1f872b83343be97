"""Bad workspaces give a SpecError naming the JSON path, the value and the fix; never a crash."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import model_core as mc

DATA = Path(__file__).resolve().parent.parent / "data"

# file -> (field, fragments that must appear in the message)
BAD = {
    "bad_missing_key": ("channels[0].samples[1].modifiers", ["missing required key",
                                                             "add 'modifiers'"]),
    "bad_missing_observations": ("observations", ["missing required key"]),
    "bad_wrong_length": ("channels[0].samples[1].data", ["has 2 bins", "first sample has 3",
                                                         "give 3 values"]),
    "bad_observation_length": ("observations[1].data", ["has 1 counts", "'CR' has 2 bins",
                                                        "[204.0]"]),
    "bad_unknown_modifier": ("channels[0].samples[1].modifiers[0].type", [
        "'histosis'", "use one of histosys, lumi, normfactor, normsys, shapefactor, shapesys"]),
    "bad_modifier_shape": ("channels[0].samples[1].modifiers[0].data.hi_data", [
        "has 2 entries but the sample has 3 bins", "give exactly 3 values"]),
    "bad_modifier_data_type": ("channels[0].samples[1].modifiers[1].data", [
        "must be an object", "[0.9, 1.1]"]),
    "bad_unknown_poi": ("measurements[0].config.poi", ["'mu_sig'", "not a parameter",
                                                       "use one of jes, mu, bkg_norm"]),
    "bad_vector_poi": ("measurements[0].config.poi", ["has 3 components",
                                                      "must be a single parameter"]),
    "bad_duplicate_channel": ("channels[1].name", ["duplicate channel name", "'SR'"]),
    "bad_duplicate_modifier": ("channels[0].samples[1].modifiers[3].name", [
        "already has a normsys modifier", "'bkg_norm'"]),
    "bad_lumi_config": ("measurements[0].config.parameters", [
        "'lumi' needs a parameter configuration", '"sigmas": [0.02]']),
    "bad_name_reuse": ("channels[0].samples[1].modifiers[1]", [
        "used by a normsys modifier and by a normfactor modifier",
        "channels[1].samples[0].modifiers[1]", "unique modifier names"]),
    "bad_negative_normsys": ("channels[0].samples[1].modifiers[1].data.lo", [
        "must be positive", "-0.1"]),
    "bad_missing_observation": ("observations", ["channel 'CR' (channels[1]) has no observation",
                                                 '"name": "CR"']),
    "bad_config_length": ("measurements[0].config.parameters[1].inits", [
        "has 2 entries but 'jes' has 1 component"]),
    "bad_config_attribute": ("measurements[0].config.parameters[1].sigmas", [
        "'jes' (histosys) does not use 'sigmas'", "inits, bounds, auxdata, fixed"]),
    "bad_version": ("version", ["must be '1.0.0'", "'2.0.0'"]),
    "bad_staterror_channels": ("channels[1].samples[0].modifiers[1]", [
        "same channels for every sample", "bkg: CR, SR; signal: SR"]),
    "bad_ratio_outside": ("channels[2].samples[0].ratios.file", [
        "outside the workspace folder", "'../outside.npy'", "without '..'"]),
    "bad_unbinned_observation": ("observations[2].name", ["unbinned channels", "'UB'"]),
    "bad_unbinned_modifier": ("channels[2].samples[0].modifiers[0].type", [
        "'shapesys'", "use one of histosys, lumi, normfactor, normsys"]),
    "bad_truncated": ("workspace", ["malformed JSON", "line 80", "truncated?"]),
    "bad_shared_shapesys": ("channels[0].samples[1].modifiers[3]", [
        "already used at channels[1].samples[0].modifiers[1]", "its own name"]),
}


def test_every_bad_file_is_listed():
    assert {p.stem for p in DATA.glob("bad_*.json")} == set(BAD)


def test_the_good_workspace_loads():
    model = mc.build_model(DATA / "good_workspace.json")
    assert model.parameter_names == ("jes", "mu", "bkg_norm", "stat_SR[0]", "stat_SR[1]",
                                     "stat_SR[2]")


@pytest.mark.parametrize("name", list(BAD))
def test_bad_workspace_names_path_value_and_fix(name):
    field, fragments = BAD[name]
    with pytest.raises(mc.SpecError) as info:
        mc.load_workspace(DATA / f"{name}.json")
    error = info.value
    assert error.field == field
    message = str(error)
    assert message.startswith(f"{field}: ") and "Fix: " in message
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize("name", ["bad_unknown_poi", "bad_modifier_shape"])
def test_paths_inside_a_wrapper_are_prefixed(name):
    raw = json.loads((DATA / f"{name}.json").read_text())
    with pytest.raises(mc.SpecError) as info:
        mc.build_model({"kind": "histfactory", "workspace": raw})
    assert info.value.field == "workspace." + BAD[name][0]


def test_unknown_measurement_lists_the_known_ones():
    with pytest.raises(mc.SpecError, match=r"measurement: .*'nope'.*use one of meas"):
        mc.load_workspace(DATA / "good_workspace.json", measurement="nope")


def _unbinned(tmp_path, ratios, **sample):
    ws = json.loads((DATA / "good_workspace.json").read_text())
    ws["channels"].append({"name": "UB", "type": "unbinned", "samples": [
        {"name": "signal", "yield": 5.0, "ratios": ratios,
         "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]} | sample]})
    path = tmp_path / "ws.json"
    path.write_text(json.dumps(ws))
    return path


def test_truncated_and_malformed_event_files(tmp_path):
    good = np.linspace(0.5, 2.0, 30)
    np.save(tmp_path / "ok.npy", good)
    raw = (tmp_path / "ok.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(raw[: len(raw) // 2])
    np.savez(tmp_path / "pack.npz", a=good, b=good)
    (tmp_path / "cut.npz").write_bytes((tmp_path / "pack.npz").read_bytes()[:100])
    np.save(tmp_path / "flat.npy", good.reshape(5, 6))
    np.save(tmp_path / "nan.npy", np.r_[good[:-1], np.nan])
    cases = {
        "cut.npy": ({"file": "cut.npy"}, "ratios.file", "truncated"),
        "cut.npz": ({"file": "cut.npz", "key": "a"}, "ratios.file", "truncated"),
        "no key": ({"file": "pack.npz"}, "ratios.key", "holds 2 arrays"),
        "bad key": ({"file": "pack.npz", "key": "c"}, "ratios.key", "use one of a, b"),
        "2-D": ({"file": "flat.npy"}, "ratios", "1-D array"),
        "NaN": ({"file": "nan.npy"}, "ratios", "non-finite value at event 29"),
        "missing": ({"file": "gone.npy"}, "ratios.file", "no such file"),
        "absolute": ({"file": str(tmp_path.parent / "x.npy")}, "ratios.file", "outside"),
        "format": ({"file": "ws.json"}, "ratios.file", ".npy or .npz"),
        "negative": ([1.0, -0.5, 2.0], "ratios", "must not be negative"),
        "null byte": ({"file": "a\x00b.npy"}, "ratios.file", "not a usable file name"),
    }
    for label, (source, where, fragment) in cases.items():
        with pytest.raises(mc.SpecError, match=fragment) as info:
            mc.load_spec(_unbinned(tmp_path, source))
        assert info.value.field == f"channels[2].samples[0].{where}", label


def test_symlinks_out_of_the_folder_are_refused(tmp_path):
    outside = tmp_path / "elsewhere"
    inside = tmp_path / "ws"
    outside.mkdir()
    inside.mkdir()
    np.save(outside / "r.npy", np.ones(3))
    os.symlink(outside / "r.npy", inside / "r.npy")
    path = _unbinned(inside, {"file": "r.npy"})
    with pytest.raises(mc.SpecError, match="outside the workspace folder"):
        mc.load_spec(path)


def test_event_counts_must_agree_and_files_need_a_folder(tmp_path):
    np.save(tmp_path / "a.npy", np.ones(4))
    path = _unbinned(tmp_path, {"file": "a.npy"}, modifiers=[
        {"name": "s", "type": "histosys", "data": {"hi_data": [1.0, 1.0, 1.0],
                                                   "lo_data": {"file": "a.npy"}}}])
    with pytest.raises(mc.SpecError, match="has 3 events but .*ratios has 4"):
        mc.load_spec(path)
    raw = json.loads(_unbinned(tmp_path, {"file": "a.npy"}).read_text())
    with pytest.raises(mc.SpecError, match="pass base_dir="):
        mc.load_workspace(raw)
    assert mc.load_workspace(raw, base_dir=tmp_path).parameter_names[1] == "mu"


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


GOOD = json.loads((DATA / "good_workspace.json").read_text())
PATHS = [p for p in _paths(GOOD) if p]
JUNK = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.just(10**400),
                 st.floats(allow_nan=True),
                 st.text(max_size=3), st.lists(st.floats(-2, 2), max_size=4),
                 st.dictionaries(st.text(max_size=2), st.integers(), max_size=2))


@settings(derandomize=True, deadline=None, max_examples=150)
@given(path=st.sampled_from(PATHS), junk=JUNK, delete=st.booleans())
def test_random_damage_never_crashes(path, junk, delete):
    """Any single damaged value either still builds or raises a SpecError, nothing else."""
    ws = copy.deepcopy(GOOD)
    parent = ws
    for key in path[:-1]:
        parent = parent[key]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = junk
    try:
        model = mc.build_model(ws)
    except mc.SpecError as error:
        assert error.field and "Fix: " in str(error)
    else:
        value, grad = model.value_and_grad(model.init)
        assert value.shape == () and grad.shape == (model.npar,) and not np.isnan(value)
