"""RL from simulated feedback: TRL GRPO/RLOO with a LoRA adapter, rewarded by the simulated audience.

:class:`EngagementTrainer` is configured by one :class:`RunConfig` and has one verb, ``train``. It
trains in the stages of ``training.stages`` (see :mod:`engagegen.training.schedule`), one TRL
trainer per stage on the same LoRA policy. The run folder receives the resolved config, the
network, ``metrics.jsonl`` (one line per step), ``eval.jsonl`` (held-out validations), crash-safe
checkpoints per stage, the best adapter (``adapter/``, with the generation settings it was
validated with in ``adapter/generation.json``), and the final evaluation (``samples.jsonl``,
``summary.json``).

(About 420 lines: a run's stage set-up, validations, resume and final evaluation share one
``_Run``'s state; the adapter on disk, the per-step records and the schedule live in their own
modules.)
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from engagegen.config import ConfigError, dump_yaml, from_dict, load_yaml
from engagegen.engagement import EngagementModel
from engagegen.files import atomic_write_text
from engagegen.reward import RewardBreakdown
from engagegen.training.adapter_store import load_adapter_weights, restore_best_adapter, save_adapter
from engagegen.training.build import Audience, build_audience
from engagegen.training.checkpoint import MetricsLog, latest_checkpoint, read_checkpoint_state
from engagegen.training.config import RunConfig
from engagegen.training.errors import TrainingError
from engagegen.training.evaluation import FINAL_SEED_OFFSET, distinct_share, evaluate_policies, policy_summary
from engagegen.training.rollout import CachedRollout
from engagegen.training.schedule import Progress, StageConfig, decide, plateaued
from engagegen.training.step_record import RecordingReward, graceful_interrupt, status, step_recorder
from engagegen.training.trl_adapter import BEST_ADAPTER, entropy_settings, trl_classes

__all__ = ["EngagementTrainer", "TrainingError", "load_run", "evaluate_run"]

#: The share of the optimum whose first crossing on held-out posts the summary reports (posts sampled until then).
TARGET = 0.9


class EngagementTrainer:
    """Train a language model to write posts that engage a simulated audience.

    ``engagement``: the audience's engagement model as an object, any class meeting the
    :class:`~engagegen.engagement.EngagementModel` protocol (a user's own included), instead of the
    one ``config.engagement`` names; the network, agent and scorers still come from ``config``.
    ``callbacks``: extra ``transformers.TrainerCallback`` objects, given to every stage's trainer.

    >>> from engagegen.engagement import IndependentCascade
    >>> from engagegen.training import EngagementTrainer, RunConfig
    >>> trainer = EngagementTrainer(RunConfig(), "runs/demo", engagement=IndependentCascade(p=0.3, epsilon=0.2))
    >>> trainer.train()  # doctest: +SKIP
    """

    def __init__(self, config: RunConfig, run_dir: str | Path, *, engagement: EngagementModel | None = None,
                 callbacks: Sequence[Any] = ()) -> None:
        if not isinstance(config, RunConfig):
            raise ConfigError(f"expected a RunConfig, got {type(config).__name__}")
        if engagement is not None and not isinstance(engagement, EngagementModel):
            raise ConfigError(f"engagement: a {type(engagement).__name__} is not an engagement model (it needs "
                              "simulate, engagement and optimum; see engagegen.engagement.EngagementModel)")
        self.config = config
        self.run_dir = Path(run_dir)
        self.engagement = engagement
        self.callbacks = list(callbacks)

    def train(self, resume: bool = False, progress: bool = True) -> dict[str, Any]:
        """Run (or, with ``resume``, continue) training, then the final evaluation. Returns the summary."""
        cfg, run_dir = self.config, self.run_dir
        config_path = run_dir / "config.yaml"
        if resume:
            if not config_path.exists():
                raise TrainingError(f"{run_dir}: nothing to resume (no config.yaml); start a run there first")
            if from_dict(RunConfig, load_yaml(config_path)) != cfg:
                raise TrainingError(f"{run_dir}: the config differs from the one stored there; resume a run with its "
                                    f"own config (`engagegen train --resume --out {run_dir}`)")
        elif (run_dir / "metrics.jsonl").exists():
            raise TrainingError(f"{run_dir} already holds a run; resume it (--resume) or choose another folder")
        run_dir.mkdir(parents=True, exist_ok=True)
        dump_yaml(cfg, config_path)
        return _Run(cfg, run_dir, progress, self.callbacks, self.engagement).execute(resume)


def _with_best_adapter(model: Any, run_dir: Path) -> Any:
    """``model`` with the run's best adapter (``run_dir/adapter``)."""
    from peft import PeftModel

    adapter = run_dir / "adapter"
    if not (adapter / "adapter_config.json").exists():
        raise TrainingError(f"{run_dir}: no adapter/ to evaluate; the run saved none yet")
    with _quiet_checkpointing_rename():
        return PeftModel.from_pretrained(model, str(adapter))


def evaluate_run(run_dir: str | Path, progress: bool = True) -> dict[str, Any]:
    """Evaluate a run's saved adapter again (untuned, best-of-N, trained) and rewrite its summary."""
    run_dir = Path(run_dir)
    cfg = load_run(run_dir)
    if not (run_dir / "adapter" / "adapter_config.json").exists():
        raise TrainingError(f"{run_dir}: no adapter/ to evaluate; the run saved none yet")
    run = _Run(cfg, run_dir, progress, [])
    run.load()
    checkpoint = _latest(run_dir)
    if checkpoint is not None:
        run.state = read_checkpoint_state(checkpoint)
    # the run's wall time is its training's (as of the last checkpoint) plus this evaluation
    run.started, run.clock_offset = time.time(), float(run.state.get("wall_seconds", 0.0))
    return run.final_evaluation(_with_best_adapter(run.model, run_dir))


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


def _stage_folder(run_dir: Path, stage: int) -> Path:
    return run_dir / "checkpoints" / f"stage-{stage + 1}"


def _latest(run_dir: Path) -> Path | None:
    """The newest complete checkpoint of any stage."""
    found = [c for folder in sorted((run_dir / "checkpoints").glob("stage-*")) if (c := latest_checkpoint(folder))]
    return max(found, key=lambda c: read_checkpoint_state(c)["step"]) if found else None


def _fresh_state() -> dict[str, Any]:
    return {"step": 0, "stage": 0, "stage_start": 0, "stage_done": False, "finished": False, "stop_reason": None,
            "best_score": -1.0, "best_step": 0, "best_stage": 0, "best_temperature": None, "stage_best": -1.0, "waiting": 0,
            "samples_seen": 0, "validation_samples": 0, "samples_to_target": None, "stages_run": 0}


class _Run:
    """One training run's moving parts; built by :meth:`EngagementTrainer.train`."""

    def __init__(self, cfg: RunConfig, run_dir: Path, progress: bool, callbacks: list[Any],
                 engagement: EngagementModel | None = None) -> None:
        self.cfg, self.run_dir, self.progress, self.callbacks = cfg, run_dir, progress, callbacks
        self.engagement = engagement
        self.metrics = MetricsLog(run_dir / "metrics.jsonl")
        self.evals = MetricsLog(run_dir / "eval.jsonl")
        self.stop_requested = False
        self.state: dict[str, Any] = _fresh_state()
        self.rollout: CachedRollout | None = None

    # ------------------------------------------------------------------ set-up
    def load(self) -> None:
        from engagegen.generation import LocalModel, build_prompts, load_model_and_tokenizer

        cfg = self.cfg
        self.audience: Audience = build_audience(cfg, self.engagement)
        self.audience.network.save(self.run_dir / "network.npz")
        self.model, self.tokenizer = load_model_and_tokenizer(cfg.generation.model)
        self.prompts: list[str] = build_prompts(cfg.generation.mode, cfg.topic, template=cfg.generation.prompt or None,
                                                posts_file=cfg.generation.reply_posts, tokenizer=self.tokenizer)
        self.generator = LocalModel.from_loaded(self.model, self.tokenizer)
        atomic_write_text(self.run_dir / "prompts.json", json.dumps(self.prompts, indent=1))

    def temperature(self, stage: StageConfig) -> float:
        return stage.temperature if stage.temperature is not None else self.cfg.generation.temperature

    def sampler(self, model: Any, temperature: float) -> Any:
        gen = self.cfg.generation
        local = type(self.generator).from_loaded(model, self.tokenizer, batch_size=self.cfg.evaluation.batch_size)
        return lambda prompts, n: local.generate(prompts, n=n, max_new_tokens=gen.max_new_tokens,
                                                 temperature=temperature, top_p=gen.top_p, raw=True)

    def generation_settings(self, temperature: float) -> dict[str, Any]:
        """What ``engagegen generate --adapter`` needs to sample as the run validated the adapter."""
        gen = self.cfg.generation
        return {"model": gen.model, "mode": gen.mode, "prompt": gen.prompt, "topic": self.cfg.topic,
                "max_new_tokens": gen.max_new_tokens, "temperature": temperature, "top_p": gen.top_p}

    def _trl_trainer(self, stage_index: int, model: Any, recorder: Any) -> Any:
        import torch
        from datasets import Dataset
        from peft import LoraConfig
        from transformers import PrinterCallback, set_seed

        cfg, tr = self.cfg, self.cfg.training
        stage = tr.stages[stage_index]
        trainer_cls, config_cls = trl_classes(tr.algorithm)
        cuda = torch.cuda.is_available()
        prompts_per_step = stage.prompts_per_step or tr.prompts_per_step
        steps = min(stage.steps, tr.steps - int(self.state["stage_start"]))
        rows = [{"prompt": self.prompts[i % len(self.prompts)]} for i in range(max(len(self.prompts), steps * prompts_per_step))]
        temperature = self.temperature(stage)
        args = config_cls(
            output_dir=str(_stage_folder(self.run_dir, stage_index)), use_cpu=not cuda,
            bf16=cuda and torch.cuda.is_bf16_supported(), learning_rate=stage.learning_rate,
            lr_scheduler_type=stage.lr_scheduler, warmup_steps=stage.warmup_steps,
            per_device_train_batch_size=tr.group_size * prompts_per_step, gradient_accumulation_steps=1,
            num_generations=tr.group_size, max_completion_length=cfg.generation.max_new_tokens, temperature=temperature,
            top_p=cfg.generation.top_p, max_steps=steps, logging_steps=1, save_strategy="steps",
            save_steps=tr.checkpoint_every, beta=tr.beta, seed=cfg.seed + stage_index, data_seed=cfg.seed + stage_index,
            report_to=list(tr.report_to), disable_tqdm=True, max_grad_norm=tr.max_grad_norm,
            gradient_checkpointing=tr.gradient_checkpointing, log_completions=False,
            num_iterations=tr.updates_per_batch, **entropy_settings(tr),
        )
        if hasattr(model, "peft_config"):
            # Each stage's trainer gets the bare model and wraps it itself: given a peft model, TRL
            # would take the adapter as it is as its KL reference; beta is the distance to the
            # untuned model in every stage. The stage then opens with the best adapter's weights.
            model = model.unload()
        lora = LoraConfig(r=tr.lora_r, lora_alpha=tr.lora_alpha, lora_dropout=tr.lora_dropout,
                          target_modules=tr.lora_target_modules, task_type="CAUSAL_LM")
        # TRL's RLOO trainer has no rollout hook: it samples with transformers.
        self.rollout = None
        if tr.algorithm == "grpo" and CachedRollout.supports(model):
            self.rollout = CachedRollout(self.tokenizer, cfg.generation.max_new_tokens, temperature, cfg.generation.top_p)
        fast = {} if self.rollout is None else {"rollout_func": self.rollout}
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*rollout_func.*experimental.*")
            trainer = trainer_cls(model=model, reward_funcs=self.reward_fn, args=args,
                                  train_dataset=Dataset.from_list(rows), processing_class=self.tokenizer,
                                  peft_config=lora, callbacks=[recorder, *self.callbacks], **fast)
        trainer.remove_callback(PrinterCallback)  # our progress bar and metrics.jsonl replace its raw dict prints
        trainer.engagegen_run = self
        # The stage's random stream starts here, whether its LoRA adapter was just created (which
        # draws from it) or carried over from the stage before: a resumed run draws what an
        # uninterrupted one does (a checkpoint within the stage restores its own stream).
        set_seed(cfg.seed + stage_index)
        return trainer

    # ------------------------------------------------------------------ the run
    def execute(self, resume: bool) -> dict[str, Any]:
        from transformers import set_seed

        set_seed(self.cfg.seed)
        self.started = time.time()
        self.load()
        self.reward_fn = RecordingReward(self.audience.reward)
        checkpoint = _latest(self.run_dir) if resume else None
        previous_seconds = 0.0
        if checkpoint is not None:
            self.state = {**_fresh_state(), **read_checkpoint_state(checkpoint)}
            previous_seconds = float(self.state.get("wall_seconds", 0.0))
            for log in (self.metrics, self.evals):
                log.truncate_after(int(self.state["step"]), int(self.state["stage"]) + 1)
            # the best adapter as of the checkpoint: a later one may have been saved before the kill
            if all((checkpoint / copy).is_file() for copy in BEST_ADAPTER.values()):
                restore_best_adapter(checkpoint, self.run_dir / "adapter")
        elif resume:
            for log in (self.metrics, self.evals):
                log.truncate_after(-1)  # no checkpoint: the run starts over, its first evaluation included
        self.clock_offset = previous_seconds - (time.time() - self.started)
        recorder = step_recorder(self)
        model = self.model
        resume_stage = checkpoint is not None and not self.state["stage_done"]
        with graceful_interrupt(self), recorder.progress_bar(), _quiet_checkpointing_rename():
            while not self.state["finished"]:
                if self.state["stage_done"]:  # open the next stage, or end the schedule
                    self._next_stage()
                    continue
                index = int(self.state["stage"])
                trainer = self._trl_trainer(index, model, recorder)
                model = trainer.model
                stage_checkpoint = latest_checkpoint(_stage_folder(self.run_dir, index)) if resume_stage else None
                resume_stage = False
                if stage_checkpoint is None:
                    self._open_stage(model, index)
                    if self.state["finished"] or self.state["stage_done"]:
                        continue
                trainer.train(resume_from_checkpoint=str(stage_checkpoint) if stage_checkpoint else None)
                if self.stop_requested:
                    return {"interrupted": True, "step": int(self.state["step"]), "run_dir": str(self.run_dir)}
                if not self.state["finished"]:
                    self.state["stage_done"] = True
        if not hasattr(model, "peft_config"):  # resumed after its training had finished: read the best adapter
            model = _with_best_adapter(self.model, self.run_dir)
        return self.final_evaluation(model)

    def _next_stage(self) -> None:
        """Move on after a finished stage: to the next one, or to the end of training."""
        state, tr = self.state, self.cfg.training
        state["stage_done"] = False
        if state["stage"] + 1 >= len(tr.stages) or state["step"] >= tr.steps:
            state.update(finished=True, stop_reason=state["stop_reason"] or "schedule done")
            return
        state.update(stage=state["stage"] + 1, stage_start=state["step"], stage_best=-1.0, waiting=0)

    def _open_stage(self, model: Any, index: int) -> None:
        """A stage starts from the best adapter so far (or ``init_adapter``), judged at once at the
        stage's temperature and sample size: a policy that already meets the goal trains no more."""
        self.state["stages_run"] = index + 1
        best = self.run_dir / "adapter"
        if index > 0 and best.is_dir():
            load_adapter_weights(model, best, self.cfg.training.lora_r)
        elif index == 0 and self.cfg.training.init_adapter:
            load_adapter_weights(model, Path(self.cfg.training.init_adapter), self.cfg.training.lora_r)
        else:
            return
        self.validate(model, int(self.state["step"]), index, steps_left=1)

    def wall_seconds(self) -> float:
        return time.time() - self.started + self.clock_offset

    # ------------------------------------------------------------------ evaluation
    def validate(self, model: Any, step: int, index: int, steps_left: int) -> dict[str, Any]:
        """A held-out evaluation (validation posts) at ``step``: keep the best adapter, and let the
        schedule decide what comes next."""
        cfg, tr = self.cfg, self.cfg.training
        stage = tr.stages[index]
        temperature = self.temperature(stage)
        n = stage.eval_samples or cfg.evaluation.during_samples
        state = self.state
        seed = cfg.seed + 7919 * step + 104729 * index
        was_training = model.training
        model.eval()
        try:
            sampler = self.sampler(model, temperature)
            _, out = evaluate_policies(sampler, self.audience.reward, self.prompts, n, seed, cfg.evaluation.batch_size)
            first_score = score = float(out.readable_fraction.mean())
            confirm = cfg.evaluation.confirm_samples
            if confirm and (score > state["best_score"] or score >= tr.goal):
                _, more = evaluate_policies(sampler, self.audience.reward, self.prompts, confirm, seed + 1,
                                            cfg.evaluation.batch_size)
                out, n = RewardBreakdown.concat([out, more]), n + confirm
                score = float(out.readable_fraction.mean())
        finally:
            model.train(was_training)
        state["validation_samples"] += n
        if score >= TARGET and state["samples_to_target"] is None:
            state["samples_to_target"] = state["samples_seen"]
        record = {"step": step, "stage": index + 1, "temperature": temperature, "posts": n, "score": score,
                  "first_score": first_score,
                  "readable_fraction": score, "engaged_fraction": float(out.engaged_fraction.mean()),
                  "engaged_mean": float(out.engaged.mean()), "gate_share": float(out.passes_gates.mean()),
                  "cut_off_share": float((~out.complete).mean()), "opinion_mean": float(out.opinion.mean()),
                  "distinct_share": distinct_share(out.text),
                  "reward_mean": float(out.total.mean()), "example": out.text[int(np.argmax(out.total))]}
        decision, progress = decide(score, Progress(best=state["stage_best"], waiting=state["waiting"]), stage,
                                    goal=tr.goal, patience=tr.patience, min_improvement=tr.min_improvement,
                                    steps_left=steps_left)
        if score > state["best_score"]:
            state.update(best_score=score, best_step=step, best_stage=index + 1, best_temperature=temperature)
            save_adapter(model, self.run_dir / "adapter", self.generation_settings(temperature))
            record["best"] = True
        state.update(stage_best=progress.best, waiting=progress.waiting)
        record["decision"] = decision
        self.evals.append(record)
        if decision == "stop":
            state.update(finished=True, stop_reason="goal reached")
        elif decision == "next":
            state["stage_done"] = True
            reason = "stage target reached" if stage.until is not None and score >= stage.until else (
                "plateau" if plateaued(progress, stage, tr.patience) else "stage steps used")
            state["stop_reason"] = reason
        return record

    def final_evaluation(self, model: Any) -> dict[str, Any]:
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        cfg, ev, reward, state = self.cfg, self.cfg.evaluation, self.audience.reward, self.state
        best = self.run_dir / "adapter" / "adapter_model.safetensors"
        temperature = state.get("best_temperature") or self.temperature(cfg.training.stages[0])
        if best.exists():
            set_peft_model_state_dict(model, load_file(str(best)))
        else:
            save_adapter(model, self.run_dir / "adapter", self.generation_settings(temperature))
        model.eval()
        seed = cfg.seed + FINAL_SEED_OFFSET
        samples_seen = int(state.get("samples_seen", 0))
        results: dict[str, tuple[list[str], RewardBreakdown]] = {}
        with status(self.progress, f"evaluating the trained policy on {ev.samples} fresh posts"):
            results["trained"] = evaluate_policies(self.sampler(model, temperature), reward, self.prompts, ev.samples,
                                                   seed, ev.batch_size)
        with model.disable_adapter():
            untuned = self.sampler(model, cfg.generation.temperature)
            with status(self.progress, f"evaluating the untuned model on {ev.samples} fresh posts"):
                results["untuned"] = evaluate_policies(untuned, reward, self.prompts, ev.samples, seed + 1, ev.batch_size)
            n_best = max(ev.best_of_n_top, min(samples_seen, ev.best_of_n_max))
            with status(self.progress, f"best {ev.best_of_n_top} of {n_best} untuned posts"):
                prompts, pool = evaluate_policies(untuned, reward, self.prompts, n_best, seed + 2, ev.batch_size)
        top = np.argsort(-pool.total, kind="stable")[: ev.best_of_n_top]
        results["best_of_n"] = ([prompts[i] for i in top], pool.subset(top))
        rows = [{"policy": policy, "prompt": prompt, **record}
                for policy, (prompts, out) in results.items() for prompt, record in zip(prompts, out.records())]
        atomic_write_text(self.run_dir / "samples.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
        opt = reward.optimum
        summary: dict[str, Any] = {
            "optimum": float(opt.value),
            "optimal_message": float(opt.message),
            "optimal_intervals": [[iv.lo, iv.hi] for iv in opt.intervals],
            "optimum_exact": bool(opt.exact),
        }
        for policy, (_, out) in results.items():
            summary.update(policy_summary(policy, out))
        untuned_ppl, trained_ppl = summary["untuned_perplexity_median"], summary["trained_perplexity_median"]
        summary.update({
            "perplexity_ratio": trained_ppl / untuned_ppl if untuned_ppl and trained_ppl else None,
            "best_of_n_n": int(n_best),
            "best_of_n_top": int(ev.best_of_n_top),
            "trained_temperature": temperature,
            "steps": int(state.get("step", 0)),
            "best_step": int(state.get("best_step", 0)),
            "best_stage": int(state.get("best_stage", 0)),
            "stages_run": int(state.get("stages_run", 0)),
            "stop_reason": state.get("stop_reason"),
            "validation_best_score": float(state.get("best_score", -1.0)),
            "samples_seen": samples_seen,
            "validation_samples": int(state.get("validation_samples", 0)),
            "samples_to_target": state.get("samples_to_target"),
            "wall_seconds": round(self.wall_seconds(), 1),
            "seed": cfg.seed,
            "network_seed": cfg.network.seed,
            "engagement_model": f"{type(self.audience.engagement).__module__}:{type(self.audience.engagement).__qualname__}",
            "evaluation_seed": seed,
            "agent": self.audience.agent,
            "n_users": self.audience.network.n_users,
        })
        atomic_write_text(self.run_dir / "summary.json", json.dumps(summary, indent=2))
        return summary
