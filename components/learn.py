"""The Learn tab: short explanations with formulas, filled in with the live model's numbers.

Formulas are LaTeX between ``$`` (inline) and ``$$`` (display) in a Markdown
pane.  The ``dollarmath`` plugin of markdown-it keeps them away from the
Markdown parser (underscores stay subscripts) and hands them to Bokeh's
bundled MathJax as ``\\( ... \\)`` and ``$$ ... $$``: no web requests.
Every section refers to something on screen and quotes the current model
(its NLL minimum, thresholds, Hessian).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import panel as pn
import param
from mdit_py_plugins.dollarmath import dollarmath_plugin
from panel.viewable import Viewer

import model_core as mc

from .state import StateParameter, free_parameters

__all__ = ["Learn", "likelihood_formula"]

_FORMULAS = {
    "uncorrelated_background": r"""
$$-\log L(\mu, c, \theta) = -\sum_i \log \mathrm{Pois}\big(n_i \,\big|\, \mu S_i(c) + b_i
+ \sigma_i \theta_i\big) - \sum_i \log \mathcal{N}(\theta_i \,|\, 0, 1)$$

Each bin counts $n_i$ events; the background $b_i$ may shift by $\sigma_i\theta_i$, and the
nuisance parameters $\theta_i$ are pulled back to zero by unit Gaussians.""",
    "correlated_background": r"""
$$-\log L(\mu, c, \theta) = -\sum_i \log \mathrm{Pois}\big(n_i \,\big|\, \mu S_i(c) + b_i
+ \sigma_i \theta_i\big) - \log \mathcal{N}(\theta \,|\, 0, \rho)$$

as for uncorrelated backgrounds, with $\sigma_i = \sqrt{\Sigma_{ii}}$ and the nuisance
parameters correlated through $\rho = D^{-1}\Sigma D^{-1}$.""",
    "multivariate_normal": r"""
$$-\log L(\mu, c) = \tfrac12 r^{\mathsf T}\Sigma^{-1} r + \tfrac12\log\det(2\pi\Sigma),
\qquad r = n - \mu S(c) - b$$

The counts are treated as Gaussian with covariance $\Sigma$ (no nuisance parameters).""",
    "histfactory": r"""
$$-\log L(\eta, \chi) = -\sum_{c,b} \log \mathrm{Pois}\big(n_{cb} \,\big|\,
\nu_{cb}(\eta, \chi)\big) - \sum_j \log p_j(a_j \,|\, \chi_j)$$

a HistFactory workspace: every channel $c$ and bin $b$ expects $\nu_{cb}$ events, the
samples' yields scaled by the free factors $\eta$ (such as the signal strength) and shifted
by the nuisance parameters $\chi$, each tied to its auxiliary measurement $a_j$.""",
}


def _mathjax(content: str, options: dict[str, Any]) -> str:
    """TeX for Bokeh's MathJax, with the characters HTML would swallow replaced."""
    tex = content.replace("<", r"\lt ").replace(">", r"\gt ").replace("&", r"\&")
    return f"$${tex}$$" if options.get("display_mode") else rf"\({tex}\)"


#: One plugin object, so Panel's parser cache is reused.
MATH_PLUGIN = partial(dollarmath_plugin, renderer=_mathjax, double_inline=True)


def likelihood_formula(kind: str) -> str:
    """The NLL of a counting kind, in Markdown with LaTeX."""
    return _FORMULAS.get(kind, "The model's NLL as defined by its workspace.")


