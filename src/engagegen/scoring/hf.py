"""Loading and running Hugging Face text classifiers offline (opinion and toxicity models)."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from engagegen.scoring.base import ScoringError, ScoringWarning, require

__all__ = ["TextClassifier"]


@dataclass
class TextClassifier:
    """A sequence-classification model and its tokenizer, loaded from a local folder or the local cache.

    ``labels`` are the model's class names in output order; ``multi_label`` models score each label
    independently (sigmoid), others give one distribution over labels (softmax).
    """

    name: str
    tokenizer: Any
    model: Any
    labels: tuple[str, ...]
    multi_label: bool
    max_length: int
    batch_size: int

    @classmethod
    def load(cls, model: str | os.PathLike, *, device: str | None = None, batch_size: int = 32,
             needed_by: str = "a transformers scorer") -> TextClassifier:
        """Load without touching the network: a folder, or a hub id already in the local cache.

        Raises :class:`ScoringError` naming the model when it cannot be loaded offline.
        """
        require("torch", needed_by=needed_by)
        transformers = require("transformers", needed_by=needed_by)
        name = str(model)
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(name, local_files_only=True)
            hf_model = transformers.AutoModelForSequenceClassification.from_pretrained(name, local_files_only=True)
        except Exception as exc:  # OSError, ValueError, EnvironmentError...: all mean "cannot load it here"
            raise ScoringError(
                f"could not load the text-classification model {name!r} offline ({type(exc).__name__}: {exc}); "
                "pass a local folder, or a hub id already in the local Hugging Face cache"
            ) from exc
        hf_model.to(device or "cpu").eval()
        config = hf_model.config
        labels = tuple(str(config.id2label[i]) for i in range(config.num_labels))
        limits = [getattr(tokenizer, "model_max_length", None), getattr(config, "max_position_embeddings", None)]
        max_length = min(int(v) for v in limits if isinstance(v, int) and 0 < v < 1_000_000) if any(
            isinstance(v, int) and 0 < v < 1_000_000 for v in limits) else 512
        return cls(name, tokenizer, hf_model, labels, config.problem_type == "multi_label_classification",
                   max_length, batch_size)

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """Class probabilities, shape (len(texts), len(labels)), float64.

        Texts longer than the model's token limit are classified from their first tokens, with a
        :class:`ScoringWarning` naming them.
        """
        import torch

        out = np.empty((len(texts), len(self.labels)), dtype=np.float64)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        truncated = []
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                batch = [texts[i] for i in idx]
                enc = self.tokenizer(batch, padding=True, truncation=True, max_length=self.max_length,
                                     return_tensors="pt", return_overflowing_tokens=False, return_length=True)
                lengths = enc.pop("length").tolist()
                truncated.extend(i for i, n in zip(idx, lengths) if n >= self.max_length and self._too_long(texts[i]))
                enc = {k: v.to(self.model.device) for k, v in enc.items()}
                logits = self.model(**enc).logits.float()
                probs = torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, dim=-1)
                out[idx] = probs.cpu().numpy()
        if truncated:
            warnings.warn(
                f"{len(truncated)} text(s) exceed the {self.max_length}-token limit of {self.name}; they were "
                f"classified from their first {self.max_length} tokens (first: {texts[min(truncated)][:60]!r}...)",
                ScoringWarning,
                stacklevel=3,
            )
        return out

    def _too_long(self, text: str) -> bool:
        return len(self.tokenizer(text, truncation=False, verbose=False)["input_ids"]) > self.max_length
