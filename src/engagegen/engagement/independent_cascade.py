"""The independent cascade (Kempe, Kleinberg & Tardos 2003), optionally gated by opinion distance."""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from engagegen.engagement import _stochastic_kernels as K
from engagegen.engagement.base import Cascade, EngagementError, Optimum
from engagegen.network.graph import SocialNetwork

__all__ = ["IndependentCascade"]


class IndependentCascade:
    """Each newly engaged user gets one chance to engage each out-neighbour.

    Edge ``u -> w`` succeeds with probability ``p``; with ``epsilon`` given, with the
    opinion-dependent probability ``p * max(0, 1 - |s - x_w| / epsilon)`` (``p`` for a
    receiver whose opinion equals the post's, impossible from distance ``epsilon`` on). The source is
    active and never counted. Engagement is the mean number of engaged users over ``n_runs`` Monte
    Carlo runs (numba; runs go over threads when there is enough work).

    Runs use common random numbers: the coin of edge e in run r is a hash of ``(seed, r, e)``, the
    same for every message value. So for a fixed seed the engagement is a deterministic function
    of s, results do not depend on thread scheduling, and with ``epsilon`` a message closer to every
    receiver never engages fewer users in any run.

    ``simulate`` reports the mean with its standard error and a normal-approximation 95% interval;
    ``active`` holds the users engaged in at least half of the runs (the typical cascade) and
    ``extra["activation_probability"]`` every user's engagement frequency. ``optimum`` searches a
    grid of ``grid_size`` points on [0, 1] (exact only without ``epsilon``, where every message
    engages alike).

    >>> net = SocialNetwork.from_edges([(0, 1), (1, 2), (0, 3)], [0.5, 0.2, 0.3, 0.9])
    >>> IndependentCascade(p=1.0, n_runs=10).engagement(net, 0, [0.1, 0.9]).tolist()
    [3.0, 3.0]
    >>> IndependentCascade(p=1.0, epsilon=0.2, n_runs=10).engagement(net, 0, 0.9).tolist()  # only user 3 agrees
    [1.0]
    """

    def __init__(self, p: float = 0.1, epsilon: float | None = None, n_runs: int = 1000, seed: int = 0, grid_size: int = 1001) -> None:
        owner = type(self).__name__
        if isinstance(p, (bool, np.bool_)) or not isinstance(p, numbers.Real) or not (math.isfinite(p) and 0.0 <= p <= 1.0):
            raise EngagementError(f"{owner}: p must be a probability in [0, 1], got {p!r}")
        self.p = float(p)
        self.epsilon = K.check_epsilon(epsilon, owner)
        self.n_runs = K.check_n_runs(n_runs, owner)
        self.seed = K.check_seed(seed, owner)
        self.grid_size = K.check_grid_size(grid_size, owner)

    def __repr__(self) -> str:
        return f"IndependentCascade(p={self.p}, epsilon={self.epsilon}, n_runs={self.n_runs}, seed={self.seed}, grid_size={self.grid_size})"

    def _counts(self, network: SocialNetwork, source: int, messages: np.ndarray, record: bool) -> tuple[np.ndarray, np.ndarray]:
        args = (network.indptr, network.indices, network.opinions, source, messages, self.p,
                0.0 if self.epsilon is None else self.epsilon, np.uint64(self.seed))
        return K.monte_carlo(K.independent_cascade_block, K.independent_cascade_parallel, args,
                             network.n_users, self.n_runs, len(messages), record)

    def simulate(self, network: SocialNetwork, source: int, message: float) -> Cascade:
        return K.monte_carlo_cascade(self._counts, network, source, message, self.n_runs)

    def engagement(self, network: SocialNetwork, source: int, messages: Any) -> np.ndarray:
        # Without epsilon the message does not enter the model.
        return K.monte_carlo_engagement(self._counts, network, source, messages, self.n_runs, self.epsilon is not None,
                                        "independent cascade")

    def optimum(self, network: SocialNetwork, source: int) -> Optimum:
        runs = f"{self.n_runs} runs, common random numbers, seed {self.seed}"
        if self.epsilon is None:
            value = float(self.engagement(network, source, [0.0])[0])
            return K.constant_optimum(value, f"constant: without epsilon every message engages alike ({runs})")
        grid = np.linspace(0.0, 1.0, self.grid_size)
        return K.grid_optimum(grid, self.engagement(network, source, grid), f"grid of {self.grid_size} points on [0, 1] ({runs})")
