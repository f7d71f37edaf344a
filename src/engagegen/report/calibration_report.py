"""The report of a calibration: held-out validation of every model beside the baselines, with the
ROC curves, calibration curves and predicted against observed cascade sizes."""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np

from engagegen.calibration.fitting import CalibrationResult, ForecastSummary
from engagegen.html_page import figure_tag, page, table_tag

__all__ = ["calibration_report", "TABLE_COLUMNS"]

TABLE_COLUMNS = ("forecaster", "kind", "parameters", "roc_auc", "log_loss", "size_mae", "size_log_error", "predicted_size_mean",
                 "observed_size_mean", "jaccard")


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _all(result: CalibrationResult) -> list[ForecastSummary]:
    return [m.validation for m in result.models] + result.baselines


def _roc_figure(result: CalibrationResult) -> Any:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    for f in _all(result):
        fpr, tpr = f.roc
        ax.plot(fpr, tpr, lw=1.5 if f in [m.validation for m in result.models] else 1, label=f"{f.name} ({f.metrics['roc_auc']:.3f})")
    ax.plot([0, 1], [0, 1], color="0.7", lw=0.8, ls=":")
    ax.set_xscale("symlog", linthresh=1e-3)
    ax.set_xlabel("false positive rate (log above 0.001)")
    ax.set_ylabel("true positive rate")
    ax.legend(fontsize=7, loc="lower right")
    return fig


def _calibration_figure(result: CalibrationResult) -> Any:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    lo = 1.0
    for f in _all(result):
        rows = [r for r in f.calibration if r["forecast"] > 0 and r["observed"] > 0]
        if rows:
            x, y = [r["forecast"] for r in rows], [r["observed"] for r in rows]
            lo = min(lo, min(x), min(y))
            ax.plot(x, y, "o-", ms=3, lw=1, label=f.name)
    ax.plot([lo, 1], [lo, 1], color="0.6", lw=0.8, ls=":", label="perfect")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("forecast probability of engaging")
    ax.set_ylabel("observed frequency")
    ax.legend(fontsize=7)
    return fig


def _size_figure(result: CalibrationResult) -> Any:
    plt = _plt()
    models = [m.validation for m in result.models]
    fig, axes = plt.subplots(1, len(models), figsize=(3.2 * len(models), 3.2), squeeze=False)
    for ax, f in zip(axes[0], models):
        ax.scatter(f.observed_sizes, f.predicted_sizes, s=4, alpha=0.4)
        top = max(1.0, float(np.max(f.observed_sizes)), float(np.max(f.predicted_sizes)))
        ax.plot([1, top], [1, top], color="0.5", lw=0.8, ls=":")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f.name, fontsize=9)
        ax.set_xlabel("observed size")
    axes[0][0].set_ylabel("predicted (expected) size")
    fig.tight_layout()
    return fig


def _cell(value: Any) -> Any:
    return "n/a" if isinstance(value, float) and math.isnan(value) else value


def calibration_report(result: CalibrationResult, title: str = "Calibration on observed cascades", notes: str = "") -> str:
    """The report as a complete HTML page (write it with :func:`engagegen.files.atomic_write_text`)."""
    best = result.best
    s = result.settings
    rows = [{k: _cell(r.get(k)) for k in TABLE_COLUMNS} for r in result.table()]
    fits = [{"model": m.name, "what": m.title, "fit on all cascades": ", ".join(f"{k} = {v:g}" for k, v in m.values.items()),
             "spread over folds (sd)": ", ".join(f"{k} {v:.3g}" for k, v in m.fold_spread().items()),
             "held-out log-loss / cascade": m.heldout_log_loss, "held-out Brier / cascade": m.heldout_brier,
             "points scored": ", ".join(f"{k} {v}" for k, v in m.evaluations.items()), "seconds": round(m.seconds, 1)}
            for m in result.models]
    body = (
        f"<p>{result.n_cascades:,} cascades over {result.n_users:,} users; {s['folds']}-fold cross-validation over cascades; "
        f"score: {'log-loss' if result.score == 'log' else 'Brier score'}; opinions: "
        f"{'the network' + chr(39) + 's own' if s['opinions'] == 'network' else 'read off the training cascades'}. "
        f"Best on held-out cascades: <b>{html.escape(best.name)}</b> ({html.escape(best.title)}).</p>"
        f"{notes}"
        "<h2>Held-out validation, models and baselines</h2>"
        "<p class=\"muted\">Every (held-out cascade, user other than the author) pair is a prediction. roc_auc: engaged users "
        "ranked above the others; log_loss: nats per cascade; size errors: expected against observed number engaged "
        "(mean absolute, and mean absolute log ratio of 1 + size); jaccard: the predicted set (the round(expected size) "
        "most likely users) against the engaged users.</p>"
        + table_tag(rows, TABLE_COLUMNS)
        + "<h2>Fitted parameters</h2>" + table_tag(fits)
        + "<h2>ROC curves</h2>" + figure_tag(_roc_figure(result), "ROC curve of each forecaster on the held-out cascades")
        + "<h2>Calibration</h2>" + figure_tag(_calibration_figure(result), "forecast probability against observed frequency, in bins")
        + "<h2>Cascade sizes</h2>" + figure_tag(_size_figure(result), "expected against observed size of each held-out cascade")
        + "<h2>Settings</h2>" + table_tag([{"setting": k, "value": str(v)} for k, v in s.items()], sortable=False)
    )
    return page(title, body)
