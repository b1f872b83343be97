"""Tests of :mod:`model_core.numdiff` against closed forms and published reference values."""

from __future__ import annotations

import hypothesis.extra.numpy as hynp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import rosen, rosen_der, rosen_hess

from model_core.numdiff import (
    DerivativeEstimate,
    numerical_gradient,
    numerical_hessian,
    numerical_hessian_diag,
    ridders_gradient,
    ridders_hessian,
    ridders_jacobian,
)

PROPERTY = settings(derandomize=True, deadline=None, max_examples=50)
X0 = np.array([0.5, 2.0])


def derivkit_scalar(theta):
    """DerivKit documentation example; works on one point or a batch."""
    return np.sin(theta[..., 0]) + theta[..., 0] * theta[..., 1] + theta[..., 1] ** 2


def derivkit_tensor(theta):
    return np.stack([np.sin(theta[..., 0]), theta[..., 0] * theta[..., 1] + theta[..., 1] ** 2],
                    axis=-1)


# --- 1. DerivKit documentation reference values ------------------------------------------------

@pytest.mark.parametrize("vectorized", [False, True])
def test_derivkit_hessian(vectorized):
    expected = np.array([[-np.sin(0.5), 1.0], [1.0, 2.0]])
    hess = numerical_hessian(derivkit_scalar, X0, vectorized=vectorized)
    np.testing.assert_allclose(hess, expected, rtol=1e-7, atol=1e-8)
    np.testing.assert_array_equal(np.round(hess, 6), [[-0.479426, 1.0], [1.0, 2.0]])


@pytest.mark.parametrize("vectorized", [False, True])
def test_derivkit_hessian_diag(vectorized):
    diag = numerical_hessian_diag(derivkit_scalar, X0, vectorized=vectorized)
    assert diag.shape == (2,)
    np.testing.assert_allclose(diag, [-np.sin(0.5), 2.0], rtol=1e-7)


@pytest.mark.parametrize("vectorized", [False, True])
def test_derivkit_tensor_hessian(vectorized):
    hess = numerical_hessian(derivkit_tensor, X0, vectorized=vectorized)
    assert hess.shape == (2, 2, 2)
    np.testing.assert_allclose(hess[0], [[-np.sin(0.5), 0.0], [0.0, 0.0]], rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(hess[1], [[0.0, 1.0], [1.0, 2.0]], rtol=1e-7, atol=1e-8)
    diag = ridders_hessian(derivkit_tensor, X0, vectorized=vectorized, diagonal=True)
    assert diag.value.shape == diag.error.shape == (2, 2)
    np.testing.assert_allclose(diag.value, [[-np.sin(0.5), 0.0], [0.0, 2.0]], rtol=1e-7, atol=1e-8)


def test_derivkit_tensor_jacobian():
    jac = ridders_jacobian(derivkit_tensor, X0)
    assert jac.value.shape == jac.error.shape == (2, 2)
    np.testing.assert_allclose(jac.value, [[np.cos(0.5), 0.0], [2.0, 0.5 + 4.0]],
                               rtol=1e-9, atol=1e-12)


# --- 2. Closed forms at random points ----------------------------------------------------------

RNG = np.random.default_rng(20240611)
A_EXP = RNG.normal(size=4)
M = RNG.normal(size=(4, 4))
A_QUAD = M @ M.T + np.diag([1.0, -3.0, 2.0, 0.5])  # symmetric, indefinite


def _softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


CASES = {
    "rosenbrock": (lambda x: rosen(x.T), rosen_der, rosen_hess),
    "exp": (lambda x: np.exp(x @ A_EXP),
            lambda x: A_EXP * np.exp(x @ A_EXP),
            lambda x: np.outer(A_EXP, A_EXP) * np.exp(x @ A_EXP)),
    "quadratic": (lambda x: 0.5 * np.einsum("...i,ij,...j->...", x, A_QUAD, x),
                  lambda x: A_QUAD @ x,
                  lambda x: A_QUAD),
    "logsumexp": (lambda x: np.log(np.sum(np.exp(x), axis=-1)),
                  _softmax,
                  lambda x: np.diag(_softmax(x)) - np.outer(_softmax(x), _softmax(x))),
}


@pytest.mark.parametrize("vectorized", [False, True])
@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("seed", range(3))
def test_closed_forms(name, seed, vectorized):
    f, grad, hess = CASES[name]
    x = np.random.default_rng(seed).uniform(-1.5, 1.5, size=4)
    g_ref, h_ref = grad(x), hess(x)
    g = ridders_gradient(f, x, vectorized=vectorized)
    h = ridders_hessian(f, x, vectorized=vectorized)
    np.testing.assert_allclose(g.value, g_ref, rtol=1e-9, atol=1e-11 * np.abs(g_ref).max())
    np.testing.assert_allclose(h.value, h_ref, rtol=1e-7, atol=1e-9 * np.abs(h_ref).max())
    np.testing.assert_allclose(numerical_hessian_diag(f, x), np.diag(h_ref), rtol=1e-7,
                               atol=1e-9 * np.abs(h_ref).max())
    # the error estimate is an honest bound up to a modest factor
    assert np.all(np.abs(g.value - g_ref) <= 10 * g.error + 1e-12 * np.abs(g_ref).max())


# --- 3. Properties ---------------------------------------------------------------------------

@st.composite
def quadratic_problems(draw):
    p = draw(st.integers(1, 4))
    elements = st.floats(-10, 10, allow_nan=False, allow_subnormal=False)
    m = draw(hynp.arrays(float, (p, p), elements=elements))
    b = draw(hynp.arrays(float, p, elements=elements))
    x = draw(hynp.arrays(float, p, elements=elements))
    return 0.5 * (m + m.T), b, x


def quadratic(a, b):
    """``0.5 x^T A x + b x + x_0^3 / 6`` with elementwise arithmetic only, so a batch and
    single points give bit-identical rows (no BLAS summation order)."""
    p = len(b)

    def f(x):
        total = x[..., 0] ** 3 / 6.0
        for i in range(p):
            total = total + b[i] * x[..., i]
            for j in range(p):
                total = total + 0.5 * a[i, j] * x[..., i] * x[..., j]
        return total

    return f


@PROPERTY
@given(quadratic_problems())
def test_gradient_of_quadratic_form(problem):
    a, b, x = problem
    c = 0.5 * np.eye(len(b))[0] * x[0] ** 2
    expected = a @ x + b + c
    scale = np.abs(a) @ np.abs(x) + np.abs(b) + np.abs(c) + 1.0
    got = numerical_gradient(quadratic(a, b), x)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9 * scale.max())


