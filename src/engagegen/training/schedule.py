"""The training schedule: stages, and the decisions taken after every held-out evaluation.

A run trains in stages (``training.stages``), each with its own steps, learning rate, sampling
temperature, posts per step and held-out sample size. Each stage starts from the best adapter so
far with a fresh optimizer, and is judged at its start. After every held-out evaluation the
schedule decides, as a person watching the curve would: stop when the run's goal is reached; go
to the next stage when this one reached its own target (``until``), ran out of steps, or stopped
improving (``patience`` evaluations without beating the stage's best held-out score by
``min_improvement``); otherwise train on. A plateau is judged within a stage: its first evaluation
(at its own temperature and sample size) sets its baseline, so a stage is never ended by a better
score that an earlier stage measured under other settings. Every decision is a pure function of
the evaluations, so a resumed run takes the same ones.

>>> stage = StageConfig(steps=20, learning_rate=1e-3)
>>> decide(0.96, Progress(best=0.9), stage, goal=0.95, patience=2, min_improvement=0.02, steps_left=10)
('stop', Progress(best=0.96, waiting=0))
>>> decide(0.90, Progress(best=0.9), stage, goal=0.95, patience=2, min_improvement=0.02, steps_left=10)
('train', Progress(best=0.9, waiting=1))
>>> decide(0.91, Progress(best=0.9, waiting=1), stage, goal=0.95, patience=2, min_improvement=0.02, steps_left=10)
('next', Progress(best=0.91, waiting=2))
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

from engagegen.config import ConfigError

__all__ = ["StageConfig", "Progress", "decide", "plateaued"]

Decision = Literal["train", "next", "stop"]


@dataclass(frozen=True)
class StageConfig:
    """One stage of training.

    steps: the most RL steps this stage may take. learning_rate: its (peak) learning rate, on
        ``lr_scheduler`` with ``warmup_steps``. temperature, prompts_per_step, eval_samples: the
        sampling temperature, prompts per step and held-out posts per evaluation in this stage;
        ``None`` takes ``generation.temperature``, ``training.prompts_per_step`` and
        ``evaluation.during_samples``. until: go on to the next stage once the held-out readable
        engagement reaches this fraction of the optimum (``None``: only on a plateau or at the
        end of its steps). plateau: whether ``training.patience`` evaluations without improvement
        end this stage early. Off for a first, exploring stage: early on, held-out engagement
        can stay near zero for several evaluations before it rises, and moving on to a smaller
        learning rate then only slows it down.
    """

    steps: int
    learning_rate: float
    lr_scheduler: Literal["constant", "linear", "cosine", "constant_with_warmup"] = "constant"
    warmup_steps: int = 0
    temperature: float | None = None
    prompts_per_step: int | None = None
    eval_samples: int | None = None
    until: float | None = None
    plateau: bool = True

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ConfigError(f"a stage needs steps >= 1, got {self.steps}")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ConfigError(f"a stage's learning_rate must be > 0, got {self.learning_rate}")
        if self.warmup_steps < 0 or self.warmup_steps >= self.steps:
            raise ConfigError(f"a stage's warmup_steps must be in [0, steps), got {self.warmup_steps}")
        if self.temperature is not None and not self.temperature > 0:
            raise ConfigError(f"a stage's temperature must be > 0, got {self.temperature}")
        for name in ("prompts_per_step", "eval_samples"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"a stage's {name} must be >= 1, got {value}")
        if self.until is not None and not 0 < self.until <= 1:
            raise ConfigError(f"a stage's until must be in (0, 1], got {self.until}")


@dataclass(frozen=True)
class Progress:
    """The stage's best held-out score so far and the evaluations since it last improved enough
    (``Progress()`` at the start of a stage)."""

    best: float = -1.0
    waiting: int = 0


def plateaued(progress: Progress, stage: StageConfig, patience: int) -> bool:
    """Whether ``stage`` ends on a plateau: ``patience`` evaluations without enough improvement,
    in a stage that ends on plateaus at all."""
    return stage.plateau and progress.waiting >= patience


def decide(score: float, progress: Progress, stage: StageConfig, *, goal: float, patience: int,
           min_improvement: float, steps_left: int) -> tuple[Decision, Progress]:
    """What to do after a held-out evaluation scoring ``score``, with ``steps_left`` steps left in
    this stage (within the run's budget)."""
    improved = score >= progress.best + min_improvement
    progress = Progress(best=max(progress.best, score), waiting=0 if improved else progress.waiting + 1)
    if score >= goal:
        return "stop", replace(progress, waiting=0)
    if (stage.until is not None and score >= stage.until) or steps_left <= 0 or plateaued(progress, stage, patience):
        return "next", progress
    return "train", progress
