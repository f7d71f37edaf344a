"""The engagement protocol and its result types.

An engagement model answers one question: how many users engage when ``source`` posts a message
with opinion value ``s`` in [0, 1]. Any object with these three methods plugs into the reward and
the trainer; no subclassing needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from engagegen.errors import EngagegenError
from engagegen.network.graph import NetworkError, SocialNetwork

__all__ = ["EngagementModel", "NearOptimalModel", "Cascade", "Optimum", "Interval", "check_messages", "EngagementError"]


class EngagementError(EngagegenError, ValueError):
    """Bad parameters or arguments for an engagement model."""


@dataclass(frozen=True)
class Cascade:
    """The outcome of one post.

    ``engaged`` is the number of users who engaged (a mean over runs for stochastic models, with
    ``std_error`` and a 95% ``ci``); ``active`` the ids of the engaged users (of one run for stochastic
    models); ``opinions_after`` the opinions once engaged users shifted (``None`` when the model
    does not move opinions); ``extra`` model-specific figures (for example polarization).
    """

    engaged: float
    active: np.ndarray
    message: float
    source: int
    std_error: float | None = None
    ci: tuple[float, float] | None = None
    opinions_after: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Interval:
    """An interval of message values; ``lo_closed``/``hi_closed`` say whether the ends belong to it."""

    lo: float
    hi: float
    lo_closed: bool = False
    hi_closed: bool = False

    def __contains__(self, s: float) -> bool:
        return (self.lo < s or (self.lo_closed and s == self.lo)) and (s < self.hi or (self.hi_closed and s == self.hi))

    @property
    def width(self) -> float:
        return self.hi - self.lo

    @property
    def midpoint(self) -> float:
        return 0.5 * (self.lo + self.hi)

    def distance(self, s: float) -> float:
        """How far ``s`` lies outside the interval (0 inside)."""
        return max(self.lo - s, 0.0, s - self.hi)

    def __str__(self) -> str:
        return f"{'[' if self.lo_closed else '('}{self.lo:.6g}, {self.hi:.6g}{']' if self.hi_closed else ')'}"


@dataclass(frozen=True)
class Optimum:
    """The best engagement over all message values s in [0, 1].

    ``value`` the maximum, ``message`` one s reaching it (the midpoint of the widest optimal
    interval, the choice most robust to scorer noise), ``intervals`` every maximal interval of s
    reaching it. ``exact`` is False when the value was found on a grid (stochastic models), and
    ``method`` says how it was found.
    """

    value: float
    message: float
    intervals: tuple[Interval, ...]
    exact: bool
    method: str

    def contains(self, s: float) -> bool:
        return any(s in iv for iv in self.intervals)

    def distance(self, s: float) -> float:
        """Distance from ``s`` to the nearest optimal interval (0 inside one)."""
        return min((iv.distance(s) for iv in self.intervals), default=0.0)


@runtime_checkable
class EngagementModel(Protocol):
    """What every engagement model implements.

    ``simulate`` runs one post and returns a :class:`Cascade`; ``engagement`` is the batched form
    returning one engagement count per message value; ``optimum`` the best engagement over s.
    """

    def simulate(self, network: SocialNetwork, source: int, message: float) -> Cascade: ...

    def engagement(self, network: SocialNetwork, source: int, messages: Any) -> np.ndarray: ...

    def optimum(self, network: SocialNetwork, source: int) -> Optimum: ...


@runtime_checkable
class NearOptimalModel(Protocol):
    """An engagement model that can also say, exactly, where the engagement reaches a fraction of
    the optimum (:meth:`BoundedConfidenceCascade.near_optimal`). Optional: results tables show the
    target set and the share of posts landing in it for models that have it."""

    def near_optimal(self, network: SocialNetwork, source: int, fraction: float = 0.9) -> tuple[Interval, ...]: ...


def check_messages(messages: Any) -> np.ndarray:
    """Message values as a 1-d float64 array in [0, 1], or an error naming the first bad one."""
    s = np.atleast_1d(np.asarray(messages, dtype=np.float64))
    if s.ndim != 1:
        raise EngagementError(f"messages must be a scalar or a 1-d array, got shape {s.shape}")
    bad = ~np.isfinite(s) | (s < 0.0) | (s > 1.0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise EngagementError(f"message value {float(s[i])!r} (position {i}) is not a number in [0, 1]")
    return s


def check_source(network: SocialNetwork, source: Any) -> int:
    """The source as an int id; raises :class:`NetworkError` when it does not exist."""
    if not isinstance(network, SocialNetwork):
        raise NetworkError(f"expected a SocialNetwork, got {type(network).__name__}")
    return network.check_user(source, "source")
