"""``engagegen train``, ``run``, ``evaluate``, ``report``: the RL loop from the command line."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import typer
from rich.table import Table

from engagegen.cli.app import app
from engagegen.cli.common import console, examples, friendly_errors
from engagegen.experiments import describe_target, run_posts_target
from engagegen.report import run_report
from engagegen.training import EngagementTrainer, RunConfig, evaluate_run, load_run, load_run_config


def _show_summary(summary: dict, run_dir: Path) -> None:
    """Write the run's report, then print its table, gates and where the posts must land (the
    target set is computed once, for both: on a million-user graph it takes seconds)."""
    with friendly_errors():
        target = run_posts_target(run_dir, summary)
        report = run_report(run_dir, target=target)
    table = Table(title=f"run {run_dir}: {summary['trained_posts']} fresh posts per policy")
    table.add_column("policy")
    table.add_column("readable engagement", justify="right")
    table.add_column("raw engagement", justify="right")
    table.add_column("mean users (readable)", justify="right")
    table.add_column("posts passing gates", justify="right")
    opt = summary["optimum"]
    best_of_n = f"best {summary['best_of_n_top']} of {summary['best_of_n_n']} untuned"
    for name, key in (("untuned", "untuned"), (best_of_n, "best_of_n"), ("trained", "trained")):
        se = summary.get(f"{key}_readable_fraction_se")
        table.add_row(name, f"{summary[f'{key}_readable_fraction']:.1%}" + (f" ± {se:.1%}" if se else ""),
                      f"{summary[f'{key}_fraction']:.1%}", f"{summary[f'{key}_readable_engaged_mean']:.1f}",
                      f"{summary[f'{key}_gate_share']:.0%}")
    table.add_row("exact optimum", "100%", "100%", f"{opt:g}", "")
    console.print(table)
    ratio = summary.get("perplexity_ratio")
    console.print(f"Readable engagement counts a post failing a gate (topic, fluency with perplexity, repetition, "
                  f"cut off, moderation) as engaging no one; ± one standard error. Trained posts: median perplexity "
                  f"{'n/a' if ratio is None else f'{ratio:.1f}x'} the untuned model's, "
                  f"{summary['trained_cut_off_share']:.0%} cut off. {summary['steps']} steps in "
                  f"{summary['stages_run']} stage(s) ({summary['stop_reason']}); best at step {summary['best_step']}; "
                  f"wall time {summary['wall_seconds'] / 60:.1f} min")
    where = describe_target(target)
    if where:
        console.print(where)
    console.print(f"report: {report}")


def _train(config_path: Path | None, out: Path | None, resume: Path | None, seed: int | None) -> None:
    with friendly_errors():
        if resume is not None:
            cfg, run_dir = load_run(resume), resume
        else:
            cfg = load_run_config(config_path) if config_path else RunConfig()
            run_dir = out or Path("runs") / (config_path.stem if config_path else "default")
            if seed is not None:
                cfg = replace(cfg, seed=seed)
        summary = EngagementTrainer(cfg, run_dir).train(resume=resume is not None)
        if summary.get("interrupted"):
            console.print(f"stopped at step {summary['step']}; continue with `engagegen train --resume {run_dir}`")
            raise typer.Exit(130)
    _show_summary(summary, run_dir)


@app.command(epilog=examples("engagegen train configs/demo.yaml --out runs/mine", "engagegen train --resume runs/mine"))
def train(
    config: Path | None = typer.Argument(None, help="Run config (YAML). Omit with --resume."),
    out: Path | None = typer.Option(None, help="Run folder (default runs/<config name>)."),
    resume: Path | None = typer.Option(None, help="Continue the run in this folder from its last checkpoint."),
    seed: int | None = typer.Option(None, help="Training seed (sampling, training, evaluation); the network keeps network.seed."),
) -> None:
    """Train a policy with RL against the simulated audience described by CONFIG."""
    if config is None and resume is None:
        raise typer.BadParameter("give a CONFIG file, or --resume RUN_DIR")
    if seed is not None and resume is not None:
        raise typer.BadParameter("--seed starts a new run; a resumed run keeps its own seed")
    _train(config, out, resume, seed)


@app.command(epilog=examples("engagegen run --out runs/demo", "engagegen run --out runs/demo --resume"))
def run(
    out: Path = typer.Option(Path("runs/demo"), help="Run folder."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out."),
    seed: int | None = typer.Option(None, help="Training seed (sampling, training, evaluation); the network keeps network.seed."),
) -> None:
    """The main job with the default config: the paper's negative network, agent central, topic cats, SmolLM2 + LoRA."""
    if seed is not None and resume:
        raise typer.BadParameter("--seed starts a new run; a resumed run keeps its own seed")
    _train(None, out, out if resume else None, seed)


@app.command(epilog=examples("engagegen evaluate runs/demo"))
def evaluate(run_dir: Path = typer.Argument(..., help="A finished or interrupted run folder.")) -> None:
    """Re-run the final evaluation of a run's adapter (untuned, best-of-N, trained) and rewrite its report."""

    with friendly_errors():
        summary = evaluate_run(run_dir)
    _show_summary(summary, run_dir)


@app.command(epilog=examples("engagegen report runs/demo"))
def report(run_dir: Path = typer.Argument(..., help="A run folder with summary.json.")) -> None:
    """Write (or rewrite) a run's self-contained report.html."""
    with friendly_errors():
        console.print(f"report: {run_report(run_dir)}")
