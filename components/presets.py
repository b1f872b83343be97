"""The shipped example models as presets: readable names and one-line descriptions, the
teaching examples first."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import NamedTuple

from model_core.examples import EXAMPLES_DIR, example_names

__all__ = ["Preset", "SUMMARIES", "presets"]

#: One line on each shipped example, in the order shown (the simplest first, for teaching);
#: any other example follows by name, described by the first sentence of its description.
SUMMARIES = {
    "one_bin_counting": "n events over a background b ± σ_b and a signal s: the classic "
                        "counting experiment, every number editable.",
    "two_bin_uncorrelated": "Two counting bins, each background with its own nuisance "
                            "parameter (spey's gradient tutorial).",
    "three_shapes": "A signal mixing three shapes in two correlated Gaussian bins: a flat, "
                    "curved valley (spey's contour tutorial).",
    "three_shapes_correlated": "The three-shape signal over Poisson bins with a correlated "
                               "background.",
    "pyhf_one_bin": "The one-bin model as a pyhf workspace (shapesys): its structure read-only, "
                    "the observed count editable.",
    "pyhf_two_bin_shapesys": "pyhf's introductory two-bin model, a Poisson-constrained "
                             "background per bin.",
    "multi_channel": "A HistFactory signal and control region with normsys, histosys, "
                     "staterror and lumi.",
    "unbinned_demo": "An unbinned signal peak beside a binned control region (per-event "
                     "density ratios).",
}


class Preset(NamedTuple):
    """A shipped example: its file stem, its name and a line about it."""

    key: str
    name: str
    summary: str


def _first_sentence(text: str) -> str:
    sentence = text.split(". ", 1)[0].strip()
    return sentence if not sentence or sentence.endswith(".") else sentence + "."


@lru_cache(maxsize=1)
def presets() -> tuple[Preset, ...]:
    """Every shipped example (read once: the files do not change while the app runs)."""
    found = {}
    for key in example_names():
        raw = json.loads((EXAMPLES_DIR / f"{key}.json").read_text(encoding="utf-8"))
        summary = SUMMARIES.get(key) or _first_sentence(raw.get("description", ""))
        found[key] = Preset(key, raw.get("name", key), summary)
    order = [k for k in SUMMARIES if k in found] + sorted(set(found) - set(SUMMARIES))
    return tuple(found[k] for k in order)
