"""The benchmarks build their runs from the current config schema (they are not run by the suite)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rl_step_profile_trains_the_demo_first_stage_for_the_asked_steps():
    from engagegen.training import RunConfig

    cfg = load("bench_rl_step").profile_config(5)
    default = RunConfig().training.stages[0]
    (stage,) = cfg.training.stages
    assert cfg.training.steps == 5 and stage.until is None
    assert (stage.learning_rate, stage.lr_scheduler, stage.temperature) == (default.learning_rate, default.lr_scheduler, default.temperature)
    assert cfg.evaluation.every > cfg.training.steps  # no evaluation inside the profile
