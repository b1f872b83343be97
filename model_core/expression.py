"""Safe, differentiable signal expressions.

A signal expression such as ``"c0*A + c1**2*B + c2*C"`` combines signal
templates (per-bin yield vectors, named ``A``, ``B``, ...) with shape parameters.
It is parsed with :mod:`ast` against a whitelist and compiled into a tree of
closures over :mod:`autograd.numpy`, so it can be differentiated exactly and
evaluated on a whole batch of parameter vectors at once.  It is never passed to
:func:`eval`.

Allowed: numbers, names, ``+ - * / **``, unary ``-``/``+``, parentheses and the
functions ``exp log sqrt sin cos tanh abs`` with one argument.  Parts made of
numbers only must evaluate to finite numbers (``9**9**9`` and ``log(-1)`` are
refused), and invisible control characters are named rather than parsed.
"""

from __future__ import annotations

import ast
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import autograd.numpy as anp
import numpy as np

from .exceptions import ExpressionError, shorten
from .jets import Jet, seed_jets

__all__ = ["FUNCTIONS", "MAX_LENGTH", "SignalExpression", "SignalJet", "parse_expression"]

#: Functions an expression may call, by name.
FUNCTIONS: Mapping[str, Callable] = {
    "exp": anp.exp,
    "log": anp.log,
    "sqrt": anp.sqrt,
    "sin": anp.sin,
    "cos": anp.cos,
    "tanh": anp.tanh,
    "abs": anp.abs,
}
#: Longest accepted expression, in characters.
MAX_LENGTH = 1000
_MAX_NODES = 400

_BINARY = {
    ast.Add: anp.add,
    ast.Sub: anp.subtract,
    ast.Mult: anp.multiply,
    ast.Div: anp.true_divide,
    ast.Pow: anp.power,
}
_UNARY = {ast.USub: anp.negative, ast.UAdd: lambda v: v}
# Python's names of operators and constructs, as a user writes them
_SYMBOLS = {"FloorDiv": "//", "Mod": "%", "MatMult": "@", "LShift": "<<", "RShift": ">>",
            "BitOr": "|", "BitXor": "^", "BitAnd": "&", "Invert": "~", "Not": "not"}
_CONSTRUCTS = {
    "Attribute": "attribute access", "Subscript": "indexing", "Lambda": "lambda",
    "ListComp": "comprehension", "GeneratorExp": "comprehension", "SetComp": "comprehension",
    "DictComp": "comprehension", "Compare": "comparison", "BoolOp": "boolean operator",
    "IfExp": "conditional", "List": "list", "Tuple": "tuple", "Dict": "dictionary",
    "Set": "set", "JoinedStr": "f-string", "NamedExpr": "assignment", "Await": "await",
    "Yield": "yield", "YieldFrom": "yield from", "Starred": "unpacking with *",
    "Slice": "slicing",
}
# characters of an expression's part quoted in a message
_ECHO = 40
_FIX = "use numbers, template and parameter names, + - * / ** and " + ", ".join(FUNCTIONS)

Evaluator = Callable[[Callable[[str], object]], object]
#: ``signal_jet(P, second) -> (S (..., n), dS (..., n, p), d2S (..., n, p, p) or None)``
SignalJet = Callable[[np.ndarray, bool], tuple[np.ndarray, np.ndarray, np.ndarray | None]]