class Learn(Viewer):
    """Explanations tied to the session's current model."""

    state = StateParameter()
    active = param.Boolean(default=True, doc="""
        Whether the text is on screen; while it is not, it is rewritten only when shown.""")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.text = pn.pane.Markdown("", sizing_mode="stretch_width", css_classes=["le-learn"],
                                     max_width=900, plugins=[MATH_PLUGIN])
        self._stale = False
        self.state.param.watch(self._update, ["best", "confidence_level"])
        self._update()  # writes the text, or marks it stale when created off screen

    def _update(self, *events: Any) -> None:
        if not self.active:
            self._stale = True
            return
        self._stale = False
        self.text.object = self.markdown()

    @param.depends("active", watch=True)
    def _shown(self) -> None:
        if self.active and self._stale:
            self._update()

    def markdown(self) -> str:
        """The whole text for the current model."""
        state = self.state
        spec, model, best, cl = state.spec, state.model, state.best, state.confidence_level
        free = free_parameters(model)
        k = len(free)
        rows = "\n".join(
            f"| {d} | {mc.delta_chi2(cl, d):.3f} | {mc.nll_threshold(best.fun, cl, d):.4f} |"
            for d in sorted({1, 2, min(3, max(k, 1)), max(k, 1)}))
        idx = [model.index(n) for n in free]
        block = best.hess[np.ix_(idx, idx)] if idx else np.zeros((0, 0))
        eig = np.linalg.eigvalsh(block) if idx else np.zeros(0)
        eig_text = ", ".join(f"{v:.3g}" for v in eig) or "—"
        free_text = ", ".join(f"`{n}`" for n in free) or "—"
        grad = model.value_and_grad(model.init)[1]
        grad_text = ", ".join(f"`{n}`: {g:+.3g}" for n, g in zip(model.parameter_names, grad,
                                                               strict=True))
        flat = ""
        if len(best.flat_directions):
            direction = ", ".join(f"`{n}` {v:+.2f}" for n, v in zip(
                model.parameter_names, best.flat_directions[0], strict=True) if abs(v) > 1e-3)
            flat = (f"\n\n**This model has a flat direction** ({direction}): one Hessian "
                    "eigenvalue is zero, so the quadratic picture gives an infinitely long "
                    "region. Whitening alone would squash that valley to a point; the finder "
                    "guards against it and its chains walk along the valley instead.")
        return rf"""
### The likelihood
The current model, **{spec.name}**, is a `{spec.kind}` likelihood:
{likelihood_formula(spec.kind)}

Everything on screen is the negative log-likelihood (NLL). Its smallest value here is
$\mathrm{{NLL}}_\min = {best.fun:.6g}$, at the best fit
({", ".join(f"`{n}` = {v:.4g}" for n, v in best.values.items())}).

### The gradient
The arrows on the **map** show the direction of steepest ascent of $\log L$:
$$v = -\nabla\,\mathrm{{NLL}}(\theta) = \nabla \log L(\theta).$$
They point towards the best fit and cross the contour lines at right angles; their length
grows with the slope. At the best fit the gradient vanishes. At the starting values the
gradient of the NLL is ({grad_text}); a fit follows it downhill, using the Hessian
$H = \nabla^2\,\mathrm{{NLL}}$ to choose the step (Newton's method).

### Profiles
To study one parameter $\theta_j$ we can either keep the others at the best fit (a **scan**,
dashed in the Profiles tab) or re-fit them at every value (the **profile**, solid):
$$\mathrm{{NLL}}_p(\theta_j) = \min_{{\theta_{{i \neq j}}}} \mathrm{{NLL}}(\theta).$$
The profile is never above the scan: re-fitting can only lower the NLL. Where they differ,
the parameter is correlated with others.

### Wilks' theorem and the threshold
For large samples, $\Delta\chi^2(\theta) = 2\,[\mathrm{{NLL}}(\theta) - \mathrm{{NLL}}_\min]$
at the true $\theta$ follows a $\chi^2$ distribution with $k$ degrees of freedom ($k$ = number
of parameters tested together). The {100 * cl:.4g}% confidence region is where
$\Delta\chi^2 \le \Delta_k$, with $\Delta_k = F^{{-1}}_{{\chi^2_k}}({cl:.4g})$; its boundary
is the level $T = \mathrm{{NLL}}_\min + \Delta_k / 2$. For this model:

| $k$ | $\Delta_k$ | $T$ |
|---|---|---|
{rows}

The orange line in each profile is $\Delta_1$; the orange contour on the map is $\Delta_2$;
the white lines are the 1σ and 2σ levels for two parameters.

### Whitening
Near the best fit $\mathrm{{NLL}} \approx \mathrm{{NLL}}_\min + \tfrac12\,\delta^{{\mathsf T}}
H\,\delta$ with $\delta = \theta - \hat\theta$. Writing $H = L L^{{\mathsf T}}$ (Cholesky) and
$\varphi = L^{{\mathsf T}}\delta$ turns this into $\mathrm{{NLL}}_\min + \tfrac12|\varphi|^2$: in
whitened coordinates the confidence region is roughly a sphere of radius $\sqrt{{\Delta_k}}$,
whatever the correlations. Here the Hessian over the free parameters ({free_text})
has eigenvalues {eig_text}; their spread is how elongated the region is.{flat}

### How the contour finder works
1. **Best fit** from several starts, so that separate basins are found.
2. **Whitening** with the Hessian (profiled parameters folded in through the Schur complement).
3. **Radial search**: along many directions $u$ from the best fit, find the radius $r$ with
   $\mathrm{{NLL}}(\hat\theta + r\,L^{{-\mathsf T}}u) = T$, all rays at once.
4. **Gap detection**: directions far from every point found so far seed the next stage.
5. **Constrained chains** (RATTLE): walk on the surface $\mathrm{{NLL}} = T$, each step projected
   back onto it along $\nabla\,\mathrm{{NLL}}$, with the momentum kept tangent:
   $$\theta' = \theta + \varepsilon p - \lambda\,\nabla\mathrm{{NLL}},\quad
   \mathrm{{NLL}}(\theta') = T.$$
   Chains reach the parts of the surface no straight ray from the best fit can see.

The **Contour** tab runs this in the background and streams the points; the residual
histogram checks that every point has $\mathrm{{NLL}} - T \approx 0$.
"""

    def __panel__(self) -> pn.viewable.Viewable:
        return self.text
