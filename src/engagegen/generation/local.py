"""``LocalModel``: sampling posts from a language model running in this process (transformers, optional LoRA)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from engagegen.generation.base import GenerationError, check_generate_args
from engagegen.generation.decoding import cached_decoder, end_token_ids
from engagegen.generation.loading import EMBEDDED_MODEL, load_adapter, load_model_and_tokenizer
from engagegen.generation.prompts import to_chat

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["LocalModel"]


def _check_options(chat: bool | None, batch_size: int) -> None:
    if chat is not None and not isinstance(chat, bool):
        raise GenerationError(f"chat must be True, False or None (automatic), got {chat!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise GenerationError(f"batch_size must be a positive integer, got {batch_size!r}")


class LocalModel:
    """A local causal language model as a :class:`~engagegen.generation.Generator`.

    ``model``: ``"smollm2-135m"`` (the embedded SmolLM2-135M-Instruct, the default), a folder saved by
    transformers, a ``.gguf`` file or a Hugging Face model id (from the local cache unless
    ``allow_download``). ``adapter``: a folder holding a LoRA adapter saved by peft (for example a
    training run's); it is merged into the weights. ``device``/``dtype``: ``"auto"`` picks a GPU when
    there is one, else the CPU in float32.

    ``chat``: whether prompts go through the tokenizer's chat template. ``None`` (default) uses it
    when the tokenizer has one, which is right for the ``instruction`` and ``reply`` prompt modes of
    instruct models; pass ``chat=False`` for ``completion`` prompts (raw text to continue).
    Prompts are sampled ``batch_size`` at a time, left-padded; sampling is plain ancestral sampling
    at ``temperature`` (no top-k; nucleus sampling only when ``generate`` gets ``top_p < 1``), the
    distribution RL training samples from. :meth:`from_loaded` wraps a model already in memory
    (for example the policy during training).

    >>> from engagegen.generation import LocalModel, build_prompts
    >>> generator = LocalModel()  # doctest: +SKIP
    >>> generator.generate(build_prompts("instruction", "cats"), n=2, seed=0)  # doctest: +SKIP
    [['Cats are the best companions ...', 'Did you know cats sleep 16 hours a day? ...']]
    """

    def __init__(
        self,
        model: str = EMBEDDED_MODEL,
        adapter: str | os.PathLike[str] | None = None,
        device: str = "auto",
        dtype: str = "auto",
        *,
        chat: bool | None = None,
        batch_size: int = 16,
        allow_download: bool = False,
    ) -> None:
        _check_options(chat, batch_size)
        hf_model, tokenizer = load_model_and_tokenizer(model, dtype=dtype, device=device, allow_download=allow_download)
        if adapter is not None:
            hf_model = load_adapter(hf_model, adapter).merge_and_unload()
        hf_model.eval()
        self._setup(model, None if adapter is None else Path(adapter), hf_model, tokenizer, chat, batch_size)

    @classmethod
    def from_loaded(
        cls,
        hf_model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        chat: bool | None = None,
        batch_size: int = 16,
    ) -> LocalModel:
        """A generator over a model and tokenizer already loaded (a peft model too), whose train/eval mode it keeps."""
        _check_options(chat, batch_size)
        if tokenizer.pad_token is None:
            raise GenerationError(
                "the tokenizer has no pad token; load it with load_model_and_tokenizer or set pad_token"
            )
        generator = cls.__new__(cls)
        generator._setup(
            getattr(hf_model, "name_or_path", "") or type(hf_model).__name__,
            None,
            hf_model,
            tokenizer,
            chat,
            batch_size,
        )
        return generator

    def _setup(
        self,
        model: str,
        adapter: Path | None,
        hf_model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        chat: bool | None,
        batch_size: int,
    ) -> None:
        self.model, self.adapter, self.hf_model, self.tokenizer = model, adapter, hf_model, tokenizer
        self.batch_size = batch_size
        self.device = hf_model.device
        self.dtype = hf_model.dtype
        has_template = bool(tokenizer.chat_template)
        if chat and not has_template:
            raise GenerationError(
                f"model {model!r} has no chat template: use completion prompts (chat=False, --mode completion)"
            )
        self.chat = has_template if chat is None else chat

    def __repr__(self) -> str:
        adapter = f", adapter={str(self.adapter)!r}" if self.adapter is not None else ""
        where = f"device={str(self.device)!r}, dtype={self.dtype}, chat={self.chat}"
        return f"LocalModel(model={self.model!r}{adapter}, {where})"

    def format_prompts(self, prompts: Sequence[str]) -> list[str]:
        """The exact text the model is given for each prompt (the chat-templated form when ``chat``)."""
        return [to_chat(self.tokenizer, prompt) for prompt in prompts] if self.chat else list(prompts)

    def generate(
        self,
        prompts: Sequence[str],
        n: int = 1,
        max_new_tokens: int = 48,
        temperature: float = 1.0,
        seed: int | None = None,
        *,
        top_p: float = 1.0,
        raw: bool = False,
    ) -> list[list[str]]:
        """``n`` continuations of each prompt: only the new text, stripped. ``temperature=0`` is greedy.

        A ``seed`` makes the call repeatable without touching torch's global random state; with
        ``seed=None`` the global state is used and advances as usual. Greedy decoding returns ``n``
        copies of its one answer. ``top_p < 1`` samples from the nucleus only. ``raw=True`` takes
        the prompts as the exact model input (already through the chat template, as
        ``build_prompts(..., tokenizer=...)`` returns them) and tokenizes them as TRL does.
        """
        import torch

        prompts = check_generate_args(prompts, n, max_new_tokens, temperature, seed)
        if isinstance(top_p, bool) or not isinstance(top_p, (int, float)) or not 0.0 < top_p <= 1.0:
            raise GenerationError(f"top_p must be a number in (0, 1], got {top_p!r}")
        templated = self.chat and not raw
        texts = self.format_prompts(prompts) if templated else prompts
        cuda = [self.device.index or 0] if self.device.type == "cuda" else []
        posts: list[list[str]] = []
        with torch.random.fork_rng(devices=cuda, enabled=seed is not None), torch.inference_mode():
            if seed is not None:
                torch.manual_seed(seed)
            for start in range(0, len(texts), self.batch_size):
                batch = texts[start : start + self.batch_size]
                posts.extend(self._generate_batch(batch, templated, n, max_new_tokens, temperature, top_p))
        return posts

    def _generate_batch(
        self, texts: list[str], templated: bool, n: int, max_new_tokens: int, temperature: float, top_p: float
    ) -> list[list[str]]:
        sample = temperature > 0
        copies = n if sample else 1
        # Chat-templated text already holds its special tokens; other text gets the tokenizer's usual ones.
        decoder = cached_decoder(self.hf_model)
        if decoder is not None:
            prompt_ids = self.tokenizer(texts, add_special_tokens=not templated)["input_ids"]
            completions = decoder.sample(prompt_ids, copies, max_new_tokens=max_new_tokens, temperature=temperature,
                                         top_p=top_p, eos_token_ids=end_token_ids(self.hf_model, self.tokenizer)).token_ids
        else:
            completions = self._generate_with_transformers(texts, templated, copies, max_new_tokens, temperature, top_p)
        decoded = [text.strip() for text in self.tokenizer.batch_decode(completions, skip_special_tokens=True)]
        if not sample:
            return [[text] * n for text in decoded]
        return [decoded[i * n : (i + 1) * n] for i in range(len(texts))]

    def _generate_with_transformers(
        self, texts: list[str], templated: bool, copies: int, max_new_tokens: int, temperature: float, top_p: float
    ) -> list[list[int]]:
        """``transformers.generate``, for the architectures the cached decoder does not run."""
        from transformers import GenerationConfig

        encoded = self.tokenizer(
            texts, return_tensors="pt", padding=True, padding_side="left", add_special_tokens=not templated
        ).to(self.device)
        sample = temperature > 0
        config = GenerationConfig(
            max_new_tokens=max_new_tokens,
            do_sample=sample,
            num_return_sequences=copies,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=end_token_ids(self.hf_model, self.tokenizer),
            **({"temperature": float(temperature), "top_k": 0, "top_p": float(top_p)} if sample else {}),
        )
        output = self.hf_model.generate(
            input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"], generation_config=config
        )
        return output[:, encoded["input_ids"].shape[1] :].tolist()
