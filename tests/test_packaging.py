"""The package as a user installs it: the wheel's contents, and the installed app and
command line working from outside the repository.

The wheel is built from a clean copy of the sources and installed without ``-e`` into a
new virtual environment that does not see the repository.  Its dependencies come from
this test's own environment (a ``.pth`` file naming its site-packages, written after the
install), so nothing heavy is installed twice.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import tomllib
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import psutil
import pytest

import model_core as mc
from model_core.examples import EXAMPLES_DIR, example_names, load_example

ROOT = Path(__file__).resolve().parent.parent
#: Hang guards (never assertions about speed).
BUILD_TIMEOUT_S = 300
COMMAND_TIMEOUT_S = 120
SERVER_TIMEOUT_S = 120
#: What of the checkout the build sees (what a source distribution would hold).
NOT_SOURCES = shutil.ignore_patterns(".git", ".venv*", "build", "dist", "*.egg-info",
                                     "__pycache__", ".pytest_cache", ".hypothesis",
                                     "test-results")


def _run(*argv: str | Path, cwd: Path, env: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=COMMAND_TIMEOUT_S, check=False)


def _build_wheel(tmp: Path) -> Path:
    sources = tmp / "src" / "likelihood-explorer"
    shutil.copytree(ROOT, sources, ignore=NOT_SOURCES)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                           "--no-build-isolation", "-q", "-w", str(tmp / "dist"), str(sources)],
                          capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False)
    assert done.returncode == 0, done.stderr
    (path,) = (tmp / "dist").glob("likelihood_explorer-*.whl")
    return path


def _check_wheel_contents(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    version = mc.__version__
    assert tops == {"likelihood_explorer", "model_core",
                    f"likelihood_explorer-{version}.dist-info"}
    packages = {str(p.parent.relative_to(ROOT)) for p in ROOT.glob("model_core/**/__init__.py")}
    packages |= {"likelihood_explorer/" + str(p.parent.relative_to(ROOT))
                 for p in ROOT.glob("components/**/__init__.py")}
    assert {f"{p}/__init__.py" for p in packages} <= set(names)
    assert {"likelihood_explorer/app.py", "likelihood_explorer/__main__.py",
            "likelihood_explorer/assets/style.css", "likelihood_explorer/assets/logo.svg",
            "likelihood_explorer/assets/js/plotly_resize.js"} <= set(names)
    shipped = {n.rsplit("/", 1)[1] for n in names if n.startswith("model_core/example_specs/")}
    assert shipped == {p.name for p in EXAMPLES_DIR.glob("*.json")} != set()
    assert not [n for n in names if "screenshots" in n or n.startswith("tests/")]
    metadata = zipfile.ZipFile(wheel).read(
        f"likelihood_explorer-{version}.dist-info/METADATA").decode()
    assert "License-Expression: BSD-3-Clause" in metadata
    assert f"likelihood_explorer-{version}.dist-info/licenses/LICENSE" in names
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    required = re.findall(r"^Requires-Dist: ([A-Za-z0-9_.-]+)[^;\n]*$", metadata, re.MULTILINE)
    assert sorted(required) == sorted(re.match(r"[A-Za-z0-9_.-]+", d)[0] for d in declared)


def _install(wheel: Path, tmp: Path) -> tuple[Path, Path, dict[str, str]]:
    """A new environment holding the wheel: (its bin folder, its site-packages, environ)."""
    venv = tmp / "env"
    done = _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp)
    assert done.returncode == 0, done.stderr
    python = venv / "bin" / "python"
    # non-editable, and before the .pth below: pip must not see the editable install
    done = _run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q",
                wheel, cwd=tmp)
    assert done.returncode == 0, done.stderr
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                     cwd=tmp).stdout.strip())
    (site / "_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONNOUSERSITE"] = "1"
    return venv / "bin", site, env


def _check_imports(bin_dir: Path, site: Path, work: Path, env: dict[str, str]) -> None:
    code = ("import importlib.util as u, model_core, likelihood_explorer.app as app, "
            "likelihood_explorer.components as c; "
            "print(model_core.__file__, app.__file__, c.__file__, "
            "u.find_spec('components'), u.find_spec('app')); "
            "s = app.SessionState(); print(s.spec.name); print(s.best.fun)")
    done = _run(bin_dir / "python", "-c", code, cwd=work, env=env)
    assert done.returncode == 0, done.stderr
    paths, name, nll = done.stdout.splitlines()
    core, app_file, components, *missing = paths.split()
    for path in (core, app_file, components):
        assert Path(path).is_relative_to(site), path
    assert missing == ["None", "None"]  # no top-level components or app
    # the default example resolves inside the installed package
    assert name == load_example().name and np.isfinite(float(nll))


def _check_commands(bin_dir: Path, work: Path, env: dict[str, str]) -> None:
    python = bin_dir / "python"
    for argv, prog in (([bin_dir / "likelihood-explorer"], "likelihood-explorer"),
                       ([python, "-m", "model_core"], "python -m model_core")):
        done = _run(*argv, "--version", cwd=work, env=env)
        assert (done.returncode, done.stdout.strip()) == (0, f"{prog} {mc.__version__}")

    done = _run(python, "-m", "model_core", "fit", "three_shapes", "--json", cwd=work, env=env)
    assert done.returncode == 0, done.stderr
    reference = mc.fit(mc.build_model(load_example("three_shapes")))
    assert json.loads(done.stdout)["fun"] == pytest.approx(reference.fun, rel=1e-9)

    done = _run(python, "-m", "model_core", "validate", "--help", cwd=work, env=env)
    listed = " ".join(done.stdout.split())
    assert done.returncode == 0 and all(name in listed for name in example_names())
    done = _run(bin_dir / "likelihood-explorer", "validate", "pyhf_one_bin", "--json",
                cwd=work, env=env)
    assert done.returncode == 0, done.stderr
    names = mc.build_model(load_example("pyhf_one_bin")).parameter_names
    assert json.loads(done.stdout) == {"valid": True, "parameters": list(names)}


def _check_server(bin_dir: Path, work: Path, env: dict[str, str]) -> None:
    from tests.ui.browser import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log = work / "server.log"
    with log.open("w") as out:
        # the console script takes Panel's serving options: two processes, the admin page
        server = subprocess.Popen([bin_dir / "likelihood-explorer", "--port", str(port),
                                   "--num-procs", "2", "--admin"], cwd=work, env=env,
                                  stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + SERVER_TIMEOUT_S
        while True:
            try:
                with urllib.request.urlopen(url, timeout=SERVER_TIMEOUT_S) as response:
                    status, page = response.status, response.read().decode()
                break
            except OSError:
                assert server.poll() is None, log.read_text()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        with urllib.request.urlopen(url + "assets/logo.svg", timeout=30) as response:
            logo = response.read()
        with urllib.request.urlopen(url + "admin", timeout=SERVER_TIMEOUT_S) as response:
            admin = response.status
        # forked before either serves
        workers = len(psutil.Process(server.pid).children())
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the workers with their parent
        server.wait(timeout=30)
    assert status == admin == 200 and "<title>Likelihood Explorer</title>" in page
    assert logo == (ROOT / "assets" / "logo.svg").read_bytes()
    output = log.read_text()
    assert f"Launching server at {url.rstrip('/')}" in output and workers == 2
    assert "Traceback" not in output and "ERROR" not in output


@pytest.mark.slow
def test_wheel_installed_elsewhere_runs_the_app_and_the_command_line(tmp_path):
    """One test (one build and one install, whichever worker runs it): the wheel's
    contents; imports, commands and the served page from outside the repository."""
    wheel = _build_wheel(tmp_path)
    _check_wheel_contents(wheel)
    bin_dir, site, env = _install(wheel, tmp_path)
    work = tmp_path / "elsewhere"
    work.mkdir()
    _check_imports(bin_dir, site, work, env)
    _check_commands(bin_dir, work, env)
    _check_server(bin_dir, work, env)


def test_the_page_shows_the_version():
    import panel as pn

    import app

    page = app.App().template()
    about = [o.object for o in page.sidebar if isinstance(o, pn.pane.HTML)]
    assert any(f"Likelihood Explorer {mc.__version__}" in text for text in about)


def test_conda_environment_declares_the_same_floors():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    lines = (ROOT / "environment.yml").read_text().splitlines()
    conda = [line.strip()[2:] for line in lines
             if line.strip().startswith("- ") and ">=" in line and "python" not in line]
    assert sorted(conda) == sorted(declared)
