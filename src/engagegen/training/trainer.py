"""RL from simulated feedback: TRL GRPO/RLOO with a LoRA adapter, rewarded by the simulated audience.

:class:`EngagementTrainer` is configured by one :class:`RunConfig` and has one verb, ``train``. The
run folder receives the resolved config, the network, ``metrics.jsonl`` (one line per step),
``eval.jsonl`` (held-out evaluations during training), crash-safe checkpoints, the best adapter
(``adapter/``), and the final evaluation (``samples.jsonl``, ``summary.json``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import time
import warnings
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from engagegen.config import ConfigError, dump_yaml, from_dict, load_yaml
from engagegen.errors import EngagegenError
from engagegen.files import atomic_write_text
from engagegen.reward import EngagementReward, RewardBreakdown
from engagegen.training.build import Audience, build_audience
from engagegen.training.checkpoint import (
    MetricsLog,
    finalize_checkpoint,
    latest_checkpoint,
    prune_checkpoints,
    read_checkpoint_state,
)
from engagegen.training.config import RunConfig

__all__ = ["EngagementTrainer", "TrainingError", "gate_pass", "is_degenerate", "load_run", "evaluate_run", "evaluate_policies"]


class TrainingError(EngagegenError, RuntimeError):
    """A run that cannot start or continue; the message says why and what to change."""


def is_degenerate(text: str) -> bool:
    """True for looping text: distinct bigram ratio below 0.8, or a word three times in a row."""
    words = text.lower().split()
    bigrams = list(zip(words, words[1:]))
    if bigrams and len(set(bigrams)) / len(bigrams) < 0.8:
        return True
    return any(words[i] == words[i + 1] == words[i + 2] for i in range(len(words) - 2))


def gate_pass(out: RewardBreakdown) -> np.ndarray:
    """Posts that pass the topic and fluency gates, are not flagged and do not loop."""
    degenerate = np.array([is_degenerate(t) for t in out.text], dtype=bool)
    return (out.topic_gate >= 0.5) & (out.fluency_gate >= 0.5) & ~out.flagged & ~degenerate


@contextmanager
def _isolated_rng(seed: int) -> Iterator[None]:
    """Sample with a fixed seed without moving the training RNG stream, so a resumed run stays exact."""
    import torch

    state = torch.get_rng_state()
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.set_rng_state(state)


def _atomic_save_adapter(model: Any, target: Path) -> None:
    """Write a peft adapter to a temp folder beside ``target``, then swap it in."""
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        model.save_pretrained(tmp)
        old = target.with_name(f".{target.name}.old")
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _warm_start(model: Any, adapter: Path, lora_r: int) -> None:
    """Load a saved LoRA adapter's weights into the fresh adapter TRL built (``training.init_adapter``)."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    weights, config = adapter / "adapter_model.safetensors", adapter / "adapter_config.json"
    if not (weights.is_file() and config.is_file()):
        raise TrainingError(f"training.init_adapter {adapter}: not a LoRA adapter folder "
                            "(needs adapter_config.json and adapter_model.safetensors)")
    try:
        rank = json.loads(config.read_text())["r"]
    except (OSError, ValueError, KeyError) as exc:
        raise TrainingError(f"training.init_adapter {config}: unreadable adapter config ({exc})") from None
    if rank != lora_r:
        raise TrainingError(f"training.init_adapter {adapter}: LoRA rank {rank}, but training.lora_r is {lora_r}")
    try:
        result = set_peft_model_state_dict(model, load_file(str(weights)))
    except RuntimeError as exc:  # tensor shapes that do not fit this model
        raise TrainingError(f"training.init_adapter {adapter}: does not fit the model ({exc})") from None
    unexpected = list(getattr(result, "unexpected_keys", []) or [])
    if unexpected:
        raise TrainingError(f"training.init_adapter {adapter}: weights for modules this adapter does not have, "
                            f"e.g. {unexpected[0]} (different lora_target_modules or model?)")


