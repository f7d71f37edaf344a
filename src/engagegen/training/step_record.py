"""What a run records per step: the reward's breakdowns, the step's phase timings, its metrics line,
the held-out validations the schedule decides on, and Ctrl-C handling.

The TRL callback is built by :func:`step_recorder` for a run object (the trainer's ``_Run``: its
``state``, ``validate``, ``metrics`` log, ``rollout`` and ``reward_fn``), so this module needs no
import of the trainer.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from engagegen.reward import RewardBreakdown
from engagegen.training.errors import TrainingError

__all__ = ["RecordingReward", "step_recorder", "graceful_interrupt", "status"]


class RecordingReward:
    """The reward as TRL sees it: keeps every breakdown, and the time spent, for the step's record."""

    def __init__(self, reward: Any) -> None:
        self.reward = reward
        self.pending: list[RewardBreakdown] = []
        self.seconds = 0.0
        self.__name__ = "engagement"

    def __call__(self, prompts: Any = None, completions: Any = None, **kwargs: Any) -> list[float]:
        started = time.perf_counter()
        values = self.reward(prompts=prompts, completions=completions, **kwargs)
        self.seconds += time.perf_counter() - started
        if len(values) != len(completions or []):
            raise TrainingError(f"the reward returned {len(values)} values for {len(completions or [])} completions")
        self.pending.append(self.reward.last)
        return values

    def drain(self) -> tuple[RewardBreakdown | None, float]:
        """The breakdowns and the seconds spent scoring since the last call."""
        outs, self.pending, seconds, self.seconds = self.pending, [], self.seconds, 0.0
        return (RewardBreakdown.concat(outs) if outs else None), seconds


@contextmanager
def status(show: bool, message: str) -> Iterator[None]:
    if not show:
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(message):
        yield


@contextmanager
def graceful_interrupt(run: Any) -> Iterator[None]:
    """First Ctrl-C: finish the step, checkpoint, stop. Second Ctrl-C: abort at once."""

    def handler(signum: int, frame: Any) -> None:
        if run.stop_requested:
            raise KeyboardInterrupt
        run.stop_requested = True
        print("\nStopping after this step and saving a checkpoint (Ctrl-C again to abort)...", flush=True)

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def step_recorder(run: Any) -> Any:
    """The TRL callback of a run (defined here to keep transformers out of this module's import)."""
    from transformers import TrainerCallback

    class StepRecorder(TrainerCallback):
        """One metrics line per step, held-out validations and the schedule's decisions,
        checkpoints when a stage ends, and the progress bar over the whole budget."""

        def __init__(self) -> None:
            self.run = run
            self.record: dict[str, Any] | None = None
            self.bar: Any = None
            self.step_started = self.optimizer_started = self.optimizer_done = time.perf_counter()

        @contextmanager
        def progress_bar(self) -> Iterator[None]:
            if not self.run.progress:
                yield
                return
            from rich.progress import BarColumn, Progress as Bar, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            with Bar(TextColumn("[bold]training"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
                     TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn()) as bar:
                self.bar = (bar, bar.add_task("train", total=self.run.cfg.training.steps, info=""))
                yield
            self.bar = None

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if self.bar:
                self.bar[0].update(self.bar[1], completed=self.run.state["stage_start"] + state.global_step)

        def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.step_started = self.optimizer_started = self.optimizer_done = time.perf_counter()

        def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.optimizer_started = time.perf_counter()

        def on_optimizer_step(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.optimizer_done = time.perf_counter()

        def phases(self, reward_seconds: float) -> dict[str, Any]:
            """Where the step's time went: sampling (None when TRL sampled), scoring, the policy's
            forward and backward passes (with TRL's batch preparation), the optimizer."""
            sampled = self.run.rollout.drain() if self.run.rollout is not None else None
            sampling = sampled["seconds"] if sampled else 0.0
            # Seconds from the step's start to each phase's end, rounded to the millisecond once: the phases are
            # their differences, so in the record they add up to no more than the step's seconds.
            ends = [round(t, 3) for t in (sampling, sampling + reward_seconds, self.optimizer_started - self.step_started,
                                          self.optimizer_done - self.step_started)]
            sampling_s, reward_s, policy_s, optimizer_s = (round(b - a, 3) for a, b in zip([0.0, *ends], ends))
            record = {"seconds_sampling": sampling_s if sampled else None, "seconds_reward": reward_s,
                      "seconds_policy": policy_s, "seconds_optimizer": optimizer_s}
            if sampled:
                record.update(prefilled_tokens=sampled["prefilled_tokens"], sampled_tokens=sampled["sampled_tokens"])
            return record

        def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> Any:
            run = self.run
            index = int(run.state["stage"])
            step = int(run.state["stage_start"]) + state.global_step
            out, reward_seconds = run.reward_fn.drain()
            record: dict[str, Any] = {"step": step, "stage": index + 1, **self.phases(reward_seconds)}
            run.state["step"] = step
            if out is not None:
                run.state["samples_seen"] += len(out)
                record["samples_seen"] = run.state["samples_seen"]
                opt = run.audience.reward.optimum
                record.update(out.summary())
                record["optimum"] = float(opt.value)
                record["optimal_intervals"] = [[iv.lo, iv.hi] for iv in opt.intervals]
            ev = run.cfg.evaluation
            steps_left = min(args.max_steps - state.global_step, run.cfg.training.steps - step)
            if step % ev.every == 0 or steps_left <= 0:
                evaluation_started = time.perf_counter()
                result = run.validate(model, step, index, steps_left)
                record["seconds_evaluation"] = round(time.perf_counter() - evaluation_started, 3)
                record["eval_readable_fraction"] = result["readable_fraction"]
                record["eval_gate_share"] = result["gate_share"]
            if run.state["finished"] or run.state["stage_done"] or run.stop_requested:
                control.should_save = True
                control.should_training_stop = True
            record["seconds"] = round(time.perf_counter() - self.step_started, 3)
            self.record = record
            if self.bar:
                info = (f"stage {index + 1}  readable {record.get('readable_fraction_mean', 0):.2f}  "
                        f"s={record.get('opinion_mean', 0):.2f}")
                self.bar[0].update(self.bar[1], completed=step, info=info)
            return control

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            run = self.run
            if self.record is None or not logs or "loss" not in logs:
                return
            # TRL reports kl as 0 without measuring it when beta is 0; leave it out then
            measured = ("frac_reward_zero_std",) if run.cfg.training.beta == 0 else ("kl", "frac_reward_zero_std")
            for key in (*measured, "entropy", "entropy_coef", "learning_rate", "completions/mean_length", "completions/max_length",
                        "completions/clipped_ratio", "grad_norm"):
                if key in logs:
                    self.record[key.replace("completions/", "")] = float(logs[key])
            self.record["wall_seconds"] = round(run.wall_seconds(), 1)
            run.metrics.append(self.record)
            self.record = None

    return StepRecorder()
