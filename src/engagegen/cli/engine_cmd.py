"""``engagegen simulate`` and ``engagegen optimum``: one post, and the best any post can do."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer
from rich.table import Table

from engagegen.cli.app import app
from engagegen.cli.common import console, friendly_errors, load_network, parse_agent
from engagegen.network import place_agent
from engagegen.training.build import build_engagement
from engagegen.training.config import EngagementConfig

_MODEL_HELP = "Engagement model: bcm (bounded-confidence cascade), ic, lt, fj."


def _model(model: str, epsilon: float, p: float, runs: int, seed: int):
    return build_engagement(EngagementConfig(model=model, epsilon=epsilon, p=p, n_runs=runs), seed)


@app.command()
def simulate(
    network: Path = typer.Argument(..., help="Network file (.npz)."),
    message: float = typer.Option(..., "--message", "-s", help="Opinion value s of the post, in [0, 1]."),
    agent: str = typer.Option("central", help="Agent position (central, comm-largest, echo-high, ...) or a user id."),
    model: str = typer.Option("bcm", help=_MODEL_HELP),
    epsilon: float = typer.Option(0.2, help="Confidence bound: users within epsilon of s engage."),
    p: float = typer.Option(0.5, help="Edge probability (ic)."),
    runs: int = typer.Option(256, help="Monte Carlo runs (ic, lt)."),
    seed: int = typer.Option(0, help="Seed of the Monte Carlo runs."),
) -> None:
    """Post one message from the agent and report who engages."""
    with friendly_errors():
        net = load_network(network)
        source = place_agent(net, parse_agent(agent))
        result = _model(model, epsilon, p, runs, seed).simulate(net, source, message)
    table = Table(title=f"{model} cascade from user {source}, s = {message:g}")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_row("users engaged", f"{result.engaged:g}")
    table.add_row("share of users", f"{result.engaged / max(net.n_users - 1, 1):.1%}")
    if result.ci is not None:
        table.add_row("95% interval", f"{result.ci[0]:.2f} .. {result.ci[1]:.2f}")
    for key, value in result.extra.items():
        table.add_row(str(key), f"{value:.4g}" if isinstance(value, float) else str(value))
    console.print(table)


@app.command()
def optimum(
    network: Path = typer.Argument(..., help="Network file (.npz)."),
    agent: str = typer.Option("central", help="Agent position or a user id."),
    model: str = typer.Option("bcm", help=_MODEL_HELP),
    epsilon: float = typer.Option(0.2, help="Confidence bound."),
    p: float = typer.Option(0.5, help="Edge probability (ic)."),
    runs: int = typer.Option(256, help="Monte Carlo runs (ic, lt)."),
    seed: int = typer.Option(0, help="Seed of the Monte Carlo runs."),
    plot: Path | None = typer.Option(None, help="Write a PNG of engagement against s here."),
) -> None:
    """The best engagement any post can reach from the agent, and every interval of s reaching it."""
    with friendly_errors():
        net = load_network(network)
        source = place_agent(net, parse_agent(agent))
        engagement = _model(model, epsilon, p, runs, seed)
        opt = engagement.optimum(net, source)
    console.print(f"optimum: [bold]{opt.value:g}[/bold] of {net.n_users - 1} users from agent {source} "
                  f"({'exact' if opt.exact else 'on a grid'}: {opt.method})")
    console.print(f"best message value: s = {opt.message:.6g}")
    console.print("optimal intervals: " + ", ".join(str(iv) for iv in opt.intervals))
    if plot is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        grid = np.linspace(0.0, 1.0, 1001)
        values = engagement.engagement(net, source, grid)
        fig, ax = plt.subplots(figsize=(7, 3.2))
        ax.step(grid, values, where="mid", lw=1)
        for iv in opt.intervals:
            ax.axvspan(iv.lo, iv.hi, color="tab:green", alpha=0.25)
        ax.axhline(opt.value, color="k", ls="--", lw=0.8)
        ax.set_xlabel("opinion value s of the post")
        ax.set_ylabel("users engaged")
        ax.set_title(f"agent {source}: optimum {opt.value:g}")
        plot.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(plot, dpi=120, bbox_inches="tight")
        plt.close(fig)
        console.print(f"plot written to {plot}")
