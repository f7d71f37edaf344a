"""Text generators behind one protocol: ``generate(prompts, n, max_new_tokens, temperature, seed)``.

``LocalModel`` runs a language model in this process (the embedded SmolLM2-135M-Instruct by
default, any transformers model, optional LoRA adapter); ``OpenAICompatible`` calls a
chat-completions server (GPT-4o, vLLM, Ollama). ``build_prompts`` turns topics (and posts to
reply to) into prompts in one of three modes. ``load_model_and_tokenizer`` is the loader training
uses. Importing this package does not import torch.
"""

from engagegen.generation.base import GenerationError, Generator, ServerError
from engagegen.generation.loading import (
    EMBEDDED_MODEL,
    cache_dir,
    clear_quantization_markers,
    embedded_model_dir,
    load_adapter,
    load_model_and_tokenizer,
    load_tokenizer,
)
from engagegen.generation.local import LocalModel
from engagegen.generation.openai_compat import OpenAICompatible
from engagegen.generation.prompts import (
    DEFAULT_TEMPLATES,
    PromptMode,
    PromptTemplate,
    build_prompts,
    read_post_texts,
    to_chat,
)

__all__ = [
    "DEFAULT_TEMPLATES",
    "EMBEDDED_MODEL",
    "GenerationError",
    "Generator",
    "LocalModel",
    "OpenAICompatible",
    "PromptMode",
    "PromptTemplate",
    "ServerError",
    "build_prompts",
    "cache_dir",
    "clear_quantization_markers",
    "embedded_model_dir",
    "load_adapter",
    "load_model_and_tokenizer",
    "load_tokenizer",
    "read_post_texts",
    "to_chat",
]
