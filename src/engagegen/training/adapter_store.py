"""A run's LoRA adapter on disk: written whole or not at all, restored from a checkpoint, loaded into a policy.

The best adapter (``RUN/adapter``) is replaced by writing a complete folder beside it and swapping
it in, so a crash never leaves half an adapter; its ``generation.json`` holds the settings it was
validated with.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from engagegen.files import atomic_write_text
from engagegen.training.errors import TrainingError
from engagegen.training.trl_adapter import BEST_ADAPTER

__all__ = ["save_adapter", "swap_in", "restore_best_adapter", "load_adapter_weights"]


def save_adapter(model: Any, target: Path, generation: dict[str, Any]) -> None:
    """Write a peft adapter and its generation settings to a temp folder beside ``target``, then swap it in."""
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        model.save_pretrained(tmp)
        atomic_write_text(tmp / "generation.json", json.dumps(generation, indent=2))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    swap_in(tmp, target)


def swap_in(folder: Path, target: Path) -> None:
    """Move a complete ``folder`` to ``target``, replacing what was there."""
    old = target.with_name(f".{target.name}.old")
    if target.exists():
        os.replace(target, old)
    os.replace(folder, target)
    shutil.rmtree(old, ignore_errors=True)


def restore_best_adapter(checkpoint: Path, target: Path) -> None:
    """Make ``target`` the best adapter a checkpoint kept (its config is the checkpoint's own adapter's)."""
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    shutil.copyfile(checkpoint / "adapter_config.json", tmp / "adapter_config.json")
    for name, copy in BEST_ADAPTER.items():
        shutil.copyfile(checkpoint / copy, tmp / name)
    swap_in(tmp, target)


def load_adapter_weights(model: Any, adapter: Path, lora_r: int) -> None:
    """Load a saved LoRA adapter's weights into the model's adapter (same rank and modules)."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    weights, config = adapter / "adapter_model.safetensors", adapter / "adapter_config.json"
    if not (weights.is_file() and config.is_file()):
        raise TrainingError(f"{adapter}: not a LoRA adapter folder (needs adapter_config.json and adapter_model.safetensors)")
    try:
        rank = json.loads(config.read_text())["r"]
    except (OSError, ValueError, KeyError) as exc:
        raise TrainingError(f"{config}: unreadable adapter config ({exc})") from None
    if rank != lora_r:
        raise TrainingError(f"{adapter}: LoRA rank {rank}, but training.lora_r is {lora_r}")
    try:
        result = set_peft_model_state_dict(model, load_file(str(weights)))
    except RuntimeError as exc:  # tensor shapes that do not fit this model
        raise TrainingError(f"{adapter}: does not fit the model ({exc})") from None
    unexpected = list(getattr(result, "unexpected_keys", []) or [])
    if unexpected:
        raise TrainingError(f"{adapter}: weights for modules this adapter does not have, e.g. {unexpected[0]} "
                            "(different lora_target_modules or model?)")
