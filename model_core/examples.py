"""The example models shipped in ``assets/examples/`` (the seed documents' models).

Besides the counting models, the HistFactory presets ``pyhf_one_bin`` (the
seed's one-bin model), ``pyhf_two_bin_shapesys``, ``multi_channel`` and
``unbinned_demo`` are ``kind: histfactory`` wrappers and load as
:class:`~model_core.workspace.WorkspaceSpec`.
"""

from __future__ import annotations

from pathlib import Path

from .spec import ModelSpec, load_spec
from .workspace import WorkspaceSpec

__all__ = ["DEFAULT_EXAMPLE", "EXAMPLES_DIR", "example_names", "load_example"]

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "assets" / "examples"
#: The model the app opens with.
DEFAULT_EXAMPLE = "three_shapes"


def example_names() -> list[str]:
    """Names of the shipped examples (file stems), sorted."""
    return sorted(p.stem for p in EXAMPLES_DIR.glob("*.json"))


def load_example(name: str = DEFAULT_EXAMPLE) -> ModelSpec | WorkspaceSpec:
    """Load a shipped example by name; raises ``KeyError`` listing the known names."""
    path = EXAMPLES_DIR / f"{name}.json"
    if not path.is_file():
        raise KeyError(f"no example named {name!r}; available: {', '.join(example_names())}")
    return load_spec(path)
