"""Run every configuration of a grid: baselines in this process, trainings in parallel workers.

Workers are a local pool of processes by default (one per core, each with cores // workers torch
threads so they do not oversubscribe the machine) or Ray tasks when asked (``ray=True``) or when
``RAY_ADDRESS`` is set. Each configuration trains in its own run folder ``runs/<id>/``.

Resumable: a finished configuration is recorded in ``results.jsonl`` (rewritten atomically) and
never run again; killing the runner loses at most the configurations in flight, and those resume
from their last checkpoint on the next run. A configuration that fails is recorded with its error
and the others go on; a worker process that dies (killed, out of memory) is retried once, then
reported. The grid folder also holds the cached baseline pools (``pools/``) and the results table
(``results.parquet``, ``results.csv``).
"""

from __future__ import annotations

import fcntl
import importlib
import json
import os
import signal
import socket
import statistics
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from engagegen.config import ConfigError, dump_yaml, from_dict, load_yaml, to_dict
from engagegen.errors import EngagegenError
from engagegen.files import atomic_write_text
from engagegen.experiments.config import Configuration, GridConfig, sample_budget
from engagegen.experiments.results import ResultsLog, first_reaching, results_rows, target_columns, write_results_table

__all__ = ["run_grid", "extend_grid", "refine_grid", "collect_grid", "collect_stages", "refinement", "stage_folder", "stages_sample_budget", "STAGE_SECTIONS", "load_grid_folder", "GridOutcome", "GridError", "train_configuration", "collect_run", "run_target", "run_posts_target", "DEFAULT_TASK", "available_cores"]

#: The task a worker runs for each configuration: ``module:function`` taking the payload dict.
DEFAULT_TASK = "engagegen.experiments.runner:train_configuration"
#: The task of :func:`refine_grid`: a later training stage, in the ``refine/`` folder of the stage before.
REFINE_TASK = "engagegen.experiments.runner:refine_configuration"
REFINE_FOLDER = "refine"

_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")
_RESULT_FILE = "grid_result.json"


class GridError(EngagegenError, RuntimeError):
    """A grid that cannot run (folder in use, Ray unavailable when required); the message says what to do."""


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


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# ------------------------------------------------------------------------------------ the training task
def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _interval_distance(s: float, intervals: list[list[float]]) -> float:
    return min((max(lo - s, 0.0, s - hi) for lo, hi in intervals), default=0.0)


def run_posts_target(run_dir: str | Path, summary: dict[str, Any]) -> dict[str, Any]:
    """:func:`run_target` for the untuned and trained posts of a run's final evaluation (``samples.jsonl``),
    for the agent its ``summary`` names (empty when it names none)."""
    if summary.get("agent") is None:
        return {}
    samples = _read_jsonl(Path(run_dir) / "samples.jsonl")
    return run_target(run_dir, int(summary["agent"]), {policy: [s["opinion"] for s in samples if s.get("policy") == policy]
                                                       for policy in ("untuned", "trained")})


def run_target(run_dir: str | Path, agent: int, opinions: dict[str, Any]) -> dict[str, Any]:
    """The target set of a run's audience (its saved network and engagement config) and the share
    of each policy's posts inside it (``opinions``: policy -> s values; see
    :func:`~engagegen.experiments.results.target_columns`). Empty for a folder without the
    trainer's ``config.yaml`` and ``network.npz`` (a task of one's own that writes only the files
    the results record needs)."""
    from engagegen.network import SocialNetwork
    from engagegen.training import RunConfig
    from engagegen.training.build import build_engagement

    run_dir = Path(run_dir)
    if not ((run_dir / "config.yaml").is_file() and (run_dir / "network.npz").is_file()):
        return {}
    cfg = from_dict(RunConfig, load_yaml(run_dir / "config.yaml"))
    network = SocialNetwork.load(run_dir / "network.npz")
    return target_columns(build_engagement(cfg.engagement, cfg.network.seed, network), network, agent, opinions)


