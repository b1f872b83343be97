"""Batched work in chunks of rows: memory bounded by the budget, results bit for bit.

Every test runs once with a small budget (so that its batch needs several chunks)
and once with a budget no batch reaches (one call, as before chunking): the
results must be equal bit for bit, and the peak traced allocation beyond the
inputs and outputs must stay within the small budget, far below the one call's.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import model_core as mc
from model_core import chunks
from model_core.contour.radial import solve_rays
from model_core.contour.surface import ContourSurface
from model_core.inner import newton_minimize
from model_core.params import ReducedModel
from model_core.workspace import synthetic_workspace

#: The small budget of these tests (the default is far larger: see ``model_core.chunks``).
BUDGET = 4 * 2**20
#: One chunk's intermediates stay within the budget; the chunks' outputs are held until
#: they are joined (twice the output), besides the inputs.
SLACK = 1.5


@pytest.fixture(scope="module")
def workspace():
    """12 parameters, 4 channels x 5 bins: a Hessian row holds some 30 kB."""
    return mc.build_model(synthetic_workspace(n_channels=4, n_bins=5, n_normsys=6, n_histosys=4,
                                              n_staterror_channels=0, lumi=True, rng=7))


def _run(monkeypatch, budget, fn):
    """``fn()`` under ``budget``, and the peak traced allocation during it."""
    monkeypatch.setattr(chunks, "ROW_BUDGET", budget)
    tracemalloc.start()
    try:
        out = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return out, peak


def _fields(out) -> tuple:
    """The arrays of an output: an array, a tuple of them or a slotted result."""
    if isinstance(out, (np.ndarray, np.generic)):
        return (np.asarray(out),)
    if isinstance(out, tuple):
        return out
    return tuple(getattr(out, name) for name in out.__slots__
                 if isinstance(getattr(out, name), np.ndarray))


def _nbytes(out) -> int:
    return sum(a.nbytes for a in _fields(out))


def _equal(a, b) -> bool:
    return all(np.array_equal(x, y, equal_nan=True)
               for x, y in zip(_fields(a), _fields(b), strict=True))


def _compare(monkeypatch, fn, data_bytes):
    chunked, peak = _run(monkeypatch, BUDGET, fn)
    whole, peak_whole = _run(monkeypatch, 2**50, fn)
    assert _equal(chunked, whole)
    beyond = peak - data_bytes - 2 * _nbytes(chunked)
    assert beyond <= SLACK * BUDGET, (peak, peak_whole)
    # the one call would have needed several budgets: the bound is the chunks' doing
    assert peak_whole - data_bytes - _nbytes(whole) > 4 * BUDGET
    return chunked


@pytest.mark.parametrize(("method", "rows"), [("nll", 8000), ("value_and_grad", 5000),
                                             ("hessian", 800)])
def test_model_calls_stay_within_the_budget(workspace, monkeypatch, method, rows):
    X = workspace.init + 0.05 * np.random.default_rng(0).standard_normal((rows, workspace.npar))
    out = _compare(monkeypatch, lambda: getattr(workspace, method)(X), X.nbytes)
    # row-wise: each row as computed alone
    single = getattr(workspace, method)(X[7])
    assert _equal(single, tuple(o[7] for o in out) if isinstance(out, tuple) else out[7])


def test_models_with_a_dataset_per_row_stay_within_the_budget(workspace, monkeypatch):
    on_toys = workspace.on_data(mc.sample_toys(workspace, workspace.init, 2000, rng=1))
    X = np.tile(workspace.init, (2000, 1))
    _compare(monkeypatch, lambda: on_toys.value_and_grad(X), X.nbytes)


def test_a_batch_not_matching_the_datasets_keeps_its_message(workspace, monkeypatch):
    on_toys = workspace.on_data(mc.sample_toys(workspace, workspace.init, 3, rng=1))
    monkeypatch.setattr(chunks, "ROW_BUDGET", 1)
    with pytest.raises(ValueError, match="this model holds 3 datasets"):
        on_toys.nll(np.tile(workspace.init, (5, 1)))


def test_newton_iterates_big_batches_in_chunks(workspace, monkeypatch):
    """A profile grid of 1500 points: each row's minimisation is that of one big batch."""
    free = np.arange(1, workspace.npar)
    base = np.tile(workspace.init, (1500, 1))
    base[:, 0] = np.linspace(0.0, 3.0, 1500)
    reduced = ReducedModel(workspace, free, base)
    result = _compare(monkeypatch, lambda: newton_minimize(reduced, base[:, free]),
                      2 * base.nbytes)
    assert result.success.all()


def test_profiled_rays_are_solved_in_chunks(workspace, monkeypatch):
    best = mc.fit(workspace)
    surface = ContourSurface(workspace, [0, 1], {}, workspace.bounds, best.fun + 3.0)
    angle = np.linspace(0.0, 2 * np.pi, 600, endpoint=False)
    directions = np.column_stack([np.cos(angle), 0.01 * np.sin(angle)])
    origins = np.tile(best.x[:2], (600, 1))
    warm = np.tile(best.x[2:], (600, 1))
    rays = _compare(monkeypatch, lambda: solve_rays(surface, origins, directions, profiled=warm),
                    origins.nbytes * 3)
    assert rays.ok.all()


def test_the_default_budget_bounds_a_batch_of_any_size(workspace):
    """20,000 Hessian rows at the default budget: some 600 MB of intermediates in one call
    (not run here), at most the budget beyond the rows and their Hessians in chunks."""
    X = workspace.init + 0.05 * np.random.default_rng(2).standard_normal((20000, workspace.npar))
    assert X.shape[0] * workspace.row_bytes(2) > 4 * chunks.ROW_BUDGET
    tracemalloc.start()
    try:
        hess = workspace.hessian(X)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak - X.nbytes - 2 * hess.nbytes <= SLACK * chunks.ROW_BUDGET
    assert np.array_equal(hess[12345], workspace.hessian(X[12345]))
