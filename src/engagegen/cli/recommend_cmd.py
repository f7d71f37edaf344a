"""``engagegen recommend``: the follower cascade against feed recommenders, read off a finished grid."""

from __future__ import annotations

from pathlib import Path

import typer
from rich import box
from rich.table import Table

from engagegen.cli.app import app
from engagegen.cli.common import console, examples, friendly_errors, percent
from engagegen.experiments.exposure_comparison import OUTPUT_FILES, compare_exposure_models

recommend_app = typer.Typer(help="Feed recommenders as exposure models: compare them with the follower cascade.",
                            no_args_is_help=True)
app.add_typer(recommend_app, name="recommend")


@recommend_app.command("compare", epilog=examples("engagegen grid run configs/recommenders.yaml --out runs/recommenders",
                                                     "engagegen recommend compare runs/recommenders"))
def compare(
    grid_dir: Path = typer.Argument(..., help="A grid folder written by `engagegen grid run configs/recommenders.yaml`."),
    sequence_posts: int = typer.Option(32, min=1, help="Trained posts posted one after another (multi-shot) per model."),
) -> None:
    """Engagement and polarization per exposure model of a (partly) finished grid; writes
    recommenders.json, recommenders.csv and figures/recommenders.png into the grid folder.

    Engagement is the fraction of the optimum (the most any post engages); polarization P = 4 x the
    variance of the opinions (0 consensus, 1 half at 0 and half at 1), before and after the posts.
    """

    with friendly_errors(), console.status("posting the trained posts through each exposure model"):
        rows = compare_exposure_models(grid_dir, sequence_posts=sequence_posts)
    finished = [r for r in rows if r["status"] == "ok"]
    posts = sorted({r["posts"] for r in finished})
    # Narrow enough for an 80-column terminal; everything else is in recommenders.json and .csv.
    table = Table(title=f"engagement (fraction of the optimum) and polarization P = 4·var(x) before and after "
                        f"{' or '.join(map(str, posts))} trained posts", box=box.SIMPLE_HEAD)
    table.add_column("model", no_wrap=True)
    for name in ("optimum", "untuned", "best-of-N", "trained", "P before", "P after"):
        table.add_column(name, justify="right")
    for r in rows:
        if r["status"] != "ok":
            table.add_row(r["model"], "[yellow]missing[/yellow]", *["-"] * 5)
            continue
        table.add_row(r["model"], f"{r['optimum']:g}", percent(r["untuned_readable_fraction"]),
                      percent(r["best_of_n_readable_fraction"]), percent(r["trained_readable_fraction"]),
                      f"{r['polarization_before']:.4f}", f"{r['polarization_after']:.4f}")
    console.print(table)
    missing = [r for r in rows if r["status"] != "ok"]
    for r in missing:
        console.print(f"[yellow]missing[/yellow] {r['model']}: {r['reason']}", highlight=False)
    if missing:
        console.print(f"{len(missing)} of {len(rows)} configurations not finished; resume the grid and compare again")
    console.print("wrote " + ", ".join(str(grid_dir / name) for name in OUTPUT_FILES), highlight=False, soft_wrap=True)