def collect_run(run_dir: Path, summary: dict[str, Any], group: int, examples: int = 3, *, target: bool = True) -> dict[str, Any]:
    """A finished run folder as one results record: summary, steps to the target, curves, example
    posts, and (``target``) the target set with the share of trained posts in it (:func:`run_target`)."""
    metrics, evals = _read_jsonl(run_dir / "metrics.jsonl"), _read_jsonl(run_dir / "eval.jsonl")
    samples = [s for s in _read_jsonl(run_dir / "samples.jsonl") if s.get("policy") == "trained"]
    steps_eval = first_reaching([e["step"] for e in evals], [e.get("engaged_fraction") for e in evals])
    steps_train = first_reaching([m["step"] for m in metrics], [m.get("engaged_fraction_mean") for m in metrics])
    intervals = summary.get("optimal_intervals", [])
    s = float(summary["trained_opinion_mean"])
    distance = _interval_distance(s, intervals)
    top = sorted(samples, key=lambda r: -r.get("total", 0.0))[:examples]
    # how far the final evaluation's mean may be off by chance (near 90% of the optimum a 64-post mean
    # is a few points either way); read from "engaged", which every task writes, not "engaged_fraction"
    fractions = [float(r["engaged"]) / summary["optimum"] for r in samples] if summary["optimum"] > 0 else []
    se = statistics.stdev(fractions) / len(fractions) ** 0.5 if len(fractions) > 1 else None
    return {
        **(run_target(run_dir, int(summary["agent"]), {"trained": [float(r["opinion"]) for r in samples]}) if target else {}),
        "optimum": summary["optimum"], "optimal_intervals": intervals,
        "trained_engaged": summary["trained_engaged_mean"], "trained_fraction": summary["trained_fraction"],
        "trained_fraction_se": se, "trained_readable_fraction": summary.get("trained_readable_fraction"),
        "trained_readable_fraction_se": summary.get("trained_readable_fraction_se"),
        "trained_gate_share": summary.get("trained_gate_share"), "trained_opinion": s,
        "final_opinion_in_optimal": distance == 0.0, "final_opinion_distance": distance,
        "steps_to_90": steps_eval, "samples_to_90": None if steps_eval is None else steps_eval * group,
        "steps_to_90_train": steps_train, "samples_to_90_train": None if steps_train is None else steps_train * group,
        "steps": summary.get("steps"), "best_step": summary.get("best_step"), "stop_reason": summary.get("stop_reason"),
        "samples_seen": summary.get("samples_seen"), "wall_seconds": summary.get("wall_seconds"),
        "trainer_untuned_engaged": summary.get("untuned_engaged_mean"),
        "trainer_best_of_n_engaged": summary.get("best_of_n_engaged_mean"),
        "run_dir": str(run_dir),
        "curves": {
            "step": [m["step"] for m in metrics],
            "engaged_mean": [m.get("engaged_mean") for m in metrics],
            "engaged_max": [m.get("engaged_max") for m in metrics],
            "opinion_mean": [m.get("opinion_mean") for m in metrics],
            "eval_step": [e["step"] for e in evals],
            "eval_engaged_fraction": [e.get("engaged_fraction") for e in evals],
            "eval_opinion_mean": [e.get("opinion_mean") for e in evals],
        },
        "examples": [{"policy": "trained", "text": r["text"], "opinion": round(float(r["opinion"]), 4),
                      "engaged": float(r["engaged"]), "total": round(float(r["total"]), 4),
                      "passes_gates": bool(r.get("passes_gates"))} for r in top],
    }


def train_configuration(payload: dict[str, Any]) -> dict[str, Any]:
    """The default task: train one configuration in its run folder, resuming a run left there.
    A folder whose run already finished (``summary.json``) is read, not trained again."""
    from engagegen.config import from_dict
    from engagegen.training import EngagementTrainer, RunConfig
    cfg = from_dict(RunConfig, payload["config"])
    run_dir = Path(payload["run_dir"])
    group = cfg.training.group_size * cfg.training.prompts_per_step
    summary_path = run_dir / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else None
    if summary is None:
        from engagegen.network import place_agent
        from engagegen.training.build import build_network

        # A configuration whose audience cannot be built fails here, in a second, not after loading a model.
        place_agent(build_network(cfg.network), cfg.agent)
        resume = (run_dir / "metrics.jsonl").exists() or (run_dir / "config.yaml").exists()
        summary = EngagementTrainer(cfg, run_dir).train(resume=resume, progress=False)
        if summary.get("interrupted"):
            return {"interrupted": True, "step": summary.get("step")}
    return {**collect_run(run_dir, summary, group, int(payload.get("examples", 3))), "budget": cfg.training.steps}


#: Settings a later training stage may change (dotted prefixes): how it learns and is judged, not
#: the audience, the agent or the model its adapter belongs to.
STAGE_SECTIONS = ("reward.", "training.", "evaluation.", "generation.temperature", "generation.top_p",
                  "generation.max_new_tokens")
#: Settings of a later stage given by :func:`refinement`'s own arguments.
_STAGE_OWN = ("training.steps", "training.learning_rate", "training.lr_scheduler", "training.warmup_steps",
              "training.init_adapter")


