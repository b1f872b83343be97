"""A row's NLL and gradient must not depend on the batch it is evaluated in (bit for bit).

The contour finder promises identical points whatever the batch size or
executor; that holds only if every model evaluation is row-wise deterministic.
numpy's ``matmul`` takes another code path for a single row, whose last bits
differ, so the Gaussian terms use ``einsum``.
"""

from __future__ import annotations

import numpy as np
import pytest

import model_core as mc
from model_core.examples import example_names, load_example


@pytest.mark.parametrize("name", example_names())
def test_rows_do_not_depend_on_their_batch(name):
    model = mc.build_model(load_example(name))
    rng = np.random.default_rng(0)
    X = model.init + 0.3 * rng.standard_normal((40, model.npar))
    value, grad = model.value_and_grad(X)
    for size in (1, 2, 3, 7):
        parts = [model.value_and_grad(X[i:i + size]) for i in range(0, len(X), size)]
        assert np.array_equal(np.concatenate([p[0] for p in parts]), value)
        assert np.array_equal(np.concatenate([p[1] for p in parts]), grad)
        assert np.array_equal(np.concatenate([model.nll(X[i:i + size])
                                              for i in range(0, len(X), size)]), model.nll(X))


@pytest.mark.parametrize("name", example_names())
def test_hessian_rows_do_not_depend_on_their_batch(name):
    # the Newton steps of batched fits, hence toy studies, are reproducible only then
    model = mc.build_model(load_example(name))
    X = model.init + 0.1 * np.random.default_rng(1).standard_normal((24, model.npar))
    hess = model.hessian(X)
    for size in (1, 5):
        parts = [model.hessian(X[i:i + size]) for i in range(0, len(X), size)]
        assert np.array_equal(np.concatenate(parts), hess)
    assert np.array_equal(model.hessian(X[3]), hess[3])


def test_seed_value_unchanged():
    model = mc.build_model(load_example("three_shapes"))
    best = mc.fit(model)
    # NLL_min = 0.5 log det(2 pi Sigma) on the exact-fit valley
    assert best.fun == pytest.approx(0.5 * np.log(np.linalg.det(
        2 * np.pi * np.array([[144.0, 13.0], [13.0, 256.0]]))), rel=1e-14)
