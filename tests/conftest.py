"""Fixtures shared by the test files.

Language-model tests run on a stand-in for SmolLM2: a tiny randomly initialised Llama (hidden size
64, 2 layers) with the real SmolLM2 tokenizer and chat template. It loads in milliseconds and
generates fast; its text is gibberish, which is all the plumbing tests need.

- ``smollm2_tokenizer``: the real SmolLM2 tokenizer, read from the engagegen cache (built from the
  bundled GGUF on the first use on a machine, about 15 s, then reused).
- ``make_tiny_model_dir(**config)``: saves a tiny Llama (``config`` overrides the LlamaConfig, e.g.
  ``hidden_size=32``) with that tokenizer into a fresh folder and returns the folder; the same
  arguments give the same weights.
- ``tiny_model_dir``: the default tiny model's folder. Load it with
  ``load_model_and_tokenizer(str(tiny_model_dir))`` or ``LocalModel(str(tiny_model_dir))``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

TINY_LLAMA: dict[str, Any] = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 512,
    "tie_word_embeddings": True,
}


@pytest.fixture(scope="session")
def smollm2_tokenizer() -> Any:
    from engagegen.generation import load_tokenizer

    return load_tokenizer("smollm2-135m")


@pytest.fixture(scope="session")
def make_tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, smollm2_tokenizer: Any) -> Callable[..., Path]:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    def make(**overrides: Any) -> Path:
        tokenizer = smollm2_tokenizer
        config = LlamaConfig(
            **{**TINY_LLAMA, **overrides},
            vocab_size=len(tokenizer),
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = LlamaForCausalLM(config)
        folder = tmp_path_factory.mktemp("tiny-llama")
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        return folder

    return make


@pytest.fixture(scope="session")
def tiny_model_dir(make_tiny_model_dir: Callable[..., Path]) -> Path:
    return make_tiny_model_dir()
