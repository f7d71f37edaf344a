"""The comparison experiment: the follower cascade against each feed recommender, read off a grid.

The trainings are an ordinary experiment grid, one configuration per exposure model
(``configs/recommenders.yaml``), so they run in parallel, resume, and get their baselines from the
grid runner::

    engagegen grid run configs/recommenders.yaml --out runs/recommenders
    engagegen recommend compare runs/recommenders

It is an experiment over a grid folder (it reads the grid's records and trains nothing), so it lives
with the experiments, above the recommenders it compares.

:func:`compare_exposure_models` is the second step. For every configuration whose run finished
(``runs/<id>/summary.json``), it posts the trained policy's evaluation posts one after another in
multi-shot mode (the opinions of engaged users move by ``mu``), through that configuration's own
exposure model and on the network it trained on, and records the opinion spread before and after
beside the engagement fractions of the run's summary. Configurations that have not finished are
reported as missing, with the reason, so a grid still running can be compared already.

It writes ``recommenders.json``, ``recommenders.csv`` and ``figures/recommenders.png`` into the
grid folder.
"""

from __future__ import annotations

import csv
import io
import json
import textwrap
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engagegen.analysis import polarization_index
from engagegen.experiments import GridError, ResultsLog, load_grid_folder
from engagegen.files import atomic_path, atomic_write_text
from engagegen.network import SocialNetwork
from engagegen.recommend import RecommendError
from engagegen.training.build import build_engagement
from engagegen.training.checkpoint import MetricsLog

__all__ = ["OUTPUT_FILES", "compare_exposure_models", "polarization_after"]

#: What :func:`compare_exposure_models` writes, relative to the grid folder.
OUTPUT_FILES = ("recommenders.json", "recommenders.csv", "figures/recommenders.png")

#: Engagement numbers copied from each run's summary.json.
_SUMMARY_KEYS = ("optimum", "untuned_engaged_mean", "best_of_n_engaged_mean", "trained_engaged_mean",
                 "untuned_readable_fraction", "best_of_n_readable_fraction", "trained_readable_fraction",
                 "untuned_fraction", "best_of_n_fraction", "trained_fraction", "trained_opinion_mean", "steps",
                 "wall_seconds")


def polarization_after(model: Any, network: SocialNetwork, agent: int, messages: Sequence[float]) -> dict[str, float]:
    """Opinion spread before and after posting ``messages`` in order (multi-shot)."""
    if hasattr(model, "simulate_sequence"):
        after = model.simulate_sequence(network, agent, np.asarray(messages, dtype=float)).opinions
    else:  # a model without multi-shot: opinions do not move
        after = network.opinions
    return {"polarization_before": polarization_index(network.opinions), "polarization_after": polarization_index(after),
            "opinion_std_before": float(network.opinions.std()), "opinion_std_after": float(np.std(after)),
            "opinion_mean_before": float(network.opinions.mean()), "opinion_mean_after": float(np.mean(after))}


def _exposure_label(engagement: Any) -> str:
    """``follower`` for the paper's cascade, the recommender's name for a feed, else the model's name."""
    if engagement.model == "bcm":
        return "follower"
    return engagement.recommender if engagement.model == "feed" else engagement.model


def _load_grid(grid_dir: Path) -> Any:
    try:
        return load_grid_folder(grid_dir)
    except GridError as exc:
        raise RecommendError(str(exc)) from None


def _why_missing(run_dir: Path, record: dict[str, Any] | None) -> str | None:
    """Why a run folder cannot be compared (None: it can)."""
    if record is not None and record["status"] == "error" and not (run_dir / "summary.json").exists():
        return f"training failed: {record['error']}"
    if not run_dir.exists():
        return "not started"
    for name in ("summary.json", "network.npz", "samples.jsonl"):
        if not (run_dir / name).exists():
            return f"not finished: no runs/{run_dir.name}/{name}"
    return None


