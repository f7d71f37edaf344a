"""Experiment grids on the tiny random Llama (see conftest.py): configs, baselines, parallel training,
resume, failures, the results table, the report, and the report rendered in headless Chromium.

What is checked: grid configs reject bad keys and values with the key's path; configuration ids
are stable; baselines-only scores the paper's configurations from one shared pool, with numbers an
independent computation reproduces; a training grid runs its configurations in worker processes,
reports a broken configuration while the other finishes, and skips finished work when run again; a
worker that dies is retried once, then reported, in the local pool and on a real local Ray cluster
(whose results table equals the pool's); the report renders in a real browser without
console errors and with its plots visible.
"""

from __future__ import annotations

import base64
import csv
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from engagegen.config import ConfigError, dump_yaml, from_dict, load_yaml
from engagegen.experiments import (
    GridConfig,
    GridError,
    GridWarning,
    collect_grid,
    load_grid_config,
    random_opinion_engagement,
    run_grid,
)
from engagegen.training import RunConfig

REPO = Path(__file__).resolve().parents[1]


def tiny_base(model_dir: Path) -> dict[str, Any]:
    """A run config small enough to train two one-step stages in seconds on the tiny model (the
    tiny model's posts end no sentence: cut-off posts keep their reward, so it has something to learn)."""
    return {
        "topic": "cats",
        "generation": {"model": str(model_dir), "max_new_tokens": 8},
        "reward": {"cut_off": 1.0},
        "scoring": {"fluency_model": None},
        "training": {"stages": [{"steps": 1, "learning_rate": 1e-3}, {"steps": 1, "learning_rate": 3e-4}],
                     "patience": 5, "group_size": 4, "checkpoint_every": 2},
        "evaluation": {"every": 1, "during_samples": 4, "samples": 4, "best_of_n_max": 4, "batch_size": 8},
    }


