"""Run every configuration of a grid: baselines in this process, trainings in parallel workers.

Workers are a local pool of processes by default (one per core, each with cores // workers torch
threads so they do not oversubscribe the machine) or Ray tasks when asked (``ray=True``) or when
``RAY_ADDRESS`` is set (:mod:`~engagegen.experiments.workers`). Each configuration trains in its
own run folder ``runs/<id>/`` by its run config's schedule, to its goal or its step budget.

Resumable: a finished configuration is recorded in ``results.jsonl`` (rewritten atomically) and
never run again; killing the runner loses at most the configurations in flight, and those resume
from their last checkpoint on the next run. A configuration that fails is recorded with its error
and the others go on; a worker process that dies (killed, out of memory) is retried once, then
reported. The grid folder also holds the cached baseline pools (``pools/``) and the results table
(``results.parquet``, ``results.csv``).
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engagegen.config import ConfigError, dump_yaml, from_dict, load_yaml, to_dict
from engagegen.experiments.baselines import BaselineScorer, run_baselines
from engagegen.experiments.config import GridPoint, GridConfig
from engagegen.experiments.results import ResultsLog, results_rows, target_columns, write_results_table
from engagegen.experiments.run_record import DEFAULT_TASK, read_run_result
from engagegen.experiments.workers import GridError, available_cores, connect_ray, ray_wanted, run_local, run_ray
from engagegen.training.build import build_engagement

__all__ = ["run_grid", "collect_grid", "load_grid_folder", "GridOutcome"]


@dataclass
class GridOutcome:
    """What a :func:`run_grid` call did: the rows of the results table, the table files, the ids
    whose baselines were scored and which were trained by this call, those that had nothing left to
    do, and those that failed (id -> error)."""

    out_dir: Path
    rows: list[dict[str, Any]]
    parquet: Path
    csv: Path
    scored: list[str] = field(default_factory=list)
    trained: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    backend: str = "local"


class _Recorder:
    """Turns worker outcomes into log records and keeps the outcome's lists."""

    def __init__(self, log: ResultsLog, outcome: GridOutcome) -> None:
        self.log, self.outcome = log, outcome

    def __call__(self, c: GridPoint, result: dict[str, Any]) -> None:
        status = result["status"]
        if status == "ok":
            self.log.append({"id": c.id, "name": c.name, "kind": "training", "status": "ok", "params": c.params,
                             "result": result["result"]})
            self.outcome.trained.append(c.id)
        elif status == "error":
            self.log.append({"id": c.id, "name": c.name, "kind": "training", "status": "error", "params": c.params,
                             "error": result["error"]})
            self.outcome.errors[c.id] = result["error"]


@contextmanager
def _locked(out_dir: Path) -> Iterator[None]:
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / ".lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise GridError(f"{out_dir} is in use by another `engagegen grid run`; wait for it or use another --out") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def run_grid(
    grid: GridConfig,
    out_dir: str | Path,
    workers: int | None = None,
    ray: bool | None = None,
    baselines_only: bool = False,
    progress: bool = True,
    *,
    task: str = DEFAULT_TASK,
) -> GridOutcome:
    """Run ``grid`` into ``out_dir``: baselines for every configuration, then (unless
    ``baselines_only``) one training per configuration, and write the results table.

    workers: parallel trainings (default one per core). ray: ``True`` requires Ray, ``False``
    forbids it, ``None`` uses it when RAY_ADDRESS is set. task: what a worker does with a
    configuration, as ``module:function`` taking the payload dict (``id``, ``name``, ``config``,
    ``run_dir``, ``threads``) and returning the record's result dict (default: train it).
    """
    out_dir = Path(out_dir)
    configurations = grid.configurations
    # Decide where trainings run before anything else, so a missing Ray fails at once, not after the baselines.
    use_ray = not baselines_only and ray_wanted(ray) and connect_ray(required=bool(ray))
    with _locked(out_dir):
        dump_yaml(grid.to_dict(), out_dir / "grid.yaml")
        log = ResultsLog(out_dir / "results.jsonl")
        outcome = GridOutcome(out_dir, [], out_dir / "results.parquet", out_dir / "results.csv",
                              backend="ray" if use_ray else "local")
        key = json.dumps(to_dict(grid.baselines), sort_keys=True)
        try:
            # ---- baselines: all configurations at once, in this process (they share sampled pools)
            finished = log.finished("baselines", key)
            _score_baselines([c for c in configurations if c.id not in finished], grid, out_dir, log, outcome, progress)
            # ---- training: one worker per configuration
            if not baselines_only:
                done = log.finished("training")
                _train_all([c for c in configurations if c.id not in done], grid, out_dir, log, outcome,
                           workers=workers, use_ray=use_ray, task=task, progress=progress, total=len(configurations))
        finally:
            done = log.finished("baselines", key)
            if not baselines_only:
                done &= log.finished("training")
            outcome.skipped = [c.id for c in configurations if c.id in done and c.id not in outcome.scored
                               and c.id not in outcome.trained]
            outcome.rows = results_rows(configurations, log)
            write_results_table(outcome.rows, out_dir)
    return outcome


