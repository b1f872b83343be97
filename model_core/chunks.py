"""Batched work in chunks of rows, under a memory budget.

A batched evaluation holds intermediate arrays of some size per row: a
HistFactory Hessian the yields' Jacobian and every product of two modifiers'
gradients, a Newton iteration a few matrices of ``npar**2`` per row.  Batches
of any size (a profile grid of a thousand points, a contour's rays) are
processed in chunks of rows whose estimated working set stays below
:data:`ROW_BUDGET`.  Rows are independent and every evaluation is row-wise
deterministic (``tests/model_core/test_batch_invariance.py``), so the results
are bit for bit those of one call over the whole batch.
"""

from __future__ import annotations

__all__ = ["FLOAT_BYTES", "ROW_BUDGET", "row_slices", "rows_per_chunk"]

#: Most bytes the intermediate arrays of one chunk of rows may take: a batch of any
#: size then allocates at most about this much beyond its inputs and outputs (a few
#: hundred MB at most beyond the data held, issue 12), while a chunk still holds
#: thousands of rows of a small model (the cost of a call is paid once per chunk).
ROW_BUDGET = 128 * 2**20
#: Bytes of one float64.
FLOAT_BYTES = 8


def rows_per_chunk(bytes_per_row: float) -> int:
    """How many rows of ``bytes_per_row`` working set fit into :data:`ROW_BUDGET` (at least 1)."""
    return max(int(ROW_BUDGET // max(float(bytes_per_row), 1.0)), 1)


def row_slices(n_rows: int, bytes_per_row: float) -> list[slice]:
    """Consecutive slices covering ``n_rows`` rows, each within the budget (one, empty,
    for no rows)."""
    size = rows_per_chunk(bytes_per_row)
    return [slice(start, min(start + size, n_rows)) for start in range(0, max(n_rows, 1), size)]