def write_grid(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# ------------------------------------------------------------------------------------------ configs
@pytest.mark.parametrize(
    ("yaml_text", "path"),
    [
        ("grid: {network.opinons: [negative]}\n", "grid.network.opinons"),
        ("grid: {training.group_size: [2, ten]}\n", "grid.training.group_size[1]"),
        ("grid: {agent: []}\n", "grid.agent"),
        ("grid: {agent: central}\n", "grid.agent"),
        ("grid: {training: [{stpes: 3}]}\n", "grid.training[0]: training.stpes"),
        ("base: {network: {sourc: file}}\n", "base.network.sourc"),
        ("base: {training: {group_size: 1}}\n", "base.training"),
        ("baselines: {sampels: 3}\n", "baselines.sampels"),
        ("baselines: {samples: 0}\n", "baselines"),
        ("baselines: {openai: {model: gpt-4o}}\n", "baselines.openai"),
        ("grdi: {agent: [central]}\n", "grdi"),
    ],
)
def test_bad_grid_configs_name_the_key(tmp_path: Path, yaml_text: str, path: str) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(yaml_text)
    with pytest.raises(ConfigError) as info:
        load_grid_config(config)
    assert str(info.value).startswith(path), str(info.value)


def test_shipped_configs_expand_to_the_papers_grids() -> None:
    full = load_grid_config(REPO / "configs" / "paper-synthetic.yaml")
    central = load_grid_config(REPO / "configs" / "paper-central.yaml")
    assert len(full.configurations) == 80 and len(central.configurations) == 16
    assert len({c.id for c in full.configurations}) == 80
    conditions = {(c.config.network.opinions, c.config.network.modularity, c.config.network.homophily) for c in full.configurations}
    assert len(conditions) == 16 and {c.config.agent for c in full.configurations} == {
        "central", "comm-largest", "comm-smallest", "echo-high", "echo-low"}
    assert {c.config.agent for c in central.configurations} == {"central"}
    import engagegen.cli.grid_cmd  # noqa: F401  (registers `engagegen grid`)
    from typer.testing import CliRunner

    from engagegen.cli.app import app

    listed = CliRunner().invoke(app, ["grid", "list", str(REPO / "configs" / "paper-central.yaml")], terminal_width=200)
    assert listed.exit_code == 0 and "16 configurations" in listed.output
    assert all(c.id in listed.output for c in central.configurations)
    real = load_grid_config(REPO / "configs" / "real-network.yaml")
    assert {c.config.network.source for c in real.configurations} == {"file"}
    for c in real.configurations:  # the shipped data files exist where the config says
        assert (REPO / c.config.network.path).exists() and (REPO / str(c.config.network.opinions_file)).exists()


def test_configuration_ids_are_stable_and_readable() -> None:
    grid = {"grid": {"network.opinions": ["negative", "positive"], "agent": ["central", "echo-low"]}}
    first = from_dict(GridConfig, grid).configurations
    again = from_dict(GridConfig, {**grid, "base": {"engagement": {"epsilon": 0.2}}}).configurations  # a default, spelled out
    changed = from_dict(GridConfig, {**grid, "base": {"engagement": {"epsilon": 0.15}}}).configurations
    assert [c.id for c in first] == [c.id for c in again]
    assert not {c.id for c in first} & {c.id for c in changed}
    assert first[1].id.startswith("negative_echo-low-") and first[1].name == "opinions=negative, agent=echo-low"
    assert first[1].config.agent == "echo-low" and first[1].config.network.opinions == "negative"


def test_the_real_network_config_loads_the_shipped_graph() -> None:
    from engagegen.network import place_agent
    from engagegen.training.build import build_network

    grid = load_grid_config(REPO / "configs" / "real-network.yaml")
    cwd = Path.cwd()
    os.chdir(REPO)  # paths in configs are relative to where the grid runs
    try:
        nets = [build_network(c.config.network) for c in grid.configurations]
    finally:
        os.chdir(cwd)
    assert all(net.n_users == 34 and net.n_edges == 156 for net in nets)  # the karate club, both directions
    polarized = nets[0].opinions
    assert polarized[0] < 0.5 < polarized[33]  # the instructor's and the president's factions
    assert place_agent(nets[0], "central") == 0  # Mr. Hi has the highest betweenness


def test_random_opinion_oracle_is_the_exact_average_over_s() -> None:
    from engagegen.engagement import BoundedConfidenceCascade
    from engagegen.network import SocialNetwork
    from engagegen.reward.lookup import EngagementLookup

    rng = np.random.default_rng(3)
    edges = [(u, v) for u in range(40) for v in rng.choice(40, 3, replace=False) if u != v]
    net = SocialNetwork.from_edges(edges, rng.beta(2, 5, 40))

    class Reward:  # the attributes random_opinion_engagement reads off an EngagementReward
        network, source, engagement = net, 0, BoundedConfidenceCascade(epsilon=0.2)
        lookup = EngagementLookup(net, 0, engagement)

    dense = BoundedConfidenceCascade(epsilon=0.2).engagement(net, 0, (np.arange(200_000) + 0.5) / 200_000).mean()
    assert random_opinion_engagement(Reward()) == pytest.approx(dense, abs=1e-3)


# ---------------------------------------------------------------------------------- baselines only
def test_baselines_only_scores_paper_configs_from_one_pool(tmp_path: Path, tiny_model_dir: Path) -> None:
    from typer.testing import CliRunner

    import engagegen.cli.grid_cmd  # noqa: F401  (registers `engagegen grid`)
    from engagegen.cli.app import app
    from engagegen.engagement import BoundedConfidenceCascade
    from engagegen.network import paper_network, place_agent
    from engagegen.scoring import VaderOpinion

    config = write_grid(tmp_path / "paper-few.yaml", {
        "name": "paper-few", "base": tiny_base(tiny_model_dir),
        "grid": {"network.opinions": ["negative", "positive"], "agent": ["central", "echo-low"]},
        "baselines": {"samples": 6},
    })
    out = tmp_path / "grid"
    result = CliRunner().invoke(app, ["grid", "run", str(config), "--out", str(out), "--baselines-only", "--no-report"])
    assert result.exit_code == 0, result.output
    assert "4 baselines scored" in result.output

    pools = sorted(p.name for p in (out / "pools").iterdir())
    untuned = [p for p in pools if p.startswith("untuned-")]
    assert len(untuned) == 1  # one pool for all four configurations: posts do not depend on the network
    assert 1 <= sum(p.startswith("steered-") for p in pools) <= 2  # one per distinct audience description
    lines = (out / "pools" / untuned[0]).read_text().splitlines()
    texts = [json.loads(line)["text"] for line in lines[1:]]
    assert len(texts) == 8  # N = 2 steps x 4 posts, the training budget

    import pyarrow.parquet as pq

    rows = pq.read_table(out / "results.parquet").to_pylist()
    assert [r["name"] for r in rows] == ["opinions=negative, agent=central", "opinions=negative, agent=echo-low",
                                         "opinions=positive, agent=central", "opinions=positive, agent=echo-low"]
    s = VaderOpinion().score(texts)
    bcm = BoundedConfidenceCascade(epsilon=0.2)
    for row in rows:
        net = paper_network(opinions=row["network.opinions"], modularity="high", homophily="high", seed=12121995)
        agent = place_agent(net, row["agent"])
        optimum = bcm.optimum(net, agent).value
        engaged = bcm.engagement(net, agent, s)
        assert row["optimum"] == optimum and row["agent_user"] == agent
        assert row["untuned_engaged"] == pytest.approx(engaged.mean())
        assert row["untuned_fraction"] == pytest.approx(engaged.mean() / optimum)
        assert row["best_of_n_engaged"] in set(engaged.tolist()) and row["best_of_n_n"] == 8
        assert 0 <= row["random_oracle_fraction"] <= 1 and row["prompt_steered_n"] == 6
        assert json.loads(row["optimal_intervals"]) and row["error"] is None
    # the command's table: readable engagement first, the raw figure beside it
    assert "readable engagement (raw)" in " ".join(result.output.split())
    first = rows[0]
    assert f"{first['untuned_readable_fraction']:.0%} ({first['untuned_fraction']:.0%})" in result.output
    assert "(top k)" in result.output  # the header "best-of-N (top k)", wrapped at 80 columns
    with (out / "results.csv").open(newline="") as fh:
        csv_rows = list(csv.DictReader(fh))
    assert [r["name"] for r in csv_rows] == [r["name"] for r in rows]
    assert [float(r["untuned_fraction"]) for r in csv_rows] == pytest.approx([r["untuned_fraction"] for r in rows])

    stamp = (out / "pools" / untuned[0]).stat().st_mtime_ns
    again = CliRunner().invoke(app, ["grid", "run", str(config), "--out", str(out), "--baselines-only", "--no-report"])
    assert again.exit_code == 0 and "0 baselines scored" in again.output and "4 already done" in again.output
    assert (out / "pools" / untuned[0]).stat().st_mtime_ns == stamp


def test_a_pool_is_the_start_of_every_larger_pool_and_is_extended_to_it(tiny_model_dir: Path) -> None:
    from engagegen.experiments.pools import Pool, sample_local
    from engagegen.generation import LocalModel

    cfg = from_dict(RunConfig, tiny_base(tiny_model_dir))
    generator = LocalModel(str(tiny_model_dir))
    prompts = generator.format_prompts(["Write a post about cats.", "Write a post about dogs."])
    whole = sample_local(generator, prompts, 13, cfg, seed=5, batch_size=4)
    small = sample_local(generator, prompts, 7, cfg, seed=5, batch_size=4)
    # every smaller pool is the larger one's start, also where it ends in a cut-short chunk (n = 1, 5:
    # chunks hold 2 posts per prompt, and the last one is cut to 1)
    assert small == (whole[0][:7], whole[1][:7])
    for n in (1, 2, 5, 8):
        assert sample_local(generator, prompts, n, cfg, seed=5, batch_size=4)[1] == whole[1][:n]
    calls = []
    grown = sample_local(generator, prompts, 13, cfg, seed=5, batch_size=4, advance=calls.append,
                         start=Pool("untuned", "k", *small))
    assert grown == whole
    assert calls[0] == 4 and sum(calls) >= 13  # the kept posts are counted once, the rest sampled
    with pytest.raises(ValueError, match="another prompt"):
        sample_local(generator, prompts[::-1], 13, cfg, seed=5, batch_size=4, start=Pool("untuned", "k", *small))
    # after every whole chunk but the last, the pool so far: each one a start the rest can be sampled from
    saved: list[tuple[list[str], list[str]]] = []
    assert sample_local(generator, prompts, 13, cfg, seed=5, batch_size=4, checkpoint=lambda *pool: saved.append(pool)) == whole
    assert [len(texts) for _, texts in saved] == [4, 8, 12]
    for prompt_of, texts in saved:
        assert (prompt_of, texts) == (whole[0][: len(texts)], whole[1][: len(texts)])
    assert sample_local(generator, prompts, 13, cfg, seed=5, batch_size=4, start=Pool("untuned", "k", *saved[1])) == whole


def test_a_stopped_pool_sampling_goes_on_from_its_last_chunk(tmp_path: Path, tiny_model_dir: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from engagegen.experiments.baselines import run_baselines
    from engagegen.experiments.pools import PoolCache
    from engagegen.generation import LocalModel

    grid = from_dict(GridConfig, {"name": "stop", "base": {**tiny_base(tiny_model_dir), "training": {"stages": [{"steps": 6, "learning_rate": 1e-3}], "group_size": 4}},
                                  "baselines": {"samples": 4, "prompt_steered": False, "batch_size": 4}})
    calls = []
    generate = LocalModel.generate

    def stop_at_third(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["seed"])
        if len(calls) == 3:
            raise KeyboardInterrupt  # the runner killed while it samples the third chunk
        return generate(self, *args, **kwargs)

    monkeypatch.setattr(LocalModel, "generate", stop_at_third)
    with pytest.raises(KeyboardInterrupt):
        list(run_baselines(grid.configurations, grid.baselines, tmp_path / "stopped", progress=False))
    [stopped] = list((tmp_path / "stopped").iterdir())
    kind, key = stopped.stem.split("-", 1)
    assert len(PoolCache(tmp_path / "stopped").load(kind, key)) == 8  # two whole chunks of 4 were kept
    calls.clear()
    monkeypatch.setattr(LocalModel, "generate", lambda self, *a, **k: calls.append(k["seed"]) or generate(self, *a, **k))
    [(_, resumed)] = list(run_baselines(grid.configurations, grid.baselines, tmp_path / "stopped", progress=False))
    assert calls == [grid.configurations[0].config.seed + chunk for chunk in range(2, 6)]  # chunks 3 to 6 only
    [(_, whole)] = list(run_baselines(grid.configurations, grid.baselines, tmp_path / "whole", progress=False))
    assert PoolCache(tmp_path / "stopped").load(kind, key).texts == PoolCache(tmp_path / "whole").load(kind, key).texts
    assert {**resumed, "baselines_seconds": 0} == {**whole, "baselines_seconds": 0}


@pytest.fixture
def chat_server() -> Any:
    """A chat-completions server on 127.0.0.1 whose posts take opposite sides; path /broken/ answers 500."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    posts = ["Cats are wonderful, loving and the best companions!", "I hate cats. They are awful, nasty pests.",
             "Cats sleep a lot and eat fish."]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802  (http.server's name)
            payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path.startswith("/broken/"):
                body, status = {"error": {"message": "overloaded"}}, 500
            else:
                choices = [{"index": i, "message": {"role": "assistant", "content": posts[i % len(posts)]}}
                           for i in range(payload.get("n", 1))]
                body, status = {"object": "chat.completion", "choices": choices}, 200
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_two_positions_of_one_user_are_named_as_one_run(tmp_path: Path, tiny_model_dir: Path) -> None:
    # on the paper's network degree-low and comm-smallest are both user 0; central is user 60
    grid = from_dict(GridConfig, {"name": "same", "base": tiny_base(tiny_model_dir),
                                   "grid": {"agent": ["central", "degree-low", "comm-smallest"]},
                                   "baselines": {"samples": 4, "prompt_steered": False}})
    with pytest.warns(GridWarning) as caught:
        run_grid(grid, tmp_path / "grid", baselines_only=True, progress=False)
    messages = [str(w.message) for w in caught if w.category is GridWarning]
    assert messages == ["grid points 'agent=degree-low' and 'agent=comm-smallest' are the same run: agent 'degree-low' and "
                        "'comm-smallest' are both user 0 of their network"]


def test_an_openai_compatible_baseline_is_scored_and_a_failing_one_reported(tmp_path: Path, chat_server: str) -> None:
    from engagegen.engagement import BoundedConfidenceCascade
    from engagegen.network import paper_network, place_agent
    from engagegen.scoring import VaderOpinion

    off = {"untuned": False, "best_of_n": False, "prompt_steered": False, "random_oracle": False, "samples": 6}
    grid = from_dict(GridConfig, {"grid": {"network.opinions": ["negative", "positive"]},
                                  "baselines": {**off, "openai": {"base_url": f"{chat_server}/v1", "model": "fake-4o",
                                                                  "api_key_env": None}}})
    outcome = run_grid(grid, tmp_path / "ok", baselines_only=True, progress=False)
    posts = ["Cats are wonderful, loving and the best companions!", "I hate cats. They are awful, nasty pests.",
             "Cats sleep a lot and eat fish."] * 2
    s = VaderOpinion().score(posts)
    for row in outcome.rows:
        net = paper_network(opinions=row["network.opinions"], modularity="high", homophily="high", seed=12121995)
        engaged = BoundedConfidenceCascade(epsilon=0.2).engagement(net, place_agent(net, "central"), s)
        assert row["openai_label"] == "fake-4o" and row["openai_n"] == 6
        assert row["openai_engaged"] == pytest.approx(engaged.mean())
    assert outcome.rows[0]["openai_engaged"] > 0 and outcome.rows[1]["openai_engaged"] > 0  # each camp has its post

    broken = from_dict(GridConfig, {"grid": {"network.opinions": ["negative"]},
                                    "baselines": {**off, "random_oracle": True, "openai": {
                                        "base_url": f"{chat_server}/broken/v1", "model": "fake-4o", "api_key_env": None,
                                        "max_retries": 0}}})
    outcome = run_grid(broken, tmp_path / "broken", baselines_only=True, progress=False)
    row = outcome.rows[0]
    assert "overloaded" in row["openai_error"] and row.get("openai_engaged") is None
    assert row["random_oracle_fraction"] > 0 and row["error"] is None  # the other baselines are unaffected
    assert not list((tmp_path / "broken" / "pools").glob("openai-*"))  # nothing cached: the next run asks again


# ---------------------------------------------------------------------------------------- training
@pytest.fixture(scope="module")
def trained_grid(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[GridConfig, Path, Any]:
    """Two configurations trained in two worker processes; the second cannot build its network."""
    grid = from_dict(GridConfig, {
        "name": "tiny", "base": tiny_base(tiny_model_dir),
        "grid": {"network.opinions": ["negative", "sideways"]},
        "baselines": {"samples": 4, "prompt_steered": False},
    })
    out = tmp_path_factory.mktemp("grid") / "tiny"
    outcome = run_grid(grid, out, workers=2, progress=False)
    return grid, out, outcome


def test_a_broken_configuration_is_reported_and_the_other_trains(trained_grid: tuple[GridConfig, Path, Any]) -> None:
    grid, out, outcome = trained_grid
    good, broken = grid.configurations
    assert outcome.trained == [good.id]
    assert "sideways" in outcome.errors[broken.id]
    rows = {r["id"]: r for r in outcome.rows}
    assert rows[good.id]["training_status"] == "ok" and rows[good.id]["error"] is None
    assert rows[broken.id]["training_status"] == "error" and "sideways" in rows[broken.id]["error"]

    run_dir = out / "runs" / good.id
    summary = json.loads((run_dir / "summary.json").read_text())
    row = rows[good.id]
    assert row["trained_fraction"] == summary["trained_fraction"] and row["steps"] == 2
    assert row["trained_readable_fraction"] == summary["trained_readable_fraction"]
    assert row["trained_fraction_se"] == summary["trained_fraction_se"] and row["training.budget"] == 2
    assert row["optimum"] == summary["optimum"] == 99
    trained = np.array([json.loads(line)["engaged"] for line in (run_dir / "samples.jsonl").read_text().splitlines()
                        if json.loads(line)["policy"] == "trained"]) / 99
    assert trained.mean() == pytest.approx(row["trained_fraction"])
    assert row["trained_fraction_se"] == pytest.approx(trained.std(ddof=1) / np.sqrt(len(trained)))
    evals = [json.loads(line) for line in (run_dir / "eval.jsonl").read_text().splitlines()]
    assert {e["stage"] for e in evals} == {1, 2}  # one `grid run` trains the whole schedule
    reached = [e["step"] for e in evals if e["readable_fraction"] >= 0.9]
    assert row["steps_to_90"] == (reached[0] if reached else None)
    s, intervals = summary["trained_opinion_mean"], summary["optimal_intervals"]
    assert row["final_opinion_in_optimal"] == any(lo <= s <= hi for lo, hi in intervals)
    # where posts must land for 90% of the optimum, and the share of the final posts that do
    from engagegen.engagement import BoundedConfidenceCascade
    from engagegen.network import SocialNetwork

    target = BoundedConfidenceCascade(0.2).near_optimal(SocialNetwork.load(run_dir / "network.npz"), summary["agent"], 0.9)
    assert row["target_intervals"] == [[iv.lo, iv.hi] for iv in target] and len(target) > 0
    assert row["target_width"] == pytest.approx(sum(iv.width for iv in target))
    posts = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    trained_s = [p["opinion"] for p in posts if p["policy"] == "trained"]
    assert row["trained_on_target"] == pytest.approx(np.mean([any(v in iv for iv in target) for v in trained_s]))
    assert 0 <= row["untuned_on_target"] <= 1
    assert (run_dir / "worker.log").exists() and (out / "results.csv").exists()


def test_a_rerun_skips_finished_configurations(trained_grid: tuple[GridConfig, Path, Any]) -> None:
    grid, out, _ = trained_grid
    good, broken = grid.configurations
    summary = out / "runs" / good.id / "summary.json"
    stamp = summary.stat().st_mtime_ns
    outcome = run_grid(grid, out, workers=2, progress=False)
    assert outcome.skipped == [good.id] and outcome.trained == [] and outcome.scored == []
    assert broken.id in outcome.errors  # tried again, failed again, still reported
    assert summary.stat().st_mtime_ns == stamp
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sum(r["id"] == good.id and r["kind"] == "training" for r in records) == 1


def test_collect_reads_the_run_folders_again(trained_grid: tuple[GridConfig, Path, Any], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    import engagegen.cli.grid_cmd  # noqa: F401  (registers `engagegen grid`)
    from engagegen.cli.app import app

    grid, original, _ = trained_grid
    good, broken = grid.configurations
    out = tmp_path / "copy"
    shutil.copytree(original, out, ignore=shutil.ignore_patterns(".lock"))
    run_dir = out / "runs" / good.id
    # read again by `grid collect`, as after an upgrade that added the target columns: the same
    # records otherwise, nothing trained or scored
    log_path = out / "results.jsonl"
    records = [json.loads(line) for line in log_path.read_text().splitlines()]
    before = {r["kind"]: json.loads(json.dumps(r)) for r in records if r["id"] == good.id}
    for r in records:
        for key in ("target_intervals", "target_width", "trained_on_target", "untuned_on_target"):
            r.get("result", {}).pop(key, None)
    log_path.write_text("".join(json.dumps(r) + "\n" for r in records))
    stamp = (run_dir / "summary.json").stat().st_mtime_ns
    result = CliRunner().invoke(app, ["grid", "collect", str(out), "--no-report"])
    assert result.exit_code == 0, result.output
    assert "1 trainings and 1 baseline records read again" in result.output
    after = {r["kind"]: r for r in (json.loads(line) for line in log_path.read_text().splitlines()) if r["id"] == good.id}
    assert after["training"]["result"] == {**before["training"]["result"], "run_dir": str(run_dir)}  # read in the copy
    assert after["baselines"]["result"] == {k: v for k, v in before["baselines"]["result"].items() if k != "untuned_on_target"}
    assert (run_dir / "summary.json").stat().st_mtime_ns == stamp
    row = {r["id"]: r for r in csv.DictReader((out / "results.csv").open())}[good.id]
    assert float(row["target_width"]) > 0 and row["best_of_n_n"] == "8" and not row.get("untuned_on_target")
    assert collect_grid(out).trained == [good.id]  # again: the same
    # --baselines scores them again, best-of-N at the schedule's sample budget (2 steps x 4 posts)
    records = [json.loads(line) for line in log_path.read_text().splitlines()]
    for r in records:
        if r["kind"] == "baselines" and r["id"] == good.id:
            r["result"]["best_of_n_n"] = 24
    log_path.write_text("".join(json.dumps(r) + "\n" for r in records))
    result = CliRunner().invoke(app, ["grid", "collect", str(out), "--baselines", "--no-report"])
    assert result.exit_code == 1 and "failed" in result.output  # the broken configuration, reported again
    row = {r["id"]: r for r in csv.DictReader((out / "results.csv").open())}[good.id]
    assert row["best_of_n_n"] == "8" and float(row["untuned_on_target"]) >= 0 and float(row["target_width"]) > 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert float(row["trained_readable_fraction"]) == pytest.approx(summary["trained_readable_fraction"])
    with pytest.raises(GridError, match="not a grid folder"):
        collect_grid(tmp_path)


def test_the_report_shows_figures_table_and_posts(trained_grid: tuple[GridConfig, Path, Any]) -> None:
    from typer.testing import CliRunner

    import engagegen.cli.grid_cmd  # noqa: F401
    from engagegen.cli.app import app

    grid, out, _ = trained_grid
    result = CliRunner().invoke(app, ["grid", "report", str(out)])
    assert result.exit_code == 0, result.output
    page = (out / "report.html").read_text()
    for name in ("benchmark.png", "learning_curves.png", "opinions.png"):
        assert (out / "figures" / name).stat().st_size > 5_000
    assert page.count("data:image/png;base64,") == 3 and 'class="sortable"' in page
    assert "opinions=negative" in page and "Failed configurations" in page and "sideways" in page
    assert "<details>" in page and "trained" in page


def test_a_run_report_shows_where_posts_must_land(trained_grid: tuple[GridConfig, Path, Any],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from engagegen.report import run_report

    grid, out, outcome = trained_grid
    good = grid.configurations[0]
    row = {r["id"]: r for r in outcome.rows}[good.id]
    page = run_report(out / "runs" / good.id).read_text()
    where = ", ".join(f"({lo:.3f}, {hi:.3f})" for lo, hi in row["target_intervals"])
    assert f"Engagement reaches 90% of the optimum for s in {where} (width {row['target_width']:.3f})" in page
    assert f"{100 * row['trained_on_target']:.0f}% of trained posts land there" in page
    assert f"reaching 90% of the optimum<b>{100 * row['trained_on_target']:.0f}%</b>" in page
    assert page.count("data:image/png;base64,") >= 3
    # and `engagegen train` / `evaluate` write the report and print the same sentence under their
    # table, computing the target set once for both
    import importlib

    import engagegen.experiments
    from engagegen.cli.common import console
    from engagegen.cli.train_cmd import _show_summary

    calls = []
    counted = lambda *args: calls.append(args) or engagegen.experiments.run_record.final_posts_target(*args)  # noqa: E731
    monkeypatch.setattr(importlib.import_module("engagegen.cli.train_cmd"), "final_posts_target", counted)
    monkeypatch.setattr(importlib.import_module("engagegen.report.run_report"), "final_posts_target", counted)
    run_dir = out / "runs" / good.id
    with console.capture() as captured:
        _show_summary(json.loads((run_dir / "summary.json").read_text()), run_dir)
    printed = " ".join(captured.get().split())
    assert f"Engagement reaches 90% of the optimum for s in {where}" in printed
    assert f"report: {run_dir / 'report.html'}" in printed and len(calls) == 1
    assert "distinct" in printed, printed


# ------------------------------------------------------------------------------- dying workers, Ray
def die_once(payload: dict[str, Any]) -> dict[str, Any]:
    """A task whose worker is killed on its first attempt (seed 1, 3) or every attempt (seed 2); its
    result depends on the configuration, so two back-ends' tables can be compared."""
    marker = Path(payload["run_dir"]) / "attempted"
    if payload["config"]["seed"] == 2 or not marker.exists():
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    print("second attempt", flush=True)  # into the run folder's worker.log
    # the worker imported numba (with engagegen) before its task ran: its thread budget must hold anyway
    numba = sys.modules["numba"]
    numba.njit(parallel=True, cache=False)(lambda x: x.sum())(np.ones(4))  # launches numba's pool
    numba.njit(cache=False)(lambda x: x + 1)(1)  # a later compile re-reads numba's settings
    if numba.get_num_threads() != payload["threads"]:
        raise AssertionError(f"numba runs {numba.get_num_threads()} threads, budget {payload['threads']}")
    return {"trained_engaged": float(payload["config"]["seed"]), "attempts": 2}


def _dying_grid(seeds: list[int]) -> GridConfig:
    return from_dict(GridConfig, {
        "grid": {"seed": seeds},
        "baselines": {"untuned": False, "best_of_n": False, "prompt_steered": False, "random_oracle": False},
    })


def test_a_dying_worker_is_retried_once_then_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")  # set, but no Ray cluster there: the local pool is used
    grid = _dying_grid([1, 2])
    outcome = run_grid(grid, tmp_path / "grid", workers=2, progress=False, task=f"{__name__}:die_once")
    once, always = grid.configurations
    assert outcome.backend == "local"
    assert outcome.trained == [once.id]
    assert "died twice" in outcome.errors[always.id] and "-9" in outcome.errors[always.id]
    rows = {r["id"]: r for r in outcome.rows}
    assert rows[once.id]["trained_engaged"] == 1.0 and rows[once.id]["optimum"] > 0


def test_a_grid_on_a_real_ray_cluster_gives_the_local_pools_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A local Ray cluster of 2 CPUs started here runs the grid's tasks; a worker killed once is
    retried by Ray, one killed every time is reported; the table equals the local pool's."""
    ray = pytest.importorskip("ray")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    # Ray's workers inherit the environment: this test module (the task) must be importable there.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(Path(__file__).parent), *sys.path]))
    grid = _dying_grid([1, 2, 3])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        on_ray = run_grid(grid, tmp_path / "ray", ray=True, progress=False, task=f"{__name__}:die_once")
    finally:
        ray.shutdown()
    local = run_grid(grid, tmp_path / "local", ray=False, workers=2, progress=False, task=f"{__name__}:die_once")
    once, always, once_more = grid.configurations
    assert on_ray.backend == "ray" and local.backend == "local"
    # retried once, then done (in the order the tasks finished, which neither back-end fixes)
    assert sorted(on_ray.trained) == sorted(local.trained) == sorted([once.id, once_more.id])
    assert set(on_ray.errors) == set(local.errors) == {always.id}
    assert on_ray.errors[always.id].startswith("the worker died twice (Ray: WorkerCrashedError)")
    assert (tmp_path / "ray" / "runs" / once.id / "worker.log").read_text().strip() == "second attempt"
    # the same table: the same rows and values, but for the time baselines took and the wording of the error
    differs = {"baselines_seconds", "error"}
    ray_table, local_table = pq.read_table(on_ray.parquet).to_pylist(), pq.read_table(local.parquet).to_pylist()
    assert [r.keys() for r in ray_table] == [r.keys() for r in local_table]
    assert ([{k: v for k, v in r.items() if k not in differs} for r in ray_table]
            == [{k: v for k, v in r.items() if k not in differs} for r in local_table])
    assert [r["trained_engaged"] for r in ray_table] == [1.0, None, 3.0]
    assert [bool(r["error"]) for r in ray_table] == [bool(r["error"]) for r in local_table] == [False, True, False]


def killed_after_first_checkpoint(payload: dict[str, Any]) -> dict[str, Any]:
    """The default task (a real training); on its first attempt the worker is killed right after
    the run's first checkpoint is in place, so the retry resumes from it."""
    from engagegen.experiments.run_record import train_configuration
    from engagegen.training import trl_adapter

    marker = Path(payload["run_dir"]) / "killed"
    if not marker.exists():
        finalize = trl_adapter.finalize_checkpoint

        def finalize_then_die(*args: Any, **kwargs: Any) -> Path:
            finalize(*args, **kwargs)
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
            raise AssertionError("unreachable")

        trl_adapter.finalize_checkpoint = finalize_then_die
    return train_configuration(payload)


def test_a_training_killed_on_ray_resumes_from_its_checkpoint_as_the_local_pool_trains_it(
        tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ray = pytest.importorskip("ray")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(Path(__file__).parent), *sys.path]))
    base = tiny_base(tiny_model_dir)
    base["training"] = {**base["training"], "stages": [{"steps": 4, "learning_rate": 1e-3}], "checkpoint_every": 2}
    grid = from_dict(GridConfig, {"name": "resume", "base": base, "grid": {"seed": [1, 2]},
                                  "baselines": {"untuned": False, "best_of_n": False, "prompt_steered": False,
                                                "random_oracle": False}})
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        on_ray = run_grid(grid, tmp_path / "ray", ray=True, progress=False, task=f"{__name__}:killed_after_first_checkpoint")
    finally:
        ray.shutdown()
    local = run_grid(grid, tmp_path / "local", ray=False, workers=2, progress=False)
    assert on_ray.backend == "ray" and not on_ray.errors and not local.errors
    for c in grid.configurations:
        run = tmp_path / "ray" / "runs" / c.id
        assert (run / "killed").exists()  # the first attempt died after its step-2 checkpoint
        steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
        assert steps == [1, 2, 3, 4]  # the retry went on from step 3, not from the start
    ray_table, local_table = pq.read_table(on_ray.parquet).to_pylist(), pq.read_table(local.parquet).to_pylist()
    assert [untimed(r) for r in ray_table] == [untimed(r) for r in local_table]
    for c in grid.configurations:
        on_ray_rows, local_rows = ([untimed(json.loads(line)) for line in (tmp_path / back_end / "runs" / c.id / "metrics.jsonl").open()]
                                   for back_end in ("ray", "local"))
        assert on_ray_rows == local_rows