def stage_folder(run_dir: str | Path, stage: int) -> Path:
    """The folder of a configuration's training stage ``stage`` (1: the grid's own training in
    ``run_dir``): each later stage lives in the ``refine/`` folder of the stage before it.

    >>> stage_folder("runs/grid/runs/a", 3).as_posix()
    'runs/grid/runs/a/refine/refine'
    """
    if stage < 1:
        raise GridError(f"training stages count from 1, got {stage}")
    return Path(run_dir).joinpath(*[REFINE_FOLDER] * (stage - 1))


def stages_sample_budget(run_dir: str | Path, stages: int) -> int:
    """Posts the first ``stages`` training stages in ``run_dir`` sample in all (each stage's steps x
    group_size x prompts_per_step, from its stored config): the budget best-of-N is scored at."""
    from engagegen.training import RunConfig

    return sum(sample_budget(from_dict(RunConfig, load_yaml(stage_folder(run_dir, k) / "config.yaml")))
               for k in range(1, stages + 1))


def refinement(config: Any, run_dir: str | Path, steps: int, learning_rate: float, lr_scheduler: str = "linear",
               changes: dict[str, Any] | None = None) -> Any:
    """The config of a further training stage: the stage in ``run_dir`` continued from its best
    adapter (``run_dir/adapter``) for ``steps`` steps at ``learning_rate``, decayed by
    ``lr_scheduler``, with ``changes`` (dotted fields under :data:`STAGE_SECTIONS`, e.g.
    ``{"reward.sharpness": 4}``) applied to ``config``. The stage trains in ``run_dir/refine``."""
    from engagegen.experiments.config import with_changes

    changes = dict(changes or {})
    for key in changes:
        if key in _STAGE_OWN:
            raise ConfigError(f"set.{key}: a stage's steps, learning rate, schedule and starting adapter are "
                              "its own options (steps, learning_rate, lr_scheduler), not changes")
        if not key.startswith(STAGE_SECTIONS):
            raise ConfigError(f"set.{key}: a later training stage keeps the audience, the agent and the model; it "
                              f"may change only {', '.join(p.rstrip('.') + ('.*' if p.endswith('.') else '') for p in STAGE_SECTIONS)}")
    config = with_changes(config, changes, "set")
    training = replace(config.training, steps=steps, learning_rate=learning_rate, lr_scheduler=lr_scheduler,
                       warmup_steps=0, init_adapter=str(Path(run_dir).resolve() / "adapter"))
    return replace(config, training=training)


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _stage_settings(stage_config: dict[str, Any], first_config: dict[str, Any]) -> dict[str, Any]:
    """A later stage's learning rate and schedule, and what else it changed from the first stage's config
    (both read with today's defaults: a field added since the first stage ran is not a change)."""
    from engagegen.training import RunConfig

    mine, first = (_flat(to_dict(from_dict(RunConfig, c))) for c in (stage_config, first_config))
    changes = {k: v for k, v in mine.items() if k not in _STAGE_OWN and first.get(k) != v}
    settings = {"learning_rate": mine["training.learning_rate"], "lr_scheduler": mine["training.lr_scheduler"]}
    return {**settings, "changes": changes} if changes else settings


