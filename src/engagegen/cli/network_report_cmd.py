"""``engagegen network report``: communities, echo chambers, polarization and agent positions, as HTML."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from engagegen.analysis import network_report
from engagegen.cli.common import FORCE_HELP, console, examples, friendly_errors, load_network, output_file
from engagegen.cli.network_cmd import network_app
from engagegen.files import atomic_write_text


@network_app.command("report", epilog=examples("engagegen network report net.npz --out net.report.html"))
def report(
    file: Path = typer.Argument(..., help="Network file (.npz)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="HTML report to write.", show_default="NETWORK.report.html"),
    as_json: bool = typer.Option(False, "--json", help="Also print the figures as JSON."),
    seed: int = typer.Option(0, help="Seed of the layout (and of sampled betweenness on big networks)."),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
) -> None:
    """Write an HTML report on a network: communities, echo chambers, polarization, agent positions.

    Includes the degree and betweenness of each agent position and a picture coloured by opinion.
    The echo-chamber score is the correlation of the opinions at the two ends of the edges (-1..1;
    1 when everyone hears only like-minded users); the polarization index is 4 x the variance of the
    opinions (0 consensus, 1 half at 0 and half at 1).
    """
    target = out if out is not None else file.with_suffix(".report.html")
    output_file(target, force=force, inputs=(file,), suffixes=(".html", ".htm"))
    with friendly_errors():
        net = load_network(file)
        with console.status("computing betweenness and statistics"):
            result = network_report(net, seed=seed)
        with console.status("drawing"):
            atomic_write_text(target, result.to_html(net, title=f"Network report: {file.name}", seed=seed))
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    table = Table(title=str(file), title_justify="left")
    for col in ("position", "user", "out-degree", "in-degree", "betweenness", "opinion"):
        table.add_column(col, justify="left" if col == "position" else "right")
    for r in result.positions:
        if r.get("user") is None:
            table.add_row(r["position"], "-", "", "", "", r.get("note", ""))
        else:
            table.add_row(r["position"], str(r["user"]), str(r["out_degree"]), str(r["in_degree"]),
                          f"{r['betweenness']:.4f}", f"{r['opinion']:.2f}")
    console.print(table)
    echo = "undefined" if result.echo_chamber is None else f"{result.echo_chamber:.3f}"
    console.print(f"echo-chamber score {echo} · polarization index {result.polarization:.3f} · "
                  f"{len(result.communities)} communities")
    console.print(f"wrote [bold]{target}[/bold]")
