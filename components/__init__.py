"""Panel views of the Likelihood Explorer over one per-session :class:`SessionState`.

The views hold no likelihood maths: every number they show comes from
:mod:`model_core`.  ``state`` is the session's data store (with ``analysis`` and
``contour_run`` derived from it), ``jobs`` runs long work off the session's event loop,
``plots`` and ``contour_plots`` arrange results for the Bokeh and plotly figures.
"""

from .state import SessionState

__all__ = ["SessionState"]
