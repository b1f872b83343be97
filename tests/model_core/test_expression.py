"""Signal expressions: whitelist parsing, positions in errors, autograd compilation."""

from __future__ import annotations

import numpy as np
import pytest
from autograd import grad

from model_core.exceptions import ExpressionError
from model_core.expression import MAX_LENGTH, parse_expression

TEMPLATES = {"A": np.array([12.0, 15.0]), "B": np.array([6.0, 16.0])}


def test_names_in_order_of_first_appearance():
    expr = parse_expression("k2*B + exp(k1)*A + k2**2*A")
    assert expr.names == ("k2", "B", "k1", "A")
    assert expr.parameters(tuple(TEMPLATES)) == ("k2", "k1")


@pytest.mark.parametrize(
    ("source", "params", "expected"),
    [
        ("c0*A + c1**2*B", [2.0, 3.0], 2.0 * TEMPLATES["A"] + 9.0 * TEMPLATES["B"]),
        ("-c0*A/2", [4.0], -2.0 * TEMPLATES["A"]),
        ("(c0 + 1)*(A - B)", [1.0], 2.0 * (TEMPLATES["A"] - TEMPLATES["B"])),
        ("sqrt(abs(c0))*A + tanh(0)*B", [-9.0], 3.0 * TEMPLATES["A"]),
        ("exp(log(c0))*sin(0.5)**2*A + cos(0)*B", [2.0],
         2.0 * np.sin(0.5) ** 2 * TEMPLATES["A"] + TEMPLATES["B"]),
        ("A", [], TEMPLATES["A"]),
        ("2*A", [], 2 * TEMPLATES["A"]),
    ],
)
def test_values_match_numpy(source, params, expected):
    expr = parse_expression(source)
    names = expr.parameters(tuple(TEMPLATES))
    signal = expr.compile(TEMPLATES, names)
    np.testing.assert_allclose(signal(np.array(params)), expected, rtol=1e-14)


def test_batched_evaluation_matches_row_by_row():
    expr = parse_expression("c0*A + c1**2*B + exp(-c0)*B")
    signal = expr.compile(TEMPLATES, ("c0", "c1"))
    batch = np.random.default_rng(3).normal(size=(4, 5, 2))
    out = signal(batch)
    assert out.shape == (4, 5, 2)
    for i in range(4):
        for j in range(5):
            np.testing.assert_allclose(out[i, j], signal(batch[i, j]), rtol=1e-15)


def test_autograd_derivative_is_exact():
    signal = parse_expression("c0**3*A + sin(c1)*B").compile(TEMPLATES, ("c0", "c1"))
    p = np.array([0.7, 1.3])
    g = grad(lambda q: signal(q).sum())(p)
    expected = [3 * 0.7**2 * TEMPLATES["A"].sum(), np.cos(1.3) * TEMPLATES["B"].sum()]
    np.testing.assert_allclose(g, expected, rtol=1e-14)


@pytest.mark.parametrize(
    ("source", "fragment", "position"),
    [
        ("c0*A +", "syntax error", 6),
        ("c0*A + __import__('os')", "only the functions", 7),
        ("A.T", "attribute access", 0),
        ("A[0]", "indexing", 0),
        ("(lambda: 1)()", "only the functions", 0),
        ("[x for x in A]", "comprehension", 0),
        ("'text'*A", "is not a real number", 0),
        ("A if c0 else B", "conditional", 0),
        ("c0 < A", "comparison", 0),
        ("c0 // A", "operator // is not allowed", 0),
        ("exp(A, B)", "exactly one argument", 0),
        ("exp", "without an argument", 0),
        ("True*A", "is not a real number", 0),
        ("1j*A", "is not a real number", 0),
        ("c0 @ A", "operator @ is not allowed", 0),
        ("open(A)", "only the functions", 0),
        ("  c0*A + *", "syntax error", 9),
    ],
)
def test_forbidden_or_broken_expressions_name_the_position(source, fragment, position):
    with pytest.raises(ExpressionError, match="signal.expression") as info:
        parse_expression(source)
    assert fragment in str(info.value)
    assert info.value.position == position
    assert "Fix:" in str(info.value)


def test_overlong_and_empty_expressions_are_refused():
    with pytest.raises(ExpressionError, match="characters long"):
        parse_expression("A+" * MAX_LENGTH + "A")
    with pytest.raises(ExpressionError, match="empty"):
        parse_expression("   ")
    with pytest.raises(ExpressionError, match="line breaks"):
        parse_expression("A\n+B")


def test_unknown_name_at_compile_time():
    expr = parse_expression("k*A + Z")
    with pytest.raises(ExpressionError, match="unknown name 'Z'"):
        expr.compile(TEMPLATES, ("k",))
