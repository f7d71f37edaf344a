"""A training run's folder as one record of a grid's results, and the task a grid worker runs.

The task (:func:`train_configuration`) trains one configuration by its schedule (to its goal or
its budget, resuming a run left in the folder) and returns :func:`read_run_result`'s record: summary,
steps and posts to 90% of the optimum, curves, example posts and the audience's target set.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engagegen.config import from_dict, load_yaml
from engagegen.experiments.results import first_reaching, target_columns
from engagegen.network import SocialNetwork, place_agent
from engagegen.training import EngagementTrainer, RunConfig
from engagegen.training.build import build_engagement, build_network
from engagegen.training.checkpoint import MetricsLog

__all__ = ["train_configuration", "read_run_result", "audience_target", "final_posts_target", "DEFAULT_TASK"]

#: The task a worker runs for each configuration: ``module:function`` taking the payload dict.
DEFAULT_TASK = "engagegen.experiments.run_record:train_configuration"


def _interval_distance(s: float, intervals: list[list[float]]) -> float:
    return min((max(lo - s, 0.0, s - hi) for lo, hi in intervals), default=0.0)


def final_posts_target(run_dir: str | Path, summary: dict[str, Any]) -> dict[str, Any]:
    """:func:`audience_target` for the untuned and trained posts of a run's final evaluation (``samples.jsonl``),
    for the agent its ``summary`` names (empty when it names none)."""
    if summary.get("agent") is None:
        return {}
    samples = MetricsLog(Path(run_dir) / "samples.jsonl").read()
    return audience_target(run_dir, int(summary["agent"]), {policy: [s["opinion"] for s in samples if s.get("policy") == policy]
                                                       for policy in ("untuned", "trained")})


def audience_target(run_dir: str | Path, agent: int, opinions: dict[str, Any]) -> dict[str, Any]:
    """The target set of a run's audience (its saved network and engagement config) and the share
    of each policy's posts inside it (``opinions``: policy -> s values; see
    :func:`~engagegen.experiments.results.target_columns`). Empty for a folder without the
    trainer's ``config.yaml`` and ``network.npz`` (a task of one's own that writes only the files
    the results record needs)."""
    run_dir = Path(run_dir)
    if not ((run_dir / "config.yaml").is_file() and (run_dir / "network.npz").is_file()):
        return {}
    cfg = from_dict(RunConfig, load_yaml(run_dir / "config.yaml"))
    network = SocialNetwork.load(run_dir / "network.npz")
    return target_columns(build_engagement(cfg.engagement, cfg.network.seed, network), network, agent, opinions)


def read_run_result(run_dir: Path, summary: dict[str, Any], examples: int = 3, *, target: bool = True) -> dict[str, Any]:
    """A finished run folder as one results record: summary, steps to the target, curves, example
    posts, and (``target``) the target set with the share of trained posts in it (:func:`audience_target`)."""
    metrics, evals = MetricsLog(run_dir / "metrics.jsonl").read(), MetricsLog(run_dir / "eval.jsonl").read()
    samples = [s for s in MetricsLog(run_dir / "samples.jsonl").read() if s.get("policy") == "trained"]
    steps_eval = first_reaching([e["step"] for e in evals], [e.get("readable_fraction") for e in evals])
    steps_train = first_reaching([m["step"] for m in metrics], [m.get("readable_fraction_mean") for m in metrics])
    samples_train = next((m.get("samples_seen") for m in metrics if m["step"] == steps_train), None)
    intervals = summary.get("optimal_intervals", [])
    s = float(summary["trained_opinion_mean"])
    distance = _interval_distance(s, intervals)
    top = sorted(samples, key=lambda r: -r.get("total", 0.0))[:examples]
    return {
        **(audience_target(run_dir, int(summary["agent"]), {"trained": [float(r["opinion"]) for r in samples]}) if target else {}),
        "optimum": summary["optimum"], "optimal_intervals": intervals,
        "trained_engaged": summary["trained_engaged_mean"], "trained_fraction": summary["trained_fraction"],
        "trained_fraction_se": summary.get("trained_fraction_se"), "trained_readable_fraction": summary.get("trained_readable_fraction"),
        "trained_readable_fraction_se": summary.get("trained_readable_fraction_se"),
        "trained_gate_share": summary.get("trained_gate_share"), "trained_opinion": s,
        "trained_distinct_share": summary.get("trained_distinct_share"),
        "final_opinion_in_optimal": distance == 0.0, "final_opinion_distance": distance,
        "steps_to_90": steps_eval, "samples_to_90": summary.get("samples_to_target"),
        "steps_to_90_train": steps_train, "samples_to_90_train": samples_train,
        "steps": summary.get("steps"), "best_step": summary.get("best_step"), "stop_reason": summary.get("stop_reason"),
        "samples_seen": summary.get("samples_seen"), "wall_seconds": summary.get("wall_seconds"),
        "trainer_untuned_engaged": summary.get("untuned_engaged_mean"),
        "trainer_best_of_n_engaged": summary.get("best_of_n_engaged_mean"),
        "trainer_untuned_readable_fraction": summary.get("untuned_readable_fraction"),
        "trainer_best_of_n_readable_fraction": summary.get("best_of_n_readable_fraction"),
        "trainer_best_of_n_n": summary.get("best_of_n_n"),
        "trained_temperature": summary.get("trained_temperature"),
        "run_dir": str(run_dir),
        "curves": {
            "step": [m["step"] for m in metrics],
            "engaged_mean": [m.get("engaged_mean") for m in metrics],
            "engaged_max": [m.get("engaged_max") for m in metrics],
            "opinion_mean": [m.get("opinion_mean") for m in metrics],
            "eval_step": [e["step"] for e in evals],
            "eval_stage": [e.get("stage", 1) for e in evals],
            "eval_readable_fraction": [e.get("readable_fraction") for e in evals],
            "eval_engaged_fraction": [e.get("engaged_fraction") for e in evals],
            "eval_opinion_mean": [e.get("opinion_mean") for e in evals],
        },
        "examples": [{"policy": "trained", "text": r["text"], "opinion": round(float(r["opinion"]), 4),
                      "engaged": float(r["engaged"]), "total": round(float(r["total"]), 4),
                      "passes_gates": bool(r.get("passes_gates"))} for r in top],
    }


def train_configuration(payload: dict[str, Any]) -> dict[str, Any]:
    """The default task: train one configuration in its run folder, resuming a run left there.
    A folder whose run already finished (``summary.json``) is read, not trained again."""
    cfg = from_dict(RunConfig, payload["config"])
    run_dir = Path(payload["run_dir"])
    summary_path = run_dir / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else None
    if summary is None:
        # A configuration whose audience cannot be built fails here, in a second, not after loading a model.
        place_agent(build_network(cfg.network), cfg.agent)
        resume = (run_dir / "metrics.jsonl").exists() or (run_dir / "config.yaml").exists()
        summary = EngagementTrainer(cfg, run_dir).train(resume=resume, progress=False)
        if summary.get("interrupted"):
            return {"interrupted": True, "step": summary.get("step")}
    return read_run_result(run_dir, summary, int(payload.get("examples", 3)))