def untimed(row: dict[str, Any]) -> dict[str, Any]:
    """A record without its wall-clock times, which differ between any two runs."""
    return {k: v for k, v in row.items() if "seconds" not in k}


def test_ray_required_but_missing_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError, as where it is not installed
    with pytest.raises(GridError, match=r"Ray is not installed.*engagegen\[cluster\].*without --ray"):
        run_grid(GridConfig(), tmp_path / "grid", ray=True, progress=False)
    assert not (tmp_path / "grid" / "results.jsonl").exists()  # failed before doing any work


# ------------------------------------------------------------------------------ headless Chromium
class DevTools:
    """Chromium's DevTools protocol over --remote-debugging-pipe (fd 3 in, fd 4 out; NUL-separated JSON)."""

    def __init__(self, binary: str, width: int, height: int) -> None:
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def plumb() -> None:  # in the child, before exec: the pipes become fds 3 and 4
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        self.proc = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--hide-scrollbars",
             f"--window-size={width},{height}", "--no-first-run", "--disable-extensions", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=False,
            preexec_fn=plumb)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
             timeout: float = 30.0) -> dict[str, Any]:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        reply = self._wait(lambda m: m.get("id") == self._next, timeout)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def wait_event(self, method: str, timeout: float = 30.0) -> dict[str, Any]:
        for event in self.events:
            if event.get("method") == method:
                return event
        return self._wait(lambda m: m.get("method") == method, timeout)

    def _wait(self, done: Any, timeout: float) -> dict[str, Any]:
        deadline = time.time() + timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "method" in message:
                    self.events.append(message)
                if done(message):
                    return message
            left = deadline - time.time()
            if left <= 0 or not select.select([self._from_chrome], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._from_chrome, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)


