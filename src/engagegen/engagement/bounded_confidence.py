"""The paper's engagement model: a bounded-confidence cascade.

The source's out-neighbours receive the message s. A receiver w (never the source) engages iff
``|s - x_w| < epsilon``; an engaged user forwards s to its out-neighbours; each user is tested once.
Engagement is the number of engaged users. In one shot the result does not depend on the visiting
order: it is the number of users reachable from the source through users within epsilon of s.

The test is computed as ``x_w - epsilon < s < x_w + epsilon`` in float64, so the breakpoints
``x_w +- epsilon`` are exactly where engagement changes and :meth:`~BoundedConfidenceCascade.optimum`
is exact to the last bit (``abs(s - x_w) < epsilon`` can differ from it within one rounding error
of a breakpoint).

Variants from the authors' code (``BoundedConfidenceDiffusionComponent``):

- ``epsilon_backfire``: a receiver with ``|s - x_w| > epsilon_backfire`` engages *against* the
  message. As in their code it counts as engaged and forwards the message, and its opinion moves
  away from s (``x_w - mu (s - x_w)``).
- multi-shot (:meth:`~BoundedConfidenceCascade.simulate_sequence`): engaged users' opinions move by
  ``mu (s - x_w)`` and the next message meets the moved opinions. Their code lets backfire push an
  opinion outside [0, 1]; we clip to the opinion scale.
"""

from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from engagegen.engagement import _bcm_kernels as kernels
from engagegen.engagement.base import Cascade, EngagementError, Interval, Optimum, check_messages, check_source
from engagegen.engagement.optimum import engagement_breakpoints, exact_optimum, near_optimal_intervals
from engagegen.network.graph import SocialNetwork

__all__ = ["BoundedConfidenceCascade", "CascadeSequence", "EngagementWarning"]


class EngagementWarning(UserWarning):
    """A valid but degenerate engagement question (for example a source nobody can hear)."""


@dataclass(frozen=True)
class CascadeSequence:
    """Messages posted one after another with opinions carried over (multi-shot).

    ``cascades[i]`` is the i-th post (its ``opinions_after`` is ``None``: per-post opinion arrays
    would take n floats each; ``extra["opinion_shift"]`` sums the moves); ``opinions`` holds the
    opinions after the last post.
    """

    cascades: tuple[Cascade, ...]
    opinions: np.ndarray

    @property
    def engaged(self) -> np.ndarray:
        """Engagement of each post, in order."""
        return np.array([c.engaged for c in self.cascades], dtype=np.int64)


