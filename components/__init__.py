"""Panel views of the Likelihood Explorer over one per-session :class:`SessionState`.

The views hold no likelihood maths: every number they show comes from
:mod:`model_core`.  ``plots`` and ``contour_plots`` turn results into
HoloViews / plotly objects; ``jobs`` runs long work on a worker thread.
"""

from .state import SessionState

__all__ = ["SessionState"]