def _score_baselines(todo: list[GridPoint], grid: GridConfig, out_dir: Path, log: ResultsLog, outcome: GridOutcome,
                     progress: bool) -> None:
    if not todo:
        return
    key = json.dumps(to_dict(grid.baselines), sort_keys=True)
    for c, result in run_baselines(todo, grid.baselines, out_dir / "pools", progress):
        record = {"id": c.id, "name": c.name, "kind": "baselines", "key": key, "params": c.params}
        if isinstance(result, str):
            log.append({**record, "status": "error", "error": result})
            outcome.errors[c.id] = result
        else:
            log.append({**record, "status": "ok", "result": result})
            outcome.scored.append(c.id)


def _train_all(items: list[GridPoint], grid: GridConfig, out_dir: Path, log: ResultsLog, outcome: GridOutcome, *,
               workers: int | None, use_ray: bool, task: str, progress: bool, total: int) -> None:
    if not items:
        return
    cores = available_cores()
    n_workers = max(1, min(workers or cores, len(items)))
    threads = max(1, cores // n_workers)
    common: dict[str, Any] = dict(
        out_dir=out_dir, task=task, threads=threads, examples=grid.baselines.examples,
        record=_Recorder(log, outcome), progress=progress, done_before=total - len(items), total=total)
    if use_ray:
        run_ray(items, **common)
    else:
        run_local(items, workers=n_workers, **common)


def load_grid_folder(out_dir: str | Path) -> GridConfig:
    """The grid a folder was run with (its ``grid.yaml``)."""
    path = Path(out_dir) / "grid.yaml"
    if not path.exists():
        raise GridError(f"{out_dir}: not a grid folder (no grid.yaml); run `engagegen grid run CONFIG --out {out_dir}` first")
    try:
        return from_dict(GridConfig, load_yaml(path))
    except ConfigError as exc:
        raise GridError(f"{path}: {exc}") from None


def collect_grid(out_dir: str | Path, *, baselines: bool = False, progress: bool = True) -> GridOutcome:
    """Read a grid folder's finished trainings again from their run folders, training nothing, and
    add the audience's target set (:func:`~engagegen.experiments.results.target_columns`) to the
    baseline records; for a grid written by an older version whose results table lacks newer
    columns (the new records are appended and win, and the table is rewritten). ``baselines``:
    score every configuration's baselines again, extending the cached pools where needed.

    By default baselines are not scored again: recorded numbers stay as they are.
    """
    out_dir = Path(out_dir)
    grid = load_grid_folder(out_dir)
    with _locked(out_dir):
        log = ResultsLog(out_dir / "results.jsonl")
        outcome = GridOutcome(out_dir, [], out_dir / "results.parquet", out_dir / "results.csv")
        recorded, training, audiences = log.latest("baselines"), log.latest("training"), BaselineScorer()
        try:
            if baselines:
                _score_baselines(grid.configurations, grid, out_dir, log, outcome, progress)
            for c in grid.configurations:
                b, t = recorded.get(c.id), training.get(c.id)
                if b and b["status"] == "ok" and not baselines:
                    net, agent = audiences.audience(c.config)
                    target = target_columns(build_engagement(c.config.engagement, c.config.network.seed, net), net, agent, {})
                    log.append({**b, "result": {**b["result"], **target}})
                    outcome.scored.append(c.id)
                run_dir = out_dir / "runs" / c.id
                if t and t["status"] == "ok" and (run_dir / "summary.json").is_file():
                    summary = json.loads((run_dir / "summary.json").read_text())
                    log.append({**t, "result": read_run_result(run_dir, summary, grid.baselines.examples)})
                    outcome.trained.append(c.id)
        finally:
            outcome.rows = results_rows(grid.configurations, log)
            write_results_table(outcome.rows, out_dir)
    return outcome
