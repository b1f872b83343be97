"""Hostile input, class by class: each ends in a SpecError naming the field, the value and
the fix; never another exception, a silent acceptance or a large allocation."""

from __future__ import annotations

import copy
import io
import json
import os
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import model_core as mc
from model_core.examples import EXAMPLES_DIR
from model_core.exceptions import MAX_ECHO, shorten
from model_core.guards import (
    MAX_CONTAINERS,
    MAX_DEPTH,
    MAX_JSON_BYTES,
    MAX_MODEL_SIZE,
    json_nesting,
)
from model_core.workspace import synthetic_workspace
from model_core.workspace.arrays import MAX_EVENTS

DATA = Path(__file__).resolve().parent.parent / "data"
THREE = json.loads((EXAMPLES_DIR / "three_shapes.json").read_text())
TWO = json.loads((EXAMPLES_DIR / "two_bin_uncorrelated.json").read_text())
ONE_BIN = json.loads((EXAMPLES_DIR / "pyhf_one_bin.json").read_text())
SHAPESYS = json.loads((EXAMPLES_DIR / "pyhf_two_bin_shapesys.json").read_text())
GOOD = json.loads((DATA / "good_workspace.json").read_text())
# bytes the rejections below may allocate: far below what the hostile inputs declare
SMALL = 8 * 2**20


def error_of(source, *, load=mc.load_spec, **kwargs) -> mc.SpecError:
    """The SpecError ``load(source)`` raises, after checking its message's parts."""
    with pytest.raises(mc.SpecError) as info:
        load(source, **kwargs)
    error = info.value
    message = str(error)
    assert message.startswith(f"{error.field}: ") and "Fix: " in message and error.fix
    assert len(message) < 1500
    return error


def edited(doc: dict, change) -> dict:
    doc = copy.deepcopy(doc)
    change(doc)
    return doc


def peak_allocation(run) -> int:
    """Peak bytes allocated by Python and numpy while ``run()`` raises a SpecError."""
    tracemalloc.start()
    try:
        with pytest.raises(mc.SpecError):
            run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# --- wrong JSON types in structural places ----------------------------------------------------

@pytest.mark.parametrize("kind", [{"a": 1}, ["multivariate_normal"], 3, None])
def test_kind_must_be_text(kind):
    error = error_of(edited(THREE, lambda d: d.update(kind=kind)))
    assert error.field == "kind" and error.value == kind
    assert "multivariate_normal" in error.fix and "histfactory" in error.fix


@pytest.mark.parametrize("doc", [THREE, ONE_BIN], ids=["spec", "wrapper"])
@pytest.mark.parametrize("version", [True, "1", [1], 2])
def test_version_must_be_the_number_one(doc, version):
    error = error_of(edited(doc, lambda d: d.update(version=version)))
    assert error.field == "version" and error.value == version and error.fix == "use version 1"
    assert mc.load_spec(edited(doc, lambda d: d.update(version=1)))  # the number itself is fine


def test_a_wrapper_kind_of_the_wrong_type():
    error = error_of(edited(ONE_BIN, lambda d: d.update(kind=["histfactory"])))
    assert error.field == "kind" and error.value == ["histfactory"]


# --- pathological JSON --------------------------------------------------------------------------

@pytest.mark.parametrize(("opening", "closing", "depth"), [("[", "]", 100_000),
                                                            ('{"a": ', "}", 50_000)])
def test_deep_nesting_never_reaches_the_decoder(opening, closing, depth, tmp_path):
    text = '{"kind": "multivariate_normal", "data": ' + opening * depth + "1" + \
        closing * depth + "}"
    error = error_of(text)
    assert error.field == "spec" and f"nested {depth + 1} deep" in error.problem
    assert f"at most {MAX_DEPTH}" in error.problem and str(depth + 1) in str(error.value)
    path = tmp_path / "deep.json"
    path.write_text(text)
    assert error_of(path, load=mc.load_workspace).field == "workspace"


def test_brackets_inside_strings_do_not_count():
    doc = edited(THREE, lambda d: d.update(description="[" * 10_000 + "{" * 10_000))
    assert mc.load_spec(json.dumps(doc)).description.startswith("[[[")


