"""The follower-vs-recommender comparison as post-processing of a grid folder.

The grid is ``configs/recommenders.yaml`` itself, run by the real grid runner (worker processes,
results.jsonl, grid.yaml) with its baselines off and a stand-in task instead of a training: the
task builds the configuration's network and exposure model, writes what the trainer writes
(network.npz, samples.jsonl, summary.json) with posts near the exact optimum, and fails on the
``diverse`` configuration. What is checked: one row per exposure model named by the model; the
polarization numbers equal a direct ``polarization_after`` call on the trained posts; the
engagement fractions are the summaries'; the failed and the unfinished runs are reported with
their reason; the output files; clear errors for a folder that is no grid or has no finished run;
the CLI table.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engagegen.experiments import BaselineConfig, load_grid_config, run_grid

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "recommenders.yaml"
MODELS = ["follower", "chronological", "popularity", "content", "opinion", "diverse"]
POSTS_PER_POLICY = 12


def fake_training(payload: dict[str, Any]) -> dict[str, Any]:
    """A grid task standing in for a training: the trainer's run files, with posts near the optimum."""
    from engagegen.config import from_dict
    from engagegen.experiments.run_record import read_run_result
    from engagegen.network import place_agent
    from engagegen.training import RunConfig
    from engagegen.training.build import build_engagement, build_network

    cfg = from_dict(RunConfig, payload["config"])
    if cfg.engagement.model == "feed" and cfg.engagement.recommender == "diverse":
        raise RuntimeError("a stand-in failure")
    run_dir = Path(payload["run_dir"])
    net = build_network(cfg.network)
    agent = place_agent(net, cfg.agent)
    model = build_engagement(cfg.engagement, cfg.network.seed, net)
    net.save(run_dir / "network.npz")
    optimum = model.optimum(net, agent)
    rng = np.random.default_rng(cfg.seed)
    opinions = {"untuned": rng.uniform(0, 1, POSTS_PER_POLICY),
                "trained": np.clip(optimum.message + rng.normal(0, 0.05, POSTS_PER_POLICY), 0, 1)}
    engaged = {policy: model.engagement(net, agent, s) for policy, s in opinions.items()}
    records = [{"policy": policy, "text": f"{policy} post {i}", "opinion": float(s), "engaged": float(e),
                "total": float(e) / optimum.value}
               for policy in ("trained", "untuned") for i, (s, e) in enumerate(zip(opinions[policy], engaged[policy]))]
    (run_dir / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    best = np.sort(engaged["untuned"])[-4:]
    summary = {
        "optimum": float(optimum.value), "optimal_message": float(optimum.message),
        "optimal_intervals": [[iv.lo, iv.hi] for iv in optimum.intervals],
        "untuned_engaged_mean": float(engaged["untuned"].mean()), "best_of_n_engaged_mean": float(best.mean()),
        "trained_engaged_mean": float(engaged["trained"].mean()),
        "untuned_fraction": float(engaged["untuned"].mean() / optimum.value),
        "best_of_n_fraction": float(best.mean() / optimum.value),
        "trained_fraction": float(engaged["trained"].mean() / optimum.value),
        # the stand-in's posts all pass the gates: readable and raw engagement agree
        "untuned_readable_fraction": float(engaged["untuned"].mean() / optimum.value),
        "best_of_n_readable_fraction": float(best.mean() / optimum.value),
        "trained_readable_fraction": float(engaged["trained"].mean() / optimum.value),
        "trained_fraction_se": 0.0, "trained_readable_fraction_se": 0.0, "samples_to_target": None,
        "trained_opinion_mean": float(opinions["trained"].mean()), "steps": 2, "wall_seconds": 0.1,
        "seed": cfg.seed, "agent": agent, "n_users": net.n_users,
    }
    (run_dir / "summary.json").write_text(json.dumps(summary))
    return read_run_result(run_dir, summary)


@pytest.fixture(scope="module")
def grid_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """configs/recommenders.yaml run with the stand-in task: five runs finished, ``diverse`` failed."""
    grid = load_grid_config(CONFIG)
    off = BaselineConfig(untuned=False, best_of_n=False, prompt_steered=False, random_oracle=False)
    out = tmp_path_factory.mktemp("grid") / "recommenders"
    outcome = run_grid(dataclasses.replace(grid, baselines=off), out, workers=2, progress=False,
                       task=f"{__name__}:fake_training")
    assert len(outcome.trained) == 5 and len(outcome.errors) == 1, outcome.errors
    return out


def test_the_shipped_config_is_the_demo_on_uniform_opinions_under_six_exposure_models() -> None:
    from engagegen.training import load_run_config

    grid = load_grid_config(CONFIG)
    demo = load_run_config(REPO / "configs" / "demo.yaml")
    demo = dataclasses.replace(demo, network=dataclasses.replace(demo.network, opinions="uniform"))
    engagements = [c.config.engagement for c in grid.configurations]
    assert [(e.model, e.recommender if e.model == "feed" else None) for e in engagements] == [
        ("bcm", None), ("feed", "chronological"), ("feed", "popularity"), ("feed", "content"), ("feed", "opinion"),
        ("feed", "diverse")]
    assert all((e.k, e.rounds, e.follow_share, e.epsilon) == (10, 5, 0.5, 0.2) for e in engagements)
    for c in grid.configurations:  # the demo run but for opinions, exposure model and the small final best-of-N pool
        assert c.config.evaluation.best_of_n_max == 64
        assert dataclasses.replace(c.config, engagement=demo.engagement, evaluation=demo.evaluation) == demo
    assert grid.baselines.samples == 64 and len({c.id for c in grid.configurations}) == 6


def test_rows_per_exposure_model_match_a_direct_computation(grid_dir: Path) -> None:
    from engagegen.network import SocialNetwork
    from engagegen.experiments.exposure_comparison import (
        compare_exposure_models,
        polarization_after,
    )
    from engagegen.training.build import build_engagement

    rows = compare_exposure_models(grid_dir, sequence_posts=8)
    grid = load_grid_config(CONFIG)
    assert [r["model"] for r in rows] == MODELS
    assert [r["id"] for r in rows] == [c.id for c in grid.configurations]
    assert [r["status"] for r in rows] == ["ok"] * 5 + ["missing"]
    assert "a stand-in failure" in rows[-1]["reason"] and rows[-1].get("polarization_after") is None
    for row, c in zip(rows[:5], grid.configurations):
        run_dir = grid_dir / "runs" / c.id
        summary = json.loads((run_dir / "summary.json").read_text())
        samples = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
        trained = [s["opinion"] for s in samples if s["policy"] == "trained"]
        net = SocialNetwork.load(run_dir / "network.npz")
        model = build_engagement(c.config.engagement, c.config.network.seed, net)
        expected = polarization_after(model, net, summary["agent"], trained[:8])
        assert {k: row[k] for k in expected} == pytest.approx(expected)
        untuned = [s["opinion"] for s in samples if s["policy"] == "untuned"]
        other = polarization_after(model, net, summary["agent"], untuned[:8])
        assert other["polarization_after"] != pytest.approx(row["polarization_after"])  # the trained posts were used
        assert row["posts"] == 8 and row["agent"] == summary["agent"]
        for key in ("optimum", "trained_readable_fraction", "untuned_readable_fraction", "best_of_n_readable_fraction"):
            assert row[key] == summary[key]
    assert len({r["polarization_before"] for r in rows[:5]}) == 1  # the same network under every model

    assert json.loads((grid_dir / "recommenders.json").read_text()) == rows
    with (grid_dir / "recommenders.csv").open(newline="") as fh:
        table = list(csv.DictReader(fh))
    assert [r["model"] for r in table] == MODELS and table[-1]["status"] == "missing"
    assert [float(r["polarization_after"]) for r in table[:5]] == pytest.approx([r["polarization_after"] for r in rows[:5]])
    assert (grid_dir / "figures" / "recommenders.png").stat().st_size > 10_000


def test_the_grids_own_baselines_replace_the_runs_small_final_pool(grid_dir: Path, tmp_path: Path) -> None:
    import shutil

    from engagegen.experiments import ResultsLog
    from engagegen.experiments.exposure_comparison import compare_exposure_models

    out = tmp_path / "with-baselines"
    shutil.copytree(grid_dir, out)
    first = load_grid_config(CONFIG).configurations[0]
    scored = {"untuned_engaged": 12.0, "untuned_fraction": 0.25, "untuned_readable_fraction": 0.25,
              "best_of_n_topk_engaged": 36.0, "best_of_n_topk_fraction": 0.75, "best_of_n_topk_readable_fraction": 0.75,
              "best_of_n_n": 480}
    ResultsLog(out / "results.jsonl").append({"id": first.id, "name": first.name, "kind": "baselines", "status": "ok",
                                              "result": scored})
    rows = compare_exposure_models(out, sequence_posts=8)
    assert rows[0]["baselines_from"] == "grid" and rows[0]["best_of_n_n"] == 480
    assert (rows[0]["untuned_readable_fraction"], rows[0]["best_of_n_readable_fraction"]) == (0.25, 0.75)
    assert (rows[0]["untuned_engaged_mean"], rows[0]["best_of_n_engaged_mean"]) == (12.0, 36.0)
    assert all(r["baselines_from"] == "summary" for r in rows[1:5])  # no grid baselines there: the run's own


def test_unfinished_runs_are_reported_and_empty_folders_rejected(grid_dir: Path, tmp_path: Path) -> None:
    from engagegen.recommend import RecommendError
    from engagegen.experiments.exposure_comparison import compare_exposure_models

    partial = tmp_path / "partial"
    shutil.copytree(grid_dir, partial)
    grid = load_grid_config(CONFIG)
    (partial / "runs" / grid.configurations[2].id / "summary.json").unlink()  # popularity: still training
    shutil.rmtree(partial / "runs" / grid.configurations[3].id)  # content: not started
    rows = {r["model"]: r for r in compare_exposure_models(partial, sequence_posts=4)}
    assert rows["popularity"]["status"] == "missing" and "summary.json" in rows["popularity"]["reason"]
    assert rows["content"]["reason"] == "not started" and rows["follower"]["status"] == "ok"
    assert rows["follower"]["posts"] == 4

    with pytest.raises(RecommendError, match=rf"{tmp_path / 'nothing'}: not a grid folder \(no grid.yaml\)"):
        compare_exposure_models(tmp_path / "nothing")
    unstarted = tmp_path / "unstarted"
    unstarted.mkdir()
    shutil.copy(grid_dir / "grid.yaml", unstarted / "grid.yaml")
    with pytest.raises(RecommendError, match=rf"{unstarted}: no configuration has finished training"):
        compare_exposure_models(unstarted)
    (unstarted / "grid.yaml").write_text("grid: {engagement.modle: [bcm]}\n")
    with pytest.raises(RecommendError, match=rf"{unstarted / 'grid.yaml'}: grid.engagement.modle"):
        compare_exposure_models(unstarted)
    with pytest.raises(RecommendError, match="sequence_posts must be >= 1"):
        compare_exposure_models(grid_dir, sequence_posts=0)


def test_the_cli_prints_the_table(grid_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    import engagegen.cli.recommend_cmd  # noqa: F401  (registers `engagegen recommend`)
    from engagegen.cli.app import app
    from engagegen.experiments.exposure_comparison import compare_exposure_models

    result = CliRunner().invoke(app, ["recommend", "compare", str(grid_dir), "--sequence-posts", "6"])
    assert result.exit_code == 0, result.output
    rows = compare_exposure_models(grid_dir, sequence_posts=6)
    lines = result.output.splitlines()
    for r in rows[:5]:  # the table fits 80 columns: one line per model with its numbers
        cells = next(line for line in lines if line.split()[:1] == [r["model"]]).split()
        assert cells[1:] == [f"{r['optimum']:g}", f"{r['untuned_readable_fraction']:.0%}",
                             f"{r['best_of_n_readable_fraction']:.0%}", f"{r['trained_readable_fraction']:.0%}",
                             f"{r['polarization_before']:.4f}", f"{r['polarization_after']:.4f}"]
    assert next(line for line in lines if line.split()[:1] == ["diverse"]).split()[1] == "missing"
    assert "missing diverse: training failed: RuntimeError: a stand-in failure" in result.output
    assert "1 of 6 configurations not finished" in result.output and "after 6 trained posts" in result.output
    assert str(grid_dir / "recommenders.csv") in result.output

    bad = CliRunner().invoke(app, ["recommend", "compare", str(tmp_path)])
    assert bad.exit_code == 2 and f"{tmp_path}: not a grid folder" in " ".join(bad.output.split())
