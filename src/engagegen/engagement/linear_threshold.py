"""The linear threshold model (Kempe, Kleinberg & Tardos 2003), optionally gated by opinion distance."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from engagegen.engagement import _stochastic_kernels as K
from engagegen.engagement.base import Cascade, EngagementError, Optimum, check_source
from engagegen.network.graph import SocialNetwork

__all__ = ["LinearThreshold"]


class LinearThreshold:
    """A user engages once the weights of its engaged in-neighbours add up to its random threshold.

    Every edge ``u -> w`` carries a weight; the weights into each user sum to 1 (``"uniform"``:
    ``1 / in_degree(w)``; ``"random"``: uniform random numbers normalised per user, drawn once from
    ``seed``). In every run each user draws a threshold uniformly in [0, 1) and engages when the
    summed weights of its engaged in-neighbours reach it. The source is active and never counted.
    With ``epsilon`` given, only users whose opinion is within ``epsilon`` of the post
    (``|s - x_w| < epsilon``, strict, as in the bounded-confidence cascade) can engage; the others
    neither engage nor pass the post on. Engagement is the mean over ``n_runs`` Monte Carlo runs
    (numba; runs go over threads when there is enough work).

    Thresholds are common random numbers (a hash of ``(seed, run, user)``): for a fixed seed the
    engagement is a deterministic function of s, and, as who may engage changes only where s
    crosses some ``x_w +- epsilon``, a step function. :meth:`breakpoints` lists those steps, and
    :meth:`optimum` evaluates every step exactly when there are at most ``grid_size`` of them
    (otherwise a grid of ``grid_size`` points, ``exact=False``).

    >>> net = SocialNetwork.from_edges([(0, 1), (1, 2), (0, 2)], [0.5, 0.2, 0.9])
    >>> LinearThreshold(n_runs=10).engagement(net, 0, 0.5).tolist()  # user 2 listens to 0 and 1: sure to engage
    [2.0]
    >>> LinearThreshold(epsilon=0.2, n_runs=10).engagement(net, 0, 0.2).tolist()  # user 2 disagrees
    [1.0]
    """

    def __init__(
        self,
        weights: Literal["uniform", "random"] = "uniform",
        n_runs: int = 1000,
        seed: int = 0,
        epsilon: float | None = None,
        grid_size: int = 1001,
    ) -> None:
        owner = type(self).__name__
        if weights not in ("uniform", "random"):
            raise EngagementError(f"{owner}: weights must be 'uniform' or 'random', got {weights!r}")
        self.weights = weights
        self.n_runs = K.check_n_runs(n_runs, owner)
        self.seed = K.check_seed(seed, owner)
        self.epsilon = K.check_epsilon(epsilon, owner)
        self.grid_size = K.check_grid_size(grid_size, owner)

    def __repr__(self) -> str:
        return (f"LinearThreshold(weights={self.weights!r}, n_runs={self.n_runs}, seed={self.seed}, "
                f"epsilon={self.epsilon}, grid_size={self.grid_size})")

    def edge_weights(self, network: SocialNetwork) -> np.ndarray:
        """The weight of every edge, in CSR order; the weights into each user sum to 1."""
        targets = network.indices
        if self.weights == "uniform":
            raw = np.ones(network.n_edges)
        else:
            # 1 - U lies in (0, 1]: no edge gets weight 0.
            raw = 1.0 - K.uniforms(K.run_key(np.uint64(self.seed), K.STREAM_WEIGHT, 0), network.n_edges)
        return raw / np.bincount(targets, weights=raw, minlength=network.n_users)[targets]

    def _counts(self, network: SocialNetwork, source: int, messages: np.ndarray, record: bool) -> tuple[np.ndarray, np.ndarray]:
        args = (network.indptr, network.indices, self.edge_weights(network), network.opinions, source, messages,
                0.0 if self.epsilon is None else self.epsilon, np.uint64(self.seed))
        return K.monte_carlo(K.linear_threshold_block, K.linear_threshold_parallel, args,
                             network.n_users, self.n_runs, len(messages), record)

    def simulate(self, network: SocialNetwork, source: int, message: float) -> Cascade:
        """One post: mean engagement with standard error and 95% interval; ``active`` the users
        engaged in at least half of the runs; ``extra["activation_probability"]`` per user."""
        return K.monte_carlo_cascade(self._counts, network, source, message, self.n_runs)

    def engagement(self, network: SocialNetwork, source: int, messages: Any) -> np.ndarray:
        return K.monte_carlo_engagement(self._counts, network, source, messages, self.n_runs, self.epsilon is not None,
                                        "linear threshold")

    def breakpoints(self, network: SocialNetwork, source: int) -> np.ndarray:
        """Sorted message values in (0, 1) where the engagement may change: ``x_w +- epsilon`` of the
        users w the source can reach (none without ``epsilon``)."""
        source = check_source(network, source)
        if self.epsilon is None:
            return np.empty(0)
        return K.step_breakpoints(network, source, self.epsilon)

    def optimum(self, network: SocialNetwork, source: int) -> Optimum:
        runs = f"{self.n_runs} runs, common random numbers, seed {self.seed}"
        if self.epsilon is None:
            value = float(self.engagement(network, source, [0.0])[0])
            return K.constant_optimum(value, f"constant: without epsilon every message engages alike ({runs})")
        return K.step_optimum(lambda s: self.engagement(network, source, s), self.breakpoints(network, source), self.grid_size, runs)
