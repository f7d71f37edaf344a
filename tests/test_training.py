"""The RL loop's mechanics on a tiny random Llama with the SmolLM2 tokenizer (see conftest.py), and
one real step with the bundled SmolLM2.

What is checked: a run trains its stages and writes its whole record; a run killed with SIGKILL
after a checkpoint and then resumed logs the same metrics and summary as an uninterrupted run with
the same seed, across a stage boundary; configs with unknown keys or bad values are rejected with
the key's path. (The tiny model writes gibberish, so its readable engagement is 0 throughout: the
schedule's goal and stage targets are tested in test_schedule.py.)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engagegen.config import ConfigError, dump_yaml, from_dict, to_dict
from engagegen.training import EngagementTrainer, RunConfig, TrainingError, load_run_config

TIMING_KEYS = {"seconds", "wall_seconds", "seconds_sampling", "seconds_reward", "seconds_policy", "seconds_optimizer",
               "seconds_evaluation"}

TWO_STAGES = [{"steps": 3, "learning_rate": 1e-3},
              {"steps": 2, "learning_rate": 3e-4, "temperature": 0.7, "eval_samples": 6}]


def tiny_config(model_dir: Path, stages: list[dict] | None = None, **training: Any) -> RunConfig:
    return from_dict(RunConfig, {
        "topic": "cats",
        "generation": {"model": str(model_dir), "max_new_tokens": 8},
        "scoring": {"fluency_model": None},  # perplexity under SmolLM2 is tested with the real model
        # the tiny model's gibberish never ends a sentence: with the default, no post would earn a
        # reward and the policy would not move
        "reward": {"cut_off": 1.0},
        "training": {"stages": stages or TWO_STAGES, "group_size": 4, "checkpoint_every": 2, "beta": 0.02,
                     "patience": 5, **training},
        "evaluation": {"every": 2, "during_samples": 4, "confirm_samples": 2, "samples": 4, "best_of_n_top": 4,
                       "best_of_n_max": 8},
    })


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def without_timing(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in TIMING_KEYS} for row in rows]


@pytest.fixture(scope="module")
def finished_run(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[RunConfig, Path, dict]:
    cfg = tiny_config(tiny_model_dir)
    run_dir = tmp_path_factory.mktemp("run") / "uninterrupted"
    summary = EngagementTrainer(cfg, run_dir).train(progress=False)
    return cfg, run_dir, summary


def test_a_run_trains_its_stages_and_writes_its_whole_record(finished_run: tuple[RunConfig, Path, dict]) -> None:
    cfg, run_dir, summary = finished_run
    for name in ("config.yaml", "metrics.jsonl", "eval.jsonl", "samples.jsonl", "summary.json", "network.npz",
                 "prompts.json", "adapter/adapter_config.json", "adapter/adapter_model.safetensors",
                 "adapter/generation.json"):
        assert (run_dir / name).exists(), name
    assert load_run_config(run_dir / "config.yaml") == cfg

    metrics = read_jsonl(run_dir / "metrics.jsonl")
    assert [(m["step"], m["stage"]) for m in metrics] == [(1, 1), (2, 1), (3, 1), (4, 2), (5, 2)]
    for m in metrics:
        for key in ("engaged_mean", "engaged_max", "engaged_fraction_mean", "readable_fraction_mean", "gate_share",
                    "opinion_mean", "optimal_intervals", "fluency_mean", "topic_mean", "flagged_count", "reward_mean",
                    "reward_std", "frac_reward_zero_std", "kl", "seconds", "seconds_sampling", "seconds_reward",
                    "seconds_policy", "seconds_optimizer", "sampled_tokens", "prefilled_tokens"):
            assert key in m, key
        # the cached decoder sampled the step's posts: the step's time splits into its phases
        assert 0 < m["sampled_tokens"] <= cfg.training.group_size * cfg.generation.max_new_tokens
        assert min(m["seconds_sampling"], m["seconds_reward"], m["seconds_policy"], m["seconds_optimizer"]) >= 0
        # at the record's precision (milliseconds): a float sum of 0.027 + 0.004 + 0.039 + 0.002 exceeds 0.072
        assert round(m["seconds_sampling"] + m["seconds_reward"] + m["seconds_policy"] + m["seconds_optimizer"], 3) <= m["seconds"]
        assert 0 <= m["readable_fraction_mean"] <= m["engaged_fraction_mean"] <= 1
        assert m["engaged_mean"] <= m["engaged_max"] <= m["optimum"]
    # the posts sampled so far, whatever each stage's posts per step
    assert [m["samples_seen"] for m in metrics] == [4, 8, 12, 16, 20]
    assert summary["samples_seen"] == 20
    # validations every 2 steps and at each stage's end; the second stage is judged when it opens,
    # at its own temperature and sample size; the first, a new best, was confirmed on 2 more posts
    evals = read_jsonl(run_dir / "eval.jsonl")
    assert [(e["step"], e["stage"], e["temperature"], e["posts"]) for e in evals] == [
        (2, 1, 1.0, 6), (3, 1, 1.0, 4), (3, 2, 0.7, 6), (4, 2, 0.7, 6), (5, 2, 0.7, 6)]
    assert [e["decision"] for e in evals] == ["train", "next", "train", "train", "next"]

    samples = read_jsonl(run_dir / "samples.jsonl")
    counts = {policy: sum(s["policy"] == policy for s in samples) for policy in ("untuned", "best_of_n", "trained")}
    assert counts == {"untuned": 4, "best_of_n": 4, "trained": 4}
    for s in samples:
        assert {"text", "opinion", "engaged", "total", "topic", "fluency", "perplexity", "flagged", "degenerate",
                "complete", "passes_gates", "readable_fraction"} <= s.keys()
        assert s["readable_fraction"] == (s["engaged_fraction"] if s["passes_gates"] else 0.0)

    assert summary == json.loads((run_dir / "summary.json").read_text())
    for policy in ("untuned", "best_of_n", "trained"):
        for key in ("readable_fraction", "readable_fraction_se", "fraction", "fraction_se", "engaged_mean", "gate_share",
                    "cut_off_share", "opinion_mean"):
            assert f"{policy}_{key}" in summary, f"{policy}_{key}"
        texts = [" ".join(s["text"].lower().split()) for s in samples if s["policy"] == policy]
        assert summary[f"{policy}_distinct_share"] == len(set(texts)) / len(texts)
    assert summary["optimum"] == 99  # the paper's negative network: every user engageable from the centre
    assert summary["steps"] == 5 and summary["samples_seen"] == 5 * 4 and summary["stages_run"] == 2
    assert summary["validation_samples"] == 4 + 2 + 4 + 6 + 6 + 6
    assert summary["best_of_n_n"] == 8 and summary["best_of_n_top"] == 4
    assert summary["evaluation_seed"] == cfg.seed + 1_000_003
    assert summary["stop_reason"] == "stage steps used"
    # the adapter kept is the best validated one (the first, as nothing beat it), with its temperature
    assert summary["best_step"] == 2 and summary["trained_temperature"] == 1.0
    assert json.loads((run_dir / "adapter" / "generation.json").read_text())["temperature"] == 1.0
    # best-of-N keeps the top posts of a pool at least as large, so it cannot score below the untuned mean
    untuned = [s["total"] for s in samples if s["policy"] == "untuned"]
    best = [s["total"] for s in samples if s["policy"] == "best_of_n"]
    assert min(best) >= 0 and sum(best) / len(best) >= sorted(untuned)[0]


def test_killed_run_resumes_with_the_same_metrics(finished_run: tuple[RunConfig, Path, dict], tmp_path: Path) -> None:
    cfg, reference, summary = finished_run
    config_path = tmp_path / "config.yaml"
    dump_yaml(cfg, config_path)
    run_dir = tmp_path / "killed"
    command = [sys.executable, "-m", "engagegen", "train", str(config_path), "--out", str(run_dir)]
    log = tmp_path / "train.log"
    with log.open("wb") as sink:  # a file, not a pipe: a full pipe would stall the child
        proc = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    first = run_dir / "checkpoints" / "stage-1" / "checkpoint-2" / "engagegen_state.json"
    deadline = time.time() + 300
    while not first.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    if not first.exists():
        proc.kill()
        proc.wait()
        pytest.fail(f"no checkpoint was written: {log.read_text()[-2000:]}")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    with pytest.raises(TrainingError, match="already holds a run"):
        EngagementTrainer(cfg, run_dir).train(progress=False)
    resumed = EngagementTrainer(cfg, run_dir).train(resume=True, progress=False)

    # the resumed run crosses into the second stage exactly as the uninterrupted one did
    assert without_timing(read_jsonl(run_dir / "metrics.jsonl")) == without_timing(read_jsonl(reference / "metrics.jsonl"))
    assert without_timing(read_jsonl(run_dir / "eval.jsonl")) == without_timing(read_jsonl(reference / "eval.jsonl"))
    assert {k: v for k, v in resumed.items() if k != "wall_seconds"} == {k: v for k, v in summary.items() if k != "wall_seconds"}
    assert read_jsonl(run_dir / "samples.jsonl") == read_jsonl(reference / "samples.jsonl")


def test_a_run_killed_in_its_final_evaluation_resumes_with_its_steps(
    finished_run: tuple[RunConfig, Path, dict], tmp_path: Path
) -> None:
    # training done (the last checkpoint closes the schedule), killed before the summary was written
    cfg, reference, summary = finished_run
    run_dir = tmp_path / "killed-late"
    shutil.copytree(reference, run_dir)
    for name in ("summary.json", "samples.jsonl"):
        (run_dir / name).unlink()
    resumed = EngagementTrainer(cfg, run_dir).train(resume=True, progress=False)
    assert resumed["steps"] == summary["steps"] == 5 and resumed["samples_seen"] == summary["samples_seen"] == 20
    assert {k: v for k, v in resumed.items() if k != "wall_seconds"} == {k: v for k, v in summary.items() if k != "wall_seconds"}


def test_evaluating_a_run_again_rewrites_the_same_summary(finished_run: tuple[RunConfig, Path, dict], tmp_path: Path) -> None:
    from engagegen.training.trainer import evaluate_run

    cfg, reference, summary = finished_run
    run_dir = tmp_path / "again"
    shutil.copytree(reference, run_dir)
    again = evaluate_run(run_dir, progress=False)
    assert {k: v for k, v in again.items() if k != "wall_seconds"} == {k: v for k, v in summary.items() if k != "wall_seconds"}
    state = run_dir / "checkpoints" / "stage-2" / "checkpoint-2" / "engagegen_state.json"
    trained_for = json.loads(state.read_text())["wall_seconds"]
    assert again["wall_seconds"] > trained_for > 0  # the training's wall time is kept, this evaluation's added
    assert json.loads((run_dir / "summary.json").read_text()) == again


def test_resume_refuses_a_changed_config(finished_run: tuple[RunConfig, Path, dict], tiny_model_dir: Path) -> None:
    _, run_dir, _ = finished_run
    with pytest.raises(TrainingError, match="config differs"):
        EngagementTrainer(tiny_config(tiny_model_dir, lora_r=4), run_dir).train(resume=True, progress=False)


def test_a_plateau_ends_a_stage_early(tiny_model_dir: Path, tmp_path: Path) -> None:
    # readable engagement stays 0 with the tiny model: no validation beats its stage's first, so
    # with patience 1 each stage ends at its second validation (a stage's opening evaluation is
    # its own baseline, not a wait counted against the earlier stage's best)
    cfg = tiny_config(tiny_model_dir, stages=[{"steps": 6, "learning_rate": 1e-3}, {"steps": 6, "learning_rate": 1e-4}],
                      patience=1, budget=10)
    summary = EngagementTrainer(cfg, tmp_path / "plateau").train(progress=False)
    evals = read_jsonl(tmp_path / "plateau" / "eval.jsonl")
    assert [(e["step"], e["stage"], e["decision"]) for e in evals] == [(2, 1, "train"), (4, 1, "next"), (4, 2, "train"),
                                                                            (6, 2, "next")]
    assert summary["steps"] == 6 and summary["stop_reason"] == "plateau"


@pytest.mark.parametrize("confirm", [2, 0])
def test_a_lucky_validation_is_confirmed_before_it_stops_the_run(tiny_model_dir: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch, confirm: int) -> None:
    # every validation's first posts score the whole optimum, every confirming post nothing: with
    # confirmation the pooled score (4 of 6 posts) is below the goal and the run trains on; without,
    # the first lucky validation stops it
    from dataclasses import replace

    from engagegen.training import trainer

    real = trainer.evaluate_policies

    def scripted(sampler, reward, prompts, n, seed, batch_size=64):
        prompt_of, out = real(sampler, reward, prompts, n, seed, batch_size)
        return prompt_of, replace(out, readable_fraction=np.full(n, 0.0 if n == 2 else 1.0))

    monkeypatch.setattr(trainer, "evaluate_policies", scripted)
    cfg = tiny_config(tiny_model_dir)
    cfg = replace(cfg, evaluation=replace(cfg.evaluation, confirm_samples=confirm))
    summary = EngagementTrainer(cfg, tmp_path / "lucky").train(progress=False)
    evals = read_jsonl(tmp_path / "lucky" / "eval.jsonl")
    if confirm:
        assert [(e["step"], e["first_score"], round(e["score"], 3), e["posts"], e["decision"]) for e in evals[:2]] == [
            (2, 1.0, 0.667, 6, "train"), (3, 1.0, 0.667, 6, "next")]
        assert summary["steps"] == 5 and summary["validation_best_score"] == 0.75  # stage 2: 6 of 8 posts
    else:
        assert [(e["step"], e["score"], e["decision"]) for e in evals] == [(2, 1.0, "stop")]
        assert summary["steps"] == 2 and summary["stop_reason"] == "goal reached"


def test_a_warm_start_begins_from_the_given_adapter(
    finished_run: tuple[RunConfig, Path, dict], tiny_model_dir: Path, tmp_path: Path
) -> None:
    from safetensors.torch import load_file

    cfg, first, _ = finished_run
    second = tiny_config(tiny_model_dir, stages=[{"steps": 2, "learning_rate": 1e-12}], init_adapter=str(first / "adapter"))
    run_dir = tmp_path / "second"
    summary = EngagementTrainer(second, run_dir).train(progress=False)
    evals = read_jsonl(run_dir / "eval.jsonl")
    assert [e["step"] for e in evals] == [0, 2]  # the starting policy is evaluated before the first step
    assert summary["steps"] == 2 and (run_dir / "adapter" / "adapter_model.safetensors").exists()
    # with a vanishing learning rate the saved best adapter is the starting one, whichever step won
    start, best = load_file(str(first / "adapter" / "adapter_model.safetensors")), load_file(str(run_dir / "adapter" / "adapter_model.safetensors"))
    assert start.keys() == best.keys()
    assert all(np.allclose(start[k].numpy(), best[k].numpy(), atol=1e-6) for k in start)
    assert any(float(v.abs().max()) > 0 for k, v in start.items() if "lora_B" in k)  # a trained adapter, not a fresh one


@pytest.mark.parametrize(
    ("change", "message"),
    [({"init_adapter": "missing"}, "not a LoRA adapter folder"), ({"lora_r": 4}, "LoRA rank 16, but training.lora_r is 4")],
)
def test_a_warm_start_refuses_an_adapter_that_does_not_fit(
    finished_run: tuple[RunConfig, Path, dict], tiny_model_dir: Path, tmp_path: Path, change: dict, message: str
) -> None:
    _, first, _ = finished_run
    adapter = str(tmp_path / change["init_adapter"]) if "init_adapter" in change else str(first / "adapter")
    cfg = tiny_config(tiny_model_dir, stages=[{"steps": 2, "learning_rate": 1e-3}], **{**change, "init_adapter": adapter})
    with pytest.raises(TrainingError, match=message):
        EngagementTrainer(cfg, tmp_path / "run").train(progress=False)


def test_resume_needs_a_run_folder(tmp_path: Path, tiny_model_dir: Path) -> None:
    with pytest.raises(TrainingError, match="nothing to resume"):
        EngagementTrainer(tiny_config(tiny_model_dir), tmp_path / "empty").train(resume=True, progress=False)


@pytest.mark.parametrize(
    ("yaml_text", "path"),
    [
        ("trainng: {budget: 3}\n", "trainng"),
        ("training: {budgte: 3}\n", "training.budgte"),
        ("training: {budget: zero}\n", "training.budget"),
        ("training: {stages: [{steps: 0, learning_rate: 0.001}]}\n", "training.stages[0]"),
        ("training: {stages: [{steps: 5, learning_rate: 0.001, until: 2}]}\n", "training.stages[0]"),
        ("training: {stages: []}\n", "training.stages"),
        ("training: {group_size: 1}\n", "training.group_size"),
        ("training: {entropy_coef: -0.1}\n", "training.entropy_coef"),
        ("training: {entropy_floor: 0}\n", "training.entropy_floor"),
        ("training: {algorithm: rloo, entropy_coef: 0.1}\n", "training.entropy_coef"),
        ("generation: {temperature: -1}\n", "generation.temperature"),
        ("reward: {preset: viral}\n", "reward.preset"),
        ("engagement: {model: sir}\n", "engagement.model"),
        ("topic: '  '\n", "topic"),
        ("scoring: {fluency_perplexity: [100, 10]}\n", "scoring.fluency_perplexity"),
        ("scoring: {fluency_perplexity: [50]}\n", "scoring.fluency_perplexity"),
        ("scoring: {fluency_model: ' '}\n", "scoring.fluency_model"),
    ],
)
def test_bad_configs_name_the_key(tmp_path: Path, yaml_text: str, path: str) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(yaml_text)
    with pytest.raises(ConfigError) as info:
        load_run_config(config)
    assert path in str(info.value)


@pytest.mark.slow
def test_one_step_with_the_bundled_smollm2(tmp_path: Path) -> None:
    # the default config, perplexity under the embedded model included, cut down to one step
    cfg = from_dict(RunConfig, {
        "generation": {"max_new_tokens": 16},
        "training": {"stages": [{"steps": 1, "learning_rate": 1e-3}], "group_size": 2, "checkpoint_every": 1},
        "evaluation": {"every": 1, "during_samples": 2, "samples": 2, "best_of_n_top": 2, "best_of_n_max": 2},
    })
    summary = EngagementTrainer(cfg, tmp_path / "run").train(progress=False)
    assert summary["steps"] == 1
    trained = [s for s in read_jsonl(tmp_path / "run" / "samples.jsonl") if s["policy"] == "trained"]
    assert len(trained) == 2 and all(s["text"].strip() for s in trained)
    assert all(s["perplexity"] > 1 for s in trained)  # scored under the untuned model
    assert summary["untuned_perplexity_median"] > 1 and summary["perplexity_ratio"] > 0


def test_disk_full_while_checkpointing_keeps_the_previous_checkpoint(
    finished_run: tuple[RunConfig, Path, dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from engagegen.training import checkpoint as checkpoint_module
    from engagegen.training import trl_adapter as adapter_module

    cfg, reference, _ = finished_run
    real_finalize = checkpoint_module.finalize_checkpoint

    def finalize_or_fail(staged: Path, final: Path, state: dict) -> Path:
        if final.parent.name == "stage-2" and final.name == "checkpoint-2":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_finalize(staged, final, state)

    monkeypatch.setattr(adapter_module, "finalize_checkpoint", finalize_or_fail)
    run_dir = tmp_path / "full-disk"
    with pytest.raises(OSError, match="No space left"):
        EngagementTrainer(cfg, run_dir).train(progress=False)
    assert checkpoint_module.latest_checkpoint(run_dir / "checkpoints" / "stage-1").name == "checkpoint-3"

    monkeypatch.setattr(adapter_module, "finalize_checkpoint", real_finalize)
    EngagementTrainer(cfg, run_dir).train(resume=True, progress=False)
    assert without_timing(read_jsonl(run_dir / "metrics.jsonl")) == without_timing(read_jsonl(reference / "metrics.jsonl"))


def test_rloo_trains_too(tiny_model_dir: Path, tmp_path: Path) -> None:
    cfg = tiny_config(tiny_model_dir, stages=[{"steps": 2, "learning_rate": 1e-3}], algorithm="rloo")
    summary = EngagementTrainer(cfg, tmp_path / "rloo").train(progress=False)
    assert summary["steps"] == 2
    assert len(read_jsonl(tmp_path / "rloo" / "metrics.jsonl")) == 2


def test_the_entropy_bonus_acts_only_after_a_step_at_or_below_its_floor(tiny_model_dir: Path, tmp_path: Path) -> None:
    def grad_norms(name: str, **training: Any) -> list[float]:
        cfg = tiny_config(tiny_model_dir, stages=[{"steps": 3, "learning_rate": 1e-3}], **training)
        EngagementTrainer(cfg, tmp_path / name).train(progress=False)
        return [row["grad_norm"] for row in read_jsonl(tmp_path / name / "metrics.jsonl")]

    plain = grad_norms("plain", entropy_coef=0.0)
    # the tiny model's token entropy is near log(vocabulary): never at a floor of 0.01 nats,
    # always at one of 100 nats; the first step has no earlier step to judge by
    never = grad_norms("never", entropy_coef=0.5, entropy_floor=0.01)
    always = grad_norms("always", entropy_coef=0.5, entropy_floor=100.0)
    assert never == plain
    assert always[0] == plain[0] and always[1:] != plain[1:]
    assert {row["entropy_coef"] for row in read_jsonl(tmp_path / "always" / "metrics.jsonl")} == {0.5}
    # by default the bonus (0.2) waits below a floor of 0.5 nats with GRPO; RLOO has none
    assert (RunConfig().training.entropy_bonus, RunConfig().training.entropy_floor) == (0.2, 0.5)
    assert from_dict(RunConfig, {"training": {"algorithm": "rloo"}}).training.entropy_bonus == 0.0


def test_a_network_file_that_does_not_load_is_a_clear_error(tiny_model_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "net.npz"
    broken.write_bytes(b"not a network")
    cfg = from_dict(RunConfig, {**to_dict(tiny_config(tiny_model_dir)), "network": {"source": "file", "path": str(broken)}})
    with pytest.raises(Exception, match="net.npz") as info:
        EngagementTrainer(cfg, tmp_path / "run").train(progress=False)
    assert not isinstance(info.value, (AttributeError, TypeError, KeyError))


def test_reply_mode_trains_against_the_authors_audiences(tiny_model_dir: Path, tmp_path: Path) -> None:
    posts = tmp_path / "posts.csv"
    posts.write_text("text,author\nMy cat knocked every glass off the table today.,3\nAre cats better than dogs?,10\n")
    base = to_dict(tiny_config(tiny_model_dir, stages=[{"steps": 2, "learning_rate": 1e-3}]))
    cfg = from_dict(RunConfig, {**base, "generation": {**base["generation"], "mode": "reply", "reply_posts": str(posts)}})
    summary = EngagementTrainer(cfg, tmp_path / "reply").train(progress=False)
    assert summary["steps"] == 2
    prompts = json.loads((tmp_path / "reply" / "prompts.json").read_text())
    assert len(prompts) == 2 and "knocked every glass" in prompts[0]
    trained = [s for s in read_jsonl(tmp_path / "reply" / "samples.jsonl") if s["policy"] == "trained"]
    from engagegen.training.build import build_audience

    reward = build_audience(cfg).reward
    assert summary["optimum"] == pytest.approx(reward.optimum.value)  # the mean of the two targets' optima
    best_reply = max(r.optimum.value for r in reward.rewards)
    assert trained and all(0 <= s["engaged"] <= best_reply for s in trained)
