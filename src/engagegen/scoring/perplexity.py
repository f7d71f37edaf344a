"""Perplexity of texts under a reference causal language model (optional fluency signal)."""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from engagegen.generation.decoding import cached_decoder
from engagegen.scoring.base import ScoringError, check_positive_int, check_texts, require

__all__ = ["Perplexity"]


class Perplexity:
    """Per-text perplexity exp(mean token negative log-likelihood) under a causal LM.

    model: a local folder or a hub id already in the local cache (loaded on first use, offline).
    max_tokens: texts are scored on their first ``max_tokens`` tokens.
    Texts with fewer than two tokens have no perplexity (NaN).
    """

    def __init__(self, model: str | os.PathLike, *, device: str | None = None, batch_size: int = 8,
                 max_tokens: int = 256) -> None:
        self.model = str(model)
        self.device = device or "cpu"
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.max_tokens = check_positive_int(max_tokens, "max_tokens")
        self._loaded: tuple[Any, Any] | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Perplexity(model={self.model!r}, device={self.device!r})"

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._loaded is None:
                require("torch", needed_by="Perplexity")
                transformers = require("transformers", needed_by="Perplexity")
                try:
                    tokenizer = transformers.AutoTokenizer.from_pretrained(self.model, local_files_only=True)
                    lm = transformers.AutoModelForCausalLM.from_pretrained(self.model, local_files_only=True)
                except Exception as exc:  # any loading failure means "not usable offline"
                    raise ScoringError(f"could not load the causal language model {self.model!r} offline "
                                       f"({type(exc).__name__}: {exc})") from exc
                self._loaded = (tokenizer, lm.to(self.device).eval().requires_grad_(False))
        return self._loaded

    def compute(self, texts: Sequence[str]) -> np.ndarray:
        """Perplexity of each text (float64; NaN for texts with fewer than two tokens)."""
        import torch

        items = check_texts(texts, scorer="Perplexity").texts
        tokenizer, lm = self._load()
        ids = [tokenizer(t, truncation=True, max_length=self.max_tokens)["input_ids"] for t in items]
        out = np.full(len(items), math.nan)
        decoder = cached_decoder(lm)
        if decoder is not None:  # the same forward pass, 2-3x faster on a CPU
            # one pass over the weights for many posts: the cached decoder reads them once per batch
            for i, logps in enumerate(decoder.token_logprobs(ids, batch_size=max(self.batch_size, 64))):
                if logps:
                    out[i] = math.exp(-sum(logps) / len(logps))
            return out
        order = sorted((i for i in range(len(ids)) if len(ids[i]) >= 2), key=lambda i: len(ids[i]), reverse=True)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                width = len(ids[idx[0]])
                # Right-padded batch; the pad id is irrelevant because padded positions are masked out.
                batch = torch.zeros((len(idx), width), dtype=torch.long)
                mask = torch.zeros((len(idx), width), dtype=torch.long)
                for row, i in enumerate(idx):
                    batch[row, : len(ids[i])] = torch.tensor(ids[i])
                    mask[row, : len(ids[i])] = 1
                logits = lm(input_ids=batch.to(lm.device), attention_mask=mask.to(lm.device)).logits.float().cpu()
                nll = torch.nn.functional.cross_entropy(
                    logits[:, :-1].reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1), reduction="none"
                ).reshape(len(idx), width - 1)
                valid = mask[:, 1:].float()
                mean_nll = (nll * valid).sum(dim=1) / valid.sum(dim=1)
                out[idx] = torch.exp(mean_nll).numpy()
        return out
