"""engagegen's subclass of TRL's trainers: crash-safe checkpoints, and completion log-probabilities
computed for the completion only on a CPU.

Two methods of TRL's trainers are replaced, both private to TRL (this module is the one place that
depends on them; pyproject pins TRL's minor version):

- ``_save_checkpoint`` writes each checkpoint under a staging name and renames it into place when
  complete, with engagegen's run state, so a killed run never leaves a half-written checkpoint.
- ``_get_per_token_logps_and_entropies``: TRL's fused output layer scores every position of the
  batch on devices without Triton (the prompt's too), then recomputes each vocabulary tile in the
  backward pass. On a CPU the completion's logits fit in memory (16 posts x 32 tokens x 49k
  vocabulary = 100 MB), so they are computed once, for the completion only: the same values,
  a third less time per RL step. Rows that share a prompt (a GRPO group) run the prompt once.
  Elsewhere, and for multimodal or mixture-of-experts models, TRL's own method runs.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from engagegen.training.checkpoint import finalize_checkpoint, prune_checkpoints

__all__ = ["BEST_ADAPTER", "completion_logprobs", "entropy_settings", "trl_classes"]

#: Each checkpoint keeps a copy of the run's best adapter as of its step (its weights and generation
#: settings under these names; a sub-folder with an adapter config would be loaded by transformers
#: as a second adapter), so a resumed run starts the next stage from the adapter the uninterrupted
#: run would have.
BEST_ADAPTER = {"adapter_model.safetensors": "best_adapter_model.safetensors", "generation.json": "best_generation.json"}

# Rows per chunk of the completion log-probabilities: at most this many logits in memory at once.
_LOGITS_PER_CHUNK = 64 * 1024 * 1024


def completion_logprobs(model: Any, input_ids: Any, attention_mask: Any, completion_length: int, temperature: float,
                        with_entropy: bool, entropy_in_loss: bool = False) -> tuple[Any, Any]:
    """Log-probabilities (and entropies) of the last ``completion_length`` tokens of each row under
    ``model`` at ``temperature``, 0 where ``attention_mask`` is 0, as TRL's ``fused_lm_head`` gives.
    Entropies carry gradients only when ``entropy_in_loss`` (an entropy bonus); else they are a metric."""
    import torch

    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    hidden = _predicting_hidden(inner, input_ids, attention_mask, completion_length)
    targets = input_ids[:, -completion_length:]
    valid = attention_mask[:, -completion_length:].bool()
    head = inner.get_output_embeddings()
    rows = max(1, _LOGITS_PER_CHUNK // max(1, completion_length * head.weight.shape[0]))
    logps, entropies = [], []
    for start in range(0, hidden.shape[0], rows):
        logits = head(hidden[start : start + rows]).float() / temperature
        log_all = torch.log_softmax(logits, dim=-1)
        logps.append(log_all.gather(-1, targets[start : start + rows, :, None])[..., 0])
        if with_entropy:
            with torch.set_grad_enabled(entropy_in_loss and torch.is_grad_enabled()):
                entropies.append(-(log_all.exp() * log_all).sum(-1))
    logp = torch.cat(logps).masked_fill(~valid, 0)
    entropy = torch.cat(entropies).masked_fill(~valid, 0) if with_entropy else None
    return logp, entropy


def _predicting_hidden(inner: Any, input_ids: Any, attention_mask: Any, completion_length: int) -> Any:
    """The last hidden states that predict each row's completion tokens, ``[rows, completion_length, d]``.

    Rows that share a prompt (a GRPO group) run the prompt once and attend to its cached keys and
    values, repeated per row: the prompt is most of each row's tokens, so the forward and backward
    passes shrink by about that share. Gradients flow through the shared cache to the prompt's pass.
    """
    import torch

    prompt_length = input_ids.shape[1] - completion_length
    prompts = torch.cat([input_ids[:, :prompt_length], attention_mask[:, :prompt_length]], 1)
    unique, group = torch.unique(prompts, dim=0, return_inverse=True)
    if unique.shape[0] == input_ids.shape[0] or getattr(inner, "is_activation_checkpointing", False):
        # nothing shared, or a cache is unavailable (checkpointed layers recompute without one)
        hidden = inner.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return hidden[:, prompt_length - 1 : -1]
    parts, order = [], []
    for index in range(unique.shape[0]):
        rows = (group == index).nonzero()[:, 0]
        prefix = inner.model(input_ids=input_ids[rows[:1], :prompt_length], attention_mask=attention_mask[rows[:1], :prompt_length],
                             use_cache=True)
        part = prefix.last_hidden_state[:, -1:].expand(len(rows), -1, -1)
        if completion_length > 1:
            cache = prefix.cache
            cache.batch_repeat_interleave(len(rows))
            rest = inner.model(input_ids=input_ids[rows, prompt_length:-1], attention_mask=attention_mask[rows, :-1],
                               cache=cache, use_cache=True).last_hidden_state
            part = torch.cat([part, rest], 1)
        parts.append(part)
        order.append(rows)
    return torch.cat(parts)[torch.argsort(torch.cat(order))]


def entropy_settings(training: Any) -> dict[str, Any]:
    """TRL's GRPO options for ``training.entropy_coef`` / ``entropy_floor`` (none when off).

    With a floor, TRL's adaptive control applies the bonus only after a step whose mean token
    entropy fell to the target; its step size 0 and bounds at the coefficient keep it fixed.
    """
    coef = training.entropy_bonus
    if coef == 0:
        return {}
    if training.entropy_floor is None:
        return {"entropy_coef": coef}
    return {"entropy_coef": coef, "use_adaptive_entropy": True, "entropy_target": training.entropy_floor,
            "entropy_coef_delta": 0.0, "entropy_coef_min": coef, "entropy_coef_max": coef}


def trl_classes(algorithm: str) -> tuple[type, type]:
    """The TRL trainer subclass for ``algorithm`` (``grpo`` or ``rloo``) and its config class."""
    from trl import GRPOConfig, GRPOTrainer, RLOOConfig, RLOOTrainer

    base, config_cls = (GRPOTrainer, GRPOConfig) if algorithm == "grpo" else (RLOOTrainer, RLOOConfig)

    class EngagegenTrainer(base):  # type: ignore[misc, valid-type]
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
            run = self.engagegen_run
            best = run.run_dir / "adapter"
            for source, copy in BEST_ADAPTER.items():
                if (best / source).is_file():
                    shutil.copyfile(best / source, staging / name / copy)
            state = {**run.state, "wall_seconds": run.wall_seconds()}
            finalize_checkpoint(staging / name, root / name, state)
            shutil.rmtree(staging, ignore_errors=True)
            prune_checkpoints(root, run.cfg.training.keep_checkpoints)

        def _get_per_token_logps_and_entropies(self, model: Any, input_ids: Any, attention_mask: Any,
                                               logits_to_keep: int, batch_size: Any = None, compute_entropy: bool = False,
                                               compute_aux_loss: bool = False, **inputs: Any) -> Any:
            if input_ids.device.type != "cpu" or compute_aux_loss or any(v is not None for v in inputs.values()):
                return super()._get_per_token_logps_and_entropies(
                    model, input_ids, attention_mask, logits_to_keep, batch_size, compute_entropy, compute_aux_loss,
                    **inputs)
            # The entropies need gradients only at a step that applies the bonus: below the floor
            # (TRL applies it after a step whose entropy fell to the target), or always without one.
            bonus = getattr(self, "_entropy_bonus_enabled", False) and (
                not getattr(self, "use_adaptive_entropy", False) or self._last_world_entropy <= self.args.entropy_target)
            logps, entropies = completion_logprobs(model, input_ids, attention_mask, logits_to_keep, self.temperature,
                                                   compute_entropy, entropy_in_loss=bonus)
            return logps, entropies, None

    return EngagegenTrainer, config_cls
