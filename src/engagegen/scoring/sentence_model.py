"""A sentence-transformers folder read with transformers alone: the encoder, then token pooling.

The embedder needs only the encoder and its pooling, which transformers runs directly; importing
sentence-transformers (and the scikit-learn it pulls in) took longer than embedding a few thousand
posts. A folder in sentence-transformers' layout (``modules.json``: a Transformer, a Pooling and
optionally a Normalize module) is read as that library reads it: texts stripped, lower-cased when
``do_lower_case``, truncated at ``max_seq_length``, pooled over their tokens. A plain transformers
folder (no ``modules.json``) is mean-pooled, as sentence-transformers does. Other modules (Dense
layers, routers) are refused with their name. Nothing runs remote code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engagegen.scoring.base import ScoringError, require

__all__ = ["SentenceModel"]

_KNOWN = {"Transformer", "Pooling", "Normalize"}
_POOLING_MODES = {"cls_token": "cls", "mean_tokens": "mean", "max_tokens": "max", "mean_sqrt_len_tokens": "mean_sqrt_len"}


def _read_json(path: Path) -> dict[str, Any] | list[Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ScoringError(f"{path}: cannot read the sentence model's settings ({exc})") from None


class SentenceModel:
    """The encoder and pooling of the sentence model in ``folder``, loaded offline on the CPU or ``device``."""

    def __init__(self, folder: Path, device: str = "cpu") -> None:
        encoder_folder, pooling = self._layout(folder)
        settings = encoder_folder / "sentence_bert_config.json"
        config = _read_json(settings) if settings.is_file() else {}
        if not isinstance(config, dict):
            raise ScoringError(f"{settings}: expected a JSON object")
        transformers = require("transformers", package="transformers", needed_by="the sentence embedder")
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(str(encoder_folder), local_files_only=True)
            self.encoder = transformers.AutoModel.from_pretrained(str(encoder_folder), local_files_only=True)
        except Exception as exc:  # any loading failure: name the folder and the cause
            raise ScoringError(f"could not load the sentence embedding model in {folder} offline: {exc}") from exc
        self.encoder.to(device).eval()
        self.device = device
        self.pooling = pooling
        self.lower_case = bool(config.get("do_lower_case", False))
        limit = config.get("max_seq_length")
        if limit is None:
            limits = [getattr(self.encoder.config, "max_position_embeddings", None), self.tokenizer.model_max_length]
            limit = min(int(x) for x in limits if isinstance(x, int) and x > 0)
        self.max_seq_length = int(limit)
        self.dimension = int(self.encoder.config.hidden_size)

    @staticmethod
    def _layout(folder: Path) -> tuple[Path, str]:
        """The encoder's folder and the pooling mode, from ``modules.json`` (mean pooling without one)."""
        modules_file = folder / "modules.json"
        if not modules_file.is_file():
            return folder, "mean"
        modules = _read_json(modules_file)
        if not isinstance(modules, list) or not all(isinstance(m, dict) and "type" in m for m in modules):
            raise ScoringError(f"{modules_file}: expected a list of modules, each with a 'type'")
        kinds = [str(m["type"]).rsplit(".", 1)[-1] for m in modules]
        unknown = [k for k in kinds if k not in _KNOWN]
        if unknown or kinds[:2] != ["Transformer", "Pooling"]:
            raise ScoringError(f"{modules_file}: engagegen embeds with a Transformer, a Pooling and optionally a "
                               f"Normalize module; this model has {', '.join(kinds)}")
        encoder_folder = folder / str(modules[0].get("path", ""))
        pooling_config = _read_json(folder / str(modules[1].get("path", "")) / "config.json")
        if not isinstance(pooling_config, dict):
            raise ScoringError(f"{folder}: the pooling settings are not a JSON object")
        modes = [key.removeprefix("pooling_mode_") for key, on in pooling_config.items()
                 if key.startswith("pooling_mode_") and on is True]
        if len(modes) != 1 or modes[0] not in _POOLING_MODES:
            raise ScoringError(f"{folder}: pooling {' + '.join(modes) or 'none'} is not supported (one of "
                               f"{', '.join(_POOLING_MODES)})")
        return encoder_folder, _POOLING_MODES[modes[0]]

    def _prepared(self, text: str) -> str:
        """``text`` as the model reads it: stripped, lower-cased if the model asks."""
        return text.strip().lower() if self.lower_case else text.strip()

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """The token ids of ``texts`` as the model reads them, cut at ``max_seq_length``."""
        items = [self._prepared(t) for t in texts]
        return self.tokenizer(items, truncation="longest_first", max_length=self.max_seq_length)["input_ids"]

    def token_count(self, text: str) -> int:
        """How many tokens ``text`` has as the model reads it, special tokens included, before truncation."""
        ids = self.tokenizer(self._prepared(text), add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
        return len(ids)

    def __call__(self, ids: list[list[int]]) -> Any:
        """Pooled token states of texts given as token ids: a (texts, dimension) tensor, not normalised."""
        import torch

        features = self.tokenizer.pad({"input_ids": ids}, return_tensors="pt")
        features = {k: v.to(self.device) for k, v in features.items()}
        tokens = self.encoder(**features).last_hidden_state
        mask = features["attention_mask"].unsqueeze(-1).to(tokens.dtype)
        if self.pooling == "cls":
            return tokens[:, 0]
        if self.pooling == "max":
            return tokens.masked_fill(mask == 0, torch.finfo(tokens.dtype).min).max(dim=1).values
        counts = mask.sum(dim=1).clamp(min=1e-9)
        summed = (tokens * mask).sum(dim=1)
        return summed / (counts.sqrt() if self.pooling == "mean_sqrt_len" else counts)