@PROPERTY
@given(quadratic_problems())
def test_hessian_symmetric_and_correct(problem):
    a, b, x = problem
    est = ridders_hessian(quadratic(a, b), x)
    np.testing.assert_array_equal(est.value, est.value.T)
    np.testing.assert_array_equal(est.error, est.error.T)
    expected = a.copy()
    expected[0, 0] += x[0]
    np.testing.assert_allclose(est.value, expected, rtol=1e-7,
                               atol=1e-7 * (np.abs(expected).max() + 1.0))


@PROPERTY
@given(quadratic_problems(), st.sampled_from(["gradient", "hessian", "diag"]))
def test_vectorized_identical(problem, kind):
    a, b, x = problem
    f = quadratic(a, b)
    compute = {
        "gradient": ridders_gradient,
        "hessian": ridders_hessian,
        "diag": lambda *args, **kw: ridders_hessian(*args, diagonal=True, **kw),
    }[kind]
    loop, batch = compute(f, x), compute(f, x, vectorized=True)
    np.testing.assert_array_equal(loop.value, batch.value)
    np.testing.assert_array_equal(loop.error, batch.error)
    np.testing.assert_array_equal(loop.step, batch.step)


@PROPERTY
@given(hynp.arrays(float, st.integers(1, 3).map(lambda n: (n,)),
                   elements=st.floats(-3, 3, allow_subnormal=False)),
       st.sampled_from([ridders_gradient, ridders_hessian]))
def test_error_nonnegative_finite(x, compute):
    def f(y):
        return np.sin(y).sum() + np.exp(0.3 * y).prod() + np.cos(y[0] * y[-1])

    est = compute(f, x)
    assert est.value.shape == est.error.shape
    assert np.all(np.isfinite(est.value))
    assert np.all(np.isfinite(est.error)) and np.all(est.error >= 0)


# --- 4. Central differences vs Ridders ----------------------------------------------------------

@pytest.mark.parametrize("numerical", [numerical_gradient, numerical_hessian_diag])
def test_central_less_accurate_than_ridders(numerical):
    def f(x):
        return np.exp(x[..., 0])

    exact = np.exp(3.0)
    central = abs(numerical(f, [3.0], method="central")[0] / exact - 1.0)
    ridders = abs(numerical(f, [3.0], method="ridders")[0] / exact - 1.0)
    assert central < 1e-5
    assert ridders < 1e-12
    assert central > 100 * ridders


def test_central_hessian_matches_closed_form():
    f, _, hess = CASES["exp"]
    x = np.array([0.3, -0.2, 0.1, 0.4])
    np.testing.assert_allclose(numerical_hessian(f, x, method="central", vectorized=True),
                               hess(x), rtol=1e-5, atol=1e-7)


# --- Steps -----------------------------------------------------------------------------------

