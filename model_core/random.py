"""Randomness helpers (SPEC 7): one ``rng`` argument, independent spawned streams."""

from __future__ import annotations

import numpy as np

__all__ = ["RngLike", "as_generator", "spawn"]

RngLike = int | np.random.Generator | np.random.SeedSequence | None


def as_generator(rng: RngLike) -> np.random.Generator:
    """Normalise ``rng`` (seed, ``SeedSequence``, ``Generator`` or ``None``) to a ``Generator``."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def spawn(rng: np.random.Generator, n: int) -> list[np.random.Generator]:
    """``n`` independent child generators, drawn before any work is dispatched."""
    return rng.spawn(n)
