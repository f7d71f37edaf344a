"""What every text scorer shares: the protocol, input checks, errors, and lazy optional imports.

A text scorer turns a batch of posts into one float per post. Scorers that inherit from
:class:`BatchScorer` all treat bad input the same way: a non-string raises ``TypeError`` naming its
position, an empty or whitespace-only text gets the scorer's ``empty_value`` and the reason
``"empty text"``, and a text longer than the scorer's limit is cut to it with a
:class:`ScoringWarning` naming the positions.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol, runtime_checkable

import numpy as np

from engagegen.errors import EngagegenError

__all__ = [
    "TextScorer",
    "BatchScorer",
    "Scores",
    "ScoringError",
    "TextsTypeError",
    "ScoringWarning",
    "MissingExtraError",
    "check_texts",
    "require",
    "EMPTY_REASON",
]

EMPTY_REASON = "empty text"
INSTALL_HINT = "pip install 'engagegen[scoring]'"


class ScoringError(EngagegenError, ValueError):
    """A scorer that is misconfigured, or a model or file it cannot use; the message says which."""


class TextsTypeError(EngagegenError, TypeError):
    """Texts given to a scorer that are not a sequence of strings (a single string, a number...)."""


class ScoringWarning(UserWarning):
    """Something a scorer changed in its input (for example a text cut to its length limit)."""


class MissingExtraError(EngagegenError, ImportError):
    """An optional package of the ``scoring`` extra is not installed."""


def require(module: str, *, package: str | None = None, needed_by: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` telling how to install it.

    >>> require("numpy", needed_by="the docs").__name__
    'numpy'
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{needed_by} needs the optional package {package or module!r}, which is not installed: {INSTALL_HINT}"
        ) from exc


@runtime_checkable
class TextScorer(Protocol):
    """Anything that scores a batch of texts: one float per text, in input order."""

    def score(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class Scores:
    """Per-text values and, for each text, why it was not scored normally ('' when it was)."""

    values: np.ndarray
    reasons: list[str]

    def __len__(self) -> int:
        return len(self.reasons)


@dataclass(frozen=True)
class CheckedTexts:
    texts: list[str]
    empty: np.ndarray
    reasons: list[str]

    def merged_reasons(self, scored: Sequence[int] | np.ndarray, extra: Sequence[str]) -> list[str]:
        """The check's reasons with a scorer's own ``extra`` reason of each text at ``scored`` appended."""
        reasons = list(self.reasons)
        for i, reason in zip(scored, extra):
            if reason:
                reasons[i] = f"{reasons[i]}; {reason}" if reasons[i] else reason
        return reasons


def check_texts(texts: Any, *, max_chars: int | None = None, scorer: str = "scorer") -> CheckedTexts:
    """Validate a batch of texts: a sequence of ``str`` (``TypeError`` naming the first bad position).

    Texts longer than ``max_chars`` are cut to it, with one :class:`ScoringWarning` naming them and
    the reason ``"truncated to N characters"``; empty or whitespace-only texts get the reason
    ``"empty text"``.

    >>> check_texts(["a cat", "  "]).reasons
    ['', 'empty text']
    """
    if isinstance(texts, (str, bytes)):
        raise TextsTypeError(f"{scorer} takes a sequence of texts, got a single {type(texts).__name__}; wrap it in a list")
    try:
        items = list(texts)
    except TypeError:
        raise TextsTypeError(f"{scorer} takes a sequence of texts, got {type(texts).__name__}") from None
    for i, text in enumerate(items):
        if not isinstance(text, str):
            raise TextsTypeError(f"{scorer}: the text at position {i} is a {type(text).__name__}, not a str: {text!r:.60}")
    reasons = [""] * len(items)
    if max_chars is not None:
        long = [i for i, text in enumerate(items) if len(text) > max_chars]
        for i in long:
            items[i] = items[i][:max_chars]
            reasons[i] = f"truncated to {max_chars} characters"
        if long:
            shown = ", ".join(map(str, long[:10])) + (", ..." if len(long) > 10 else "")
            warnings.warn(
                f"{scorer}: {len(long)} text(s) longer than {max_chars} characters were truncated (positions {shown})",
                ScoringWarning,
                stacklevel=3,
            )
    empty = np.array([not text.strip() for text in items], dtype=bool)
    for i in np.flatnonzero(empty):
        reasons[i] = EMPTY_REASON
    return CheckedTexts(items, empty, reasons)


class BatchScorer:
    """Base for scorers: checks the batch, scores the non-empty texts in one call, fills in the rest.

    Subclasses set ``empty_value`` and ``max_chars`` and implement ``_score_batch(texts)``, which
    gets only non-empty texts and returns their values and reasons ('' when scored normally).
    """

    empty_value: float = 0.0
    max_chars: int | None = None

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """One float per text (float64 array, input order)."""
        return self.evaluate(texts).values

    def evaluate(self, texts: Sequence[str]) -> Scores:
        """Values and per-text reasons (empty text, truncation, scorer-specific problems)."""
        checked = check_texts(texts, max_chars=self.max_chars, scorer=type(self).__name__)
        values = np.full(len(checked.texts), self.empty_value, dtype=np.float64)
        reasons = list(checked.reasons)
        todo = np.flatnonzero(~checked.empty)
        if todo.size:
            batch_values, batch_reasons = self._score_batch([checked.texts[i] for i in todo])
            values[todo] = batch_values
            reasons = checked.merged_reasons(todo, batch_reasons)
        return Scores(values, reasons)

    def _score_batch(self, texts: list[str]) -> tuple[np.ndarray, list[str]]:
        raise NotImplementedError


def check_unit_interval(value: Any, name: str) -> float:
    """A float in [0, 1], or a :class:`ScoringError` naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise ScoringError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)


def check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ScoringError(f"{name} must be a positive integer, got {value!r}")
    return int(value)
