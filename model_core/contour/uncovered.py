"""Placeholder."""
from __future__ import annotations

__all__ = ["estimate_uncovered"]


def estimate_uncovered(run):
    return None
