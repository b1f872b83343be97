"""Placeholder."""
from __future__ import annotations

__all__ = ["faces_stage"]


def faces_stage(run):
    return
    yield