def _after(previous: dict[str, Any], stage: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """The record of a training continued by one more stage: steps, samples and wall time add up,
    curves continue after the previous stages' last step, and the evaluation is the new stage's
    (whose step-0 candidate is the stage before's best adapter)."""
    offset = int(previous["steps"])
    curves = {key: list(values) for key, values in previous["curves"].items()}
    for key, values in stage["curves"].items():
        pairs = zip(stage["curves"]["eval_step" if key.startswith("eval_") else "step"], values)
        # step 0 of a stage re-evaluates the stage before's best adapter, not its last step
        curves[key] += [offset + v if key in ("step", "eval_step") else v for step, v in pairs if step > 0]
    out = {**stage, "curves": curves, "steps": offset + int(stage["steps"]),
           "best_step": previous["best_step"] if not stage["best_step"] else offset + int(stage["best_step"]),
           "samples_seen": int(previous["samples_seen"]) + int(stage["samples_seen"]),
           "wall_seconds": round(float(previous["wall_seconds"]) + float(stage["wall_seconds"]), 1),
           "budget": offset + int(stage["budget"]),
           "stages": (previous.get("stages") or [{"steps": offset, "fraction": previous["trained_fraction"]}])
           + [{"steps": int(stage["steps"]), "fraction": stage["trained_fraction"], **settings}]}
    for suffix in ("", "_train"):
        steps_key, samples_key = f"steps_to_90{suffix}", f"samples_to_90{suffix}"
        if previous[steps_key] is not None:
            out[steps_key], out[samples_key] = previous[steps_key], previous[samples_key]
        elif stage[steps_key] is not None:
            out[steps_key] = offset + int(stage[steps_key])
            out[samples_key] = int(previous["samples_seen"]) + int(stage[samples_key])
    return out


def refine_configuration(payload: dict[str, Any]) -> dict[str, Any]:
    """The task of :func:`refine_grid`: train (or resume, or read) a later stage of a finished
    configuration, in the ``refine/`` folder beside the adapter it starts from, and report all its
    stages as one training (see :func:`_after`)."""
    first_dir = Path(payload["run_dir"])
    stage_dir = Path(payload["config"]["training"]["init_adapter"]).parent / REFINE_FOLDER
    try:
        depth = stage_dir.resolve().relative_to(first_dir.resolve()).parts
    except ValueError:
        depth = ()
    if not depth or set(depth) != {REFINE_FOLDER}:
        raise GridError(f"training.init_adapter {payload['config']['training']['init_adapter']} is not the adapter "
                        f"of a training stage of {first_dir}")
    latest = train_configuration({**payload, "run_dir": str(stage_dir)})
    if latest.get("interrupted"):
        return latest
    return collect_stages(first_dir, int(payload.get("examples", 3)))


def collect_stages(run_dir: str | Path, examples: int = 3) -> dict[str, Any]:
    """The results record of a configuration's finished training, read from its run folder: every
    finished stage (``grid refine``) folded into one training (see :func:`_after`), with
    ``examples`` example posts and the target set of the last stage."""
    folders = [Path(run_dir)]
    while (folders[-1] / REFINE_FOLDER / "summary.json").exists():
        folders.append(folders[-1] / REFINE_FOLDER)
    first_config, record = _finished_stage(folders[0], examples, last=len(folders) == 1)
    for stage, folder in enumerate(folders[1:], start=2):
        config, result = _finished_stage(folder, examples, last=stage == len(folders))
        record = _after(record, result, _stage_settings(config, first_config))
    return record


def _finished_stage(folder: Path, examples: int, *, last: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """A finished training stage's stored config and its results record (with its step budget).
    Only the ``last`` stage's record keeps example posts and the target set: the folded record
    takes them from the last stage (:func:`_after`), so earlier ones would be computed for nothing."""
    missing = [name for name in ("config.yaml", "summary.json") if not (folder / name).is_file()]
    if missing:
        raise GridError(f"{folder}: no {' or '.join(missing)}; only a run folder the trainer finished can be read again")
    config = load_yaml(folder / "config.yaml")
    training = config["training"]
    summary = json.loads((folder / "summary.json").read_text())
    group = int(training["group_size"]) * int(training["prompts_per_step"])
    record = collect_run(folder, summary, group, examples if last else 0, target=last)
    return config, {**record, "budget": int(training["steps"])}


# ----------------------------------------------------------------------------------------- workers
def _resolve(task: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    module, _, name = task.partition(":")
    if not name:
        raise GridError(f"task {task!r} must be 'module:function'")
    return getattr(importlib.import_module(module), name)


def _run_task(task: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Run ``task`` on one configuration: ``{"status": "ok"|"interrupted"|"error", ...}``."""
    try:
        result = _resolve(task)(payload)
    except BaseException as exc:  # noqa: BLE001  (recorded; KeyboardInterrupt too, as an interruption)
        if isinstance(exc, KeyboardInterrupt):
            return {"status": "interrupted"}
        return {"status": "error", "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    if result.get("interrupted"):
        return {"status": "interrupted"}
    return {"status": "ok", "result": result}


def _watch_parent(parent: int) -> None:
    """When the runner dies, stop this worker gracefully (a checkpoint is kept), then for good."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(300)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _worker_main(task: str, payload: dict[str, Any], threads: int, result_path: str, log_path: str) -> None:
    """A spawned worker: its own process group (Ctrl-C reaches it through the runner only), its own
    thread budget, output to the run folder's log, the outcome to ``result_path``."""
    os.setpgrp()
    for name in _THREAD_VARIABLES:
        os.environ[name] = str(threads)  # read by torch, numba and BLAS when they are first imported
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "a", buffering=1)  # noqa: SIM115  (lives as long as the process)
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    _watch_parent(os.getppid())
    outcome = _run_task(task, payload)
    if outcome.get("traceback"):
        sys.stderr.write(outcome["traceback"])  # into worker.log, for whoever looks into the failure
    atomic_write_text(result_path, json.dumps(outcome, default=str))


def _ray_task(task: str, payload: dict[str, Any], threads: int) -> dict[str, Any]:
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass
    return _run_task(task, payload)


# ------------------------------------------------------------------------------------------ runner
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


def _console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def _use_ray(ray: bool | None) -> bool:
    """Ray if asked (``True``: required), or if RAY_ADDRESS is set (``None``: falls back to the local pool)."""
    if ray is False or (ray is None and not os.environ.get("RAY_ADDRESS")):
        return False
    try:
        import ray as _ray  # noqa: F401
    except ImportError:
        message = "Ray is not installed (pip install 'engagegen[cluster]')"
        if ray:
            raise GridError(f"{message}; or run without --ray to use the local process pool") from None
        _console().print(f"[yellow]RAY_ADDRESS is set but {message}: using the local process pool[/yellow]")
        return False
    return True


def _payload(c: Configuration, out_dir: Path, threads: int, examples: int) -> dict[str, Any]:
    return {"id": c.id, "name": c.name, "config": to_dict(c.config), "run_dir": str(out_dir / "runs" / c.id),
            "threads": threads, "examples": examples}


def _progress(enabled: bool) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("ETA {task.fields[eta]}"), TextColumn("{task.fields[info]}"), disable=not enabled)


def _eta(started: float, done: int, remaining: int) -> str:
    if done == 0 or remaining == 0:
        return "-:--:--" if remaining else "0:00:00"
    seconds = int((time.time() - started) / done * remaining)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class _Recorder:
    """Turns worker outcomes into log records and keeps the outcome's lists."""

    def __init__(self, log: ResultsLog, outcome: GridOutcome) -> None:
        self.log, self.outcome = log, outcome

    def training(self, c: Configuration, result: dict[str, Any]) -> None:
        status = result["status"]
        if status == "ok":
            self.log.append({"id": c.id, "name": c.name, "kind": "training", "status": "ok", "params": c.params,
                             "result": result["result"]})
            self.outcome.trained.append(c.id)
        elif status == "error":
            self.log.append({"id": c.id, "name": c.name, "kind": "training", "status": "error", "params": c.params,
                             "error": result["error"]})
            self.outcome.errors[c.id] = result["error"]


def _run_local(items: list[Configuration], out_dir: Path, task: str, workers: int, threads: int, examples: int,
               record: _Recorder, progress: bool, done_before: int, total: int) -> None:
    import multiprocessing
    from multiprocessing.connection import wait

    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: no torch/OpenMP state inherited through fork
    queue: deque[tuple[Configuration, int]] = deque((c, 1) for c in items)
    running: dict[int, tuple[Configuration, int, Any, Path]] = {}
    stopping = False
    started, finished = time.time(), 0
    with _progress(progress) as bar:
        console = bar.console  # messages above the live bar, not through it
        task_id = bar.add_task("training", total=total, completed=done_before, eta="-:--:--", info="")
        while queue or running:
            try:
                while queue and not stopping and len(running) < workers:
                    c, attempt = queue.popleft()
                    run_dir = out_dir / "runs" / c.id
                    run_dir.mkdir(parents=True, exist_ok=True)
                    result_path = run_dir / _RESULT_FILE
                    result_path.unlink(missing_ok=True)
                    proc = ctx.Process(target=_worker_main, name=f"grid-{c.id}",
                                       args=(task, _payload(c, out_dir, threads, examples), threads, str(result_path),
                                             str(run_dir / "worker.log")))
                    proc.start()
                    running[proc.sentinel] = (c, attempt, proc, result_path)
                bar.update(task_id, info="running: " + ", ".join(v[0].name for v in running.values()))
                for sentinel in wait(list(running), timeout=1.0):
                    c, attempt, proc, result_path = running.pop(sentinel)
                    proc.join()
                    if result_path.exists():
                        result = json.loads(result_path.read_text())
                        record.training(c, result)
                        if result["status"] != "interrupted":
                            finished += 1
                            bar.advance(task_id)
                            if result["status"] == "error":
                                console.print(f"[red]failed[/red] {c.name}: {result['error']}", highlight=False)
                    elif stopping:
                        pass
                    elif attempt == 1:
                        console.print(f"[yellow]worker for {c.name} died (exit code {proc.exitcode}); retrying once[/yellow]")
                        queue.appendleft((c, 2))
                    else:
                        log_path = out_dir / "runs" / c.id / "worker.log"
                        error = (f"the worker died twice (exit code {proc.exitcode}; a negative code is the signal "
                                 f"that killed it)" + (f"; see {log_path}" if log_path.exists() else
                                                       " before it started; see the runner's output"))
                        record.training(c, {"status": "error", "error": error})
                        console.print(f"[red]failed[/red] {c.name}: {error}", highlight=False)
                        finished += 1
                        bar.advance(task_id)
                bar.update(task_id, eta=_eta(started, finished, len(queue) + len(running)))
            except KeyboardInterrupt:
                if stopping:  # second Ctrl-C: stop the workers now (their last checkpoints remain)
                    for _, _, proc, _ in running.values():
                        proc.kill()
                    raise
                stopping = True
                queue.clear()
                console.print(f"stopping: {len(running)} configuration(s) in flight finish their step and checkpoint "
                              "(Ctrl-C again to stop them at once); run the grid again to resume")
                for _, _, proc, _ in running.values():
                    if proc.pid:
                        os.kill(proc.pid, signal.SIGINT)
        if stopping:
            raise KeyboardInterrupt


def _check_reachable(address: str | None, timeout: float = 5.0) -> None:
    """Fail in seconds on a host:port nobody listens on (Ray itself retries for minutes)."""
    if not address or address in ("auto", "local"):
        return
    host_port = address.split("://", 1)[-1].rsplit("/", 1)[0]
    host, _, port = host_port.rpartition(":")
    if not host or not port.isdigit():
        return  # a form Ray understands and we do not: let Ray judge it
    with socket.create_connection((host, int(port)), timeout=timeout):
        pass


def _connect_ray(required: bool) -> bool:
    """Connect to the Ray cluster (RAY_ADDRESS, else a local Ray). False: none reachable, use the local pool."""
    import ray

    address = os.environ.get("RAY_ADDRESS") or None
    try:
        _check_reachable(address)
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    except Exception as exc:  # noqa: BLE001  (ConnectionError, RuntimeError, ... depending on the Ray version)
        message = f"cannot reach the Ray cluster{f' at {address}' if address else ''}: {exc}"
        if required:
            raise GridError(f"{message}; unset RAY_ADDRESS or run without --ray to use the local process pool") from None
        _console().print(f"[yellow]{message}: using the local process pool[/yellow]")
        return False
    return True


def _run_ray(items: list[Configuration], out_dir: Path, task: str, threads: int, examples: int, record: _Recorder,
             progress: bool, done_before: int, total: int) -> None:
    """Each configuration a Ray task, retried once if its worker dies; results gathered here."""
    import ray

    remote = ray.remote(num_cpus=threads, max_retries=1)(_ray_task)
    refs = {remote.remote(task, _payload(c, out_dir, threads, examples), threads): c for c in items}
    started, finished = time.time(), 0
    with _progress(progress) as bar:
        task_id = bar.add_task("training (ray)", total=total, completed=done_before, eta="-:--:--", info="")
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1, timeout=1.0)
            for ref in done:
                c = refs.pop(ref)
                try:
                    result = ray.get(ref)
                except Exception as exc:  # noqa: BLE001  (worker crashed twice, node died, ...)
                    result = {"status": "error", "error": f"the Ray task failed twice: {type(exc).__name__}: {exc}"}
                record.training(c, result)
                finished += 1
                bar.advance(task_id)
            bar.update(task_id, eta=_eta(started, finished, len(refs)))


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
    use_ray = not baselines_only and _use_ray(ray) and _connect_ray(required=bool(ray))
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


def _score_baselines(todo: list[Configuration], grid: GridConfig, out_dir: Path, log: ResultsLog, outcome: GridOutcome,
                     progress: bool) -> None:
    from engagegen.experiments.baselines import run_baselines

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


def _train_all(items: list[Configuration], grid: GridConfig, out_dir: Path, log: ResultsLog, outcome: GridOutcome, *,
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
        _run_ray(items, **common)
    else:
        _run_local(items, workers=n_workers, **common)


def load_grid_folder(out_dir: str | Path) -> GridConfig:
    """The grid a folder was run with (its ``grid.yaml``)."""
    path = Path(out_dir) / "grid.yaml"
    if not path.exists():
        raise GridError(f"{out_dir}: not a grid folder (no grid.yaml); run `engagegen grid run CONFIG --out {out_dir}` first")
    try:
        return from_dict(GridConfig, load_yaml(path))
    except ConfigError as exc:
        raise GridError(f"{path}: {exc}") from None


def extend_grid(
    out_dir: str | Path,
    steps: int,
    *,
    below: float | None = None,
    only: Sequence[str] | None = None,
    workers: int | None = None,
    ray: bool | None = None,
    progress: bool = True,
    task: str = DEFAULT_TASK,
) -> GridOutcome:
    """Give the finished trainings of a grid folder a step budget of ``steps`` and train them on.

    Chosen: trainings that did not stop early and had a smaller budget; with ``below``, those that
    reached less than that fraction of the optimum; with ``only``, those of the configurations with
    these ids, ids without their hash (:attr:`Configuration.slug`) or names (refined ones are left
    alone). Each continues from its last checkpoint in its own run folder (same id: the grid's other
    results stay as they are), and its best-of-N baseline is scored again with the larger sample
    budget, so the comparison stays at equal budgets. The results table records each run's own
    budget (``training.steps``).

    >>> # extend_grid("runs/paper-central", 45, below=0.9)   # the configurations short of 90%
    >>> # extend_grid("runs/paper-central", 45, only=["uniform_low_high"])   # by slug
    """
    if steps < 1:
        raise GridError(f"steps must be >= 1, got {steps}")

    def choose(c: Configuration, result: dict[str, Any], run_dir: Path) -> tuple[Configuration, Configuration] | None:
        if result.get("early_stopped") or "stages" in result or result.get("budget", c.config.training.steps) >= steps:
            return None
        longer = Configuration(c.id, c.name, c.params, replace(c.config, training=replace(c.config.training, steps=steps)))
        return longer, longer

    return _train_on(out_dir, choose, below, only, workers=workers, ray=ray, progress=progress, task=task)


def refine_grid(
    out_dir: str | Path,
    steps: int,
    learning_rate: float,
    *,
    lr_scheduler: str = "linear",
    stage: int = 2,
    changes: dict[str, Any] | None = None,
    below: float | None = None,
    only: Sequence[str] | None = None,
    workers: int | None = None,
    ray: bool | None = None,
    progress: bool = True,
) -> GridOutcome:
    """Train training stage ``stage`` (2: a second stage) for the finished trainings of a grid
    folder that have ``stage - 1`` stages: each starts from the best adapter of the stage before
    and trains ``steps`` steps at ``learning_rate``, decayed by ``lr_scheduler``, with ``changes``
    to its config (see :func:`refinement`), in that stage's ``refine/`` folder (:func:`stage_folder`).
    ``below`` and ``only`` narrow the choice as in :func:`extend_grid`.

    A constant learning rate that found the optimum's neighbourhood but keeps jumping around it is
    the case this is for: the stage settles with a smaller, decaying step, or a sharper reward
    (``{"reward.sharpness": 4}``). Its step-0 evaluation is the stage before's best adapter, so a
    stage that only makes things worse keeps it. The results table reports all stages as one
    training (steps, samples and wall time add up; the ``stages`` column lists each one), and
    best-of-N is scored again at the combined sample budget. Running the same call again resumes
    the stages in flight and trains nothing twice.

    >>> # refine_grid("runs/paper-central", 20, 3e-4, below=0.9)
    >>> # refine_grid("runs/paper-central", 20, 5e-4, stage=3, changes={"reward.sharpness": 4}, below=0.9)
    """
    if steps < 1:
        raise GridError(f"steps must be >= 1, got {steps}")
    if not learning_rate > 0:
        raise GridError(f"learning_rate must be > 0, got {learning_rate}")
    if stage < 2:
        raise GridError(f"stage must be >= 2 (stage 1 is the grid's own training: `engagegen grid run`), got {stage}")
    for c in load_grid_folder(out_dir).configurations[:1]:  # bad changes fail here, before anything runs
        refinement(c.config, ".", steps, learning_rate, lr_scheduler, changes)

    def choose(c: Configuration, result: dict[str, Any], run_dir: Path) -> tuple[Configuration, Configuration] | None:
        if len(result.get("stages") or [result]) != stage - 1:
            return None  # this stage is trained already, or the one before is not
        later = refinement(c.config, stage_folder(run_dir, stage - 1), steps, learning_rate, lr_scheduler, changes)
        # best-of-N gets the posts of all stages, also where a stage samples more or fewer per step (--set)
        whole = replace(c, samples=stages_sample_budget(run_dir, stage - 1) + sample_budget(later))
        return whole, Configuration(c.id, c.name, c.params, later)

    return _train_on(out_dir, choose, below, only, workers=workers, ray=ray, progress=progress, task=REFINE_TASK)


def collect_grid(out_dir: str | Path, *, baselines: bool = False, progress: bool = True) -> GridOutcome:
    """Read a grid folder's finished trainings again from their run folders (all stages), training
    nothing, and add the audience's target set (:func:`~engagegen.experiments.results.target_columns`)
    to the baseline records. For a grid written by an older version whose results table lacks newer
    columns: the new records are appended and win, and the table is rewritten.

    By default baselines are not scored again: pools sampled before chunks were always sampled whole
    (see :func:`~engagegen.experiments.baselines.sample_local`) and grown since to a larger budget
    may no longer hold the posts a smaller budget was scored on, so recorded numbers stay as they
    are, and columns that need the posts (``untuned_on_target``) stay empty for such records.
    ``baselines``: score every configuration's baselines again, best-of-N at the posts all its
    training stages sampled (:func:`stages_sample_budget`), extending the cached pools where needed.

    >>> # collect_grid("runs/paper-central")
    """
    from engagegen.experiments.baselines import BaselineScorer
    from engagegen.training.build import build_engagement

    out_dir = Path(out_dir)
    grid = load_grid_folder(out_dir)
    with _locked(out_dir):
        log = ResultsLog(out_dir / "results.jsonl")
        outcome = GridOutcome(out_dir, [], out_dir / "results.parquet", out_dir / "results.csv")
        recorded, training, audiences = log.latest("baselines"), log.latest("training"), BaselineScorer()
        try:
            if baselines:
                _score_baselines([_as_trained(c, training.get(c.id), out_dir) for c in grid.configurations],
                                 grid, out_dir, log, outcome, progress)
            for c in grid.configurations:
                b, t = recorded.get(c.id), training.get(c.id)
                if b and b["status"] == "ok" and not baselines:
                    net, agent = audiences.audience(c.config)
                    target = target_columns(build_engagement(c.config.engagement, c.config.network.seed, net), net, agent, {})
                    log.append({**b, "result": {**b["result"], **target}})
                    outcome.scored.append(c.id)
                if t and t["status"] == "ok":
                    log.append({**t, "result": collect_stages(out_dir / "runs" / c.id, grid.baselines.examples)})
                    outcome.trained.append(c.id)
        finally:
            outcome.rows = results_rows(grid.configurations, log)
            write_results_table(outcome.rows, out_dir)
    return outcome


def _as_trained(c: Configuration, training: dict[str, Any] | None, out_dir: Path) -> Configuration:
    """``c`` with the sample budget its finished training (all stages) had; as it is if untrained."""
    if training is None or training["status"] != "ok":
        return c
    stages = len(training["result"].get("stages") or [None])
    return replace(c, samples=stages_sample_budget(out_dir / "runs" / c.id, stages))


def _train_on(
    out_dir: str | Path,
    choose: Callable[[Configuration, dict[str, Any], Path], tuple[Configuration, Configuration] | None],
    below: float | None,
    only: Sequence[str] | None,
    *,
    workers: int | None,
    ray: bool | None,
    progress: bool,
    task: str,
) -> GridOutcome:
    """Train more on a grid folder's finished trainings: ``choose`` gives, for each one (its record
    and run folder), the configuration its baselines are scored with (the sample budget of all its
    training) and the one a worker trains with ``task``, or None to leave it as it is. With
    ``below``, only trainings short of that fraction of the optimum are offered; with ``only``, only
    the configurations with these ids, slugs or names."""
    if below is not None and not 0 < below <= 1:
        raise GridError(f"below must be a fraction of the optimum in (0, 1], got {below}")
    out_dir = Path(out_dir)
    grid = load_grid_folder(out_dir)
    picked = None  # ids of the configurations ``only`` names
    if only is not None:
        named = {c.id: {c.id, c.slug, c.name} & set(only) for c in grid.configurations}
        unknown = [key for key in only if not any(key in keys for keys in named.values())]
        if unknown or not only:
            raise GridError(f"only: {', '.join(unknown) or 'an empty list'} names no configuration of {out_dir} "
                            "(give ids, ids without their hash, or names from its results table)")
        picked = {cid for cid, keys in named.items() if keys}
    use_ray = _use_ray(ray) and _connect_ray(required=bool(ray))
    with _locked(out_dir):
        log = ResultsLog(out_dir / "results.jsonl")
        outcome = GridOutcome(out_dir, [], out_dir / "results.parquet", out_dir / "results.csv",
                              backend="ray" if use_ray else "local")
        training = log.latest("training")
        scored: list[Configuration] = []
        trained: list[Configuration] = []
        for c in grid.configurations:
            t = training.get(c.id)
            if t is None or t["status"] != "ok":
                continue  # not trained yet: `engagegen grid run` trains it
            chosen = None
            if (picked is None or c.id in picked) and (below is None or t["result"]["trained_fraction"] < below):
                chosen = choose(c, t["result"], out_dir / "runs" / c.id)
            if chosen is None:
                outcome.skipped.append(c.id)
                continue
            scored.append(chosen[0])
            trained.append(chosen[1])
        try:
            _score_baselines(scored, grid, out_dir, log, outcome, progress)
            _train_all(trained, grid, out_dir, log, outcome, workers=workers, use_ray=use_ray, task=task,
                       progress=progress, total=len(trained))
        finally:
            outcome.rows = results_rows(grid.configurations, log)
            write_results_table(outcome.rows, out_dir)
    return outcome
