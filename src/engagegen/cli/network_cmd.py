"""``engagegen network``: generate, convert and inspect social networks (.npz files)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path

import typer

from engagegen.cli.app import app
from engagegen.cli.common import FORCE_HELP, console, err_console, examples, friendly_errors, load_network, output_file
from engagegen.network import (
    NetworkWarning,
    SocialNetwork,
    load_edgelist,
    network_stats,
    paper_network,
    planted_partition_network,
)
from engagegen.network.io import HeaderNote
from engagegen.network.synthetic import PAPER_SEED

network_app = typer.Typer(help="Generate, convert and inspect social networks (.npz files).", no_args_is_help=True)
generate_app = typer.Typer(help="Generate a synthetic network and print its statistics.", no_args_is_help=True)
network_app.add_typer(generate_app, name="generate")
app.add_typer(network_app, name="network")

_OPINIONS_HELP = "Opinion preset (positive, negative, neutral, uniform) or Beta shape 'alpha,beta'."


class Direction(str, Enum):
    influence = "influence"
    follow = "follow"


def _opinions(value: str) -> str | tuple[float, float]:
    if "," not in value:
        return value
    try:
        alpha, beta = (float(v) for v in value.split(","))
    except ValueError:
        raise typer.BadParameter(f"expected a preset name or 'alpha,beta', got {value!r}") from None
    return alpha, beta


def _level(value: str) -> str | float:
    try:
        return float(value)
    except ValueError:
        return value


def _out_path(out: Path, force: bool, inputs: tuple[Path | None, ...] = ()) -> Path:
    return output_file(out, force=force, inputs=inputs, suffixes=(".npz",))


@contextmanager
def _shown_warnings() -> Iterator[None]:
    """Repairs of the input (dropped self-loops, duplicate edges) as yellow lines, not Python warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NetworkWarning)
        yield
    for w in caught:
        kind = "[dim]note:[/dim]" if issubclass(w.category, HeaderNote) else "[yellow]warning:[/yellow]"
        err_console.print(f"{kind} {w.message}", highlight=False)


def _save_and_show(net: SocialNetwork, out: Path) -> None:
    with console.status("computing statistics"):
        table = network_stats(net).to_table(title=f"{out}")
    net.save(out)
    console.print(table)
    console.print(f"wrote [bold]{out}[/bold]")


@generate_app.command("paper", epilog=examples("engagegen network generate paper --opinions negative --out net.npz"))
def generate_paper(
    out: Path = typer.Option(..., "--out", "-o", help="Network file to write (.npz)."),
    opinions: str = typer.Option("negative", help=_OPINIONS_HELP),
    modularity: str = typer.Option("high", help="high (0.75), medium (0.5), low (0.25) or a number in [0, 1]."),
    homophily: str = typer.Option("high", help="high (0.75), medium (0.5), low (0.25) or a number in [0, 1]."),
    users: int = typer.Option(100, help="Users of the LFR benchmark before the largest component is kept."),
    seed: int = typer.Option(PAPER_SEED, help="Seed of the graph and the opinions."),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
) -> None:
    """The paper's synthetic network (LFR benchmark, homophilous Beta opinions), as the authors build it."""
    with friendly_errors():
        out = _out_path(out, force)
        net = paper_network(_opinions(opinions), _level(modularity), _level(homophily), users, seed)
        _save_and_show(net, out)


@generate_app.command("planted", epilog=examples("engagegen network generate planted --users 1000000 --out big.npz"))
def generate_planted(
    out: Path = typer.Option(..., "--out", "-o", help="Network file to write (.npz)."),
    users: int = typer.Option(100_000, help="Number of users."),
    avg_degree: float = typer.Option(10.0, help="Mean out-degree (before self-loops and repeats are dropped)."),
    communities: int | None = typer.Option(None, help="Number of communities.", show_default="sqrt(users)"),
    mixing: float = typer.Option(0.2, help="Share of edges drawn towards other communities."),
    degree_exponent: float = typer.Option(2.5, help="Power-law exponent of the degree propensities (> 2)."),
    opinions: str = typer.Option("uniform", help=_OPINIONS_HELP),
    homophily: str = typer.Option("0.75", help="Probability that a user holds its community's opinion."),
    directed: bool = typer.Option(False, "--directed/--symmetric", help="Directed edges, or every edge both ways."),
    seed: int = typer.Option(PAPER_SEED, help="Seed of everything."),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
) -> None:
    """A large degree-corrected planted-partition network (10^6 users in seconds)."""
    with friendly_errors():
        out = _out_path(out, force)
        with console.status(f"generating {users:,} users"):
            net = planted_partition_network(
                users, avg_degree, communities, mixing, degree_exponent,
                _opinions(opinions), _level(homophily), not directed, seed,
            )
        _save_and_show(net, out)


@network_app.command("load", epilog=examples(
    "engagegen network load follows.csv --opinions stance.csv --direction follow --out mine.npz"))
def load(
    edges: Path = typer.Argument(..., help="Edge list: one 'source target' pair per line, comma or blank separated."),
    opinions: Path = typer.Option(..., "--opinions", help="CSV of 'node,opinion' rows (header optional)."),
    out: Path = typer.Option(..., "--out", "-o", help="Network file to write (.npz)."),
    direction: Direction = typer.Option(
        Direction.influence, help="influence: 'u v' means u's posts reach v; follow: u follows v (reversed)."
    ),
    delimiter: str | None = typer.Option(None, help="Field separator of the edge list.", show_default="comma or blanks, detected"),
    header: bool | None = typer.Option(
        None, "--header/--no-header", help="Whether the edge list has a header line.", show_default="detected"
    ),
    comment: str = typer.Option("#", help="Comments start with this string."),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
) -> None:
    """Convert an edge list and an opinions file into a network file."""
    with friendly_errors():
        out = _out_path(out, force, (edges, opinions))
        with _shown_warnings(), console.status(f"reading {edges}"):
            net = load_edgelist(
                edges, opinions, direction=direction.value, delimiter=delimiter, header=header, comment=comment
            )
        _save_and_show(net, out)


@network_app.command("stats", epilog=examples("engagegen network stats net.npz"))
def stats(
    file: Path = typer.Argument(..., help="Network file (.npz)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Print the statistics of a network file."""
    with friendly_errors():
        summary = network_stats(load_network(file))
    if as_json:
        typer.echo(json.dumps(summary.to_dict(), indent=2))
    else:
        console.print(summary.to_table(title=str(file)))
