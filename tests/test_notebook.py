"""The example notebook (docs/notebook.ipynb) runs top to bottom in a real Jupyter kernel,
from a folder outside the repository, and shows what it says."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import model_core as mc
from model_core.examples import EXAMPLES_DIR, load_example

NOTEBOOK = Path(__file__).resolve().parent.parent / "docs" / "notebook.ipynb"
#: Hang guard for one cell (the app's cell fits a model and builds every view).
CELL_TIMEOUT_S = 600
PANEL_MIME = "application/vnd.holoviews_exec.v0+json"


def _tagged(notebook, tag: str):
    (cell,) = [c for c in notebook.cells if tag in c.metadata.get("tags", [])]
    return cell


def _text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


@pytest.mark.slow
def test_example_notebook_runs_and_shows_the_views(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # jupyter_core's path-migration warning
    monkeypatch.delenv("PYTHONPATH", raising=False)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()

    model = mc.build_model(load_example("two_bin_uncorrelated"))
    low, high = mc.profile(model, "mu", np.linspace(-4, 2, 61)).interval(0.95)
    assert np.isfinite([low, high]).all()
    assert _text(_tagged(notebook, "interval")).strip() == (
        f"95% CL interval of mu (profile): [{low:.4f}, {high:.4f}]")
    assert _text(_tagged(notebook, "map")).startswith(
        f"{load_example('three_shapes').name} | parameters: mu, c0, c1, c2")
    for tag in ("map", "profiles", "app"):
        shown = [o for o in _tagged(notebook, tag).outputs if o.output_type == "execute_result"]
        assert shown and PANEL_MIME in shown[0].data, tag
    assert os.listdir(tmp_path) == []  # nothing written beside the notebook


@pytest.mark.slow
def test_views_take_a_model_a_spec_dict_or_a_path():
    import app
    from components.likelihood_map import LikelihoodMap
    from components.profile_panel import ProfilePanel
    from components.state import SessionState

    path = str(EXAMPLES_DIR / "two_bin_uncorrelated.json")
    spec = load_example("two_bin_uncorrelated")
    reference = SessionState(Path(path))
    for source in (path, spec.to_dict(), mc.build_model(spec)):
        state = LikelihoodMap(state=source).state
        assert isinstance(state, SessionState) and state.spec == reference.spec
        assert state.best.fun == reference.best.fun
    shared = SessionState(path)
    # a SessionState is used as it is (the panel draws its analysis)
    assert ProfilePanel(state=shared).analysis.state is shared
    with pytest.raises(mc.SpecError, match="not built from a spec"):
        SessionState(mc.Model(lambda x: (x**2).sum(-1), ["a"], [0.0], [[-1.0, 1.0]]))
    whole = app.App(state=path)
    assert whole.state.spec == reference.spec
    editor, views = whole.__panel__().objects  # the editor beside the views
    assert editor.objects == [whole.editor.__panel__()] and views is whole.views
