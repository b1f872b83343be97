"""Gather and scatter-add along the last axis, as differentiable autograd primitives.

``gather(x, plan)`` is ``x[..., plan.index]``; ``scatter(v, plan)`` adds
``v[..., m]`` into position ``plan.index[m]`` of a length-``plan.size`` last
axis.  They are each other's adjoint, so each one's derivative is the other
and derivatives of any order stay cheap: autograd's generic indexing rule
scatters with ``numpy.add.at`` and would need dense one-hot products otherwise.
"""

from __future__ import annotations

import math

import autograd.numpy as anp
import numpy as np
import scipy.sparse
from autograd.extend import Box, defvjp, primitive

__all__ = ["PLAIN", "TRACED", "ArrayOps", "IndexPlan", "gather", "gather_values", "ops_for",
           "scatter", "scatter_values"]

_FEW_ROWS = 8


class IndexPlan:
    """Constant positions ``index`` (length ``m``) into an axis of length ``size``.

    The sort order and group boundaries used by :func:`scatter` are computed once.
    """

    def __init__(self, index, size: int) -> None:
        self.index = np.asarray(index, dtype=np.intp).reshape(-1)
        self.size = int(size)
        if self.index.size and (self.index.min() < 0 or self.index.max() >= self.size):
            raise ValueError(f"indices must lie in [0, {self.size})")
        self._order = np.argsort(self.index, kind="stable")
        ordered = self.index[self._order]
        self._starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if ordered.size \
            else np.zeros(0, dtype=np.intp)
        self._targets = ordered[self._starts]
        self._unique = self._targets.size == self.index.size
        # for many rows a sparse product sums fastest; for a few, reduceat
        m = self.index.size
        self._summing = scipy.sparse.csr_matrix((np.ones(m), (self.index, np.arange(m))),
                                                shape=(self.size, m))

    def __len__(self) -> int:
        return self.index.size


def gather_values(x, plan: IndexPlan):
    """``x[..., plan.index]`` on plain arrays."""
    return x[..., plan.index]


def scatter_values(v, plan: IndexPlan):
    """Sum ``v[..., m]`` into position ``plan.index[m]`` of a new last axis of ``plan.size``."""
    shape = np.shape(v)[:-1]
    rows = math.prod(shape)
    if len(plan) and not plan._unique and rows > _FEW_ROWS:
        flat = np.reshape(v, (rows, len(plan)))
        return np.asarray(plan._summing @ flat.T).T.reshape(shape + (plan.size,))
    out = np.zeros(shape + (plan.size,))
    if not len(plan):
        return out
    if plan._unique:
        out[..., plan.index] = v
    else:
        out[..., plan._targets] = np.add.reduceat(v[..., plan._order], plan._starts, axis=-1)
    return out


gather = primitive(gather_values)
scatter = primitive(scatter_values)
defvjp(gather, lambda ans, x, plan: lambda g: scatter(g, plan))
defvjp(scatter, lambda ans, v, plan: lambda g: gather(g, plan))


class ArrayOps:
    """The array functions a computation uses: plain numpy, or autograd's when traced.

    Code written against ``ops.np``, ``ops.gather`` and ``ops.scatter`` runs at
    numpy speed on plain arrays (autograd's wrappers cost microseconds per
    call) and stays differentiable when given autograd boxes.
    """

    def __init__(self, traced: bool) -> None:
        self.np = anp if traced else np
        self.gather = gather if traced else gather_values
        self.scatter = scatter if traced else scatter_values


PLAIN, TRACED = ArrayOps(False), ArrayOps(True)


def ops_for(x) -> ArrayOps:
    """:data:`TRACED` when ``x`` is being differentiated by autograd, else :data:`PLAIN`."""
    return TRACED if isinstance(x, Box) else PLAIN
