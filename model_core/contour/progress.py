"""Progress of a contour run on a terminal (the ``contour`` command), drawn by tqdm.

One line on stderr: the stage, the points found so far (the only count that
always grows), the stage's own progress and the NLL evaluations, e.g.
``rattle: 6512 points, chain step 180 (at most 4000), 412,386 NLL evaluations``.
A stage's count has a total only where the total is known: rays solved of
those cast, chain seeds found of those wanted.  The chains' ``n_steps`` is a
ceiling (they end as soon as they stop finding new surface) and the hole
filling has no fixed number of rounds, so those say so instead of a fraction
the run will not reach.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from .results import ContourBatch

__all__ = ["ContourProgress", "describe_batch"]

#: What each stage's ``n_done`` / ``n_total`` count.
_STAGE_COUNTS = {
    "mle": "best fit",
    "explore": "search round {done} (at most {total})",
    "radial": "rays {done}/{total}",
    "gaps": "chain seeds {done}/{total}",
    "rattle": "chain step {done} (at most {total})",
    "fill": "filling holes, round {done}",
    "faces": "bound faces {done}/{total}",
    "done": "finished",
}
_FORMAT = "{desc}: {n} points{postfix} [{elapsed}]"


def describe_batch(batch: ContourBatch) -> str:
    """The stage's progress in words, e.g. ``"rays 1200/2000"``.

    >>> import numpy as np
    >>> empty = np.zeros(0)
    >>> def batch(stage, done, total):
    ...     return ContourBatch(stage, np.zeros((0, 2)), empty, empty, empty, done, total, 0,
    ...                         0, ("a", "b"), np.zeros(2), 0.0, 1.0)
    >>> describe_batch(batch("radial", 1200, 2000))
    'rays 1200/2000'
    >>> describe_batch(batch("gaps", 100, 100)), describe_batch(batch("fill", 3, 0))
    ('chain seeds 100/100', 'filling holes, round 3')
    """
    return _STAGE_COUNTS[batch.stage].format(done=batch.n_done, total=batch.n_total)


class ContourProgress:
    """``on_batch`` callback drawing a run's progress; use it as a context manager.

    Parameters
    ----------
    enabled
        ``True`` draws, ``False`` stays silent, ``None`` (the default) draws only
        when ``file`` is a terminal.
    file
        Where to draw (default ``sys.stderr``).
    """

    def __init__(self, enabled: bool | None = None, file: TextIO | None = None) -> None:
        # imported here: only the command line draws progress (importing model_core stays light)
        from tqdm import tqdm

        self._bar = tqdm(desc="contour", unit=" points", bar_format=_FORMAT,
                         file=sys.stderr if file is None else file,
                         disable=None if enabled is None else not enabled)

    def __call__(self, batch: ContourBatch) -> None:
        bar = self._bar
        if batch.stage != "done":  # the line keeps the stage that found the last points
            bar.set_description_str(batch.stage, refresh=False)
        bar.set_postfix_str(f"{describe_batch(batch)}, {batch.n_evaluations:,} NLL evaluations",
                            refresh=False)
        bar.update(batch.n_points - bar.n)

    def close(self) -> None:
        """Draw the last state and end the line."""
        self._bar.close()

    def __enter__(self) -> ContourProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
