"""Engagement as a function of the message value s, cached.

For scalar-message models the engagement depends on a post only through s. A model that knows where
its engagement can change (``breakpoints``: the bounded-confidence cascade changes only where s
crosses x_w +- epsilon) is a step function; the lookup evaluates each step at most once, lazily, and
answers every later post with a binary search. Other models (stochastic ones with common random
numbers) are deterministic in s for a fixed seed, so their answers are memoised per exact s.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from engagegen.engagement.base import EngagementModel, check_messages
from engagegen.network.graph import SocialNetwork

__all__ = ["EngagementLookup", "SteppedEngagement"]


@runtime_checkable
class SteppedEngagement(Protocol):
    """An engagement model whose engagement is constant between ``breakpoints`` (sorted s values)."""

    def breakpoints(self, network: SocialNetwork, source: int) -> np.ndarray: ...


class EngagementLookup:
    """Cached ``engagement(s)`` for one (network, source, model).

    >>> from engagegen.engagement import BoundedConfidenceCascade
    >>> net = SocialNetwork.from_edges([(0, 1), (1, 2)], [0.5, 0.1, 0.15])
    >>> EngagementLookup(net, 0, BoundedConfidenceCascade(epsilon=0.2))([0.1, 0.9]).tolist()
    [2.0, 0.0]
    """

    def __init__(self, network: SocialNetwork, source: int, model: EngagementModel) -> None:
        self.network, self.source, self.model = network, source, model
        self._steps: np.ndarray | None = None
        if isinstance(model, SteppedEngagement):
            # Cells alternate: open segment, breakpoint, open segment, ... so s maps to cell 2*i (inside
            # the i-th segment) or 2*i+1 (exactly on breakpoint i).
            self._steps = np.unique(np.asarray(model.breakpoints(network, source), dtype=np.float64))
            self._cells = np.full(2 * len(self._steps) + 1, np.nan)
        self._memo: dict[float, float] = {}

    def _cell_of(self, s: np.ndarray) -> np.ndarray:
        assert self._steps is not None
        right = np.searchsorted(self._steps, s, side="right")
        on_step = (right > 0) & (self._steps[np.maximum(right - 1, 0)] == s)
        return np.where(on_step, 2 * (right - 1) + 1, 2 * right)

    def _representative(self, cells: np.ndarray) -> np.ndarray:
        """A message value inside each cell (a segment's midpoint, or the breakpoint itself)."""
        assert self._steps is not None
        steps = np.concatenate([[min(0.0, self._steps[0] - 1.0) if len(self._steps) else 0.0], self._steps,
                                [max(1.0, self._steps[-1] + 1.0) if len(self._steps) else 1.0]])
        i = cells // 2
        mid = 0.5 * (steps[i] + steps[i + 1])
        return np.where(cells % 2 == 1, steps[np.minimum(i + 1, len(steps) - 1)], np.clip(mid, 0.0, 1.0))

    def __call__(self, messages: Any) -> np.ndarray:
        s = check_messages(messages)
        if self._steps is not None:
            cells = self._cell_of(s)
            todo = np.unique(cells[np.isnan(self._cells[cells])])
            if len(todo):
                self._cells[todo] = self.model.engagement(self.network, self.source, self._representative(todo))
            return self._cells[cells].astype(np.float64)
        todo = sorted({float(v) for v in s} - self._memo.keys())
        if todo:
            values = self.model.engagement(self.network, self.source, np.asarray(todo))
            self._memo.update(zip(todo, (float(v) for v in values)))
        return np.array([self._memo[float(v)] for v in s], dtype=np.float64)
