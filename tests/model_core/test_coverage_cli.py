"""``python -m model_core coverage``: the study from the command line."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import model_core as mc
from model_core.cli import main
from model_core.examples import load_example


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_summary_equals_the_api_and_out_writes_every_q(capsys, tmp_path):
    out_file = tmp_path / "study.json"
    code, out, err = run(capsys, "coverage", "three_shapes", "--fix", "mu=1", "--at", "c0=-2",
                         "--param", "c0", "--toys", "120", "--cl", "0.68", "0.9", "--seed", "4",
                         "--json", "--out", str(out_file))
    assert code == 0 and err == ""  # no progress bar when stderr is not a terminal
    summary = json.loads(out)
    study = mc.coverage_study(mc.build_model(load_example("three_shapes")), at={"c0": -2.0},
                              parameters=["c0"], fixed={"mu": 1.0},
                              confidence_levels=(0.68, 0.9), n_toys=120, rng=4)
    assert summary["coverage"] == {"0.68": study.coverage[0.68], "0.9": study.coverage[0.9]}
    assert summary["at"]["c0"] == -2.0 and summary["parameters"] == ["c0"]
    assert "q" not in summary
    full = json.loads(out_file.read_text())
    np.testing.assert_array_equal(np.array(full["q"], dtype=float), study.q)


def test_table(capsys):
    code, out, _ = run(capsys, "coverage", "two_bin_uncorrelated", "--param", "mu", "--toys",
                       "80", "--seed", "1")
    assert code == 0
    assert "80 of 80 toys fitted (0 failed)" in out and "k = 1" in out
    assert "3.841" in out  # Wilks' 95% threshold for one axis


@pytest.mark.parametrize(("argv", "message"), [
    (["--at", "mu=abc"], "--at 'mu=abc': expected NAME=VALUE"),
    (["--toys", "0"], "n_toys must be a positive integer"),
    (["--param", "nope"], "unknown parameter 'nope'"),
])
def test_bad_input_exits_with_status_2(capsys, argv, message):
    code, _, err = run(capsys, "coverage", "two_bin_uncorrelated", *argv)
    assert code == 2 and message in err


def test_unbinned_models_need_the_resampling_flag(capsys):
    code, _, err = run(capsys, "coverage", "unbinned_demo", "--toys", "5")
    assert code == 2 and "unbinned channel 'SR'" in err
    code, out, _ = run(capsys, "coverage", "unbinned_demo", "--toys", "20", "--seed", "2",
                       "--param", "mu", "--resample-unbinned", "--json")
    assert code == 0 and json.loads(out)["n_done"] == 20


def test_the_module_runs_as_a_program():
    done = subprocess.run([sys.executable, "-m", "model_core", "coverage",
                           "two_bin_uncorrelated", "--toys", "30", "--seed", "3", "--json"],
                          capture_output=True, text=True, check=True)
    assert json.loads(done.stdout)["n_done"] == 30
