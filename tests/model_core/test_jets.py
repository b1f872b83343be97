"""Forward-mode jets: the signal's exact derivatives for the hand-written model derivatives."""

from __future__ import annotations

import numpy as np
import pytest
from autograd import hessian, jacobian

from model_core.expression import parse_expression
from model_core.jets import Jet, seed_jets

TEMPLATES = {"A": np.array([12.0, 15.0, 3.0]), "B": np.array([6.0, 16.0, 1.0]),
             "C": np.array([20.0, 10.0, 2.0])}
EXPRESSIONS = [
    "c0*A + c1**2*B + c2*C",
    "exp(c0)*A/(1 + c1**2) + sqrt(abs(c2))*B - log(2 + c0)*C",
    "c0**c1*A + 2**c2*B - c2**0.5*C",
    "tanh(c0*c1)*A + sin(c2)*cos(c0)*B/c1",
    "-(c0 - c1)/(c2 + 3)*A + c0**1*B + c1**0*C",
    "A**c0*B**0.1 + (A - B)*c1 + C/c2",
    "3*A",
    "c0*c0*A + 2*c1/c2*B",
]


def _points(n_params: int) -> np.ndarray:
    return np.random.default_rng(7).uniform(0.3, 1.6, (5, n_params))


@pytest.mark.parametrize("source", EXPRESSIONS)
def test_jets_equal_autograd_derivatives(source):
    expr = parse_expression(source)
    names = expr.parameters(tuple(TEMPLATES))
    signal = expr.compile(TEMPLATES, names)
    signal_jet = expr.compile_jet(TEMPLATES, names)
    P = _points(len(names))
    S, dS, d2S = signal_jet(P)
    assert S.shape == (5, 3) and dS.shape == (5, 3, len(names))
    assert d2S.shape == (5, 3, len(names), len(names))
    np.testing.assert_allclose(S, np.broadcast_to(signal(P), S.shape), rtol=1e-14)
    for row, p in enumerate(P):
        if names:
            np.testing.assert_allclose(dS[row], jacobian(signal)(p), rtol=1e-12, atol=1e-13)
            np.testing.assert_allclose(d2S[row], hessian(signal)(p), rtol=1e-11, atol=1e-12)
    first_only = signal_jet(P, False)
    assert first_only[2] is None
    np.testing.assert_array_equal(first_only[1], dS)


def test_jets_broadcast_over_leading_axes():
    expr = parse_expression("c0*A + c1**2*B")
    signal_jet = expr.compile_jet(TEMPLATES, ("c0", "c1"))
    P = np.random.default_rng(1).normal(size=(4, 6, 2))
    S, dS, d2S = signal_jet(P)
    assert d2S.shape == (4, 6, 3, 2, 2)
    np.testing.assert_array_equal(dS[2, 3], signal_jet(P[2, 3])[1])
    # d2/dc1^2 (c1^2 B) = 2 B, and nothing else is curved
    np.testing.assert_allclose(d2S[..., 1, 1], np.broadcast_to(2 * TEMPLATES["B"], (4, 6, 3)))
    assert not d2S[..., 0, :].any()


def test_derivative_rules_at_kinks_and_zero_follow_autograd():
    # |u|' = sign(u) (0 at 0); u**1 and u**0 have exactly vanishing higher derivatives
    u, = seed_jets(np.array([[0.0]]))
    for jet, first, second in ((abs(u), 0.0, 0.0), (u**1, 1.0, 0.0), (u**0, 0.0, 0.0),
                               (u**2, 0.0, 2.0)):
        assert isinstance(jet, Jet)
        assert float(jet.g.ravel()[0]) == first
        assert float(jet.h.ravel()[0]) == second