def test_default_and_given_steps():
    x = np.array([0.5, -20.0, 3.0])
    assert isinstance(ridders_gradient(derivkit_scalar, x), DerivativeEstimate)
    np.testing.assert_allclose(ridders_gradient(derivkit_scalar, x).step, [0.1, 2.0, 0.3])
    np.testing.assert_array_equal(ridders_hessian(derivkit_scalar, x, step=0.05).step, [0.05] * 3)
    est = ridders_gradient(derivkit_scalar, X0, step=[0.01, 0.3])
    np.testing.assert_array_equal(est.step, [0.01, 0.3])
    np.testing.assert_allclose(est.value, [np.cos(0.5) + 2.0, 0.5 + 4.0], rtol=1e-9)


# --- 5. Errors and non-finite values -----------------------------------------------------------

def test_bad_method():
    for numerical in (numerical_gradient, numerical_hessian, numerical_hessian_diag):
        with pytest.raises(ValueError, match=r"method must be one of.*ridders.*central.*'fwd'"):
            numerical(derivkit_scalar, X0, method="fwd")


@pytest.mark.parametrize("x0", [np.ones((2, 2)), 1.0, []])
def test_x0_not_1d(x0):
    with pytest.raises(ValueError, match=r"x0 must be a non-empty 1-D array.*shape"):
        ridders_gradient(derivkit_scalar, x0)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_x0_not_finite(bad):
    with pytest.raises(ValueError, match=r"x0 must be finite, but x0\[1\] = (nan|inf)"):
        numerical_hessian(derivkit_scalar, [0.5, bad])


@pytest.mark.parametrize("step", [-0.1, 0.0, [0.1, -1.0], np.inf, np.nan])
def test_bad_step(step):
    with pytest.raises(ValueError, match=r"step must be positive and finite"):
        numerical_gradient(derivkit_scalar, X0, step=step)
    with pytest.raises(ValueError, match=r"step must be positive and finite"):
        numerical_hessian(derivkit_scalar, X0, step=step, method="central")


def test_step_wrong_shape():
    with pytest.raises(ValueError, match=r"step must be a scalar or have shape \(2,\)"):
        ridders_hessian(derivkit_scalar, X0, step=[0.1, 0.1, 0.1])


def test_vectorized_wrong_output_shape():
    with pytest.raises(ValueError, match=r"vectorized=True.*rows"):
        ridders_gradient(lambda x: np.sum(x), X0, vectorized=True)


@pytest.mark.parametrize("bad_value", [np.nan, np.inf])
@pytest.mark.parametrize("vectorized", [False, True])
def test_non_finite_values_flag_component(bad_value, vectorized):
    """f is undefined for theta1 > 2.05: only derivatives moving theta1 are affected."""

    def f(x):
        return np.where(x[..., 1] > 2.05, bad_value, derivkit_scalar(x))

    grad = ridders_gradient(f, X0, vectorized=vectorized)
    np.testing.assert_allclose(grad.value[0], np.cos(0.5) + 2.0, rtol=1e-9)
    assert np.isnan(grad.value[1]) and grad.error[1] == np.inf
    assert np.isfinite(grad.error[0])
    hess = ridders_hessian(f, X0, vectorized=vectorized)
    np.testing.assert_allclose(hess.value[0, 0], -np.sin(0.5), rtol=1e-7)
    assert np.isnan(hess.value[[0, 1, 1], [1, 0, 1]]).all()
    assert (hess.error[[0, 1, 1], [1, 0, 1]] == np.inf).all()
    central = numerical_hessian_diag(f, X0, method="central", step=0.1, vectorized=vectorized)
    assert np.isfinite(central[0]) and np.isnan(central[1])


# --- 6. Call counting ------------------------------------------------------------------------

class Counting:
    def __init__(self, f):
        self.f, self.calls, self.points = f, 0, 0

    def __call__(self, x):
        self.calls += 1
        self.points += len(x) if x.ndim == 2 else 1
        return self.f(x)


@pytest.mark.parametrize("compute, points", [
    (ridders_gradient, 2 * 3 * 10),
    (ridders_jacobian, 2 * 3 * 10),
    (lambda f, x, **kw: ridders_hessian(f, x, diagonal=True, **kw), 2 * 3 * 10 + 1),
    (ridders_hessian, (2 * 3 + 4 * 3) * 10 + 1),
    (lambda f, x, **kw: numerical_hessian(f, x, method="central", **kw), 2 * 3 + 4 * 3 + 1),
])
@pytest.mark.parametrize("f", [derivkit_scalar, derivkit_tensor])
def test_vectorized_calls_once(compute, points, f):
    x = np.array([0.5, 2.0, -1.0])
    batch, loop = Counting(f), Counting(f)
    compute(batch, x, vectorized=True)
    compute(loop, x)
    assert batch.calls == 1 and batch.points == points
    assert loop.calls == loop.points == points
