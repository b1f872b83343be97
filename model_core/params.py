"""Fixing parameters: a reduced :class:`~model_core.model.Model` over the free ones.

``reduce_model(model, free, base)`` builds the NLL as a function of the free
parameters only, ``z -> nll(base + embed(z))``.  ``base`` may hold one value
per row of a batch (shape ``(B, npar)``), so every row of a batched inner fit
can pin the fixed parameters at its own values (a profile or a grid).  The
parent may itself hold one dataset per row (:meth:`Model.on_data`).

Values and gradients come from the parent's (hand-written, where it has them)
methods; so does the Hessian when the parent's is hand-written, else autograd
differentiates the reduced NLL (one pass per free parameter).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import autograd.numpy as anp
import numpy as np

from .model import Model

__all__ = ["ReducedModel", "reduce_model", "resolve_fixed"]


class ReducedModel(Model):
    """A model over a subset of another model's parameters.

    Attributes
    ----------
    parent
        The full model.
    free
        Indices of the free parameters in the parent, in order.
    base
        Full parameter vectors ``(npar,)`` or ``(B, npar)`` supplying the fixed values;
        their free entries (of the first row) become ``init``.
    """

    def __init__(self, parent: Model, free: Sequence[int], base: np.ndarray,
                 bounds: np.ndarray | None = None) -> None:
        free = np.asarray(free, dtype=int)
        base = np.array(base, dtype=float)
        first = base if base.ndim == 1 else (base[0] if len(base) else parent.init)
        start = first[free]
        base[..., free] = 0.0
        embed = np.eye(parent.npar)[free]
        batched = base.ndim == 2

        def nll(Z: np.ndarray) -> np.ndarray:
            b = base.reshape(base.shape[:1] + (1,) * (Z.ndim - 2) + base.shape[1:]) if batched \
                else base
            return parent.nll_traced(b + anp.matmul(Z, embed))

        names = [parent.parameter_names[i] for i in free]
        poi = parent.poi_index if parent.poi_index in free else None
        super().__init__(nll, names, start, parent.bounds[free] if bounds is None else bounds,
                         poi_index=None if poi is None else int(np.flatnonzero(free == poi)[0]),
                         name=parent.name)
        self.parent = parent
        self.free = free
        self.base = base
        self._embed = embed

    def _points(self, Z: np.ndarray) -> np.ndarray:
        Z = self._as_points(Z)
        base = self.base
        if base.ndim == 2:
            base = base.reshape(base.shape[:1] + (1,) * (Z.ndim - 2) + base.shape[1:])
        X = np.array(np.broadcast_to(base, Z.shape[:-1] + (self.parent.npar,)))
        X[..., self.free] = Z
        return X

    def nll(self, x) -> np.ndarray:
        return self.parent.nll(self._points(x))

    def value_and_grad(self, x) -> tuple[np.ndarray, np.ndarray]:
        value, grad = self.parent.value_and_grad(self._points(x))
        return value, grad[..., self.free]

    def hessian(self, x) -> np.ndarray:
        if not self.parent.hand_written_hessian:
            return super().hessian(x)
        return self.parent.hessian(self._points(x))[..., self.free[:, None], self.free[None, :]]

    @property
    def hand_written_hessian(self) -> bool:
        return self.parent.hand_written_hessian

    @property
    def aligned_rows(self) -> int | None:
        return len(self.base) if self.base.ndim == 2 else self.parent.aligned_rows

    def row_bytes(self, order: int) -> float:
        return self.parent.row_bytes(order)

    def __reduce__(self) -> tuple:
        base = self.base.copy()
        base[..., self.free] = self.init
        return (ReducedModel, (self.parent, self.free, base, self.bounds))

    def take(self, rows: np.ndarray) -> ReducedModel:
        """The same reduction for a subset of rows (of a per-row ``base`` or parent)."""
        parent = self.parent.take(rows)
        if self.base.ndim == 1 and parent is self.parent:
            return self
        base = self.base[rows] if self.base.ndim == 2 else self.base.copy()
        base[..., self.free] = self.init
        return ReducedModel(parent, self.free, base, self.bounds)

    def full(self, z: np.ndarray) -> np.ndarray:
        """Full parameter vectors for free values ``z (..., n_free)``."""
        return self.base + np.asarray(z, dtype=float) @ self._embed


def resolve_fixed(model: Model, fixed: Mapping[str, float] | None) -> dict[int, float]:
    """Indices and values of fixed parameters: the model's own, then ``fixed`` by name.

    Raises
    ------
    KeyError
        For an unknown name (the message lists the model's parameters).
    ValueError
        For a non-finite value.
    """
    out = {int(i): float(model.init[i]) for i in np.flatnonzero(model.fixed)}
    for name, value in (fixed or {}).items():
        v = float(value)
        if not np.isfinite(v):
            raise ValueError(f"fixed value of {name!r} must be finite, got {value!r}")
        out[model.index(name)] = v
    return out


def reduce_model(model: Model, fixed: Mapping[int, float], base: np.ndarray | None = None,
                 bounds: np.ndarray | None = None) -> ReducedModel:
    """The model over every parameter not in ``fixed`` (indices to values).

    ``base`` (``(npar,)`` or ``(B, npar)``) defaults to ``model.init``; the fixed
    entries are written into it.
    """
    base = np.array(model.init if base is None else base, dtype=float)
    for i, v in fixed.items():
        base[..., i] = v
    free = [i for i in range(model.npar) if i not in fixed]
    return ReducedModel(model, free, base, bounds)
