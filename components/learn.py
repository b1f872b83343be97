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
from model_core.toys import CoverageStudy

from . import plots
from .state import StateParameter, free_parameters

__all__ = ["Learn", "bounds_section", "coverage_section", "likelihood_formula"]

#: Below this many expected events in a bin, the Poisson counts are far from Gaussian.
SMALL_COUNTS = 10.0
#: q below this counts as zero (the toy's best fit on the truth's bound).
Q_ZERO = 1e-9
#: The coverage "agrees" with the nominal level when the nominal level lies in this
#: Clopper-Pearson interval (two standard deviations).
AGREEMENT_LEVEL = 0.9545

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


def bounds_section(model: mc.Model, best: mc.FitResult, confidence_level: float,
                   intervals: dict[str, Any]) -> str:
    """What the bounds of the model on screen do to its intervals (Markdown)."""
    bounded = [n for n in free_parameters(model)
               if np.isfinite(model.bounds[model.index(n)]).any()]
    cl = plots.format_level(confidence_level)
    text = r"""
### Intervals at a physical bound
Some parameters cannot take every value: a signal strength $\mu \ge 0$ (fewer than zero
signal events is unphysical), a scale factor $\gamma > 0$. The fit and the profiles stay
within these bounds, so an interval that would reach past one is cut at the bound.
"""
    if not bounded:
        return text + ("\nThe model on screen has no bounded parameter: load the "
                       "**One-bin counting experiment** preset ($\\mu \\ge 0$) to see one.\n")
    lines = []
    for name in bounded:
        i = model.index(name)
        lo, hi = model.bounds[i]
        value = best.x[i]
        line = f"- `{name}` ∈ [{lo:g}, {hi:g}], best fit {value:.4g}"
        if bool(best.at_bound[i]):
            line += (": **on the bound**. The likelihood is largest at the bound itself, "
                     "with a slope pointing out of the allowed range; Δχ² is measured from "
                     "there, and the interval is one-sided")
        interval = intervals.get(name)
        if interval is not None:
            line += f"; its {cl} CL profile interval is {plots.format_interval(interval)}"
            if "bound" in (interval.lower_kind, interval.upper_kind):
                line += (" — cut at the bound: the data alone would allow values beyond "
                         "it, so the interval is shorter than the curve would make it")
        else:
            line += f"; its {cl} CL interval appears in the Profiles tab"
        lines.append(line + ".")
    return text + "\nIn the model on screen:\n\n" + "\n".join(lines) + r"""

Near a bound Wilks' theorem needs care. When the true value lies on the bound, the
profile likelihood ratio does not follow $\chi^2_1$ but $\tfrac12\delta_0 + \tfrac12\chi^2_1$
(half the pseudo-experiments put the best fit on the bound, where $\Delta\chi^2 = 0$;
Chernoff's theorem), so the threshold $\Delta_1$ then gives a one-sided limit with more
than the nominal coverage, and an interval cut at a bound does not cover exactly the
stated CL. Try it: load the **One-bin counting experiment**, lower $n$ below $b$ and
watch $\hat\mu$ stop at 0 and the interval become $[0, \text{upper}]$.
"""


