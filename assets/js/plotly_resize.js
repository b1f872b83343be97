// Likelihood Explorer: skip Panel's redundant plotly resizes.
//
// Panel 1.9's Plotly pane calls Plotly.relayout(width, height) after every layout pass of
// the page (and Bokeh lays out the whole page whenever any text on it changes), and lets
// every Plotly.react fall back to plotly's default size before resizing again.  A 3-D
// (WebGL) scene redraws completely each time: ~0.3-1 s in a software-rendered browser,
// for every progress message of a streaming contour.  This patch resizes only when the
// size changed (never while hidden) and hands the size to Plotly.react, so that an update
// of the data redraws once.
(function patchPlotlyResize(tries) {
  const Panel = window.Bokeh && window.Bokeh.Panel
  const model = Panel && Panel.PlotlyPlot
  if (model == null) {
    if (tries > 0) setTimeout(() => patchPlotlyResize(tries - 1), 20)
    return
  }
  const view = model.prototype.default_view.prototype
  if (view.__leResizePatched) return
  const resize = view.resize_layout
  const layoutData = view._layout_data
  view.resize_layout = function () {
    if (!this._rendered || this.container == null) return
    const width = Math.min(this.model.width || this.el.clientWidth, this.model.max_width || Infinity)
    const height = Math.min(this.model.height || this.el.clientHeight, this.model.max_height || Infinity)
    if (!width || !height) return  // hidden: sized when shown
    const full = this.container._fullLayout
    if (full != null && full.width === width && full.height === height) return
    this.__leSize = [width, height]
    resize.call(this)
  }
  view._layout_data = function () {
    const layout = layoutData.call(this)
    if (this.__leSize != null) {
      if (layout.width == null) layout.width = this.__leSize[0]
      if (layout.height == null) layout.height = this.__leSize[1]
    }
    return layout
  }
  view.__leResizePatched = true
})(500)
