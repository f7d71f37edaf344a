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
from engagegen.training.trainer import EngagementTrainer, TrainingError, evaluate_run, gate_pass, is_degenerate, load_run

__all__ = [
    "RunConfig", "NetworkConfig", "EngagementConfig", "ScoringConfig", "GenerationConfig", "TrainerConfig",
    "EvaluationConfig", "load_run_config", "EngagementTrainer", "TrainingError", "gate_pass", "is_degenerate", "load_run", "evaluate_run",
]
