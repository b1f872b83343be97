"""Contour files (CSV, NPZ, JSON) and the ``contour`` command."""

from __future__ import annotations

import json

import numpy as np
import pytest

import model_core as mc
from model_core.cli import main
from model_core.examples import load_example


@pytest.fixture(scope="module")
def small(three_shapes):
    return mc.find_contour(three_shapes, rng=1, n_radial=100, n_chains=6, n_steps=20,
                           n_gap_candidates=100, spacing=0.05, max_fill_rounds=2)


@pytest.mark.parametrize("suffix", [".npz", ".json"])
def test_round_trip(small, tmp_path, suffix):
    path = mc.save_contour(small, tmp_path / f"points{suffix}")
    back = mc.load_contour(path)
    for name in small.__dataclass_fields__:
        mine, theirs = getattr(small, name), getattr(back, name)
        if isinstance(mine, np.ndarray):
            assert np.array_equal(mine, theirs), name
            assert mine.dtype == theirs.dtype or mine.dtype.kind == theirs.dtype.kind == "f", name
        elif name == "islands":
            assert [(i.nll, i.n_points) for i in mine] == [(i.nll, i.n_points) for i in theirs]
            assert all(np.array_equal(i.minimum, j.minimum) for i, j in zip(mine, theirs,
                                                                            strict=True))
        elif name != "settings":
            assert mine == theirs, name
    assert back.settings["fixed"] == {"mu": 1.0}
    assert back.settings["bounds"]["c0"] == [-50.0, 1.0]


def test_csv_has_points_other_parameters_and_flags(small, tmp_path):
    path = mc.save_contour(small, tmp_path / "points.csv")
    lines = path.read_text().splitlines()
    header = next(line for line in lines if not line.startswith("#"))
    assert header == "c0,c1,c2,mu,residual,from_radial,on_bound"
    assert any(line.startswith("# threshold: ") for line in lines)
    table = np.loadtxt(path, delimiter=",", skiprows=lines.index(header) + 1, ndmin=2)
    assert np.array_equal(table[:, :3], small.contour_points)
    assert np.all(table[:, 3] == 1.0)
    assert np.array_equal(table[:, 4], small.residuals)
    assert np.array_equal(table[:, 6].astype(bool), small.on_bound)


@pytest.mark.parametrize("suffix", [".csv", ".npz", ".json"])
def test_metadata_travels_with_the_points(small, tmp_path, suffix):
    metadata = {"model": {"kind": "multivariate_normal", "data": [36, 33]}, "seed": 1,
                "version": "0.1.0", "confidence_level": np.float64(0.95)}
    path = mc.save_contour(small, tmp_path / f"points{suffix}", metadata=metadata)
    if suffix == ".csv":
        line = next(x for x in path.read_text().splitlines() if x.startswith("# metadata: "))
        stored = json.loads(line[len("# metadata: "):])
    elif suffix == ".npz":
        with np.load(path) as npz:
            stored = json.loads(str(npz["meta"]))["metadata"]
    else:
        stored = json.loads(path.read_text())["metadata"]
    assert stored == {**metadata, "confidence_level": 0.95}
    if suffix != ".csv":
        assert np.array_equal(mc.load_contour(path).contour_points, small.contour_points)


def test_unknown_suffix_is_refused(small, tmp_path):
    with pytest.raises(ValueError, match="use one of .csv, .npz, .json"):
        mc.save_contour(small, tmp_path / "points.txt")
    with pytest.raises(ValueError, match="CSV keeps only the points"):
        mc.load_contour(tmp_path / "points.csv")


def test_command_line(tmp_path, capsys):
    out = tmp_path / "mu.csv"
    status = main(["contour", "two_bin_uncorrelated", "--param", "mu", "--cl", "0.68",
                   "--seed", "3", "--out", str(out), "--json", "--progress"])
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert status == 0 and summary["status"] == "complete" and summary["points"] == 2
    assert "radial" in captured.err  # the progress line
    rows = [line for line in out.read_text().splitlines() if not line.startswith("#")]
    assert rows[0] == "mu,theta_0,theta_1,residual,from_radial,on_bound" and len(rows) == 3
    best = mc.fit(mc.build_model(load_example("two_bin_uncorrelated")))
    mus = sorted(float(r.split(",")[0]) for r in rows[1:])
    assert mus[0] < best.x[0] < mus[1]


def test_command_line_bounds_and_settings(tmp_path, capsys):
    status = main(["contour", "three_shapes", "--fix", "mu=1", "--bound", "c0=-50:1",
                   "--set", "n_chains=4", "--set", "n_steps=10", "--set", "n_radial=50",
                   "--set", "n_gap_candidates=50", "--set", "spacing=0.1", "--quiet",
                   "--out", str(tmp_path / "p.npz")])
    out = capsys.readouterr().out
    assert status == 0 and "status  complete" in out and "flat direction" in out
    assert mc.load_contour(tmp_path / "p.npz").settings["n_chains"] == 4


@pytest.mark.parametrize("argv, message", [
    (["--set", "n_chain=4"], "--set 'n_chain=4': expected SETTING=VALUE"),
    (["--set", "n_chains=four"], "'four' is not a valid int"),
    (["--bound", "c0=-50"], "--bound 'c0=-50': expected NAME=LOW:HIGH"),
    (["--param", "nope"], "unknown parameter 'nope'"),
])
def test_command_line_errors(capsys, argv, message):
    assert main(["contour", "three_shapes", *argv]) == 2
    assert message in capsys.readouterr().err