def _real(value: Any, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or math.isnan(value):
        raise EngagementError(f"{name} must be a real number, got {value!r}")
    return float(value)


class BoundedConfidenceCascade:
    """Bounded-confidence cascade (Coppolillo et al., KDD 2025): deterministic, exact optimum.

    Parameters
    ----------
    epsilon : float, default 0.2
        Confidence bound: a receiver engages iff ``|s - x_w| < epsilon``; finite and > 0.
    mu : float, default 0.5
        Opinion shift ``mu * (s - x_w)`` of an engaged user, in [0, 1]; reported in
        ``Cascade.opinions_after`` and applied between posts by :meth:`simulate_sequence`.
    epsilon_backfire : float or None, default None
        Receivers with ``|s - x_w| > epsilon_backfire`` engage against the message (counted and
        forwarding, as in the authors' code); ``None`` switches backfire off. At least ``epsilon``.

    >>> net = SocialNetwork.from_edges([(0, 1), (1, 2), (0, 3)], opinions=[0.5, 0.4, 0.3, 0.9])
    >>> model = BoundedConfidenceCascade(epsilon=0.2)
    >>> c = model.simulate(net, 0, 0.45)
    >>> c.engaged, c.active.tolist()
    (2, [1, 2])
    >>> model.engagement(net, 0, [0.45, 0.8]).tolist()
    [2, 1]
    >>> model.optimum(net, 0).value
    2
    """

    def __init__(self, epsilon: float = 0.2, *, mu: float = 0.5, epsilon_backfire: float | None = None) -> None:
        eps = _real(epsilon, "epsilon")
        if not (0.0 < eps < math.inf):
            raise EngagementError(f"epsilon must be a finite number > 0, got {epsilon!r}")
        m = _real(mu, "mu")
        if not 0.0 <= m <= 1.0:
            raise EngagementError(f"mu must be in [0, 1] (the fraction of the gap an engaged user moves), got {mu!r}")
        if epsilon_backfire is not None and _real(epsilon_backfire, "epsilon_backfire") < eps:
            raise EngagementError(
                f"epsilon_backfire ({epsilon_backfire!r}) must be at least epsilon ({epsilon!r}): "
                "a user cannot engage both for and against the same message"
            )
        self.epsilon = epsilon
        self.mu = mu
        self.epsilon_backfire = epsilon_backfire

    def __repr__(self) -> str:
        extra = "" if self.epsilon_backfire is None else f", epsilon_backfire={self.epsilon_backfire!r}"
        return f"BoundedConfidenceCascade(epsilon={self.epsilon!r}, mu={self.mu!r}{extra})"

    @property
    def _backfire(self) -> float:
        return math.inf if self.epsilon_backfire is None else float(self.epsilon_backfire)

    def _source(self, network: SocialNetwork, source: Any) -> int:
        src = check_source(network, source)
        if network.out_degree[src] == 0:
            warnings.warn(
                f"source {src} has no out-edges: nobody receives its posts, engagement is 0 for every message",
                EngagementWarning,
                stacklevel=3,
            )
        return src

    @staticmethod
    def _message(message: Any) -> float:
        if np.ndim(message) != 0:
            raise EngagementError(f"simulate takes one message value, got shape {np.shape(message)}; use engagement() for many")
        return float(check_messages(message)[0])

    def _run(self, network: SocialNetwork, opinions: np.ndarray, source: int, s: float) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """Engaged users (sorted), their opinions after the post, and the extra figures."""
        engaged = np.empty(network.n_users, np.int64)
        k = kernels.cascade(network.indptr, network.indices, opinions, source, s, float(self.epsilon), self._backfire, engaged)
        flags = np.zeros(network.n_users, bool)  # O(n) sequential beats sorting a big cascade
        flags[engaged[:k]] = True
        active = np.flatnonzero(flags)
        x = opinions[active]
        toward = (x - float(self.epsilon) < s) & (s < x + float(self.epsilon))
        moved = np.clip(x + np.where(toward, 1.0, -1.0) * float(self.mu) * (s - x), 0.0, 1.0)
        extra: dict[str, Any] = {"opinion_shift": float(np.sum(moved - x)), "backfired": int(k - toward.sum())}
        if self.epsilon_backfire is not None:
            extra.update(backfired_counted=True, backfired_forward=True)
        return active, moved, extra

    def simulate(self, network: SocialNetwork, source: int, message: float) -> Cascade:
        """One post of opinion value ``message`` by ``source``; the opinions of the network are unchanged.

        ``Cascade.opinions_after`` holds every user's opinion once the engaged users moved.
        """
        src = self._source(network, source)
        s = self._message(message)
        active, moved, extra = self._run(network, network.opinions, src, s)
        after = network.opinions.copy()
        after[active] = moved
        return Cascade(engaged=len(active), active=active, message=s, source=src, opinions_after=after, extra=extra)

    def engagement(self, network: SocialNetwork, source: int, messages: Any) -> np.ndarray:
        """Engagement (int64) for each message value, single shot; 64 messages per bit-parallel pass.

        Messages are sorted and de-duplicated first so that each pass carries nearby values, whose
        cascades overlap most.
        """
        src = self._source(network, source)
        s = check_messages(messages)
        keys, back = np.unique(s, return_inverse=True)
        counts = kernels.engagement_batch(
            network.indptr, network.indices, network.opinions, src, float(self.epsilon), self._backfire, keys
        )
        return counts[back]

    def _exact_source(self, network: SocialNetwork, source: int, method: str) -> int:
        """The checked source of an exact search by ``method``."""
        if method not in ("auto", "sweep", "search"):
            raise EngagementError(f"method must be 'auto', 'sweep' or 'search', got {method!r}")
        src = self._source(network, source)
        if method == "sweep" and not network.is_symmetric:
            raise EngagementError("method='sweep' needs a symmetric network (every edge u -> v with its twin v -> u)")
        return src

    def optimum(self, network: SocialNetwork, source: int, *, method: str = "auto") -> Optimum:
        """The exact best engagement over s in [0, 1] and every maximal interval of s reaching it.

        ``method``: ``"sweep"`` (symmetric networks), ``"search"`` (any) or ``"auto"``; see
        :mod:`engagegen.engagement.optimum`.
        """
        src = self._exact_source(network, source, method)
        return exact_optimum(network, src, float(self.epsilon), self._backfire, method)

    def near_optimal(self, network: SocialNetwork, source: int, fraction: float = 0.9, *, method: str = "auto") -> tuple[Interval, ...]:
        """Every maximal interval of s engaging at least ``fraction`` of the optimum, exactly: the
        target a policy's posts must land in to reach that fraction (how wide it is says how hard
        the network is to engage).

        >>> net = SocialNetwork.from_edges([(0, 1), (0, 2)], [0.5, 0.3, 0.6])
        >>> [str(iv) for iv in BoundedConfidenceCascade(epsilon=0.2).near_optimal(net, 0, 0.5)]
        ['(0.1, 0.8)']
        """
        if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not 0 < fraction <= 1:
            raise EngagementError(f"fraction must be a number in (0, 1], got {fraction!r}")
        src = self._exact_source(network, source, method)
        return near_optimal_intervals(network, src, float(self.epsilon), float(fraction), self._backfire, method)

    def breakpoints(self, network: SocialNetwork, source: int) -> np.ndarray:
        """Sorted message values (0 and 1 included) between which the engagement is constant: the
        ``x_w +- epsilon`` (and ``+- epsilon_backfire``) of the users w reachable from the source.

        >>> net = SocialNetwork.from_edges([(0, 1)], [0.5, 0.3])
        >>> BoundedConfidenceCascade(epsilon=0.2).breakpoints(net, 0).round(2).tolist()
        [0.0, 0.1, 0.5, 1.0]
        """
        src = self._source(network, source)
        return engagement_breakpoints(network, src, float(self.epsilon), self._backfire)

    def simulate_sequence(self, network: SocialNetwork, source: int, messages: Any) -> CascadeSequence:
        """Multi-shot: post ``messages`` in order; engaged users' opinions move and persist.

        The network itself is not modified; the final opinions are returned
        (``network.with_opinions(result.opinions)`` gives the moved network).
        """
        src = self._source(network, source)
        s = check_messages(messages)
        opinions = network.opinions.copy()
        cascades = []
        for value in s:
            active, moved, extra = self._run(network, opinions, src, float(value))
            opinions[active] = moved
            cascades.append(Cascade(engaged=len(active), active=active, message=float(value), source=src, extra=extra))
        return CascadeSequence(tuple(cascades), opinions)


def _reference_engaged(network: SocialNetwork, source: int, message: float, epsilon: float, epsilon_backfire: float = math.inf) -> set[int]:
    """Plain-Python cascade built like the authors' code (Python sets, one set union per engaged user).

    The reference for tests and the baseline of the benchmark.
    """
    susceptible = set(range(network.n_users))
    susceptible.discard(source)
    engaged: set[int] = set()
    queue = set(network.out_neighbors(source).tolist()) & susceptible
    while queue:
        w = queue.pop()
        susceptible.discard(w)
        x = float(network.opinions[w])
        if (x - epsilon < message < x + epsilon) or message < x - epsilon_backfire or message > x + epsilon_backfire:
            engaged.add(w)
            queue = queue.union(set(network.out_neighbors(w).tolist()) & susceptible)
    return engaged
