"""``engagegen scorer``: train an opinion scorer on your own labelled posts."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from engagegen.cli.app import app
from engagegen.cli.common import console, examples, friendly_errors, output_folder
from engagegen.scoring import StanceClassifier, read_labelled_csv
from engagegen.scoring.stance import JSON_NAME, NPZ_NAME

scorer_app = typer.Typer(help="Train text scorers on your own data.", no_args_is_help=True)
app.add_typer(scorer_app, name="scorer")


def parse_label_map(items: list[str] | None) -> dict[str, int] | None:
    """``["leave=1", "remain=0"]`` -> ``{"leave": 1, "remain": 0}``."""
    if not items:
        return None
    mapping: dict[str, int] = {}
    for item in items:
        label, sep, value = item.rpartition("=")
        if not sep or not label or value.strip() not in ("0", "1"):
            raise typer.BadParameter(f"--label-map takes LABEL=0 or LABEL=1, got {item!r}")
        mapping[label.strip()] = int(value)
    return mapping


@scorer_app.command("train", epilog=examples("engagegen scorer train labelled.csv --out scorer/",
                                                "engagegen scorer train brexit.csv --label-column side --label-map leave=1 --label-map remain=0 --out scorer/"))
def train(
    data: Path = typer.Argument(..., help="CSV with a header row: one post per row and its stance label."),
    out: Path = typer.Option(..., "--out", help="Folder to write the trained scorer to (stance.json + stance.npz)."),
    text_column: str = typer.Option("text", help="Column holding the post text."),
    label_column: str = typer.Option("stance", help="Column holding the stance: 1 = for the topic, 0 = against."),
    label_map: list[str] | None = typer.Option(None, "--label-map",
                                               help="Map text labels to stance, repeatable: --label-map leave=1."),
    folds: int = typer.Option(5, help="Cross-validation folds (for the reported scores and for calibration)."),
    method: str = typer.Option("sigmoid", help="Calibration: sigmoid or isotonic."),
    c: float = typer.Option(1.0, "--C", help="Inverse regularisation strength of the logistic regression."),
    seed: int = typer.Option(0, help="Seed of the fold shuffling."),
    force: bool = typer.Option(False, "--force", help="Write into an --out folder that is not empty (replacing a scorer in it)."),
) -> None:
    """Train a stance classifier (MiniLM embeddings + calibrated logistic regression) and save it.

    Prints cross-validated accuracy, ROC-AUC and macro-F1, then fits on all rows and writes the
    scorer; load it with ``StanceClassifier.load(OUT)``.
    """
    mapping = parse_label_map(label_map)
    output_folder(out, force=force, files=(JSON_NAME, NPZ_NAME), inputs=(data,))
    with friendly_errors():
        texts, labels = read_labelled_csv(data, text_column, label_column, mapping)
        clf = StanceClassifier(C=c, method=method, folds=folds, seed=seed)  # type: ignore[arg-type]
        cv = clf.cross_validate(texts, labels, progress=True)
        clf.fit(texts, labels, progress=True)
        clf.save(out)
    table = Table(title=f"{folds}-fold cross-validation on {cv.n_samples} posts ({cv.n_positive} for, "
                        f"{cv.n_samples - cv.n_positive} against)")
    table.add_column("metric")
    table.add_column("mean", justify="right")
    table.add_column("min", justify="right")
    table.add_column("max", justify="right")
    for name, mean, per_fold in (("accuracy", cv.accuracy, cv.fold_accuracy), ("ROC-AUC", cv.roc_auc, cv.fold_roc_auc),
                                 ("macro-F1", cv.macro_f1, cv.fold_macro_f1)):
        table.add_row(name, f"{mean:.3f}", f"{min(per_fold):.3f}", f"{max(per_fold):.3f}")
    console.print(table)
    console.print(f"scorer trained on all {cv.n_samples} posts -> {out}")