def _compare_run(cfg: Any, run_dir: Path, sequence_posts: int, baseline: dict[str, Any] | None) -> dict[str, Any]:
    """The engagement fractions and the multi-shot polarization of one finished run of ``cfg``.

    Untuned and best-of-N come from the grid's own baselines when it scored them (best-of-N at the
    training's sample budget, mean of the top k), else from the run's summary (its small final pool).
    """
    summary = json.loads((run_dir / "summary.json").read_text())
    opinions = [r["opinion"] for r in MetricsLog(run_dir / "samples.jsonl").read() if r.get("policy") == "trained"]
    if not opinions:
        return {"status": "missing", "reason": f"no trained posts in runs/{run_dir.name}/samples.jsonl"}
    network = SocialNetwork.load(run_dir / "network.npz")
    agent = int(summary["agent"])
    messages = opinions[:sequence_posts]
    row: dict[str, Any] = {"status": "ok", "reason": None, "agent": agent, "posts": len(messages)}
    row.update({key: summary.get(key) for key in _SUMMARY_KEYS})
    row["baselines_from"] = "summary"
    if baseline is not None and baseline["status"] == "ok" and "best_of_n_topk_readable_fraction" in baseline["result"]:
        b = baseline["result"]
        row.update(untuned_engaged_mean=b["untuned_engaged"], untuned_readable_fraction=b["untuned_readable_fraction"],
                   untuned_fraction=b["untuned_fraction"], best_of_n_engaged_mean=b["best_of_n_topk_engaged"],
                   best_of_n_readable_fraction=b["best_of_n_topk_readable_fraction"],
                   best_of_n_fraction=b["best_of_n_topk_fraction"], best_of_n_n=b["best_of_n_n"], baselines_from="grid")
    row.update(polarization_after(build_engagement(cfg.engagement, cfg.network.seed, network), network, agent, messages))
    return row


def compare_exposure_models(grid_dir: str | Path, *, sequence_posts: int = 32) -> list[dict[str, Any]]:
    """Compare the exposure models of a (finished or partly finished) grid folder; one row per configuration.

    Each row names its exposure model (``model``: ``follower`` or the recommender), its ``id`` and
    ``configuration``, and its ``status``: ``ok`` rows carry the engagement numbers of the run's
    summary.json and :func:`polarization_after` for its first ``sequence_posts`` trained posts;
    ``missing`` rows say why in ``reason``. Writes :data:`OUTPUT_FILES` into ``grid_dir``.
    Raises :class:`RecommendError` for a folder that is not a grid folder or has no finished run.
    """
    if sequence_posts < 1:
        raise RecommendError(f"sequence_posts must be >= 1, got {sequence_posts}")
    grid_dir = Path(grid_dir)
    grid = _load_grid(grid_dir)
    log = ResultsLog(grid_dir / "results.jsonl")
    training, baselines = log.latest("training"), log.latest("baselines")
    labels = [_exposure_label(c.config.engagement) for c in grid.configurations]
    counts = Counter(labels)
    rows = []
    for c, label in zip(grid.configurations, labels):
        run_dir = grid_dir / "runs" / c.id
        row: dict[str, Any] = {"model": label if counts[label] == 1 else f"{label} ({c.name})",
                               "id": c.id, "configuration": c.name}
        reason = _why_missing(run_dir, training.get(c.id))
        row.update({"status": "missing", "reason": reason} if reason else _compare_run(c.config, run_dir, sequence_posts, baselines.get(c.id)))
        rows.append(row)
    finished = [r for r in rows if r["status"] == "ok"]
    if not finished:
        raise RecommendError(f"{grid_dir}: no configuration has finished training (no runs/<id>/summary.json "
                             f"with trained posts); run or resume `engagegen grid run CONFIG --out {grid_dir}`")
    atomic_write_text(grid_dir / OUTPUT_FILES[0], json.dumps(rows, indent=2))
    atomic_write_text(grid_dir / OUTPUT_FILES[1], _csv(rows))
    _figure(finished, grid_dir / OUTPUT_FILES[2])
    return rows


def _csv(rows: list[dict[str, Any]]) -> str:
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _figure(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [textwrap.fill(r["model"], 18) for r in rows]  # a label that names a whole configuration stays legible
    x = np.arange(len(rows))
    fig, (a, b) = plt.subplots(2, 1, figsize=(max(7.0, 1.2 * len(rows) + 2), 7.5))
    for offset, key, label, color in ((-0.27, "untuned_readable_fraction", "untuned", "#bbbbbb"),
                                      (0.0, "best_of_n_readable_fraction", "best-of-N", "#5b8fd6"),
                                      (0.27, "trained_readable_fraction", "trained", "#2e9d5b")):
        a.bar(x + offset, [r[key] or 0.0 for r in rows], 0.27, label=label, color=color)
    a.set_xticks(x, names, fontsize=8)
    a.set_ylabel("readable engagement / optimum")
    a.set_ylim(0, 1.2)
    a.legend(fontsize=8, ncol=3, loc="upper center")
    b.bar(x - 0.2, [r["polarization_before"] for r in rows], 0.4, label="before", color="#bbbbbb")
    posts = {r["posts"] for r in rows}
    after = f"after {posts.pop()} trained posts" if len(posts) == 1 else "after the trained posts"
    b.bar(x + 0.2, [r["polarization_after"] for r in rows], 0.4, label=after, color="#c44e52")
    b.set_xticks(x, names, fontsize=8)
    b.set_ylabel("polarization index 4·var(x)")
    b.legend(fontsize=8)
    fig.tight_layout()
    try:  # through a temporary file, so a reader (the report, a browser) never sees half an image
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=120)
    finally:
        plt.close(fig)