def coverage_section(study: CoverageStudy | None, kind: str, model: mc.Model,
                     best: mc.FitResult, confidence_level: float) -> str:
    """Coverage explained with the numbers of the session's ``study`` of ``model`` (of the
    spec kind ``kind``), in Markdown; the reasons a departure from nominal may have."""
    text = r"""
### Does the region cover? Pseudo-experiments
Wilks' theorem is a large-sample statement. Whether it holds for *this* model can be
checked by brute force: draw many pseudo-experiments (toys) at a chosen truth, fit each,
and count how often $q = 2\,[\mathrm{NLL}(\text{truth}) - \mathrm{NLL}_\min] \le \Delta_k$.
That fraction is the region's **coverage**; the $\mathrm{CL}$-quantile of the toys' $q$ is
the **toy-calibrated** threshold that covers exactly.
"""
    if study is None:
        return text + ("\nNo coverage study of the model on screen yet: open the **Coverage** "
                       "tab and press Start (1000 toys take about a second).\n")
    k, n = study.dof, study.n_ok
    truth = ", ".join(f"`{name}` = {value:.4g}" for name, value in
                      zip(study.parameter_names, study.at, strict=True))
    rows, verdicts = [], []
    for cl in study.confidence_levels:
        low, high = study.coverage_interval(cl)
        wide_low, wide_high = study.coverage_interval(cl, AGREEMENT_LEVEL)
        verdict = ("agrees" if wide_low <= cl <= wide_high else
                   "over-covers" if study.coverage[cl] > cl else "under-covers")
        verdicts.append(verdict)
        rows.append(f"| {plots.format_level(cl)} | {100 * study.coverage[cl]:.2f}% "
                    f"[{100 * low:.2f}, {100 * high:.2f}] | {verdict} | "
                    f"{mc.delta_chi2(cl, k):.3f} | {study.calibrated_threshold(cl):.3f} |")
    failed = (f" {study.n_failed} toy fits failed and are left out." if study.n_failed else "")
    text += rf"""
The study on screen drew {len(study.q):,} toys at {truth}, with the region's axes
{", ".join(f"`{p}`" for p in study.parameters)} ($k = {k}$).{failed}

| CL | coverage [68.27% Clopper-Pearson] | | Wilks $\Delta_{k}$ | toy-calibrated |
|---|---|---|---|---|
""" + "\n".join(rows) + "\n"
    if all(v == "agrees" for v in verdicts):
        return text + (f"\nWith {n:,} toys the coverage agrees with every nominal level "
                       "within its binomial error: Wilks' theorem holds here, and the "
                       "calibrated thresholds differ from $\\Delta_k$ by noise only.\n")
    reasons = []
    if kind != "multivariate_normal":  # Poisson counts
        try:
            smallest = float(np.min(model.expected(study.at)))
        except NotImplementedError:
            smallest = float("inf")
        if smallest < SMALL_COUNTS:
            reasons.append(f"**small counts**: the smallest expected count at the truth is "
                           f"{smallest:.3g} events; Poisson fluctuations that small are "
                           "discrete and skewed, far from the Gaussian Wilks assumes")
    for name in study.parameters:
        i = study.parameter_names.index(name)
        if np.any(np.isclose(study.at[i], model.bounds[i])):
            zero = float(np.mean(study.q[np.isfinite(study.q)] <= Q_ZERO))
            reasons.append(f"**a bound**: `{name}` = {study.at[i]:.4g} sits on its bound, "
                           f"so toys that would fit beyond it stop there; {100 * zero:.1f}% "
                           "of the toys have $q = 0$ (Chernoff: half of them, asymptotically)")
    if len(best.flat_directions):
        reasons.append("**a flat direction**: the Hessian at the best fit has a zero "
                       "eigenvalue (more parameters than the data pin down), so $q$ "
                       "gains fewer effective degrees of freedom than $k$")
    if len(best.minima_x) > 1:
        reasons.append(f"**several minima**: the observed data have {len(best.minima_x)} "
                       "separate best fits (a signal that is not linear in its parameters), "
                       "so $q$ is not the quadratic form Wilks' theorem needs")
    why = ("\n".join(f"- {r}" for r in reasons) if reasons else
           "- none of small counts, a bound or a flat direction applies: the departure comes "
           "from the likelihood's shape away from the quadratic approximation")
    cl = confidence_level
    calibrated, wilks = study.calibrated_threshold(cl), mc.delta_chi2(cl, k)
    return text + rf"""
Coverage departs from nominal here: at {plots.format_level(cl)} the toys need
$\Delta = {calibrated:.3f}$ where Wilks' theorem gives $\Delta_{k} = {wilks:.3f}$, so the
Wilks region is {"larger" if wilks > calibrated else "smaller"} than it should be and
{"over" if wilks > calibrated else "under"}-covers. Why, for this model:

{why}

The dotted purple line in the **Profiles** (a one-axis study) and the dotted magenta contour
on the **map** (a two-axis study of the map's axes) are these toy-calibrated thresholds.
"""


class Learn(Viewer):
    """Explanations tied to the session's current model."""

    state = StateParameter()
    active = param.Boolean(default=True, doc="""
        Whether the text is on screen; while it is not, it is rewritten only when shown.""")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.text = pn.pane.Markdown("", sizing_mode="stretch_width", css_classes=["le-learn"],
                                     max_width=900, plugins=[MATH_PLUGIN])
        self.state.param.watch(self._update, ["best", "confidence_level", "sigmas"])
        self.state.analysis.param.watch(self._update, "results")
        self.state.coverage.param.watch(self._update, ["study", "stale"])
        self._shown()

    def _update(self, *events: Any) -> None:
        if self.active:
            self.text.object = self.markdown()

    @param.depends("active", watch=True)
    def _shown(self) -> None:
        self.state.analysis.want("learn", self.active)
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
        results = state.analysis.results if state.analysis.revision == state.revision else {}
        intervals = {n: r.intervals.get(cl) for n, r in results.items()
                     if r.intervals.get(cl) is not None}
        bounds = bounds_section(model, best, cl, intervals)
        coverage = coverage_section(state.coverage.current, spec.kind, model, best, cl)
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

The dashed orange line in each profile is $\Delta_1$; the dashed orange contour on the map
is $\Delta_2$; the solid lines are the sigma levels chosen at the top of the page (1σ is
$\Delta_1 = 1$ in a profile, $\Delta_2 = 2.30$ on the map).
{bounds}
{coverage}

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
