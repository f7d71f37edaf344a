"""The semantic layer of moderation: a linear classifier over sentence embeddings.

Word lists and phrase rules miss harm written in ordinary words ("Drown every stray cat you see.").
This layer reads the meaning instead: the post's all-MiniLM-L6-v2 embedding (the embedder the topic
scorer already runs, so in the reward it costs one small matrix product) goes through a multinomial
logistic regression over harm classes and ``ok``. A post is harmful when the probability of all harm
classes together reaches ``threshold``; its class is the likeliest harm class.

The bundled classifier (``engagegen/data/moderation/semantic.*``: safetensors weights and JSON
settings, no pickles) is trained by ``scripts/moderation.py train`` on the labelled posts in
``tests/data/moderation/`` and the older red-team/ordinary lists, never on the held-out sets;
docs/moderation.md has the method and the measured numbers.

>>> harm, kinds = SemanticModerator.bundled().harm(["Drown every stray cat you see.", "My cat naps all day."])
>>> (harm > 0.5).tolist()
[True, False]
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from engagegen.files import InputFileError, atomic_write_bytes, atomic_write_text, read_text
from engagegen.scoring.base import ScoringError, require
from engagegen.scoring.embedding import BUNDLED, Embedder

__all__ = ["SemanticModerator", "HARM_CLASSES", "CATEGORY_OF_CLASS"]

# Harm classes of the labelled data and the moderation category each one flags.
CATEGORY_OF_CLASS = {
    "threat": "threat",
    "incitement": "violence",
    "animal_cruelty": "violence",
    "extremism": "extremism",
    "self_harm": "self_harm",
    "harassment": "harassment",
    "hate": "hate",
    "sexual_minors": "sexual_minors",
    "doxxing": "doxxing",
}
HARM_CLASSES = tuple(CATEGORY_OF_CLASS)
FORMAT = "engagegen-semantic-moderation"
VERSION = 1
_WEIGHTS, _SETTINGS = "semantic.safetensors", "semantic.json"


@dataclass
class SemanticModerator:
    """Multinomial logistic regression over sentence embeddings: ``classes`` (``ok`` first), ``coef``
    (classes x dimension), ``intercept``, and the flagging ``threshold`` on P(any harm class)."""

    classes: tuple[str, ...]
    coef: np.ndarray
    intercept: np.ndarray
    threshold: float
    embedder: Embedder = field(default_factory=Embedder.shared, repr=False)
    info: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.classes[:1] != ("ok",) or not set(self.classes[1:]) <= set(HARM_CLASSES):
            raise ScoringError(f"classes must be 'ok' then harm classes of {HARM_CLASSES}, got {self.classes}")
        if self.coef.shape != (len(self.classes), self.coef.shape[1]) or self.intercept.shape != (len(self.classes),):
            raise ScoringError(f"coef {self.coef.shape} and intercept {self.intercept.shape} do not fit "
                               f"{len(self.classes)} classes")
        if not 0.0 < self.threshold < 1.0:
            raise ScoringError(f"threshold must be in (0, 1), got {self.threshold!r}")

    # ------------------------------------------------------------------ use
    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities, one row per text (columns in :attr:`classes` order)."""
        if not texts:
            return np.zeros((0, len(self.classes)))
        logits = self.embedder.encode(texts).astype(np.float64) @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def harm(self, texts: Sequence[str]) -> tuple[np.ndarray, list[str]]:
        """P(any harm class) of each text and its likeliest harm class."""
        p = self.probabilities(texts)
        harm = 1.0 - p[:, 0] if len(p) else np.zeros(0)
        likeliest = [self.classes[1 + int(i)] for i in p[:, 1:].argmax(axis=1)] if len(p) else []
        return harm, likeliest

    # ------------------------------------------------------------------ training
    @classmethod
    def fit(cls, texts: Sequence[str], labels: Sequence[str], *, threshold: float, C: float = 4.0,
            embedder: Embedder | None = None) -> SemanticModerator:
        """Train on labelled ``texts`` (labels: ``ok`` or a harm class), classes weighted by their size."""
        sklearn = require("sklearn.linear_model", package="scikit-learn", needed_by="SemanticModerator.fit")
        unknown = sorted(set(labels) - {"ok", *HARM_CLASSES})
        if unknown:
            raise ScoringError(f"unknown labels {unknown}; use 'ok' or one of {HARM_CLASSES}")
        classes = ("ok", *[c for c in HARM_CLASSES if c in set(labels)])
        embedder = embedder if embedder is not None else Embedder.shared()
        x = embedder.encode(list(texts)).astype(np.float64)
        y = np.array([classes.index(label) for label in labels])
        model = sklearn.LogisticRegression(C=C, class_weight="balanced", max_iter=5000)
        model.fit(x, y)
        info = {"n_train": len(texts), "C": C, "per_class": {c: int((y == i).sum()) for i, c in enumerate(classes)}}
        return cls(classes, model.coef_.astype(np.float32), model.intercept_.astype(np.float32), threshold,
                   embedder, info)

    # ------------------------------------------------------------------ files
    def save(self, folder: str | os.PathLike) -> Path:
        """Write ``semantic.safetensors`` (weights) and ``semantic.json`` (classes, threshold, training info)."""
        from safetensors.numpy import save as save_tensors

        folder = Path(folder)
        atomic_write_bytes(folder / _WEIGHTS, save_tensors({"coef": np.ascontiguousarray(self.coef, np.float32),
                                                            "intercept": np.ascontiguousarray(self.intercept, np.float32)}))
        settings = {"format": FORMAT, "version": VERSION, "classes": list(self.classes), "threshold": self.threshold,
                    "embedder": self.embedder.model, **self.info}
        atomic_write_text(folder / _SETTINGS, json.dumps(settings, indent=2) + "\n")
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike, *, embedder: Embedder | None = None) -> SemanticModerator:
        """Read a classifier written by :meth:`save`."""
        from safetensors import SafetensorError
        from safetensors.numpy import load as load_tensors

        folder = Path(folder)
        try:
            settings = json.loads(read_text(folder / _SETTINGS))
            tensors = load_tensors((folder / _WEIGHTS).read_bytes())
        except (InputFileError, OSError, json.JSONDecodeError, SafetensorError) as exc:
            raise ScoringError(f"{folder}: cannot read the semantic moderation classifier ({exc})") from None
        if settings.get("format") != FORMAT or settings.get("version") != VERSION:
            raise ScoringError(f"{folder / _SETTINGS}: not a semantic moderation classifier of version {VERSION}")
        if embedder is None:
            embedder = Embedder.shared(None if settings.get("embedder") == BUNDLED else settings.get("embedder"))
        info = {k: v for k, v in settings.items() if k not in ("format", "version", "classes", "threshold", "embedder")}
        return cls(tuple(settings["classes"]), tensors["coef"], tensors["intercept"], float(settings["threshold"]),
                   embedder, info)

    @classmethod
    def bundled(cls) -> SemanticModerator:
        """The classifier shipped with engagegen."""
        return cls.load(Path(str(resources.files("engagegen") / "data" / "moderation")))
