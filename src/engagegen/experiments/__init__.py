"""Experiments at scale: grids of run configurations, baselines, parallel or Ray runs, results tables.

>>> # grid = load_grid_config("configs/paper-central.yaml")
>>> # outcome = run_grid(grid, "runs/paper-central")           # baselines, then one training per configuration
>>> # outcome = run_grid(grid, "runs/paper", baselines_only=True)
>>> # outcome = extend_grid("runs/paper-central", 45, below=0.9)  # more steps for those short of 90%
>>> # outcome = refine_grid("runs/paper-central", 20, 3e-4, below=0.9)  # a second, decaying stage
>>> # outcome = refine_grid("runs/paper-central", 10, 2e-4, stage=3, changes={"generation.temperature": 0.7})
"""

from engagegen.experiments.baselines import POLICIES, describe_audience, random_opinion_engagement, steered_prompt
from engagegen.experiments.config import (
    BaselineConfig,
    Configuration,
    GridConfig,
    OpenAIBaselineConfig,
    config_hash,
    load_grid_config,
    sample_budget,
    with_changes,
)
from engagegen.experiments.results import (
    TARGET_FRACTION,
    ResultsLog,
    describe_target,
    results_rows,
    target_columns,
    write_results_table,
)
from engagegen.experiments.runner import (
    GridError,
    GridOutcome,
    available_cores,
    collect_grid,
    collect_stages,
    extend_grid,
    load_grid_folder,
    refine_grid,
    refinement,
    run_grid,
    run_posts_target,
    run_target,
    stage_folder,
    train_configuration,
)

__all__ = [
    "GridConfig", "BaselineConfig", "OpenAIBaselineConfig", "Configuration", "load_grid_config", "config_hash",
    "sample_budget", "run_grid", "extend_grid", "refine_grid", "collect_grid", "collect_stages", "refinement", "stage_folder", "with_changes", "load_grid_folder", "GridOutcome", "GridError", "train_configuration", "run_target", "run_posts_target", "available_cores",
    "ResultsLog", "results_rows", "write_results_table", "TARGET_FRACTION", "target_columns", "describe_target", "POLICIES", "describe_audience",
    "steered_prompt", "random_opinion_engagement",
]
