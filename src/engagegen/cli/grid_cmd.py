"""``engagegen grid``: run an experiment grid (baselines and trainings), list its configurations, report it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from engagegen.cli.app import app
from engagegen.cli.common import console, examples, friendly_errors, percent
from engagegen.experiments import collect_grid, load_grid_config, run_grid, sample_budget
from engagegen.report import grid_report

grid_app = typer.Typer(help="Experiment grids: many configurations, baselines, parallel runs, results table, report.",
                       no_args_is_help=True)
app.add_typer(grid_app, name="grid")


def _readable(row: dict, policy: str) -> str:
    """Readable engagement with the raw figure beside it; raw alone for a policy without texts (random s)."""
    raw, readable = row.get(f"{policy}_fraction"), row.get(f"{policy}_readable_fraction")
    return percent(raw) if readable is None else f"{percent(readable)} ({percent(raw)})"


def _show(rows: list[dict], baselines_only: bool) -> None:
    table = Table(title="results: readable engagement (raw), fraction of the exact optimum")
    table.add_column("configuration")
    table.add_column("optimum", justify="right")
    # best-of-N: the best single post of N untuned ones; top k: the mean of the best k, beside a policy's mean
    policies = [("untuned", "untuned"), ("best_of_n", "best-of-N"), ("best_of_n_topk", "best-of-N (top k)"), ("prompt_steered", "steered"),
                ("openai", "openai"), ("random_oracle", "random s")]
    if not baselines_only:
        policies.append(("trained", "trained"))
    policies = [(p, label) for p, label in policies if any(r.get(f"{p}_fraction") is not None for r in rows)]
    for _, label in policies:
        table.add_column(label, justify="right")
    table.add_column("status")
    for r in rows:
        status = "[red]failed[/red]" if r.get("error") else "ok"
        optimum = f"{r['optimum']:g}" if r.get("optimum") is not None else "-"
        table.add_row(r["name"], optimum, *(_readable(r, p) for p, _ in policies), status)
    console.print(table)


@grid_app.command("run", epilog=examples("engagegen grid run configs/paper-central.yaml --out runs/paper-central",
                                          "RAY_ADDRESS=auto engagegen grid run configs/paper.yaml --ray"))
def run(
    config: Path = typer.Argument(..., help="Grid config (YAML): base run config, grid of values, baselines."),
    out: Path | None = typer.Option(None, help="Grid folder (default runs/<config name>); rerun to resume."),
    workers: int | None = typer.Option(None, min=1, help="Parallel trainings (default: one per core)."),
    ray: bool | None = typer.Option(None, "--ray/--local", help="Run trainings as Ray tasks (default: when RAY_ADDRESS is set)."),
    baselines_only: bool = typer.Option(False, "--baselines-only", help="Score the baselines only; no training."),
    report: bool = typer.Option(True, "--report/--no-report", help="Write report.html when done."),
) -> None:
    """Run every configuration of a grid: baselines, then one training each; resumable."""

    with friendly_errors():
        grid = load_grid_config(config)
        out_dir = out or Path("runs") / grid.name
    outcome, seconds, page = _run_and_report(lambda: run_grid(grid, out_dir, workers=workers, ray=ray, baselines_only=baselines_only),
                                       out_dir, report)
    _show(outcome.rows, baselines_only)
    console.print(f"{len(outcome.rows)} configurations: {len(outcome.scored)} baselines scored, {len(outcome.trained)} trained, "
                  f"{len(outcome.skipped)} already done, {len(outcome.errors)} failed ({outcome.backend}, {seconds:.0f} s)")
    console.print(f"table: {outcome.parquet} and {outcome.csv}")
    _finish(outcome, page)


def _run_and_report(work: Callable[[], Any], out_dir: Path, report: bool) -> tuple[Any, float, Path | None]:
    """Run ``work`` (a grid call), then write the report; an interruption says how to resume."""
    with friendly_errors():
        started = time.time()
        try:
            outcome = work()
        except KeyboardInterrupt:
            console.print(f"interrupted; run the same command again to resume ({out_dir})")
            raise typer.Exit(130) from None
        seconds = time.time() - started
        page = grid_report(out_dir) if report else None
    return outcome, seconds, page


def _finish(outcome: Any, page: Path | None) -> None:
    if page is not None:
        console.print(f"report: {page}")
    if outcome.errors:
        raise typer.Exit(1)


@grid_app.command("collect", epilog=examples("engagegen grid collect runs/paper-central"))
def collect(
    grid_dir: Path = typer.Argument(..., help="A grid folder written by `engagegen grid run`."),
    baselines: bool = typer.Option(False, "--baselines", help="Score the baselines again too (samples posts the pools lack)."),
    report: bool = typer.Option(True, "--report/--no-report", help="Rewrite report.html when done."),
) -> None:
    """Read the finished trainings again from their run folders with this version, training nothing: brings a
    results table written by an older version up to today's columns (baseline numbers stay as recorded
    unless --baselines)."""

    outcome, seconds, page = _run_and_report(lambda: collect_grid(grid_dir, baselines=baselines), grid_dir, report)
    _show(outcome.rows, baselines_only=not outcome.trained)
    console.print(f"{len(outcome.trained)} trainings and {len(outcome.scored)} baseline records read again "
                  f"({seconds:.0f} s)")
    _finish(outcome, page)


@grid_app.command("list", epilog=examples("engagegen grid list configs/paper-central.yaml"))
def list_(config: Path = typer.Argument(..., help="Grid config (YAML).")) -> None:
    """List a grid's configurations (id and grid values) without running anything."""

    with friendly_errors():
        grid = load_grid_config(config)
    table = Table(title=f"{grid.name}: {len(grid.configurations)} configurations")
    table.add_column("id")
    table.add_column("configuration")
    table.add_column("sample budget", justify="right")
    for c in grid.configurations:
        table.add_row(c.id, c.name, str(sample_budget(c.config)))
    console.print(table)


@grid_app.command("report", epilog=examples("engagegen grid report runs/paper-central"))
def report_(grid_dir: Path = typer.Argument(..., help="A grid folder written by `engagegen grid run`.")) -> None:
    """Write (or rewrite) a grid's report.html, figures and results table."""
    with friendly_errors():
        console.print(f"report: {grid_report(grid_dir)}")
