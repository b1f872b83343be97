"""Likelihood Explorer: the served page (minimal until the full app lands)."""

from __future__ import annotations

import argparse

import panel as pn

import model_core as mc
from model_core.examples import load_example


def create_app() -> pn.viewable.Viewable:
    """One page per session: the default model and its best fit."""
    spec = load_example()
    model = mc.build_model(spec)
    best = mc.fit(model)
    rows = "\n".join(f"| {n} | {v:.6g} |" for n, v in best.values.items())
    return pn.template.BootstrapTemplate(
        title="Likelihood Explorer",
        main=[pn.pane.Markdown(f"## {spec.name}\n\n{spec.description}\n\n"
                               f"| parameter | best fit |\n|---|---|\n{rows}\n\n"
                               f"NLL at the best fit: {best.fun:.10g}")],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve Likelihood Explorer.")
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5006)
    args = parser.parse_args()
    pn.serve(create_app, address=args.address, port=args.port, show=False,
             title="Likelihood Explorer")


if pn.state.served:
    create_app().servable()

if __name__ == "__main__":
    main()
