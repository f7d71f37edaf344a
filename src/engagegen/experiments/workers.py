"""Where a grid's trainings run: a local pool of processes or Ray tasks.

The local pool spawns one process per configuration (a fresh interpreter: no torch/OpenMP state
inherited through fork) with ``cores // workers`` threads, its output in the run folder's
``worker.log``; a worker that dies is retried once. Ray runs the same task as remote functions on
the cluster ``RAY_ADDRESS`` names (or a local Ray). Both report each configuration's outcome
``{"status": "ok"|"interrupted"|"error", ...}`` to a ``record(configuration, outcome)`` callable.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from engagegen.config import to_dict
from engagegen.errors import EngagegenError
from engagegen.experiments.config import GridPoint
from engagegen.files import atomic_write_text

__all__ = ["GridError", "available_cores", "ray_wanted", "connect_ray", "run_local", "run_ray"]

_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")
_RESULT_FILE = "grid_result.json"


class GridError(EngagegenError, RuntimeError):
    """A grid that cannot run (folder in use, Ray unavailable when required); the message says what to do."""


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


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


def _worker_environment(threads: int) -> dict[str, str]:
    """A worker's thread budget, as the environment it starts with: torch, numba and BLAS read it
    when first imported, and the worker imports numba (with engagegen) before its own code runs."""
    return {**{name: str(threads) for name in _THREAD_VARIABLES},
            "TOKENIZERS_PARALLELISM": os.environ.get("TOKENIZERS_PARALLELISM", "false")}


@contextlib.contextmanager
def _environment(variables: dict[str, str]) -> Iterator[None]:
    """``os.environ`` with ``variables`` set, for starting a process that inherits them; restored after."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _enter_worker(log_path: str) -> None:
    """A worker process's setup, the same in the local pool and on Ray: its output in the run
    folder's ``worker.log``."""
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "a", buffering=1)  # noqa: SIM115  (lives as long as the process)
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)


def _finish_task(task: str, payload: dict[str, Any]) -> dict[str, Any]:
    outcome = _run_task(task, payload)
    if outcome.get("traceback"):
        sys.stderr.write(outcome["traceback"])  # into worker.log, for whoever looks into the failure
    return outcome


def _worker_main(task: str, payload: dict[str, Any], result_path: str, log_path: str) -> None:
    """A spawned worker: its own process group (Ctrl-C reaches it through the runner only), the
    common setup, the outcome to ``result_path``."""
    os.setpgrp()
    _enter_worker(log_path)
    _watch_parent(os.getppid())
    atomic_write_text(result_path, json.dumps(_finish_task(task, payload), default=str))


def _ray_task(task: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A Ray task, in a Ray worker process of its own (``max_calls=1``) started with the thread
    budget in its environment, so nothing of one training stays for the next."""
    _enter_worker(str(Path(payload["run_dir"]) / "worker.log"))
    return _finish_task(task, payload)


def _console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def ray_wanted(ray: bool | None) -> bool:
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


def _payload(c: GridPoint, out_dir: Path, threads: int, examples: int) -> dict[str, Any]:
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


def run_local(items: list[GridPoint], out_dir: Path, task: str, workers: int, threads: int, examples: int,
               record: Callable[[GridPoint, dict[str, Any]], None], progress: bool, done_before: int, total: int) -> None:
    import multiprocessing
    from multiprocessing.connection import wait

    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: no torch/OpenMP state inherited through fork
    queue: deque[tuple[GridPoint, int]] = deque((c, 1) for c in items)
    running: dict[int, tuple[GridPoint, int, Any, Path]] = {}
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
                                       args=(task, _payload(c, out_dir, threads, examples), str(result_path),
                                             str(run_dir / "worker.log")))
                    with _environment(_worker_environment(threads)):
                        proc.start()
                    running[proc.sentinel] = (c, attempt, proc, result_path)
                bar.update(task_id, info="running: " + ", ".join(v[0].name for v in running.values()))
                for sentinel in wait(list(running), timeout=1.0):
                    c, attempt, proc, result_path = running.pop(sentinel)
                    proc.join()
                    if result_path.exists():
                        result = json.loads(result_path.read_text())
                        record(c, result)
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
                        record(c, {"status": "error", "error": error})
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


def connect_ray(required: bool) -> bool:
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


def _ray_failure(exc: Exception, run_dir: Path) -> str:
    import ray

    if isinstance(exc, ray.exceptions.WorkerCrashedError):  # killed (signal, out of memory): as the local pool says it
        return (f"the worker died twice (Ray: {type(exc).__name__}); see {run_dir / 'worker.log'} and the Ray "
                "session's logs (raylet.out, python-core-worker-*.log)")
    return f"the Ray task failed twice: {type(exc).__name__}: {exc}"


def run_ray(items: list[GridPoint], out_dir: Path, task: str, threads: int, examples: int, record: Callable[[GridPoint, dict[str, Any]], None],
             progress: bool, done_before: int, total: int) -> None:
    """Each configuration a Ray task, retried once if its worker dies; results gathered here.
    Ctrl-C cancels the tasks gracefully (each gets a KeyboardInterrupt: it checkpoints and stops,
    as in the local pool); run the grid again to resume them. The grid folder must be on a file
    system every Ray node shares: workers write their run folders there."""
    import ray

    remote = ray.remote(num_cpus=threads, max_retries=1, max_calls=1,
                        runtime_env={"env_vars": _worker_environment(threads)})(_ray_task)
    refs = {remote.remote(task, _payload(c, out_dir, threads, examples)): c for c in items}
    started, finished = time.time(), 0
    with _progress(progress) as bar:
        task_id = bar.add_task("training (ray)", total=total, completed=done_before, eta="-:--:--", info="")
        try:
            while refs:
                done, _ = ray.wait(list(refs), num_returns=1, timeout=1.0)
                for ref in done:
                    c = refs.pop(ref)
                    try:
                        result = ray.get(ref)
                    except Exception as exc:  # noqa: BLE001  (worker crashed twice, node died, ...)
                        result = {"status": "error", "error": _ray_failure(exc, out_dir / "runs" / c.id)}
                    record(c, result)
                    finished += 1
                    bar.advance(task_id)
                bar.update(task_id, eta=_eta(started, finished, len(refs)))
        except KeyboardInterrupt:
            bar.console.print(f"stopping: {len(refs)} Ray task(s) checkpoint and stop; run the grid again to resume")
            for ref in refs:
                ray.cancel(ref)  # not force: a KeyboardInterrupt inside the task, which checkpoints
            ray.wait(list(refs), num_returns=len(refs), timeout=300)
            raise