def test_deep_python_data_is_refused_without_recursion():
    nested: list = [1.0]
    for _ in range(100_000):
        nested = [nested]
    error = error_of(edited(THREE, lambda d: d.update(data=nested)))
    assert error.field == "spec" and f"more than {MAX_DEPTH} deep" in error.problem
    ws = edited(GOOD, lambda d: d["channels"][0]["samples"][0].update(data=nested))
    assert error_of(ws, load=mc.load_workspace).field == "workspace"


def test_too_many_lists_and_objects():
    text = '{"data": [' + ",".join(["[]"] * (MAX_CONTAINERS + 1)) + "]}"
    error = error_of(text)
    assert f"{MAX_CONTAINERS + 3:,} lists and objects" in error.problem  # with the outer two


def test_oversized_json_is_refused_before_parsing(tmp_path):
    text = '{"data": [' + "0," * (MAX_JSON_BYTES // 2) + "0]}"
    error = error_of(text)
    assert f"{len(text):,} bytes" in error.problem and f"{MAX_JSON_BYTES:,}" in error.problem
    assert "per-event arrays" in error.fix
    path = tmp_path / "big.json"
    path.write_text(text)
    assert peak_allocation(lambda: mc.load_spec(path)) < SMALL  # the file is never read


@pytest.mark.parametrize(("where", "key", "field"), [
    ('"parameters": {"c1": {"init": 1}, "c1": {"init": 2}}', "c1", "parameters.c1"),
    ('"signal": {"templates": {"A": [1, 2], "A": [3, 4]}, "expression": "k*A"}', "A",
     "signal.templates.A"),
    ('"data": [1, 2], "data": [3, 4]', "data", "data"),
])
def test_duplicate_keys_are_named(where, key, field):
    text = '{"kind": "multivariate_normal", "version": 1, ' + where + "}"
    error = error_of(text)
    assert error.field == field and f"the key {key!r} appears twice" in error.problem
    assert f"remove one of the two {key!r}" in error.fix


def test_duplicate_keys_deep_in_a_workspace(tmp_path):
    text = json.dumps(GOOD).replace('"name": "jes", "type": "histosys"',
                                    '"name": "jes", "name": "jes2", "type": "histosys"', 1)
    path = tmp_path / "ws.json"
    path.write_text(text)
    error = error_of(path)
    assert error.field.startswith("channels[") and error.field.endswith("].name")
    assert error.value == "jes2"


def test_an_integer_too_long_to_convert():
    text = '{"kind": "multivariate_normal",\n "data": [' + "7" * 5000 + "]}"
    error = error_of(text)
    assert "5,000 digits at line 2 column 11" in error.problem
    assert "exponent" in error.fix and len(str(error)) < 600


# --- extreme numbers ----------------------------------------------------------------------------

def test_integer_literal_of_400_digits_in_an_expression():
    error = error_of(edited(THREE, lambda d: d["signal"].update(expression="9" * 400 + "*A")))
    assert isinstance(error, mc.ExpressionError) and error.position == 0
    assert "the number <an integer of 400 digits> is too large" in error.problem
    assert "exponent" in error.fix


@pytest.mark.parametrize(("expression", "part", "why"), [
    ("c0*A + c1**9**9**9*B + c2*C", "'9**9**9'", "overflows"),
    ("c0*A + log(-1)*B + c2*C", "'log(-1)'", "is undefined"),
    ("c0*A + 0/0*B + c2*C", "'0/0'", "is undefined"),
])
def test_constant_parts_that_overflow(expression, part, why):
    error = error_of(edited(THREE, lambda d: d["signal"].update(expression=expression)))
    assert f"the constant part {part} {why}" in error.problem
    assert error.position == expression.index(part.strip("'"))
    assert "finite" in error.fix


@pytest.mark.parametrize(("change", "field"), [
    (lambda d: d["signal"]["templates"].update(S=[1e300, 1.0]), "signal.templates.S[0]"),
    (lambda d: d.update(background=[50.0, 1e300]), "background[1]"),
    (lambda d: d.update(background_uncertainty=[1e300, 1.0]), "background_uncertainty[0]"),
    (lambda d: d.update(data=[1e308, 33]), "data[0]"),
])
def test_yields_and_counts_beyond_the_largest_magnitude(change, field):
    error = error_of(edited(TWO, change))
    assert error.field == field and error.value in (1e300, 1e308)
    assert "too large" in error.problem and "1e+12" in error.problem
    assert "rate" not in str(error) and "rescale" in error.fix


def test_data_of_1e308_is_not_reported_as_a_nonpositive_rate():
    spec = edited(TWO, lambda d: d.update(data=[1e12, 33]))  # the largest accepted count
    result = mc.fit(mc.build_model(spec))
    assert np.isfinite(result.fun) and "<= 0" not in result.message


@pytest.mark.parametrize(("variance", "where"), [(1e-300, "covariance[0][0]"),
                                                 (1e30, "covariance[0][0]")])
def test_variances_that_would_overflow_the_derivatives(variance, where):
    error = error_of(edited(THREE, lambda d: d["covariance"][0].__setitem__(0, variance)))
    assert error.field == where and error.value == variance and "rescale" in error.fix


@pytest.mark.parametrize(("nominal", "uncertainty", "field", "value"), [
    (50.0, 1e-200, "data[0]", 1e-200),
    (1e200, 3.0, None, 1e200),
])
def test_shapesys_extremes(nominal, uncertainty, field, value):
    def change(d):
        sample = d["workspace"]["channels"][0]["samples"][1]
        sample["data"][0] = nominal
        sample["modifiers"][0]["data"][0] = uncertainty
    error = error_of(edited(SHAPESYS, change))
    at = "workspace.channels[0].samples[1]."
    assert error.field == at + (f"modifiers[0].{field}" if field else "data[0]")
    assert error.value == value
    if field:
        assert "tau" in error.problem and "give at least 5e-05" in error.fix


def test_shapesys_of_tiny_yields_keeps_pyhf_tau():
    def change(d):
        sample = d["workspace"]["channels"][0]["samples"][1]
        sample["data"][0] = 1e-200
        sample["modifiers"][0]["data"][0] = 1e-200
    ws = mc.load_spec(edited(SHAPESYS, change))
    gamma = ws.layout.sets["uncorr_bkguncrt"]
    assert gamma.factors[0] == 1.0  # (1e-200 / 1e-200)**2, where pyhf's squares give 0 / 0


def test_staterror_of_vanishing_yields():
    ws = edited(GOOD, lambda d: [s.update(data=[5e-324] * 3) for s in d["channels"][0]["samples"]])
    error = error_of(ws, load=mc.load_workspace)
    assert "staterror" in error.problem and "too large" in error.problem


@pytest.mark.parametrize("sigma", [1e308, 1e-60])
def test_gaussian_widths_whose_square_overflows(sigma):
    doc = json.loads((EXAMPLES_DIR / "multi_channel.json").read_text())
    config = doc["workspace"]["measurements"][0]["config"]["parameters"]
    lumi = next(p for p in config if p["name"] == "lumi")
    lumi["sigmas"] = [sigma]
    error = error_of(doc)
    assert error.field.endswith(".sigmas[0]") and error.value == sigma
    assert "between 1e-50 and 1e+50" in error.problem and "0.02" in error.fix


def test_a_hessian_that_overflows_is_a_failed_fit():
    model = mc.build_model(edited(TWO, lambda d: d["signal"].update(expression="k**1e300*S")))
    result = mc.fit(model)  # numpy's LinAlgError never escapes
    assert not result.success and np.isfinite(result.fun)
    assert "overflow" in result.message and "rescale" in result.message
    with pytest.raises(mc.FitFailed, match="overflow"):
        mc.fit(model, strict=True)


def test_nan_hessians_are_failed_rows_of_the_batched_minimiser():
    from model_core.inner import newton_minimize

    model = mc.build_model(edited(TWO, lambda d: d["signal"].update(expression="exp(700*k)*S")))
    start = np.vstack([model.init, model.init])
    start[1, 1] = -1.0  # exp(-700) is harmless; at k = 1 the second derivatives overflow
    assert not np.isfinite(model.hessian(start[0])).all()
    result = newton_minimize(model, start)
    assert result.success.tolist() == [False, True] and np.isfinite(result.fun).all()


# --- event files --------------------------------------------------------------------------------

def _unbinned(folder: Path, ratios) -> Path:
    ws = copy.deepcopy(GOOD)
    ws["channels"].append({"name": "UB", "type": "unbinned", "samples": [
        {"name": "signal", "yield": 5.0, "ratios": ratios,
         "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}]})
    path = folder / "ws.json"
    path.write_text(json.dumps(ws))
    return path


def _event_error(folder: Path, name: str, **source) -> mc.SpecError:
    error = error_of(_unbinned(folder, {"file": name, **source}))
    assert error.field.startswith("channels[2].samples[0].ratios")
    assert error.value is not None
    return error


def test_a_loop_of_symbolic_links(tmp_path):
    os.symlink(tmp_path / "a.npy", tmp_path / "b.npy")
    os.symlink(tmp_path / "b.npy", tmp_path / "a.npy")
    error = _event_error(tmp_path, "a.npy")
    assert error.problem == "a loop of symbolic links" and error.value == "a.npy"


def test_a_file_name_too_long(tmp_path):
    name = "x" * 5000 + ".npy"
    error = _event_error(tmp_path, name)
    assert error.problem == "the file name is too long" and error.value == name
    assert len(str(error)) < 600


@pytest.mark.parametrize(("make", "kind"), [(os.mkfifo, "a named pipe"), (os.mkdir, "a folder")])
def test_pipes_and_folders_are_not_regular_files(tmp_path, make, kind):
    make(tmp_path / "odd.npy")
    error = _event_error(tmp_path, "odd.npy")
    assert error.problem == f"not a regular file ({kind})" and "check the file name" in error.fix


def test_a_text_file_named_npy_gets_no_pickle_advice(tmp_path):
    (tmp_path / "notes.npy").write_text("this is not an array\n")
    error = _event_error(tmp_path, "notes.npy")
    assert "not a .npy file" in error.problem and "pickle" not in str(error).lower()


def test_object_arrays_are_never_unpickled(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    error = _event_error(tmp_path, "obj.npy")
    assert "object values, not real numbers" in error.problem and "pickle" not in str(error)


def test_a_header_declaring_a_trillion_values(tmp_path):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (10**12,)})
    (tmp_path / "huge.npy").write_bytes(header.getvalue() + bytes(800))
    path = _unbinned(tmp_path, {"file": "huge.npy"})
    assert peak_allocation(lambda: mc.load_spec(path)) < SMALL
    error = _event_error(tmp_path, "huge.npy")
    assert "1,000,000,000,000 values" in error.problem and "fewer events" in error.fix


def test_a_header_declaring_more_than_the_file_holds(tmp_path):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (1000,)})
    (tmp_path / "short.npy").write_bytes(header.getvalue() + bytes(80))
    assert "header declares 1,000 values" in _event_error(tmp_path, "short.npy").problem


def test_a_zip_bomb_is_refused_before_decompressing(tmp_path):
    declared = 2**28  # bytes of zeros in a ~1 MB archive
    with zipfile.ZipFile(tmp_path / "bomb.npz", "w", zipfile.ZIP_DEFLATED,
                         compresslevel=1) as archive:
        with archive.open("x.npy", "w") as member:
            np.lib.format.write_array_header_1_0(member, {"descr": "<f8", "fortran_order": False,
                                                          "shape": (declared // 8,)})
            for _ in range(declared // 2**24):
                member.write(bytes(2**24))
    assert (tmp_path / "bomb.npz").stat().st_size < 2 * 2**20
    path = _unbinned(tmp_path, {"file": "bomb.npz"})
    assert peak_allocation(lambda: mc.load_spec(path)) < SMALL
    error = _event_error(tmp_path, "bomb.npz")
    assert f"declares {declared + 128:,} bytes" in error.problem and "fewer events" in error.fix


def test_a_zip_with_too_many_arrays(tmp_path):
    with zipfile.ZipFile(tmp_path / "many.npz", "w") as archive:
        for i in range(1001):
            archive.writestr(f"a{i}.npy", b"")
    assert "more than 1000 arrays" in _event_error(tmp_path, "many.npz", key="a0").problem


def test_the_events_of_a_workspace_are_capped(tmp_path):
    np.save(tmp_path / "many.npy", np.ones(MAX_EVENTS + 1))
    error = _event_error(tmp_path, "many.npy")
    assert f"{MAX_EVENTS + 1:,} values" in error.problem
    np.save(tmp_path / "fits.npy", np.ones(1000))
    assert mc.load_spec(_unbinned(tmp_path, {"file": "fits.npy"}))


# --- overrides and model size -------------------------------------------------------------------

def test_an_override_init_outside_the_workspace_bounds():
    error = error_of(edited(ONE_BIN, lambda d: d.update(parameters={"mu": {"init": 50.0}})))
    assert error.field == "parameters.mu.init" and error.value == 50.0
    assert "outside the parameter's own bounds [0, 10]" in error.problem
    assert '"bounds"' in error.fix
    widened = edited(ONE_BIN, lambda d: d.update(
        parameters={"mu": {"init": 50.0, "bounds": [0, 100]}}))
    assert mc.load_spec(widened).parameters["mu"].init == 50.0


def test_models_too_large_for_the_exact_hessian():
    ws = synthetic_workspace(n_channels=40, n_bins=25, n_staterror_channels=40, rng=1)
    error = error_of(ws, load=mc.load_workspace)
    assert error.field == "channels" and f"at most {MAX_MODEL_SIZE:,}" in error.problem
    assert "staterror" in error.fix
    n = 2000
    spec = {"kind": "uncorrelated_background", "data": [5.0] * n, "background": [5.0] * n,
            "background_uncertainty": [1.0] * n, "signal": {"templates": {"S": [1.0] * n}}}
    assert error_of(spec).field == "bins"
    assert mc.load_workspace(synthetic_workspace(rng=1))  # the benchmark workspace fits


# --- messages -----------------------------------------------------------------------------------

def test_echoed_values_are_capped():
    long_name = "x" * 100_000
    error = error_of(edited(THREE, lambda d: d.update({long_name: [1.0] * 10_000})))
    assert len(str(error)) < 600 and error.field.endswith("...")
    assert len(shorten(long_name)) == MAX_ECHO


@pytest.mark.parametrize(("expression", "shown"), [
    ("c0 // A", "operator //"), ("c0 % A", "operator %"), ("await A", "await"),
    ("~A", "operator ~"), ("(yield A)", "yield"), ("A | B", "operator |")])
def test_operators_are_shown_as_written(expression, shown):
    error = error_of(edited(THREE, lambda d: d["signal"].update(expression=expression)))
    assert f"{shown} is not allowed" in error.problem
    assert not any(name in str(error) for name in ("FloorDiv", "Await", "Mod", "BitOr"))


def test_a_raw_workspace_without_channels_is_explained_as_a_workspace():
    raw = {k: v for k, v in GOOD.items() if k != "channels"}
    error = error_of(raw)
    assert error.field == "channels" and error.problem == "missing required key"


def test_nan_bounds_are_reported_as_nan(tmp_path):
    text = json.dumps(GOOD).replace('"bounds": [[-5.0, 10.0]]', '"bounds": [[NaN, 10.0]]')
    assert "NaN" in text
    error = error_of(text, load=mc.load_workspace)
    assert error.field.endswith(".bounds[0]") and "NaN" in error.problem
    assert "must not exceed" not in error.problem and "[0, 10]" in error.fix


def test_a_nul_in_an_expression():
    error = error_of(edited(THREE, lambda d: d["signal"].update(expression="c0*A\x00 + c1*B")))
    assert "a NUL character (U+0000)" in error.problem and error.position == 4
    assert "ends too early" not in str(error) and "\x00" not in str(error)


# --- the nesting scan ---------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.text(alphabet='[]{}"\\ab\n'),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(alphabet='[]{}"\\a', max_size=4), children, max_size=4),
    max_leaves=30)


def _depth_and_count(value) -> tuple[int, int]:
    if isinstance(value, (list, dict)):
        inner = [_depth_and_count(v) for v in (value.values() if isinstance(value, dict)
                                                else value)]
        return 1 + max((d for d, _ in inner), default=0), 1 + sum(c for _, c in inner)
    return 0, 0


@settings(max_examples=300)
@given(value=JSON_VALUES, ascii_only=st.booleans())
def test_the_nesting_scan_matches_the_parsed_document(value, ascii_only):
    """Brackets in strings (escaped quotes included) never count, across chunk ends too."""
    text = json.dumps(value, ensure_ascii=ascii_only)
    with pytest.MonkeyPatch.context() as patch:
        # chunks of 7 bytes: strings and runs of backslashes straddle chunk ends
        patch.setattr("model_core.guards._SCAN_CHUNK", 7)
        assert json_nesting(text) == _depth_and_count(value)


def test_escaped_quotes_scan_in_linear_time():
    # a regular expression for strings would backtrack quadratically over this
    text = '{"a": 1, ' + '\\"' * 2_000_000 + "}"
    assert json_nesting(text) == (1, 1)
    assert error_of(text).problem.startswith("malformed JSON")
