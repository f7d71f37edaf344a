"""``engagegen calibrate``: fit engagement models to observed cascades and validate them on held-out ones."""

from __future__ import annotations

import csv
import io
import json
import warnings
from enum import Enum
from pathlib import Path

import typer
import yaml
from rich.table import Table

from engagegen.calibration import CascadeWarning, Calibrator, load_cascades, run_config
from engagegen.cli.app import app
from engagegen.cli.common import console, examples, friendly_errors, load_network, opinion_scorer, output_folder
from engagegen.files import atomic_write_text
from engagegen.report import calibration_report


class OpinionSource(str, Enum):
    cascades = "cascades"
    network = "network"


class Fill(str, Enum):
    mean = "mean"
    neutral = "neutral"


class Score(str, Enum):
    log = "log"
    brier = "brier"


class Unknown(str, Enum):
    error = "error"
    drop = "drop"


OUTPUTS = ("results.csv", "fits.json", "report.html", "config.yaml", "network.npz")


@app.command(epilog=examples("engagegen calibrate net.npz cascades.jsonl --out calibration",
                             "engagegen train calibration/config.yaml --out runs/calibrated"))
def calibrate(
    network: Path = typer.Argument(..., help="The network (.npz from `engagegen network load/generate`)."),
    cascades: Path = typer.Argument(..., help="Observed cascades: .jsonl (one cascade per line) or .csv (one engagement per row); "
                                              "see docs/calibration.md."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the results, report, fitted run configs."),
    models: str = typer.Option("bcm,ic,lt", help="Models to fit, comma-separated: bcm (noisy bounded confidence), ic, lt."),
    folds: int = typer.Option(5, min=2, help="Cross-validation folds over cascades."),
    opinions: OpinionSource = typer.Option(OpinionSource.cascades, help="Users' opinions: read off the training cascades "
                                           "(cascades; no fold sees its held-out cascades) or the network's own (network)."),
    missing: Fill = typer.Option(Fill.mean, help="With --opinions cascades: users who engaged with nothing get the mean "
                                                 "opinion of those who did, or neutral (0.5)."),
    prior_mean: float = typer.Option(0.5, help="Prior of a user's opinion read off cascades: its mean ..."),
    prior_weight: float = typer.Option(1.0, help="... and its weight, in posts."),
    score: Score = typer.Option(Score.log, help="Score minimised: log (log-loss) or brier (Brier score); both proper."),
    runs: int = typer.Option(64, min=2, help="Monte Carlo runs per cascade in the fine search."),
    fit_cascades: int = typer.Option(1000, min=1, help="Training cascades the fine search uses at most (a random subset)."),
    validation_runs: int = typer.Option(100, min=2, help="Monte Carlo runs per held-out cascade."),
    min_size: int = typer.Option(1, min=1, help="The data hold only cascades of at least this many engaged users."),
    unknown_users: Unknown = typer.Option(Unknown.error, help="Users of the cascade file missing from the network: stop "
                                                              "(error) or leave them out with a warning naming each (drop)."),
    stance: Path | None = typer.Option(None, help="A stance classifier folder to score posts given by their text (default VADER)."),
    seed: int = typer.Option(0, help="Seed of the folds and the Monte Carlo runs."),
    force: bool = typer.Option(False, "--force", help="Write into a non-empty --out folder."),
) -> None:
    """Fit engagement models to observed cascades, cross-validated, against simple baselines.

    Writes results.csv (held-out metrics of every model and baseline), fits.json, report.html
    (table, ROC and calibration curves, predicted against observed sizes) and config.yaml: a run
    config training against the best model (`engagegen train OUT/config.yaml --out RUN`), with
    config-MODEL.yaml for every model.
    """
    names = [m.strip() for m in models.split(",") if m.strip()]
    output_folder(out, force=force, files=[*OUTPUTS, *(f"config-{m}.yaml" for m in names)], inputs=[network, cascades])
    with friendly_errors():
        net = load_network(network)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", CascadeWarning)
            observed = load_cascades(cascades, net, unknown=unknown_users.value)
        for w in caught:
            console.print(f"[yellow]warning:[/yellow] {w.message}", highlight=False)
        if any(t is not None for t in observed.texts) and any(m != m for m in observed.messages):
            observed = observed.with_messages(opinion_scorer(stance).score)
        calibrator = Calibrator(names, folds=folds, score=score.value, n_runs=runs, fit_cascades=fit_cascades,
                                validation_runs=validation_runs, opinions=opinions.value, missing=missing.value,
                                prior_mean=prior_mean, prior_weight=prior_weight, min_size=min_size, seed=seed, progress=True)
        result = calibrator.fit(net, observed)

        out.mkdir(parents=True, exist_ok=True)
        net_path = network.resolve()
        if result.opinions is not None:  # opinions read off all cascades: the audience to train against
            net_path = net.with_opinions(result.opinions).save(out / "network.npz").resolve()
        for fit in result.models:
            text = (f"# engagegen calibrate: {fit.name} ({fit.title}) fitted to {cascades}\n"
                    f"# held-out log-loss {fit.heldout_log_loss:.4f} nats per cascade, ROC-AUC {fit.validation.metrics['roc_auc']:.4f}\n")
            snippet = yaml.safe_dump(run_config(fit.spec, fit.values, str(net_path)), sort_keys=False)
            atomic_write_text(out / f"config-{fit.name}.yaml", text + snippet)
            if fit is result.best:
                atomic_write_text(out / "config.yaml", text.replace("# engagegen calibrate:", "# engagegen calibrate, best model:") + snippet)
        rows = result.table()
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0].keys()) + [k for k in rows[-1] if k not in rows[0]], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(out / "results.csv", buf.getvalue())
        atomic_write_text(out / "fits.json", json.dumps({
            "settings": result.settings, "best": result.best.name, "cascades": result.n_cascades, "users": result.n_users,
            "models": [{"name": m.name, "values": m.values, "fold_values": m.fold_values, "heldout_log_loss": m.heldout_log_loss,
                        "heldout_brier": m.heldout_brier, "metrics": m.validation.metrics, "points_scored": m.evaluations,
                        "seconds": m.seconds} for m in result.models],
            "baselines": [{"name": b.name, "metrics": b.metrics} for b in result.baselines]}, indent=2, default=float) + "\n")
        atomic_write_text(out / "report.html", calibration_report(result, title=f"Calibration: {cascades.name} on {network.name}"))

    shown = ("forecaster", "roc_auc", "log_loss", "size_mae", "size_log_error", "jaccard")
    table = Table(title=f"{len(observed):,} cascades, {folds}-fold cross-validation (held-out)")
    for column in shown:
        table.add_column(column.replace("_", " "), justify="left" if column == "forecaster" else "right")
    for row in rows:
        table.add_row(*[_show(row.get(c)) for c in shown])
    console.print(table)
    for fit in result.models:
        console.print(f"{fit.name}: {', '.join(f'{k} = {v:g}' for k, v in fit.values.items())} "
                      f"(held-out log-loss {fit.heldout_log_loss:.3f}, Brier {fit.heldout_brier:.4f}; {fit.seconds:.0f} s)")
    console.print(f"best: [bold]{result.best.name}[/bold]; train against it: engagegen train {out / 'config.yaml'} --out RUN")
    console.print(f"wrote {out}/results.csv, fits.json, report.html, config.yaml" + (", network.npz" if result.opinions is not None else ""))


def _show(value: object) -> str:
    if isinstance(value, float):
        return "n/a" if value != value else f"{value:.4g}"
    return "" if value is None else str(value)

