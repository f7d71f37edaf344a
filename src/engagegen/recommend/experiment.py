"""The comparison experiment: train the agent against the follower cascade and against each feed
recommender on the same network, then compare engagement and polarization.

For each exposure model (``follower``: the paper's bounded-confidence cascade; then one
:class:`RecommendedCascade` per recommender) a full training run is made with the same config and
seed. After training, the trained policy's evaluation posts are posted one after another in
multi-shot mode (opinions of engaged users move by ``mu``), and the opinion spread before and after
is recorded. Results go to ``OUT/results.json`` and ``OUT/recommenders.png``.

Cost: one training run per exposure model (6 by default). On the 2-core CPU of the README a run
of the demo config takes about as long as ``make demo`` (8-14 minutes), so the whole comparison
takes about 1-1.5 hours; the feed models add seconds (their optimum and step table are computed
once per run).

Usage: ``python -m engagegen.recommend.experiment --config configs/demo.yaml --out runs/recommenders``
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from engagegen.config import atomic_write_text
from engagegen.network import SocialNetwork

__all__ = ["compare_exposure_models", "polarization_after"]

DEFAULT_MODELS = ("follower", "chronological", "popularity", "content", "opinion", "diverse")


def polarization_after(model: Any, network: SocialNetwork, agent: int, messages: Sequence[float]) -> dict[str, float]:
    """Opinion spread before and after posting ``messages`` in order (multi-shot)."""
    from engagegen.analysis import polarization_index

    if hasattr(model, "simulate_sequence"):
        after = model.simulate_sequence(network, agent, np.asarray(messages, dtype=float)).opinions
    else:  # a model without multi-shot: opinions do not move
        after = network.opinions
    return {"polarization_before": polarization_index(network.opinions), "polarization_after": polarization_index(after),
            "opinion_std_before": float(network.opinions.std()), "opinion_std_after": float(np.std(after)),
            "opinion_mean_before": float(network.opinions.mean()), "opinion_mean_after": float(np.mean(after))}


def compare_exposure_models(config: Any, out_dir: str | Path, *, models: Sequence[str] = DEFAULT_MODELS, k: int = 10,
                            rounds: int = 5, follow_share: float = 0.5, sequence_posts: int = 32,
                            progress: bool = True) -> list[dict[str, Any]]:
    """Train one agent per exposure model (same config and seed) and compare; returns one row per model."""
    from engagegen.training import EngagementTrainer
    from engagegen.training.build import build_engagement

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in models:
        run_dir = out / name
        engagement = (replace(config.engagement, model="bcm") if name == "follower" else
                      replace(config.engagement, model="feed", recommender=name, k=k, rounds=rounds, follow_share=follow_share))
        run_config = replace(config, engagement=engagement)
        summary = EngagementTrainer(run_config, run_dir).train(progress=progress)
        net = SocialNetwork.load(run_dir / "network.npz")
        samples = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines() if line.strip()]
        opinions = [r["opinion"] for r in samples if r["policy"] == "trained"][:sequence_posts]
        row = {"model": name, **{key: summary.get(key) for key in (
            "optimum", "trained_engaged_mean", "trained_fraction_of_optimum", "untuned_fraction_of_optimum",
            "best_of_n_fraction_of_optimum", "trained_opinion_mean", "steps", "wall_seconds")}}
        row.update(polarization_after(build_engagement(engagement, config.seed, net), net, int(summary["agent"]), opinions))
        rows.append(row)
        atomic_write_text(out / "results.json", json.dumps(rows, indent=2))
    _figure(rows, out / "recommenders.png")
    return rows


def _figure(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["model"] for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.8))
    x = np.arange(len(rows))
    a.bar(x - 0.2, [r["untuned_fraction_of_optimum"] for r in rows], 0.4, label="untuned", color="#bbbbbb")
    a.bar(x + 0.2, [r["trained_fraction_of_optimum"] for r in rows], 0.4, label="trained", color="#4c72b0")
    a.set_xticks(x, names, rotation=20)
    a.set_ylabel("engagement / optimum")
    a.legend()
    b.bar(x - 0.2, [r["polarization_before"] for r in rows], 0.4, label="before", color="#bbbbbb")
    b.bar(x + 0.2, [r["polarization_after"] for r in rows], 0.4, label="after the trained posts", color="#c44e52")
    b.set_xticks(x, names, rotation=20)
    b.set_ylabel("polarization index 4·var(x)")
    b.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    from engagegen.training import load_run_config

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="run config (YAML), e.g. configs/demo.yaml")
    parser.add_argument("--out", required=True, help="folder for the runs, results.json and recommenders.png")
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS), help="comma-separated exposure models")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--follow-share", type=float, default=0.5)
    args = parser.parse_args(argv)
    rows = compare_exposure_models(load_run_config(args.config), args.out, models=args.models.split(","), k=args.k,
                                   rounds=args.rounds, follow_share=args.follow_share)
    for r in rows:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
