"""``engagegen simulate`` and ``engagegen optimum``: one post, and the best any post can do."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer
from rich.table import Table

from engagegen.cli.app import app
from engagegen.cli.common import FORCE_HELP, console, friendly_errors, load_network, output_file, parse_agent
from engagegen.config import ConfigError, from_dict
from engagegen.files import atomic_path
from engagegen.network import SocialNetwork, place_agent
from engagegen.training.build import build_engagement
from engagegen.training.config import EngagementConfig

_MODELS = ("bcm", "ic", "lt", "fj", "feed")
_MODEL_HELP = "Engagement model: bcm (bounded-confidence cascade), ic, lt, fj, or feed (a recommender-driven feed)."
_PLOT_SUFFIXES = (".png", ".svg", ".pdf")


def _config(model: str, epsilon: float, p: float, runs: int) -> EngagementConfig:
    """The engagement settings, checked before the network is read."""
    if model not in _MODELS:
        raise typer.BadParameter(f"unknown engagement model {model!r}; choose one of {', '.join(_MODELS)}",
                                 param_hint="--model")
    try:
        return from_dict(EngagementConfig, {"model": model, "epsilon": epsilon, "p": p, "n_runs": runs})
    except ConfigError as exc:
        raise typer.BadParameter(str(exc).removeprefix("<root>: ")) from None


def _model(cfg: EngagementConfig, seed: int, net: SocialNetwork):
    return build_engagement(cfg, seed, network=net)


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
    """Post one message from the agent and report who engages.

    Example: engagegen simulate net.npz --agent central --model bcm --message 0.3
    """
    cfg = _config(model, epsilon, p, runs)
    with friendly_errors():
        net = load_network(network)
        source = place_agent(net, parse_agent(agent))
        result = _model(cfg, seed, net).simulate(net, source, message)
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
    plot: Path | None = typer.Option(None, help="Write a plot of engagement against s here (.png, .svg or .pdf)."),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
) -> None:
    """The best engagement any post can reach from the agent, and every interval of s reaching it.

    Example: engagegen optimum net.npz --agent central --plot optimum.png
    """
    cfg = _config(model, epsilon, p, runs)
    if plot is not None:
        output_file(plot, force=force, inputs=(network,), suffixes=_PLOT_SUFFIXES, option="--plot")
    with friendly_errors():
        net = load_network(network)
        source = place_agent(net, parse_agent(agent))
        engagement = _model(cfg, seed, net)
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
        try:
            with atomic_path(plot) as tmp:
                fig.savefig(tmp, dpi=120, bbox_inches="tight")
        finally:
            plt.close(fig)
        console.print(f"plot written to {plot}")
