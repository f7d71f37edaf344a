"""``engagegen train``, ``run``, ``evaluate``, ``report``: the RL loop from the command line."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from engagegen.cli.app import app
from engagegen.cli.common import console, friendly_errors


def _show_summary(summary: dict, run_dir: Path) -> None:
    """Write the run's report, then print its table, gates and where the posts must land (the
    target set is computed once, for both: on a million-user graph it takes seconds)."""
    from engagegen.experiments import describe_target, run_posts_target
    from engagegen.report import run_report

    with friendly_errors():
        target = run_posts_target(run_dir, summary)
        report = run_report(run_dir, target=target)
    table = Table(title=f"run {run_dir}")
    table.add_column("policy")
    table.add_column("mean engaged", justify="right")
    table.add_column("of optimum", justify="right")
    opt = summary["optimum"]
    for name, key in (("untuned", "untuned"), (f"best-of-{summary.get('best_of_n_n', 'N')}", "best_of_n"), ("trained", "trained")):
        value = summary[f"{key}_engaged_mean"]
        table.add_row(name, f"{value:.1f}", f"{value / opt:.1%}" if opt else "-")
    table.add_row("exact optimum", f"{opt:g}", "100%")
    console.print(table)
    console.print(f"trained posts passing topic/fluency gates: {summary['trained_gate_share']:.0%}; "
                  f"steps {summary['steps']}; wall time {summary['wall_seconds'] / 60:.1f} min")
    where = describe_target(target)
    if where:
        console.print(where)
    console.print(f"report: {report}")


def _train(config_path: Path | None, out: Path | None, resume: Path | None, steps: int | None) -> None:
    from engagegen.config import from_dict, to_dict
    from engagegen.training import EngagementTrainer, RunConfig, load_run, load_run_config

    with friendly_errors():
        if resume is not None:
            cfg, run_dir = load_run(resume), resume
        else:
            cfg = load_run_config(config_path) if config_path else RunConfig()
            run_dir = out or Path("runs") / (config_path.stem if config_path else "default")
        if steps is not None:  # with --resume: a larger budget for the run (it continues from its last checkpoint)
            data = to_dict(cfg)
            data["training"]["steps"] = steps
            cfg = from_dict(RunConfig, data)
        summary = EngagementTrainer(cfg, run_dir).train(resume=resume is not None)
        if summary.get("interrupted"):
            console.print(f"stopped at step {summary['step']}; continue with `engagegen train --resume {run_dir}`")
            raise typer.Exit(130)
    _show_summary(summary, run_dir)


@app.command()
def train(
    config: Path | None = typer.Argument(None, help="Run config (YAML). Omit with --resume."),
    out: Path | None = typer.Option(None, help="Run folder (default runs/<config name>)."),
    resume: Path | None = typer.Option(None, help="Continue the run in this folder from its last checkpoint."),
    steps: int | None = typer.Option(None, help="Override training.steps; with --resume, give the run more steps."),
) -> None:
    """Train a policy with RL against the simulated audience described by CONFIG."""
    if config is None and resume is None:
        raise typer.BadParameter("give a CONFIG file, or --resume RUN_DIR")
    _train(config, out, resume, steps)


@app.command()
def run(
    out: Path = typer.Option(Path("runs/demo"), help="Run folder."),
    steps: int | None = typer.Option(None, help="Override training.steps."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out."),
) -> None:
    """The main job with the default config: the paper's negative network, agent central, topic cats, SmolLM2 + LoRA."""
    _train(None, out, out if resume else None, steps)


@app.command()
def evaluate(run_dir: Path = typer.Argument(..., help="A finished or interrupted run folder.")) -> None:
    """Re-run the final evaluation of a run's adapter (untuned, best-of-N, trained) and rewrite its report."""
    from engagegen.training import evaluate_run

    with friendly_errors():
        summary = evaluate_run(run_dir)
    _show_summary(summary, run_dir)


@app.command()
def report(run_dir: Path = typer.Argument(..., help="A run folder with summary.json.")) -> None:
    """Write (or rewrite) a run's self-contained report.html."""
    from engagegen.report import run_report

    with friendly_errors():
        console.print(f"report: {run_report(run_dir)}")
