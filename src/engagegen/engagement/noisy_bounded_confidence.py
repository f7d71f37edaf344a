"""The bounded-confidence cascade with a per-hop engagement probability and a noise term.

The paper's cascade is deterministic: a post engages exactly the users reachable from its author
through users within ``epsilon`` of it, so an observed cascade that differs from that set by one
user has probability 0. This variant gives every outcome a probability, and cascades of realistic
sizes: a user reached for the first time engages with probability ``p`` when within ``epsilon``
and ``noise`` otherwise. ``p = 1, noise = 0`` is the paper's cascade.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from engagegen.engagement import _stochastic_kernels as K
from engagegen.engagement.base import Cascade, EngagementError, Optimum, check_source
from engagegen.network.graph import SocialNetwork

__all__ = ["NoisyBoundedConfidence"]


def _probability(value: Any, name: str, owner: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise EngagementError(f"{owner}: {name} must be a probability in [0, 1], got {value!r}")
    return float(value)


class NoisyBoundedConfidence:
    """Bounded-confidence cascade in which each user, reached for the first time, engages by chance.

    A receiver w faces the post once (from the first engaged in-neighbour that reaches it) and
    engages with probability ``p`` when ``|s - x_w| < epsilon`` and ``noise`` otherwise; an engaged
    user forwards the post. So the engaged users are those the source reaches through willing
    users, each user willing independently. Engagement is the mean number of engaged users over
    ``n_runs`` Monte Carlo runs (numba, threads for large work).

    Runs use common random numbers: user v's coin in run r is a hash of ``(seed, r, v)``, the same
    for every message. For a fixed seed the engagement is then a step function of s, changing only
    where s crosses some ``x_w +- epsilon``, and :meth:`optimum` evaluates every step exactly when
    there are at most ``grid_size`` of them (otherwise a grid), as :class:`LinearThreshold` does.
    ``simulate`` reports the mean with its standard error and 95% interval, ``active`` the users
    engaged in at least half of the runs and ``extra["activation_probability"]`` every user's
    engagement frequency.

    >>> net = SocialNetwork.from_edges([(0, 1), (1, 2), (0, 3)], [0.5, 0.4, 0.3, 0.9])
    >>> NoisyBoundedConfidence(epsilon=0.2, p=1.0, noise=0.0, n_runs=10).engagement(net, 0, [0.45, 0.8]).tolist()
    [2.0, 1.0]
    >>> round(float(NoisyBoundedConfidence(epsilon=0.2, p=0.5, noise=0.0, n_runs=4000).engagement(net, 0, 0.45)[0]), 1)
    0.8
    """

    def __init__(self, epsilon: float = 0.2, p: float = 0.5, noise: float = 0.0, n_runs: int = 1000, seed: int = 0,
                 grid_size: int = 1001) -> None:
        owner = type(self).__name__
        eps = K.check_epsilon(epsilon, owner)
        if eps is None:
            raise EngagementError(f"{owner}: epsilon must be a finite number > 0, got None")
        self.epsilon = eps
        self.p = _probability(p, "p", owner)
        self.noise = _probability(noise, "noise", owner)
        self.n_runs = K.check_n_runs(n_runs, owner)
        self.seed = K.check_seed(seed, owner)
        self.grid_size = K.check_grid_size(grid_size, owner)

    def __repr__(self) -> str:
        return (f"NoisyBoundedConfidence(epsilon={self.epsilon}, p={self.p}, noise={self.noise}, n_runs={self.n_runs}, "
                f"seed={self.seed}, grid_size={self.grid_size})")

    def _counts(self, network: SocialNetwork, source: int, messages: np.ndarray, record: bool) -> tuple[np.ndarray, np.ndarray]:
        args = (network.indptr, network.indices, network.opinions, source, messages, self.epsilon, self.p, self.noise,
                np.uint64(self.seed))
        return K.monte_carlo(K.noisy_bounded_confidence_block, K.noisy_bounded_confidence_parallel, args,
                             network.n_users, self.n_runs, len(messages), record)

    def simulate(self, network: SocialNetwork, source: int, message: float) -> Cascade:
        return K.monte_carlo_cascade(self._counts, network, source, message, self.n_runs)

    def engagement(self, network: SocialNetwork, source: int, messages: Any) -> np.ndarray:
        return K.monte_carlo_engagement(self._counts, network, source, messages, self.n_runs, self.p != self.noise,
                                        "noisy bounded-confidence cascade")

    def breakpoints(self, network: SocialNetwork, source: int) -> np.ndarray:
        """Sorted message values in (0, 1) where the engagement may change: ``x_w +- epsilon`` of the
        users w the source can reach (none when ``p == noise``: then s does not matter)."""
        source = check_source(network, source)
        if self.p == self.noise:
            return np.empty(0)
        return K.step_breakpoints(network, source, self.epsilon)

    def optimum(self, network: SocialNetwork, source: int) -> Optimum:
        runs = f"{self.n_runs} runs, common random numbers, seed {self.seed}"
        if self.p == self.noise:
            value = float(self.engagement(network, source, [0.0])[0])
            return K.constant_optimum(value, f"constant: with p == noise every message engages alike ({runs})")
        return K.step_optimum(lambda s: self.engagement(network, source, s), self.breakpoints(network, source), self.grid_size, runs)
