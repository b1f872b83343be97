"""plotly.js, loaded into the page once the page is up rather than with it.

plotly.js is the largest script of the page (~4.8 MB); parsed with the rest of the page
it held the first plot back by about a second.  Only the contour finder's figures use it,
so the page loads without it: :class:`PlotlyLoader`, an empty element of the page, fetches
it once the browser is idle after drawing the page; its ``loaded`` param turns True when
``window.Plotly`` exists, and the figures are attached then.  (The page's layout never
changes to do this: a layout change right after loading could swallow a first click.)
"""

from __future__ import annotations

from pathlib import Path

import panel
import param
from panel.custom import JSComponent

__all__ = ["PLOTLY_JS", "PlotlyLoader"]

#: Where Panel serves its bundled plotly.js (relative to the page).  Found on disk rather
#: than read from Panel's plotly model: importing that model puts plotly.js back into the
#: page's head.
PLOTLY_JS = "static/extensions/panel/bundled/plotlyplot/" + max(
    (Path(panel.__file__).parent / "dist" / "bundled" / "plotlyplot").glob("plotly-*.min.js")
).name


class PlotlyLoader(JSComponent):
    """An empty element that loads plotly.js into the page, once."""

    src = param.String(default=PLOTLY_JS, doc="The script's address.")
    loaded = param.Boolean(default=False, doc="Whether window.Plotly exists in the page.")

    _esm = """
export function render({ model }) {
  const done = () => { model.loaded = true }
  if (window.Plotly) { done(); return }
  const load = () => {
    let script = document.querySelector('script[data-le-plotly]')
    if (!script) {
      script = document.createElement('script')
      script.src = model.src
      script.dataset.lePlotly = 'loading'
      script.addEventListener('load', () => { script.dataset.lePlotly = 'loaded' })
      document.head.appendChild(script)
    }
    if (script.dataset.lePlotly === 'loaded') done()
    else script.addEventListener('load', done)
  }
  // once the page has drawn itself (parsing plotly.js blocks the page for about a second)
  if (window.requestIdleCallback) window.requestIdleCallback(load, { timeout: 3000 })
  else setTimeout(load, 1000)
}
"""
