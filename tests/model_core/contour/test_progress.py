"""The contour command's progress line: tqdm on a terminal, silent in a pipe unless asked,
and a total only where the run can reach it."""

from __future__ import annotations

import io
import re

import model_core as mc
from model_core.cli import main
from model_core.contour.progress import ContourProgress, describe_batch
from model_core.examples import load_example

SMALL = ["--set", "n_radial=40", "--set", "n_chains=6", "--set", "n_steps=400",
         "--set", "n_gap_candidates=40", "--set", "spacing=0.05"]


def _run(capsys, *flags: str) -> str:
    assert main(["contour", "three_shapes", "--fix", "mu=1", "--bound", "c0=-50:1",
                 "--seed", "1", *SMALL, *flags]) == 0
    return capsys.readouterr().err


def test_silent_when_stderr_is_not_a_terminal(capsys):
    assert _run(capsys) == ""
    assert _run(capsys, "--quiet") == ""


def test_progress_on_request_ends_with_the_runs_counts(capsys):
    err = _run(capsys, "--progress")
    final = [s.strip() for s in err.split("\r") if s.strip()][-1]
    result = mc.find_contour(mc.build_model(load_example("three_shapes")), fixed={"mu": 1.0},
                             bounds={"c0": (-50, 1)}, rng=1, n_radial=40, n_chains=6,
                             n_steps=400, n_gap_candidates=40, spacing=0.05)
    assert final.startswith(f"{result.stage}: {len(result.contour_points)} points, ")
    assert f"{result.n_evaluations:,} NLL evaluations" in final


def test_stage_counts_have_a_total_only_where_it_is_reached():
    batches = list(mc.iter_contour(mc.build_model(load_example("three_shapes")),
                                   fixed={"mu": 1.0}, bounds={"c0": (-50, 1)}, rng=1,
                                   n_radial=40, n_chains=6, n_steps=400, n_gap_candidates=40,
                                   spacing=0.05))
    words = {stage: [describe_batch(b) for b in batches if b.stage == stage]
             for stage in ("mle", "radial", "gaps", "rattle", "fill", "done")}
    assert words["mle"] == ["best fit"]
    assert re.fullmatch(r"rays (\d+)/\1", words["radial"][-1])  # islands may add rays
    assert words["gaps"][0] == "chain seeds 6/6"
    assert [re.fullmatch(r"filling holes, round (\d+)", w)[1] for w in words["fill"]] == [
        str(i + 1) for i in range(len(words["fill"]))]
    assert words["done"] == ["finished"]
    # the chains stop before n_steps (saturation): the ceiling is worded as one
    steps = [int(re.fullmatch(r"chain step (\d+) \(at most 400\)", w)[1])
             for w in words["rattle"]]
    assert steps == sorted(steps) and steps[-1] < 400


def test_progress_and_quiet_exclude_each_other(capsys):
    assert main(["contour", "three_shapes", "--progress", "--quiet"]) == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_progress_follows_the_terminal():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    for file, drawn in ((Terminal(), True), (io.StringIO(), False)):
        with ContourProgress(file=file) as progress:
            for batch in mc.iter_contour(mc.build_model(load_example("two_bin_uncorrelated")),
                                         parameters=["mu"], rng=0):
                progress(batch)
        assert ("radial: 2 points, finished" in file.getvalue()) is drawn
