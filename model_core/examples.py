"""The example models shipped with the package (the seed documents' models).

In a checkout they live in ``assets/examples/``; an installed package carries
them inside :mod:`model_core` (the wheel maps ``assets/examples`` to
``model_core/example_specs``, see ``pyproject.toml``).

Besides the counting models, the HistFactory presets ``pyhf_one_bin`` (the
seed's one-bin model), ``pyhf_two_bin_shapesys``, ``multi_channel`` and
``unbinned_demo`` are ``kind: histfactory`` wrappers and load as
:class:`~model_core.workspace.WorkspaceSpec`.

>>> "three_shapes" in example_names()
True
>>> load_example("three_shapes").kind
'multivariate_normal'
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from .spec import ModelSpec, load_spec
from .workspace import WorkspaceSpec

__all__ = ["DEFAULT_EXAMPLE", "EXAMPLES_DIR", "example_names", "load_example"]


def _examples_dir() -> Path:
    """``model_core/example_specs`` in an installed package, else the checkout's
    ``assets/examples``."""
    installed = Path(str(files(__package__) / "example_specs"))
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parent.parent / "assets" / "examples"


#: The folder holding the example specs (``NAME.json``).
EXAMPLES_DIR = _examples_dir()
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
