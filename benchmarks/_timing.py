"""Timing helper shared by the benchmark scripts: medians of repeated runs."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

__all__ = ["median_time", "report"]


def median_time(fn: Callable[[], object], *, repeat: int = 7, number: int = 1,
                warmup: int = 1) -> float:
    """Median wall time of ``fn`` in seconds over ``repeat`` runs of ``number`` calls each."""
    for _ in range(warmup):
        fn()
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - start) / number)
    return statistics.median(runs)


def report(label: str, seconds: float, target: float | None = None,
           reference: float | None = None) -> None:
    """Print one line: the median in convenient units, the target and a ratio to a reference."""
    unit, scale = ("ms", 1e3) if seconds >= 1e-3 else ("us", 1e6)
    line = f"{label:<58s} {seconds * scale:10.3f} {unit}"
    if target is not None:
        line += f"   target < {target * scale:g} {unit} {'OK' if seconds < target else 'MISSED'}"
    if reference is not None:
        line += f"   reference {reference * scale:.3f} {unit} (x{reference / seconds:.1f} faster)"
    print(line, flush=True)
