"""The command line: readable tables, JSON, and clear errors with exit status 2."""

from __future__ import annotations

import json

import pytest

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
