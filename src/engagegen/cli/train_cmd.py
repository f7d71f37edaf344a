"""``engagegen train``, ``run``, ``evaluate``, ``report``: the RL loop from the command line."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import typer
from rich.table import Table

from engagegen.cli.app import app
from engagegen.cli.common import console, examples, friendly_errors, percent, quiet_model_loading
from engagegen.experiments import describe_target, final_posts_target
from engagegen.report import run_report
from engagegen.training import EngagementTrainer, RunConfig, evaluate_run, load_run, load_run_config


def _show_summary(summary: dict, run_dir: Path) -> None:
    """Write the run's report, then print its table, gates and where the posts must land (the
    target set is computed once, for both: on a million-user graph it takes seconds)."""
    with friendly_errors():
        target = final_posts_target(run_dir, summary)
        report = run_report(run_dir, target=target)
    table = Table(title=f"run {run_dir}: {summary['trained_posts']} fresh posts per policy")
    table.add_column("policy")
    table.add_column("readable engagement", justify="right")
    table.add_column("raw engagement", justify="right")
    table.add_column("mean users (readable)", justify="right")
    table.add_column("posts passing gates", justify="right")
    table.add_column("distinct posts", justify="right")
    opt = summary["optimum"]
    best_of_n = f"best {summary['best_of_n_top']} of {summary['best_of_n_n']} untuned"
    for name, key in (("untuned", "untuned"), (best_of_n, "best_of_n"), ("trained", "trained")):
        se = summary.get(f"{key}_readable_fraction_se")
        table.add_row(name, f"{summary[f'{key}_readable_fraction']:.1%}" + (f" ± {se:.1%}" if se else ""),
                      f"{summary[f'{key}_fraction']:.1%}", f"{summary[f'{key}_readable_engaged_mean']:.1f}",
                      f"{summary[f'{key}_gate_share']:.0%}", percent(summary.get(f"{key}_distinct_share")))
    table.add_row("exact optimum" if summary.get("optimum_exact", True) else "optimum (searched)", "100%", "100%",
                  f"{opt:g}", "", "")
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


def _train(config_path: Path | None, run_dir: Path, resume: bool, seed: int | None, again: str) -> None:
    """Train into ``run_dir``, or (``resume``) continue the run there with the config it started with.
    ``again``: the command that continues the run, for the message when it is stopped."""
    if seed is not None and resume:
        raise typer.BadParameter("--seed starts a new run; a resumed run keeps its own seed")
    if resume and not (run_dir / "config.yaml").is_file():
        raise typer.BadParameter(f"nothing to resume in {run_dir} (no config.yaml there); give the run's folder with "
                                 "--out, or start a run without --resume", param_hint="--resume")
    with friendly_errors():
        quiet_model_loading()
        if resume:
            cfg = load_run(run_dir)
        else:
            cfg = load_run_config(config_path) if config_path else RunConfig()
            if seed is not None:
                cfg = replace(cfg, seed=seed)
        summary = EngagementTrainer(cfg, run_dir).train(resume=resume)
        if summary.get("interrupted"):
            console.print(f"stopped at step {summary['step']}; continue with `{again}`")
            raise typer.Exit(130)
    _show_summary(summary, run_dir)


_RESUME_HELP = "Continue the run in the run folder from its last checkpoint, with the config it started with."
_SEED_HELP = "Training seed (sampling, training, evaluation); the network keeps network.seed."


@app.command(epilog=examples("engagegen train configs/demo.yaml --out runs/mine",
                             "engagegen train configs/demo.yaml --out runs/mine --resume"))
def train(
    config: Path | None = typer.Argument(None, help="Run config (YAML); with --resume it only names the default run "
                                         "folder."),
    out: Path | None = typer.Option(None, help="Run folder.", show_default="runs/<config name>"),
    resume: bool = typer.Option(False, "--resume", help=_RESUME_HELP),
    seed: int | None = typer.Option(None, help=_SEED_HELP),
) -> None:
    """Train a policy with RL against the simulated audience described by CONFIG."""
    if config is not None and config.is_dir():
        raise typer.BadParameter(f"{config} is a folder, not a run config; to continue the run in it: "
                                 f"engagegen train --resume --out {config}", param_hint="CONFIG")
    if config is None and not resume:
        raise typer.BadParameter("give a CONFIG file (`engagegen run` trains the default config)")
    if config is None and out is None:
        raise typer.BadParameter("--resume continues the run in --out: give the run folder as --out")
    run_dir = out if out is not None else Path("runs") / Path(str(config)).stem
    _train(config, run_dir, resume, seed, f"engagegen train --resume --out {run_dir}")


@app.command(epilog=examples("engagegen run --out runs/demo", "engagegen run --out runs/demo --resume"))
def run(
    out: Path = typer.Option(Path("runs/demo"), help="Run folder."),
    resume: bool = typer.Option(False, "--resume", help=_RESUME_HELP),
    seed: int | None = typer.Option(None, help=_SEED_HELP),
) -> None:
    """The main job with the default config: the paper's negative network, agent central, topic cats, SmolLM2 + LoRA."""
    _train(None, out, resume, seed, f"engagegen run --out {out} --resume")


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