@dataclass(frozen=True)
class SignalExpression:
    """A parsed signal expression.

    Attributes
    ----------
    source
        The expression text.
    names
        Every variable name, in order of first appearance.
    """

    source: str
    names: tuple[str, ...]
    _evaluate: Evaluator

    def __reduce__(self) -> tuple:
        """Pickle by source text (the compiled evaluator is a tree of closures)."""
        return (parse_expression, (self.source,))

    def parameters(self, templates: Sequence[str]) -> tuple[str, ...]:
        """Names that are not templates (the shape parameters), in order of appearance."""
        return tuple(n for n in self.names if n not in templates)

    def compile(
        self, templates: Mapping[str, np.ndarray], parameters: Sequence[str]
    ) -> Callable[[np.ndarray], np.ndarray]:
        """Build ``signal(P) -> (..., n_bins)`` for shape parameters ``P (..., n_params)``.

        The result is autograd-differentiable and broadcasts over leading axes.
        """
        arrays = {k: np.asarray(v, dtype=float) for k, v in templates.items()}
        column = {name: i for i, name in enumerate(parameters)}
        missing = [n for n in self.names if n not in arrays and n not in column]
        if missing:
            raise ExpressionError(self.source, f"unknown name {missing[0]!r}", None,
                                  "declare it as a template or a shape parameter")
        n_bins = len(next(iter(arrays.values())))
        evaluate = self._evaluate

        def signal(P: np.ndarray) -> np.ndarray:
            def lookup(name: str) -> object:
                if name in arrays:
                    return arrays[name]
                i = column[name]
                return P[..., i : i + 1]

            value = evaluate(lookup)
            # constant-only sub-results still need the bin axis
            return value * anp.ones(n_bins) if anp.ndim(value) == 0 else value

        return signal

    def compile_jet(self, templates: Mapping[str, np.ndarray], parameters: Sequence[str]
                    ) -> SignalJet:
        """Build ``signal_jet(P, second)``: the signal and its exact derivatives, forward mode.

        For shape parameters ``P (..., p)`` it returns ``S (..., n_bins)``,
        ``dS/dP (..., n_bins, p)`` and, when ``second`` is true, ``d2S/dP2
        (..., n_bins, p, p)`` (else ``None``); the same closures as :meth:`compile`
        evaluate on :class:`~model_core.jets.Jet` objects, at numpy speed.
        """
        arrays = {k: np.asarray(v, dtype=float) for k, v in templates.items()}
        column = {name: i for i, name in enumerate(parameters)}
        self.compile(arrays, parameters)  # the same checks of the names
        n_bins = len(next(iter(arrays.values())))
        n_params = len(column)
        evaluate = self._evaluate

        def signal_jet(P: np.ndarray, second: bool = True
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
            P = np.asarray(P, dtype=float)
            jets = seed_jets(P, second)
            value = evaluate(lambda name: arrays[name] if name in arrays else jets[column[name]])
            lead = P.shape[:-1]
            if not isinstance(value, Jet):
                value = Jet(np.asarray(value, dtype=float), np.zeros((1, n_params)), None, second)
            S = np.broadcast_to(value.v, lead + (n_bins,))
            dS = np.broadcast_to(value.g, lead + (n_bins, n_params))
            d2S = None
            if second:
                d2S = (np.zeros(lead + (n_bins, n_params, n_params)) if value.h is None else
                       np.broadcast_to(value.h, lead + (n_bins, n_params, n_params)))
            return S, dS, d2S

        return signal_jet


def parse_expression(source: str) -> SignalExpression:
    """Parse ``source`` against the whitelist.

    Raises
    ------
    ExpressionError
        With the character position of the first problem and a suggested fix.
    """
    if not isinstance(source, str):
        raise ExpressionError(str(source), "the expression must be a string", None,
                              "write it as text, e.g. \"c0*A + c1*B\"")
    if not source.strip():
        raise ExpressionError(source, "the expression is empty", None,
                              "write e.g. \"mu_s*A\" or leave it out when there is one template")
    if len(source) > MAX_LENGTH:
        raise ExpressionError(source, f"the expression is {len(source)} characters long, "
                              f"more than the {MAX_LENGTH} allowed", None, "simplify it")
    if "\n" in source or "\r" in source:
        raise ExpressionError(source, "line breaks are not allowed", source.find("\n"),
                              "write the expression on one line")
    control = next((i for i, ch in enumerate(source)
                    if ch != "\t" and unicodedata.category(ch) == "Cc"), None)
    if control is not None:
        code = f"U+{ord(source[control]):04X}"
        what = f"a NUL character ({code})" if source[control] == "\0" else \
            f"a control character ({code})"
        raise ExpressionError(source, f"the expression contains {what}", control,
                              "remove it (it is invisible: retype the expression around it)")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        stripped = source.rstrip()
        if not exc.offset:  # the parser ran out of input
            raise ExpressionError(source, "syntax error (the expression ends too early)",
                                  len(stripped), "complete the last operation") from None
        offset = min(exc.offset - 1 + len(source) - len(source.lstrip()), len(stripped))
        raise ExpressionError(source, f"syntax error ({exc.msg})", offset,
                              "check brackets and operators") from None
    lead = len(source) - len(source.lstrip())
    nodes = list(ast.walk(tree))
    if len(nodes) > _MAX_NODES:
        raise ExpressionError(source, "the expression is too complex", None, "simplify it")
    evaluate = _build(tree.body, source, lead)
    _fold_constants(tree.body, source, lead)
    names = sorted(
        (n for n in nodes if isinstance(n, ast.Name) and not _is_callee(n, nodes)),
        key=lambda n: (n.lineno, n.col_offset),
    )
    ordered = tuple(dict.fromkeys(n.id for n in names))
    return SignalExpression(source, ordered, evaluate)


def _is_callee(name: ast.Name, nodes: list[ast.AST]) -> bool:
    return any(isinstance(c, ast.Call) and c.func is name for c in nodes)


def _fail(source: str, node: ast.AST, lead: int, problem: str, fix: str = _FIX
          ) -> ExpressionError:
    pos = getattr(node, "col_offset", None)
    return ExpressionError(source, problem, None if pos is None else pos + lead, fix)


def _build(node: ast.AST, source: str, lead: int) -> Evaluator:
    """Turn a whitelisted AST node into ``evaluate(lookup) -> value``."""
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(source, node, lead, f"constant {shorten(value)} is not a real number")
        try:
            number = float(value)
        except OverflowError:
            raise _fail(source, node, lead, f"the number {shorten(value, _ECHO)} is too large "
                        "(beyond the largest float, about 1.8e308)",
                        "write a smaller number, with an exponent such as 1.5e12") from None
        if not np.isfinite(number):
            raise _fail(source, node, lead, f"constant {value!r} is not finite")
        return lambda lookup: number
    if isinstance(node, ast.Name):
        if node.id in FUNCTIONS:
            raise _fail(source, node, lead, f"function {node.id!r} used without an argument")
        name = node.id
        return lambda lookup: lookup(name)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        op = _BINARY[type(node.op)]
        left, right = _build(node.left, source, lead), _build(node.right, source, lead)
        return lambda lookup: op(left(lookup), right(lookup))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        op = _UNARY[type(node.op)]
        operand = _build(node.operand, source, lead)
        return lambda lookup: op(operand(lookup))
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            raise _fail(source, node, lead, "only the functions " + ", ".join(FUNCTIONS)
                        + " may be called")
        if len(node.args) != 1 or node.keywords or isinstance(node.args[0], ast.Starred):
            raise _fail(source, node, lead, f"{node.func.id}() takes exactly one argument")
        fn = FUNCTIONS[node.func.id]
        argument = _build(node.args[0], source, lead)
        return lambda lookup: fn(argument(lookup))
    kind = type(node).__name__
    described = _CONSTRUCTS.get(kind)
    if isinstance(node, (ast.BinOp, ast.UnaryOp)):
        op = type(node.op).__name__
        described = f"operator {_SYMBOLS.get(op, op)}"
    elif described is None:
        segment = ast.get_source_segment(source.strip(), node) or kind
        described = f"the construct {shorten(segment, _ECHO)}"
    raise _fail(source, node, lead, f"{described} is not allowed")


def _fold_constants(node: ast.AST, source: str, lead: int) -> float | None:
    """The value of a subexpression made of numbers only (``None`` when it holds a name).

    A constant part that overflows or is undefined (``9**9**9``, ``log(-1)``, ``0/0``)
    is refused here, before it turns every NLL and derivative into inf or NaN.
    Runs on a whitelisted tree (after :func:`_build`).
    """
    if isinstance(node, ast.Constant):
        return float(node.value)
    if isinstance(node, ast.BinOp):
        parts, op = (node.left, node.right), _BINARY[type(node.op)]
    elif isinstance(node, ast.UnaryOp):
        parts, op = (node.operand,), _UNARY[type(node.op)]
    elif isinstance(node, ast.Call):
        parts, op = (node.args[0],), FUNCTIONS[node.func.id]
    else:
        return None
    values = [_fold_constants(part, source, lead) for part in parts]
    if any(v is None for v in values):
        return None
    with np.errstate(all="ignore"):
        value = float(op(*(np.float64(v) for v in values)))
    if not np.isfinite(value):
        segment = ast.get_source_segment(source.strip(), node) or "a constant part"
        why = "overflows" if np.isinf(value) else "is undefined"
        raise _fail(source, node, lead, f"the constant part {shorten(segment, _ECHO)} {why} "
                    f"(it evaluates to {value})", "change it so that it gives a finite number")
    return value
