"""Experiments at scale: grids of run configurations, baselines, parallel or Ray runs, results tables.

Each configuration trains by its run config's schedule to its goal or budget, in a worker
process (or a Ray task); a rerun resumes. From Python::

    grid = load_grid_config("configs/paper-central.yaml")
    outcome = run_grid(grid, "runs/paper-central")           # baselines, then one training per configuration
    outcome = run_grid(grid, "runs/paper", baselines_only=True)
"""

from engagegen.experiments.baselines import POLICIES, random_opinion_engagement
from engagegen.experiments.pools import describe_audience, steered_prompt
from engagegen.experiments.config import (
    BaselineConfig,
    GridPoint,
    GridConfig,
    GridWarning,
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
from engagegen.experiments.run_record import read_run_result, final_posts_target, audience_target, train_configuration
from engagegen.experiments.runner import GridOutcome, collect_grid, load_grid_folder, run_grid
from engagegen.experiments.workers import GridError, available_cores

__all__ = [
    "GridConfig", "BaselineConfig", "OpenAIBaselineConfig", "GridPoint", "load_grid_config", "config_hash",
    "sample_budget", "run_grid", "collect_grid", "read_run_result", "with_changes", "load_grid_folder", "GridOutcome", "GridError", "GridWarning", "train_configuration", "audience_target", "final_posts_target", "available_cores",
    "ResultsLog", "results_rows", "write_results_table", "TARGET_FRACTION", "target_columns", "describe_target", "POLICIES", "describe_audience",
    "steered_prompt", "random_opinion_engagement",
]
