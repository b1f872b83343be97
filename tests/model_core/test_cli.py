"""The command line: readable tables, JSON, and clear errors with exit status 2."""

from __future__ import annotations

import json

import pytest

from model_core import cli
from model_core.cli import main
from model_core.examples import EXAMPLES_DIR


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_fit_table_and_json(capsys):
    code, out, _ = run(capsys, "fit", "two_bin_uncorrelated")
    assert code == 0
    assert "mu" in out and "-1.0844" in out and "NLL = 7.226086" in out
    code, out, _ = run(capsys, "fit", str(EXAMPLES_DIR / "two_bin_uncorrelated.json"), "--json",
                       "--fix", "mu=0")
    data = json.loads(out)
    assert code == 0 and data["x"][0] == 0.0 and data["fixed"] == [True, False, False]


def test_profile_prints_interval(capsys):
    code, out, _ = run(capsys, "profile", "two_bin_uncorrelated", "mu", "--grid=-4:2:61",
                       "--cl", "0.68")
    assert code == 0
    assert "0.68 CL interval (profile): [-1.87" in out
    code, out, _ = run(capsys, "profile", "two_bin_uncorrelated", "mu", "--json", "--mode", "scan")
    data = json.loads(out)
    assert data["mode"] == "scan" and len(data["grid"]) == 41 and len(data["interval"]) == 2


def test_validate(capsys):
    code, out, _ = run(capsys, "validate", "three_shapes")
    assert code == 0 and "mu, c0, c1, c2" in out


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (("fit", "no_such_model"), "no such file"),
        (("fit", "three_shapes", "--fix", "mu"), "expected NAME=VALUE"),
        (("fit", "three_shapes", "--fix", "nu=1"), "unknown parameter 'nu'"),
        (("profile", "three_shapes", "c0", "--grid", "1:2"), "LOW:HIGH:N"),
    ],
)
def test_errors_exit_2_with_message(capsys, argv, fragment):
    code, _, err = run(capsys, *argv)
    assert code == 2 and fragment in err


def test_bad_spec_file(capsys, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"kind": "multivariate_normal", "data": [1, -2]}')
    code, _, err = run(capsys, "fit", str(path))
    assert code == 2 and "data[1]: must not be negative" in err


@pytest.mark.parametrize("grid, finite", [("-4:2:61", True), ("-1.2:0:5", False)])
def test_profile_footer_explains_nan_only_when_there_is_one(capsys, grid, finite):
    code, out, _ = run(capsys, "profile", "two_bin_uncorrelated", "mu", f"--grid={grid}")
    footer = out.strip().splitlines()[-1]
    assert code == 0 and footer.startswith("0.95 CL interval (profile): [")
    assert ("nan" not in footer) is finite
    assert ("not crossed inside the grid" in footer) is not finite


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (("fit", "three_shapes", "--starts", "-3"), "argument --starts: must be at least 1"),
        (("fit", "three_shapes", "--starts", "many"), "'many' is not an integer"),
        (("fit", "three_shapes", "--seed", "-1"), "argument --seed: must be at least 0"),
        (("profile", "three_shapes", "c0", "--cl", "2"), "strictly between 0 and 1"),
        (("contour", "three_shapes", "--cl", "nan"), "strictly between 0 and 1"),
        (("profile", "three_shapes", "c0", "--grid", "0:1:-5"),
         "the number of points N must lie between 2 and 1000, got -5"),
        (("profile", "three_shapes", "c0", "--grid", "1:0:5"), "LOW < HIGH"),
        (("profile", "three_shapes", "c0", "--grid", "nan:1:5"), "finite numbers"),
        (("fit", "three_shapes", "--fix", "x" * 5000), "expected NAME=VALUE"),
        (("validate",), "the following arguments are required: spec"),
    ],
)
def test_bad_options_exit_2_with_the_problem(capsys, argv, fragment):
    code, _, err = run(capsys, *argv)
    assert code == 2 and fragment in err and "Traceback" not in err
    assert len(err) < 2000  # echoed values are capped


def test_unusable_spec_paths(capsys, tmp_path):
    code, _, err = run(capsys, "validate", str(tmp_path))
    assert code == 2 and "not a regular file (a folder)" in err
    code, _, err = run(capsys, "validate", str(tmp_path / ("x" * 5000)))
    assert code == 2 and "the file name is too long" in err and len(err) < 600


@pytest.fixture
def no_contour_run(monkeypatch):
    """Fail the test if the contour finder starts."""
    def refuse(*args, **kwargs):
        raise AssertionError("the contour run started before --out was checked")
    monkeypatch.setattr("model_core.contour.command.find_contour", refuse)
    monkeypatch.setattr("model_core.contour.command.build_model", refuse)


@pytest.mark.parametrize(
    ("out", "fragment"),
    [
        ("missing/points.csv", "the folder '{tmp}/missing' does not exist"),
        ("points.txt", "cannot tell the format from the suffix '.txt'"),
        ("points", "the suffix '(none)'"),
        ("file.csv/points.csv", "the folder '{tmp}/file.csv' is not a folder"),
        ("folder.csv", "exists and is not a writable regular file"),
        ("x" * 5000 + ".csv", "File name too long"),
    ],
)
def test_contour_output_is_checked_before_the_run(capsys, tmp_path, no_contour_run, out,
                                                  fragment):
    (tmp_path / "file.csv").write_text("")
    (tmp_path / "folder.csv").mkdir()
    code, _, err = run(capsys, "contour", "three_shapes", "--out", str(tmp_path / out))
    assert code == 2 and fragment.format(tmp=tmp_path) in err and "Traceback" not in err


def test_contour_output_folder_must_be_writable(capsys, tmp_path, no_contour_run, monkeypatch):
    # the superuser may write anywhere, so the permission check itself is stood in for
    monkeypatch.setattr("model_core.contour.command.os.access", lambda path, mode: False)
    code, _, err = run(capsys, "contour", "three_shapes", "--out", str(tmp_path / "p.csv"))
    assert code == 2 and "is not writable" in err


def test_an_unexpected_failure_is_a_message_not_a_traceback(capsys, monkeypatch):
    def broken(args):
        raise TypeError("something nobody foresaw")
    monkeypatch.setitem(cli._COMMANDS, "fit", broken)
    code, _, err = run(capsys, "fit", "three_shapes")
    assert code == 2 and err.startswith("error: unexpected TypeError: something nobody foresaw")
    assert "report it" in err and "Traceback" not in err
