"""The schedule's decisions after a held-out evaluation, and the form checks behind the reward's gates."""

from __future__ import annotations

from dataclasses import replace

import pytest

from engagegen.config import ConfigError, from_dict
from engagegen.scoring.form import ends_a_sentence, is_degenerate
from engagegen.training import RunConfig, StageConfig
from engagegen.training.schedule import Progress, decide

STAGE = StageConfig(steps=20, learning_rate=1e-3)
RULES = {"goal": 0.95, "patience": 2, "min_improvement": 0.02}


def test_the_goal_stops_training_whatever_the_stage() -> None:
    assert decide(0.95, Progress(best=0.5, waiting=1), STAGE, steps_left=9, **RULES)[0] == "stop"
    assert decide(0.99, Progress(best=0.99, waiting=5), STAGE, steps_left=0, **RULES)[0] == "stop"


def test_a_stage_target_moves_on_to_the_next_stage() -> None:
    stage = StageConfig(steps=20, learning_rate=1e-3, until=0.8)
    assert decide(0.8, Progress(best=0.5), stage, steps_left=9, **RULES) == ("next", Progress(best=0.8, waiting=0))
    assert decide(0.79, Progress(best=0.5), stage, steps_left=9, **RULES) == ("train", Progress(best=0.79, waiting=0))


def test_a_plateau_is_patience_evaluations_without_enough_improvement() -> None:
    progress = Progress(best=0.6)
    decision, progress = decide(0.61, progress, STAGE, steps_left=9, **RULES)  # better, but by less than 0.02
    assert (decision, progress) == ("train", Progress(best=0.61, waiting=1))
    decision, progress = decide(0.55, progress, STAGE, steps_left=9, **RULES)
    assert (decision, progress) == ("next", Progress(best=0.61, waiting=2))


def test_an_exploring_stage_trains_on_through_a_flat_start() -> None:
    """Seed 3 of the demo: held-out engagement 0.003, 0.01, 0.004 at steps 5-15 before it rose."""
    exploring = replace(STAGE, plateau=False)
    progress = Progress()
    for score in (0.003, 0.01, 0.004, 0.005):
        decision, progress = decide(score, progress, exploring, steps_left=9, **RULES)
        assert decision == "train"
    assert progress.waiting == 3  # still counted: the schedule's record says how long it was flat
    assert decide(0.9, progress, exploring, steps_left=9, **RULES)[0] == "train"  # until: None here
    assert decide(0.3, progress, exploring, steps_left=0, **RULES)[0] == "next"  # its steps still end it
    assert RunConfig().training.stages[0].plateau is False and RunConfig().training.stages[1].plateau is True


def test_an_improvement_resets_the_wait() -> None:
    decision, progress = decide(0.70, Progress(best=0.6, waiting=1), STAGE, steps_left=9, **RULES)
    assert (decision, progress) == ("train", Progress(best=0.70, waiting=0))


def test_a_stage_out_of_steps_moves_on() -> None:
    assert decide(0.7, Progress(best=0.6), STAGE, steps_left=0, **RULES)[0] == "next"


def test_the_budget_caps_the_stages() -> None:
    stages = [{"steps": 25, "learning_rate": 1e-3}, {"steps": 15, "learning_rate": 3e-4}]
    assert from_dict(RunConfig, {"training": {"stages": stages}}).training.steps == 40
    assert from_dict(RunConfig, {"training": {"stages": stages, "budget": 30}}).training.steps == 30


@pytest.mark.parametrize(("stage", "message"), [
    ({"steps": 0, "learning_rate": 1e-3}, "steps >= 1"),
    ({"steps": 5, "learning_rate": 0}, "learning_rate must be > 0"),
    ({"steps": 5, "learning_rate": 1e-3, "warmup_steps": 5}, "warmup_steps"),
    ({"steps": 5, "learning_rate": 1e-3, "temperature": 0}, "temperature must be > 0"),
    ({"steps": 5, "learning_rate": 1e-3, "until": 1.5}, "until must be in"),
    ({"steps": 5, "learning_rate": 1e-3, "eval_samples": 0}, "eval_samples must be >= 1"),
])
def test_bad_stages_name_the_stage_and_the_problem(stage: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        from_dict(RunConfig, {"training": {"stages": [{"steps": 5, "learning_rate": 1e-3}, stage]}})
    assert "training.stages[1]" in str(info.value)


@pytest.mark.parametrize(("text", "ends"), [
    ("My cat stole my seat again.", True),
    ("Is it Caturday yet?", True),
    ("My cat stole my seat again! #caturday #cats", True),
    ('She said "never again."', True),
    ("Best nap spot ever. 😹🐈", True),
    ("Best nap spot ever 😹", False),
    ("My cat stole my seat and then", False),
    ("Five reasons cats rule: 1) naps, 2)", False),
    ("#cats #caturday", False),
    ("", False),
])
def test_a_post_ends_where_a_sentence_ends(text: str, ends: bool) -> None:
    assert ends_a_sentence(text) is ends


def test_degenerate_posts_are_caught() -> None:
    assert is_degenerate("no cat cat cat couch")
    assert is_degenerate("cats are cats are cats are cats are cats")
    assert not is_degenerate("Cats, they don't care. They're a reality shattered that crumbles on the humblest.")