class _RecordingReward:
    """The reward as TRL sees it: keeps every breakdown so the step logger can summarise them."""

    def __init__(self, reward: EngagementReward) -> None:
        self.reward = reward
        self.pending: list[RewardBreakdown] = []
        self.__name__ = "engagement"

    def __call__(self, prompts: Any = None, completions: Any = None, **kwargs: Any) -> list[float]:
        values = self.reward(prompts=prompts, completions=completions, **kwargs)
        if len(values) != len(completions or []):
            raise TrainingError(f"the reward returned {len(values)} values for {len(completions or [])} completions")
        assert self.reward.last is not None
        self.pending.append(self.reward.last)
        return values

    def drain(self) -> RewardBreakdown | None:
        outs, self.pending = self.pending, []
        return RewardBreakdown.concat(outs) if outs else None


def evaluate_policies(
    sampler: Any, reward: EngagementReward, prompts: list[str], n: int, seed: int, batch_size: int = 64
) -> tuple[list[str], RewardBreakdown]:
    """Sample ``n`` posts spread over ``prompts`` with a fixed seed and score them.

    Posts are generated at most ``batch_size`` per call, so a large best-of-N pool does not hold
    N sequences in memory at once (and small batches do not waste the per-token overhead)."""
    per_prompt = -(-n // len(prompts))
    chunk = max(1, batch_size // len(prompts))
    groups: list[list[str]] = [[] for _ in prompts]
    with _isolated_rng(seed):
        for start in range(0, per_prompt, chunk):
            for group, new in zip(groups, sampler(prompts, min(chunk, per_prompt - start))):
                group.extend(new)
    texts = [t for group in groups for t in group]
    prompt_of = [p for p in prompts for _ in range(per_prompt)]
    texts, prompt_of = texts[:n], prompt_of[:n]
    return prompt_of, reward.score(texts, prompt_of)


class EngagementTrainer:
    """Train a language model to write posts that engage a simulated audience.

    >>> # summary = EngagementTrainer(RunConfig(), "runs/demo").train()
    """

    def __init__(self, config: RunConfig, run_dir: str | Path) -> None:
        if not isinstance(config, RunConfig):
            raise ConfigError(f"expected a RunConfig, got {type(config).__name__}")
        self.config = config
        self.run_dir = Path(run_dir)

    def train(self, resume: bool = False, progress: bool = True) -> dict[str, Any]:
        """Run (or, with ``resume``, continue) training, then the final evaluation. Returns the summary."""
        cfg, run_dir = self.config, self.run_dir
        config_path = run_dir / "config.yaml"
        if resume:
            if not config_path.exists():
                raise TrainingError(f"{run_dir}: nothing to resume (no config.yaml); start a run there first")
            _check_resumable(from_dict(RunConfig, load_yaml(config_path)), cfg, run_dir)
        elif (run_dir / "metrics.jsonl").exists():
            raise TrainingError(f"{run_dir} already holds a run; resume it (--resume) or choose another folder")
        run_dir.mkdir(parents=True, exist_ok=True)
        dump_yaml(cfg, config_path)
        return _Run(cfg, run_dir, progress).execute(resume)


# Schedules whose learning rate at a step does not depend on the step budget: a run trained with one
# can be given more steps and continue as if the budget had been larger from the start.
_BUDGET_FREE_SCHEDULES = ("constant", "constant_with_warmup")


def _check_resumable(stored: RunConfig, cfg: RunConfig, run_dir: Path) -> None:
    """A run resumes with its own config, or with a larger ``training.steps`` (the budget) only."""
    if stored == cfg:
        return
    if replace(stored, training=replace(stored.training, steps=cfg.training.steps)) != cfg:
        raise TrainingError(f"{run_dir}: the config differs from the one stored there (only training.steps may grow); "
                            f"resume with `engagegen train --resume {run_dir}`")
    if cfg.training.steps < stored.training.steps:
        raise TrainingError(f"{run_dir}: training.steps {cfg.training.steps} is below the run's budget of "
                            f"{stored.training.steps}; a run's budget can only grow")
    if cfg.training.lr_scheduler not in _BUDGET_FREE_SCHEDULES:
        raise TrainingError(f"{run_dir}: training.lr_scheduler {cfg.training.lr_scheduler!r} depends on the step budget, "
                            f"so the run cannot be extended; extend only runs with {' or '.join(_BUDGET_FREE_SCHEDULES)}")


def evaluate_run(run_dir: str | Path, progress: bool = True) -> dict[str, Any]:
    """Evaluate a run's saved adapter again (untuned, best-of-N, trained) and rewrite its summary."""
    from peft import PeftModel

    run_dir = Path(run_dir)
    cfg = load_run(run_dir)
    adapter = run_dir / "adapter"
    if not (adapter / "adapter_config.json").exists():
        raise TrainingError(f"{run_dir}: no adapter/ to evaluate; the run saved none yet")
    run = _Run(cfg, run_dir, progress)
    run._load()
    checkpoint = latest_checkpoint(run_dir / "checkpoints")
    if checkpoint is not None:
        run.state = read_checkpoint_state(checkpoint)
    # the run's wall time is its training's (as of the last checkpoint) plus this evaluation
    run.started, run.clock_offset = time.time(), float(run.state.get("wall_seconds", 0.0))
    steps = int(run.state.get("step", 0))
    with _quiet_checkpointing_rename():
        model = PeftModel.from_pretrained(run.model, str(adapter))
    return run._final_evaluation(model, steps, run.started)


@contextmanager
def _quiet_checkpointing_rename() -> Iterator[None]:
    """Without the FutureWarning transformers raises because TRL and peft still call its renamed
    gradient-checkpointing helpers by their old names (nothing a user can act on)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, message=".*gradient_checkpointing.*")
        yield


def load_run(run_dir: str | Path) -> RunConfig:
    """The resolved config stored in a run folder."""
    path = Path(run_dir) / "config.yaml"
    if not path.exists():
        raise TrainingError(f"{run_dir}: not a run folder (no config.yaml)")
    return from_dict(RunConfig, load_yaml(path))


class _Run:
    """One training run's moving parts; built by :meth:`EngagementTrainer.train`."""

    def __init__(self, cfg: RunConfig, run_dir: Path, progress: bool) -> None:
        self.cfg, self.run_dir, self.progress = cfg, run_dir, progress
        self.metrics = MetricsLog(run_dir / "metrics.jsonl")
        self.evals = MetricsLog(run_dir / "eval.jsonl")
        self.stop_requested = False
        self.state: dict[str, Any] = {"best_score": -1.0, "best_step": 0, "early_stopped": False}

    # ------------------------------------------------------------------ set-up
    def _load(self) -> None:
        from engagegen.generation import LocalModel, build_prompts, load_model_and_tokenizer

        cfg = self.cfg
        self.audience: Audience = build_audience(cfg)
        self.audience.network.save(self.run_dir / "network.npz")
        self.model, self.tokenizer = load_model_and_tokenizer(cfg.generation.model)
        self.prompts: list[str] = build_prompts(cfg.generation.mode, cfg.topic, template=cfg.generation.prompt or None,
                                                posts_file=cfg.generation.reply_posts, tokenizer=self.tokenizer)
        self.generator = LocalModel.from_loaded(self.model, self.tokenizer)
        atomic_write_text(self.run_dir / "prompts.json", json.dumps(self.prompts, indent=1))

    def _sampler(self, model: Any) -> Any:
        gen = self.cfg.generation
        local = type(self.generator).from_loaded(model, self.tokenizer, batch_size=self.cfg.evaluation.batch_size)
        return lambda prompts, n: local.generate(prompts, n=n, max_new_tokens=gen.max_new_tokens,
                                                 temperature=gen.temperature, top_p=gen.top_p, raw=True)

    def _trl_trainer(self, recorder: Any) -> Any:
        import torch
        from datasets import Dataset
        from peft import LoraConfig

        cfg, tr = self.cfg, self.cfg.training
        trainer_cls, config_cls = _trl_classes(tr.algorithm)
        cuda = torch.cuda.is_available()
        batch = tr.group_size * tr.prompts_per_step
        rows = [{"prompt": self.prompts[i % len(self.prompts)]} for i in range(max(len(self.prompts), tr.steps * tr.prompts_per_step))]
        args = config_cls(
            output_dir=str(self.run_dir / "checkpoints"), use_cpu=not cuda, bf16=cuda and torch.cuda.is_bf16_supported(),
            learning_rate=tr.learning_rate, lr_scheduler_type=tr.lr_scheduler, warmup_steps=tr.warmup_steps,
            per_device_train_batch_size=batch, gradient_accumulation_steps=1, num_generations=tr.group_size,
            max_completion_length=cfg.generation.max_new_tokens, temperature=cfg.generation.temperature,
            top_p=cfg.generation.top_p, max_steps=tr.steps, logging_steps=1, save_strategy="steps",
            save_steps=tr.checkpoint_every, beta=tr.beta, seed=cfg.seed, data_seed=cfg.seed, report_to=list(tr.report_to),
            disable_tqdm=True, max_grad_norm=tr.max_grad_norm, gradient_checkpointing=tr.gradient_checkpointing, log_completions=False,
        )
        lora = LoraConfig(r=tr.lora_r, lora_alpha=tr.lora_alpha, lora_dropout=tr.lora_dropout,
                          target_modules=tr.lora_target_modules, task_type="CAUSAL_LM")
        trainer = trainer_cls(model=self.model, reward_funcs=self.reward_fn, args=args, train_dataset=Dataset.from_list(rows),
                              processing_class=self.tokenizer, peft_config=lora, callbacks=[recorder])
        from transformers import PrinterCallback

        trainer.remove_callback(PrinterCallback)  # our progress bar and metrics.jsonl replace its raw dict prints
        trainer.engagegen_run = self
        return trainer

    # ------------------------------------------------------------------ the run
    def execute(self, resume: bool) -> dict[str, Any]:
        from transformers import set_seed

        set_seed(self.cfg.seed)
        started = time.time()
        self._load()
        self.reward_fn = _RecordingReward(self.audience.reward)
        checkpoint = latest_checkpoint(self.run_dir / "checkpoints") if resume else None
        previous_seconds = 0.0
        if checkpoint is not None:
            self.state = read_checkpoint_state(checkpoint)
            self.state.pop("finished", None)  # written by older versions; finished is now judged against this config
            previous_seconds = float(self.state.get("wall_seconds", 0.0))
            for log in (self.metrics, self.evals):
                log.truncate_after(int(self.state["step"]))
        elif resume:
            for log in (self.metrics, self.evals):
                log.truncate_after(-1)  # no checkpoint: the run starts over, step-0 evaluation included
        self.clock_offset = previous_seconds - (time.time() - started)
        self.started = started
        recorder = _step_recorder(self)
        with _quiet_checkpointing_rename():
            trainer = self._trl_trainer(recorder)
        self.trainer = trainer
        if checkpoint is None and self.cfg.training.init_adapter:
            _warm_start(trainer.model, Path(self.cfg.training.init_adapter), self.cfg.training.lora_r)
            self.evaluate_during(trainer.model, 0)  # the starting policy competes for the best adapter
        # Finished under this config: early-stopped, or its budget reached (a grown budget trains on).
        finished = self.state["early_stopped"] if checkpoint is None else (
            self.state["early_stopped"] or int(self.state["step"]) >= self.cfg.training.steps)
        if not finished:
            with _graceful_interrupt(self), recorder.progress_bar(), _quiet_checkpointing_rename():
                try:
                    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
                except RuntimeError as exc:
                    if "out of memory" in str(exc).lower() or "can't allocate memory" in str(exc).lower():
                        raise TrainingError(
                            "out of memory: lower training.group_size, training.prompts_per_step or "
                            "generation.max_new_tokens, or use a smaller model"
                        ) from exc
                    raise
            if self.stop_requested:
                return {"interrupted": True, "step": int(trainer.state.global_step), "run_dir": str(self.run_dir)}
        # A run finished before this call (killed in its final evaluation) trained no step now: its
        # steps are its checkpoint's, not the fresh trainer's 0.
        steps = int(self.state.get("step", 0)) if finished else int(trainer.state.global_step)
        return self._final_evaluation(trainer.model, steps, started)

    def wall_seconds(self) -> float:
        return time.time() - self.started + self.clock_offset

    # ------------------------------------------------------------------ evaluation
    def evaluate_during(self, model: Any, step: int) -> dict[str, Any]:
        ev = self.cfg.evaluation
        was_training = model.training
        model.eval()
        try:
            _, out = evaluate_policies(self._sampler(model), self.audience.reward, self.prompts, ev.during_samples,
                                       seed=self.cfg.seed + 7919 * step, batch_size=ev.batch_size)
        finally:
            model.train(was_training)
        passed = gate_pass(out)
        fraction = float(out.engaged_fraction.mean())
        record = {"step": step, "engaged_mean": float(out.engaged.mean()), "engaged_fraction": fraction,
                  "gate_share": float(passed.mean()), "opinion_mean": float(out.opinion.mean()),
                  "reward_mean": float(out.total.mean()), "example": out.text[int(np.argmax(out.total))]}
        score = float((out.engaged_fraction * passed).mean())  # engagement that counts: only posts passing the bar
        record["score"] = score
        if score > self.state["best_score"]:
            self.state.update(best_score=score, best_step=step)
            _atomic_save_adapter(model, self.run_dir / "adapter")
            record["best"] = True
        self.evals.append(record)
        if fraction >= ev.early_stop_fraction and passed.mean() >= ev.early_stop_gate_share:
            self.state["early_stopped"] = True
        return record

    def _final_evaluation(self, model: Any, steps: int, started: float) -> dict[str, Any]:
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        cfg, ev, reward = self.cfg, self.cfg.evaluation, self.audience.reward
        best = self.run_dir / "adapter" / "adapter_model.safetensors"
        if best.exists():
            set_peft_model_state_dict(model, load_file(str(best)))
        else:
            _atomic_save_adapter(model, self.run_dir / "adapter")
        model.eval()
        samples_seen = steps * cfg.training.group_size * cfg.training.prompts_per_step
        results: dict[str, tuple[list[str], RewardBreakdown]] = {}
        seed = cfg.seed + 1
        with _status(self.progress, "evaluating the trained policy"):
            results["trained"] = evaluate_policies(self._sampler(model), reward, self.prompts, ev.samples, seed, ev.batch_size)
        with model.disable_adapter():
            with _status(self.progress, "evaluating the untuned model"):
                results["untuned"] = evaluate_policies(self._sampler(model), reward, self.prompts, ev.samples, seed + 1, ev.batch_size)
            n_best = max(ev.samples, min(samples_seen, ev.best_of_n_max))
            with _status(self.progress, f"best-of-{n_best} from the untuned model"):
                prompts, pool = evaluate_policies(self._sampler(model), reward, self.prompts, n_best, seed + 2, ev.batch_size)
        top = np.argsort(-pool.total, kind="stable")[: ev.samples]
        results["best_of_n"] = ([prompts[i] for i in top], pool.subset(top))
        rows = []
        for policy, (prompts, out) in results.items():
            for prompt, record in zip(prompts, out.records()):
                rows.append({"policy": policy, "prompt": prompt, **record, "passes_gates": None})
            passed = gate_pass(out)
            for row, ok in zip(rows[-len(out):], passed):
                row["passes_gates"] = bool(ok)
        atomic_write_text(self.run_dir / "samples.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
        opt = reward.optimum
        trained = results["trained"][1]
        summary = {
            "optimum": float(opt.value),
            "optimal_message": float(opt.message),
            "optimal_intervals": [[iv.lo, iv.hi] for iv in opt.intervals],
            "untuned_engaged_mean": float(results["untuned"][1].engaged.mean()),
            "best_of_n_engaged_mean": float(results["best_of_n"][1].engaged.mean()),
            "best_of_n_n": int(n_best),
            "trained_engaged_mean": float(trained.engaged.mean()),
            "trained_fraction_of_optimum": float(trained.engaged_fraction.mean()),
            "untuned_fraction_of_optimum": float(results["untuned"][1].engaged_fraction.mean()),
            "best_of_n_fraction_of_optimum": float(results["best_of_n"][1].engaged_fraction.mean()),
            "trained_gate_share": float(gate_pass(trained).mean()),
            "trained_degenerate_count": int(sum(is_degenerate(t) for t in trained.text)),
            "trained_opinion_mean": float(trained.opinion.mean()),
            "steps": steps,
            "best_step": int(self.state["best_step"]),
            "early_stopped": bool(self.state["early_stopped"]),
            "samples_seen": samples_seen,
            "wall_seconds": round(self.wall_seconds(), 1),
            "seed": cfg.seed,
            "agent": self.audience.agent,
            "n_users": self.audience.network.n_users,
        }
        atomic_write_text(self.run_dir / "summary.json", json.dumps(summary, indent=2))
        return summary


@contextmanager
def _status(show: bool, message: str) -> Iterator[None]:
    if not show:
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(message):
        yield


@contextmanager
def _graceful_interrupt(run: _Run) -> Iterator[None]:
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


def _trl_classes(algorithm: str) -> tuple[type, type]:
    """The TRL trainer (with crash-safe checkpoints) and its config class."""
    from trl import GRPOConfig, GRPOTrainer, RLOOConfig, RLOOTrainer

    base, config_cls = (GRPOTrainer, GRPOConfig) if algorithm == "grpo" else (RLOOTrainer, RLOOConfig)

    class CrashSafeTrainer(base):  # type: ignore[misc, valid-type]
        """Writes each checkpoint under a staging name and renames it when complete."""

        def _save_checkpoint(self, model: Any, trial: Any) -> None:
            root = Path(self.args.output_dir)
            staging = root / ".staging"
            shutil.rmtree(staging, ignore_errors=True)
            self.args.output_dir = str(staging)
            try:
                super()._save_checkpoint(model, trial)
            finally:
                self.args.output_dir = str(root)
            name = f"checkpoint-{self.state.global_step}"
            run: _Run = self.engagegen_run
            state = {**run.state, "step": self.state.global_step, "wall_seconds": run.wall_seconds()}
            finalize_checkpoint(staging / name, root / name, state)
            shutil.rmtree(staging, ignore_errors=True)
            prune_checkpoints(root, run.cfg.training.keep_checkpoints)

    return CrashSafeTrainer, config_cls


def _step_recorder(run: _Run) -> Any:
    """TRL callback: one metrics line per step, evaluations, early stop, checkpoint on request."""
    from transformers import TrainerCallback

    class Recorder(TrainerCallback):
        def __init__(self) -> None:
            self.run = run
            self.record: dict[str, Any] | None = None
            self.step_started = time.time()
            self.bar: Any = None

        @contextmanager
        def progress_bar(self) -> Iterator[None]:
            if not run.progress:
                yield
                return
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            with Progress(TextColumn("[bold]training"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
                          TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn()) as bar:
                self.bar = (bar, bar.add_task("train", total=run.cfg.training.steps, info=""))
                yield
            self.bar = None

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if self.bar:
                self.bar[0].update(self.bar[1], completed=state.global_step)

        def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.step_started = time.time()

        def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> Any:
            step = state.global_step
            out = run.reward_fn.drain()
            opt = run.audience.reward.optimum
            record: dict[str, Any] = {"step": step}
            if out is not None:
                record.update(out.summary())
                record["engaged_fraction_mean"] = float(out.engaged_fraction.mean())
                record["optimum"] = float(opt.value)
                record["optimal_intervals"] = [[iv.lo, iv.hi] for iv in opt.intervals]
                record["gate_share"] = float(gate_pass(out).mean())
            ev = run.cfg.evaluation
            if step % ev.every == 0 or step >= args.max_steps:
                result = run.evaluate_during(model, step)
                record["eval_engaged_fraction"] = result["engaged_fraction"]
                record["eval_gate_share"] = result["gate_share"]
            if run.state["early_stopped"] or run.stop_requested:
                control.should_save = True
                control.should_training_stop = True
            record["seconds"] = round(time.time() - self.step_started, 3)
            self.record = record
            if self.bar:
                info = f"engaged {record.get('engaged_mean', 0):.1f}/{opt.value:g}  s={record.get('opinion_mean', 0):.2f}"
                self.bar[0].update(self.bar[1], completed=step, info=info)
            return control

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if self.record is None or not logs or "loss" not in logs:
                return
            # TRL reports kl as 0 without measuring it when beta is 0; leave it out then
            measured = ("frac_reward_zero_std",) if run.cfg.training.beta == 0 else ("kl", "frac_reward_zero_std")
            for key in (*measured, "entropy", "learning_rate", "completions/mean_length", "grad_norm"):
                if key in logs:
                    self.record[key.replace("completions/", "")] = float(logs[key])
            self.record["wall_seconds"] = round(run.wall_seconds(), 1)
            run.metrics.append(self.record)
            self.record = None

    return Recorder()

