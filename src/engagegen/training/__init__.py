"""RL from simulated feedback: one config, one trainer, one verb (``train``)."""

from engagegen.training.config import (
    EngagementConfig,
    EvaluationConfig,
    GenerationConfig,
    NetworkConfig,
    RunConfig,
    ScoringConfig,
    TrainerConfig,
    load_run_config,
)
from engagegen.training.schedule import StageConfig
from engagegen.training.trainer import EngagementTrainer, TrainingError, evaluate_run, load_run

__all__ = [
    "RunConfig", "NetworkConfig", "EngagementConfig", "ScoringConfig", "GenerationConfig", "TrainerConfig",
    "EvaluationConfig", "StageConfig", "load_run_config", "EngagementTrainer", "TrainingError", "load_run", "evaluate_run",
]
