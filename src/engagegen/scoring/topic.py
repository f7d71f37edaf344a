"""Topic alignment: how much a post is about the topic, by embedding similarity (and optional keywords).

>>> t = TopicAlignment("cats", keywords=["cat", "kitten"])
>>> t.score(["My cat naps all day.", "Interest rates rose again."]).round(2).tolist()
[0.58, 0.09]

The first is cosine 0.48 plus the keyword bonus 0.1, the second cosine 0.09.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from engagegen.scoring.base import BatchScorer, ScoringError, check_texts, check_unit_interval
from engagegen.scoring.embedding import Embedder

__all__ = ["TopicAlignment", "TopicDetails"]


@dataclass(frozen=True)
class TopicDetails:
    """Per text: ``similarity`` (cosine to the topic, in [-1, 1]), ``keyword`` (a keyword occurs), ``score``."""

    score: np.ndarray
    similarity: np.ndarray
    keyword: np.ndarray
    reason: list[str] = field(default_factory=list)


class TopicAlignment(BatchScorer):
    """Score in [0, 1]: cosine similarity between post and topic description, floored at 0.

    topic: what posts should be about ("cats", or a sentence describing the topic).
    keywords: optional words or phrases (case-insensitive, whole words, plural -s/-es accepted).
    keyword_mode: ``bonus`` adds ``keyword_bonus`` when any keyword occurs (once: repeating a
        keyword gains nothing); ``require`` scores 0 unless one occurs.
    embedder: default the shared bundled MiniLM.

    With MiniLM and topic "cats", on-topic posts have cosine 0.20 and up (mean 0.43) and unrelated
    posts below 0.15 (mean 0.06): tests/test_scoring_topic.py measures the separation.
    """

    empty_value = 0.0

    def __init__(
        self,
        topic: str,
        keywords: Sequence[str] | None = None,
        *,
        keyword_mode: Literal["bonus", "require"] = "bonus",
        keyword_bonus: float = 0.1,
        embedder: Embedder | None = None,
        max_chars: int = 20_000,
    ) -> None:
        if not isinstance(topic, str) or not topic.strip():
            raise ScoringError("topic must be a non-empty description of what posts should be about")
        if keyword_mode not in ("bonus", "require"):
            raise ScoringError(f"keyword_mode must be 'bonus' or 'require', got {keyword_mode!r}")
        if isinstance(keywords, str):
            raise ScoringError("keywords must be a list of words, not a single string")
        self.topic = topic.strip()
        self.keywords = tuple(k.strip() for k in keywords or ())
        if any(not k for k in self.keywords):
            raise ScoringError("keywords must be non-empty strings")
        self.keyword_mode = keyword_mode
        self.keyword_bonus = check_unit_interval(keyword_bonus, "keyword_bonus")
        self.embedder = embedder if embedder is not None else Embedder.shared()
        self.max_chars = max_chars
        self._keyword_re = None
        if self.keywords:
            alternatives = "|".join(r"\s+".join(map(re.escape, k.split())) for k in self.keywords)
            self._keyword_re = re.compile(rf"(?<!\w)(?:{alternatives})(?:e?s)?(?!\w)", re.IGNORECASE)
        self._topic_vector: np.ndarray | None = None

    def __repr__(self) -> str:
        kw = f", keywords={list(self.keywords)}, keyword_mode={self.keyword_mode!r}" if self.keywords else ""
        return f"TopicAlignment(topic={self.topic!r}{kw})"

    @property
    def topic_vector(self) -> np.ndarray:
        if self._topic_vector is None:
            self._topic_vector = self.embedder.encode([self.topic])[0]
        return self._topic_vector

    def _score_batch(self, texts: list[str]) -> tuple[np.ndarray, list[str]]:
        d = self._details(texts)
        return d.score, d.reason

    def details(self, texts: Sequence[str]) -> TopicDetails:
        """Score, cosine similarity and keyword hit of every text (empty texts: 0, NaN, False)."""
        checked = check_texts(texts, max_chars=self.max_chars, scorer="TopicAlignment")
        todo = np.flatnonzero(~checked.empty)
        part = self._details([checked.texts[i] for i in todo])
        n = len(checked.texts)
        score, similarity, keyword = np.zeros(n), np.full(n, np.nan), np.zeros(n, dtype=bool)
        score[todo], similarity[todo], keyword[todo] = part.score, part.similarity, part.keyword
        reasons = checked.merged_reasons(todo, part.reason)  # empty texts keep the check's "empty text"
        return TopicDetails(score, similarity, keyword, reasons)

    def _details(self, texts: list[str]) -> TopicDetails:
        if not texts:
            return TopicDetails(np.zeros(0), np.zeros(0), np.zeros(0, dtype=bool), [])
        similarity = (self.embedder.encode(texts) @ self.topic_vector).astype(np.float64)
        score = np.clip(similarity, 0.0, 1.0)
        keyword = np.array([bool(self._keyword_re.search(t)) for t in texts] if self._keyword_re else [False] * len(texts))
        reasons = [""] * len(texts)
        if self._keyword_re is not None:
            if self.keyword_mode == "bonus":
                score = np.minimum(score + self.keyword_bonus * keyword, 1.0)
            else:
                score = np.where(keyword, score, 0.0)
                reasons = ["" if hit else "no keyword" for hit in keyword]
        return TopicDetails(score, similarity, keyword, reasons)
