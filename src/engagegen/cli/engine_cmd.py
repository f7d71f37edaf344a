"""``engagegen simulate`` and ``engagegen optimum``: one post, and the best any post can do."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, get_args, get_type_hints

import numpy as np
import typer
from rich.table import Table

from engagegen.cli.app import app
from engagegen.cli.common import (
    DEFAULT_RUN,
    FORCE_HELP,
    console,
    examples,
    friendly_errors,
    load_network,
    output_file,
    parse_agent,
)
from engagegen.config import ConfigError, from_dict
from engagegen.files import atomic_path
from engagegen.network import place_agent
from engagegen.training.build import build_engagement
from engagegen.training.config import BUILT_IN_MODELS, EngagementConfig

_RECOMMENDERS: tuple[str, ...] = get_args(get_type_hints(EngagementConfig)["recommender"])
_PLOT_SUFFIXES = (".png", ".svg", ".pdf")
_D = DEFAULT_RUN.engagement

# The engagement settings of both commands, as in a run config's ``engagement`` section.
EngagementOption = Annotated[str, typer.Option(
    "--engagement", "-e", help="Engagement model: bcm (bounded-confidence cascade), bcm-noisy, ic, lt, fj, feed "
                              "(a recommender-driven feed; see --recommender), or your own as package.module:ClassName "
                              "(this imports and runs that code; built without arguments).")]
EpsilonOption = Annotated[float, typer.Option(help="Confidence bound: users within epsilon of s engage.")]
POption = Annotated[float, typer.Option(help="Edge probability (ic, bcm-noisy).")]
NoiseOption = Annotated[float, typer.Option(help="Engagement probability outside epsilon (bcm-noisy).")]
RunsOption = Annotated[int, typer.Option(help="Monte Carlo runs (ic, lt, bcm-noisy).")]
RecommenderOption = Annotated[str, typer.Option(help=f"Feed ranking (feed): {', '.join(_RECOMMENDERS)}.")]
FeedSizeOption = Annotated[int, typer.Option(help="Posts each user sees per round (feed).")]
RoundsOption = Annotated[int, typer.Option(help="Rounds of the feed (feed).")]
FollowShareOption = Annotated[float, typer.Option(help="Share of a feed's slots for followed accounts (feed).")]
SeedOption = Annotated[int, typer.Option(help="Seed of the Monte Carlo runs and of the feed's users' interests.")]
AgentOption = Annotated[str, typer.Option(help="Agent position (central, comm-largest, echo-high, ...) or a user id.")]


def _config(engagement: str, epsilon: float, p: float, noise: float, runs: int, recommender: str, feed_size: int,
            rounds: int, follow_share: float) -> EngagementConfig:
    """The engagement settings, checked before the network is read."""
    if engagement not in BUILT_IN_MODELS and ":" not in engagement:
        raise typer.BadParameter(f"unknown engagement model {engagement!r}; choose one of {', '.join(BUILT_IN_MODELS)}, "
                                 "or your own as package.module:ClassName", param_hint="--engagement")
    try:
        return from_dict(EngagementConfig, {"model": engagement, "epsilon": epsilon, "p": p, "noise": noise, "n_runs": runs,
                                            "recommender": recommender, "k": feed_size, "rounds": rounds,
                                            "follow_share": follow_share})
    except ConfigError as exc:
        raise typer.BadParameter(str(exc).removeprefix("<root>: ")) from None


@app.command(epilog=examples("engagegen simulate net.npz --agent central --message 0.3",
                             "engagegen simulate net.npz --engagement feed --recommender diverse --message 0.3"))
def simulate(
    network: Path = typer.Argument(..., help="Network file (.npz)."),
    message: float = typer.Option(..., "--message", "-s", help="Opinion value s of the post, in [0, 1]."),
    agent: AgentOption = DEFAULT_RUN.agent,
    engagement: EngagementOption = _D.model,
    epsilon: EpsilonOption = _D.epsilon,
    p: POption = _D.p,
    noise: NoiseOption = _D.noise,
    runs: RunsOption = _D.n_runs,
    recommender: RecommenderOption = _D.recommender,
    feed_size: FeedSizeOption = _D.k,
    rounds: RoundsOption = _D.rounds,
    follow_share: FollowShareOption = _D.follow_share,
    seed: SeedOption = 0,
) -> None:
    """Post one message from the agent and report who engages."""
    cfg = _config(engagement, epsilon, p, noise, runs, recommender, feed_size, rounds, follow_share)
    with friendly_errors():
        net = load_network(network)
        source = place_agent(net, parse_agent(agent))
        result = build_engagement(cfg, seed, network=net).simulate(net, source, message)
    table = Table(title=f"{engagement} cascade from user {source}, s = {message:g}")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_row("users engaged", f"{result.engaged:g}")
    table.add_row("share of users", f"{result.engaged / max(net.n_users - 1, 1):.1%}")
    if result.ci is not None:
        table.add_row("95% interval", f"{result.ci[0]:.2f} .. {result.ci[1]:.2f}")
    for key, value in result.extra.items():
        table.add_row(str(key), f"{value:.4g}" if isinstance(value, float) else str(value))
    console.print(table)


@app.command(epilog=examples("engagegen optimum net.npz --agent central --out optimum.png",
                             "engagegen optimum net.npz --engagement feed --recommender opinion",
                             "engagegen optimum net.npz --engagement mypackage.models:MyModel   # your own model"))
def optimum(
    network: Path = typer.Argument(..., help="Network file (.npz)."),
    agent: AgentOption = DEFAULT_RUN.agent,
    engagement: EngagementOption = _D.model,
    epsilon: EpsilonOption = _D.epsilon,
    p: POption = _D.p,
    noise: NoiseOption = _D.noise,
    runs: RunsOption = _D.n_runs,
    recommender: RecommenderOption = _D.recommender,
    feed_size: FeedSizeOption = _D.k,
    rounds: RoundsOption = _D.rounds,
    follow_share: FollowShareOption = _D.follow_share,
    seed: SeedOption = 0,
    out: Path | None = typer.Option(None, "--out", "-o", help="Write a plot of engagement against s here (.png, .svg or .pdf)."),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
) -> None:
    """The best engagement any post can reach from the agent, and every interval of s reaching it."""
    cfg = _config(engagement, epsilon, p, noise, runs, recommender, feed_size, rounds, follow_share)
    if out is not None:
        output_file(out, force=force, inputs=(network,), suffixes=_PLOT_SUFFIXES)
    with friendly_errors():
        net = load_network(network)
        source = place_agent(net, parse_agent(agent))
        model = build_engagement(cfg, seed, network=net)
        opt = model.optimum(net, source)
    console.print(f"optimum: [bold]{opt.value:g}[/bold] of {net.n_users - 1} users from agent {source} "
                  f"({'exact' if opt.exact else 'on a grid'}: {opt.method})")
    console.print(f"best message value: s = {opt.message:.6g}")
    console.print("optimal intervals: " + ", ".join(str(iv) for iv in opt.intervals))
    if out is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        grid = np.linspace(0.0, 1.0, 1001)
        values = model.engagement(net, source, grid)
        fig, ax = plt.subplots(figsize=(7, 3.2))
        ax.step(grid, values, where="mid", lw=1)
        for iv in opt.intervals:
            ax.axvspan(iv.lo, iv.hi, color="tab:green", alpha=0.25)
        ax.axhline(opt.value, color="k", ls="--", lw=0.8)
        ax.set_xlabel("opinion value s of the post")
        ax.set_ylabel("users engaged")
        ax.set_title(f"agent {source}: optimum {opt.value:g}")
        try:
            with atomic_path(out) as tmp:
                fig.savefig(tmp, dpi=120, bbox_inches="tight")
        finally:
            plt.close(fig)
        console.print(f"plot written to {out}")