def test_the_report_renders_in_headless_chromium(trained_grid: tuple[GridConfig, Path, Any], tmp_path: Path) -> None:
    from PIL import Image

    from engagegen.report.grid_report import grid_report

    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; the test set-up installs it (apt-get install -y chromium)")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    _, out, _ = trained_grid
    page = grid_report(out)
    width, height = 1280, 1600
    chrome = DevTools(binary, width, height)
    try:
        target = chrome.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = chrome.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Page"):
            chrome.send(f"{domain}.enable", session=session)
        chrome.send("Emulation.setDeviceMetricsOverride",
                    {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=session)
        chrome.send("Page.navigate", {"url": page.resolve().as_uri()}, session=session)
        chrome.wait_event("Page.loadEventFired")
        state = chrome.send("Runtime.evaluate", {"returnByValue": True, "expression": """(() => {
            const th = document.querySelector('table.sortable th:nth-child(2)');
            th.click();
            return {title: document.title, sorted: th.className,
                    images: Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight]),
                    rows: document.querySelectorAll('table.sortable tbody tr').length};
        })()"""}, session=session)["result"]["value"]
        shot = chrome.send("Page.captureScreenshot", {"format": "png"}, session=session)["data"]
    finally:
        chrome.close()
    errors = [e for e in chrome.events if e["method"] == "Runtime.exceptionThrown"
              or (e["method"] == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "assert"))
              or (e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")]
    assert errors == []
    assert state["title"] == "engagegen grid: tiny" and state["rows"] == 2 and state["sorted"] == "sorted-asc"
    assert len(state["images"]) == 3 and all(done and w > 300 and h > 100 for done, w, h in state["images"])

    png = tmp_path / "report.png"
    png.write_bytes(base64.b64decode(shot))
    pixels = np.asarray(Image.open(png).convert("RGB"), dtype=np.int16)
    assert pixels.shape[:2] == (height, width)
    ink = (pixels < 235).any(axis=2).mean()  # anything but the white background: text, axes, plots
    colour = (pixels.max(axis=2) - pixels.min(axis=2) > 40).mean()  # coloured pixels: only the plots have them
    assert ink > 0.02 and colour > 0.0005, (ink, colour)

