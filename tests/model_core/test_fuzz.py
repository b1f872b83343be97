"""Fuzzing: mutated specs and workspaces end in a model or a documented error, nothing else.

Every example spec in ``assets/examples/`` and every JSON workspace in
``tests/data/`` (plus one whose unbinned channel reads ``.npy`` / ``.npz`` files
from a folder holding hostile files: a header declaring 10^12 values, a zip
bomb, a text file named ``.npy``, a named pipe, a folder, a loop of symbolic
links) is mutated one to three times: fields dropped, duplicated (a repeated
key in the JSON text, a repeated list entry), renamed or retyped; numbers
replaced by NaN, inf, negatives, 1e300, 1e-300, subnormals or huge integers;
values nested thousands of levels deep; expressions replaced by junk.  Each
mutant goes through ``load_spec`` / ``load_workspace``, ``build_model`` and
``fit`` (as a dict, as JSON text, or as a file on the command line).  The only
allowed outcomes are a model (a fit may report ``success=False``) or a
:class:`model_core.ModelCoreError` whose message names a field and a fix and
stays under :data:`MESSAGE_LIMIT` characters; the suite's ``filterwarnings =
error`` also turns any numpy warning into a failure.

CI runs a fixed, derandomised set of examples (``FUZZ_EXAMPLES``, default
given by :data:`CI_EXAMPLES` per test).  For a longer hunt with fresh random
examples::

    FUZZ_EXAMPLES=20000 FUZZ_RANDOM=1 .venv/bin/python -m pytest tests/model_core/test_fuzz.py

(``FUZZ_EXAMPLES`` examples per test; ``FUZZ_RANDOM=1`` draws new examples on
every run instead of the fixed ones; for a failure, hypothesis prints the
``@reproduce_failure`` decorator that replays it).
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import model_core as mc
from model_core.cli import main
from model_core.examples import EXAMPLES_DIR
from model_core.workspace.spec import is_workspace

ROOT = Path(__file__).resolve().parents[1]
#: Longest accepted error message: a field path, a problem, a value and a fix.
MESSAGE_LIMIT = 1500
#: Examples per test in CI (the four tests together run a few thousand).
CI_EXAMPLES = {"dict": 1000, "text": 1000, "expression": 500, "cli": 250}

_EXAMPLES = os.environ.get("FUZZ_EXAMPLES")
_RANDOM = os.environ.get("FUZZ_RANDOM") == "1"


def _settings(name: str) -> settings:
    return settings(max_examples=int(_EXAMPLES) if _EXAMPLES else CI_EXAMPLES[name],
                    derandomize=not _RANDOM, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck), print_blob=True)


def _documents() -> dict[str, Any]:
    docs = {f"example:{p.stem}": json.loads(p.read_text())
            for p in sorted(EXAMPLES_DIR.glob("*.json"))}
    for path in sorted((ROOT / "data").glob("*.json")):
        try:
            docs[f"data:{path.stem}"] = json.loads(path.read_text())
        except json.JSONDecodeError:  # bad_truncated.json: not JSON at all
            continue
    good = json.loads((ROOT / "data" / "good_workspace.json").read_text())
    good["channels"].append({"name": "UB", "type": "unbinned",
                             "weights": {"file": "events.npz", "key": "w"}, "samples": [
        {"name": "signal", "yield": 5.0, "ratios": {"file": "signal.npy"},
         "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        {"name": "bkg", "yield": 40.0, "ratios": {"file": "events.npz", "key": "bkg"},
         "modifiers": [{"name": "shift", "type": "histosys",
                        "data": {"hi_data": {"file": "events.npz", "key": "up"},
                                 "lo_data": [1.0] * 30}}]}]})
    docs["event files"] = good
    return docs


DOCUMENTS = _documents()
# file names the mutations put where a per-event file is named (see the fixture below)
EVENT_FILES = ["signal.npy", "events.npz", "huge_header.npy", "bomb.npz", "text.npy",
               "pipe.npy", "folder.npy", "loop.npy", "missing.npy", "../outside.npy",
               "/etc/passwd", "x" * 5000 + ".npy", "a\x00b.npy", "", "signal.NPY"]


@pytest.fixture(scope="module")
def event_folder(tmp_path_factory) -> Path:
    """The event files of the ``event files`` document, good and hostile."""
    folder = tmp_path_factory.mktemp("events")
    ratios = np.linspace(0.5, 2.0, 30)
    np.save(folder / "signal.npy", ratios)
    np.savez_compressed(folder / "events.npz", w=np.ones(30), bkg=ratios[::-1], up=ratios)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (10**12,)})
    (folder / "huge_header.npy").write_bytes(header.getvalue() + bytes(64))
    # 32 MiB of zeros in a 32 kB archive: more than a million values could need
    with zipfile.ZipFile(folder / "bomb.npz", "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("bomb.npy", "w") as member:
            np.lib.format.write_array_header_1_0(member, {"descr": "<f8", "fortran_order": False,
                                                          "shape": (2**22,)})
            member.write(bytes(2**25))
    (folder / "text.npy").write_text("not a numpy file\n")
    os.mkfifo(folder / "pipe.npy")
    (folder / "folder.npy").mkdir()
    os.symlink(folder / "loop.npy", folder / "loop2.npy")
    os.symlink(folder / "loop2.npy", folder / "loop.npy")
    return folder


# ---------------------------------------------------------------------------------------------
# mutations


class Raw(str):
    """JSON text inserted as it is (a number Python could not even print)."""


class Dup(dict):
    """A dict whose JSON text repeats ``key`` (with ``value``) after its own entries."""

    def __init__(self, items: dict, key: str, value: Any) -> None:
        super().__init__(items)
        self.key, self.value = key, value


class Deep:
    """``value`` inside ``depth`` levels of lists, written out in the JSON text."""

    def __init__(self, value: Any, depth: int) -> None:
        self.value, self.depth = value, depth


NUMBERS = [math.nan, math.inf, -math.inf, -1.0, -1e-300, -0.0, 0, 1e300, -1e300, 1e-300,
           5e-324, 1e308, 1.7e308, 10**400, -(10**30), 2**63, 1e12, 1.0000001e12, 1e-200]
JUNK = [None, True, False, "", "text", "\x00", "é" * 3, "x" * 10_000, [], {}, [[]], [None],
        {"": None}, {"kind": "histfactory"}, -1, 1.5, "1.0", [1.0, "2"], {"file": "signal.npy"}]
KEYS = ["", "x" * 100_000, "\x00", "version", "kind", "data", "channels", "é", "1"]
EXPRESSIONS = [
    "k**9**9**9*A", "9" * 400 + "*A", "exp(exp(exp(k)))*A", "A/0", "0/0*A", "log(k)*A",
    "(" * 300 + "A" + ")" * 300, "-" * 900 + "A", "A" + "+A" * 400, "\x00", "A\x00", "A\x1b",
    "__import__('os').system('true')", "(lambda: A)()", "A if k else B", "k // A", "await A",
    "k @ A", "A[0]", "A.T", "f'{A}'", "1e400*A", "k**1e300*A", "sqrt(-k)*A", "k" * 1001,
    "exp(1000)*A", "A\u200b", "A\u2028", "\t A", "1j*A", "True*A", "None", "", "   ",
    "c0*A + c1**2*B + c2*C", "k*A", "abs(k)**0.5*A", "tanh(k)*A + 1e-300*k", "A*1e308*1e308",
]
STRINGS = st.one_of(st.sampled_from(EXPRESSIONS), st.text(max_size=40),
                    st.text(alphabet="Akc0123+-*/()e.exp", max_size=60))


def _locations(node: Any) -> list[tuple]:
    """Paths of the values below ``node``, in a fixed order, down to :data:`_DEEPEST` levels
    (iterative: a mutant can already be nested thousands of levels deep)."""
    out, stack = [], [(node, ())]
    while stack:
        value, path = stack.pop()
        if path:
            out.append(path)
        if len(path) >= _DEEPEST:
            continue
        if isinstance(value, dict):
            stack.extend((v, (*path, k)) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, (*path, i)) for i, v in enumerate(value))
    return out


_DEEPEST = 12


def _nested(value: Any, depth: int) -> Any:
    for _ in range(depth):
        value = [value]
    return value


_OPERATIONS = ["number"] * 4 + ["string"] * 2 + ["drop", "retype", "nest", "rename", "duplicate"]


def mutate(doc: Any, draw: Any, *, textual: bool) -> Any:
    """One mutation of ``doc`` (in place where possible); returns the new document."""
    op = draw(st.sampled_from(_OPERATIONS), label="operation")
    paths = _locations(doc)
    kinds = {"number": (int, float), "string": str}
    if op in kinds:
        typed = [p for p in paths if isinstance(_at(doc, p), kinds[op])
                 and not isinstance(_at(doc, p), bool)]
        paths = typed or paths
    if not paths:
        return doc
    path = draw(st.sampled_from(paths), label="path")
    parent = _at(doc, path[:-1])
    key, value = path[-1], parent[path[-1]]
    if op == "drop":
        del parent[key]
    elif op == "retype":
        parent[key] = copy.deepcopy(draw(st.sampled_from(JUNK)))
    elif op == "number":
        choices = NUMBERS + ([Raw("1" * 5000), Raw("-" + "9" * 400)] if textual else [])
        parent[key] = draw(st.sampled_from(choices))
    elif op == "nest":
        depth = draw(st.sampled_from([1, 2, 65, 1000, 100_000] if textual else [1, 2, 65, 3000]))
        parent[key] = Deep(value, depth) if textual else _nested(value, depth)
    elif op == "string":
        if key == "file":
            parent[key] = draw(st.sampled_from(EVENT_FILES))
        else:
            parent[key] = draw(STRINGS)
    elif op == "rename" and isinstance(parent, dict):
        parent[draw(st.sampled_from(KEYS))] = parent.pop(key)
    elif op == "duplicate":
        if isinstance(parent, list):
            parent.insert(key, value)  # the same object twice: copying could recurse too deep
        elif textual:
            replacement = Dup(parent, key, draw(st.sampled_from([value, *JUNK[:4]])))
            if len(path) == 1:
                return replacement
            _at(doc, path[:-2])[path[-2]] = replacement
    return doc


def _at(doc: Any, path: tuple) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def to_text(node: Any) -> str:
    """JSON text of a mutated document (repeated keys, deep nesting and raw numbers kept)."""
    if isinstance(node, Raw):
        return str(node)
    if isinstance(node, Deep):
        return "[" * node.depth + to_text(node.value) + "]" * node.depth
    if isinstance(node, dict):
        items = [f"{json.dumps(str(k))}: {to_text(v)}" for k, v in node.items()]
        if isinstance(node, Dup):
            items.append(f"{json.dumps(node.key)}: {to_text(node.value)}")
        return "{" + ", ".join(items) + "}"
    if isinstance(node, list):
        return "[" + ", ".join(to_text(v) for v in node) + "]"
    return json.dumps(node)


# mostly the valid documents: the bad test workspaces fail early whatever is mutated
_BASES = st.one_of(st.sampled_from(sorted(n for n in DOCUMENTS if "data:bad_" not in n)),
                   st.sampled_from(sorted(n for n in DOCUMENTS if "data:bad_" in n)))


@st.composite
def mutants(draw: Any, *, textual: bool) -> tuple[str, Any]:
    name = draw(_BASES, label="document")
    doc = copy.deepcopy(DOCUMENTS[name])
    for _ in range(draw(st.integers(1, 3), label="mutations")):
        doc = mutate(doc, draw, textual=textual)
    return name, doc


# ---------------------------------------------------------------------------------------------
# outcomes


def _allowed(error: mc.ModelCoreError) -> None:
    message = str(error)
    assert len(message) <= MESSAGE_LIMIT, message[:300]
    if isinstance(error, mc.SpecError):
        assert error.field and message.startswith(error.field[:40]), message[:300]
        assert "Fix: " in message, message[:300]


def _load(doc: Any, folder: Path) -> Any:
    if isinstance(doc, dict) and is_workspace(doc):
        return mc.load_workspace(doc, base_dir=folder)
    return mc.load_spec(doc)


def _build_and_fit(source: Any, folder: Path, *, fit: bool) -> None:
    try:
        spec = _load(source, folder) if not isinstance(source, str) else mc.load_spec(source)
        model = mc.build_model(spec)
    except mc.ModelCoreError as error:
        _allowed(error)
        return
    if fit:
        result = mc.fit(model, max_iter=40)
        assert isinstance(result.success, bool) and len(result.message) <= MESSAGE_LIMIT
        if result.success:
            assert np.isfinite(result.fun)


@_settings("dict")
@given(mutant=mutants(textual=False))
def test_mutated_documents(mutant, event_folder):
    """Dicts through load_spec / load_workspace, build_model and fit."""
    _, doc = mutant
    _build_and_fit(doc, event_folder, fit=True)


@_settings("text")
@given(mutant=mutants(textual=True))
def test_mutated_json_text(mutant, event_folder):
    """JSON text (with repeated keys, deep nesting, unprintable integers) through load_spec."""
    _, doc = mutant
    _build_and_fit(to_text(doc), event_folder, fit=False)


@_settings("expression")
@given(expression=STRINGS, which=st.sampled_from(["example:three_shapes",
                                                   "example:two_bin_uncorrelated"]))
def test_junk_expressions(expression, which, event_folder):
    doc = copy.deepcopy(DOCUMENTS[which])
    doc["signal"]["templates"].setdefault("B", [1.0, 2.0])
    doc["signal"]["expression"] = expression
    doc.pop("parameters", None)
    _build_and_fit(doc, event_folder, fit=True)


@_settings("cli")
@given(mutant=mutants(textual=True),
       command=st.sampled_from([["validate"], ["fit", "--json"], ["fit", "--starts", "3"]]))
def test_command_line(mutant, command, event_folder):
    """Mutants written next to the event files, through ``python -m model_core``."""
    _, doc = mutant
    path = event_folder / "mutant.json"
    path.write_text(to_text(doc))
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main([command[0], str(path), *command[1:]])
    text = err.getvalue()
    assert code in (0, 1, 2), text
    if code == 2:
        assert text.startswith("error: ") and "unexpected" not in text, text[:300]
        assert len(text) <= MESSAGE_LIMIT + 10, text[:300]
