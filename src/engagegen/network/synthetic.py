"""Synthetic social networks: the paper's LFR recipe, and a degree-corrected planted partition for large graphs."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engagegen.memory import check_memory
from engagegen.network.graph import NetworkError, SocialNetwork

__all__ = [
    "OPINION_PRESETS",
    "LEVEL_PRESETS",
    "PAPER_SEED",
    "opinion_shape",
    "level",
    "paper_network",
    "planted_partition_network",
]

#: Beta(alpha, beta) shapes of the paper's opinion presets.
OPINION_PRESETS: dict[str, tuple[float, float]] = {
    "positive": (10.0, 1.0),
    "negative": (1.0, 10.0),
    "neutral": (10.0, 10.0),
    "uniform": (1.0, 1.0),
}
#: The paper's named levels of modularity and homophily.
LEVEL_PRESETS: dict[str, float] = {"high": 0.75, "medium": 0.5, "low": 0.25}
#: The seed of every synthetic network in the paper.
PAPER_SEED = 12121995

# The authors' LFR call: tau1 = 2, tau2 = 1.1, min_community = n // 20, max_iters = 50; on
# ExceededMaxIterations they retry with seed + 150, ten attempts in all.
_LFR_TAU1 = 2.0
_LFR_TAU2 = 1.1
_LFR_MAX_ITERS = 50
_LFR_ATTEMPTS = 10
_LFR_SEED_STEP = 150


def opinion_shape(spec: str | tuple[float, float]) -> tuple[float, float]:
    """The Beta ``(alpha, beta)`` shape of an opinion preset name or an explicit pair.

    >>> opinion_shape("negative"), opinion_shape((2, 5))
    ((1.0, 10.0), (2.0, 5.0))
    """
    if isinstance(spec, str):
        if spec not in OPINION_PRESETS:
            raise NetworkError(f"unknown opinion preset {spec!r}; use one of {sorted(OPINION_PRESETS)} or an (alpha, beta) pair")
        return OPINION_PRESETS[spec]
    try:
        alpha, beta = (float(v) for v in spec)
    except (TypeError, ValueError):
        raise NetworkError(f"opinions must be a preset name or an (alpha, beta) pair, got {spec!r}") from None
    if not (alpha > 0 and beta > 0 and math.isfinite(alpha) and math.isfinite(beta)):
        raise NetworkError(f"Beta shape parameters must be finite and > 0, got alpha={alpha}, beta={beta}")
    return alpha, beta


def level(spec: str | float, what: str) -> float:
    """A named level (``high`` 0.75, ``medium`` 0.5, ``low`` 0.25) or a number in [0, 1].

    >>> level("high", "homophily"), level(0.3, "homophily")
    (0.75, 0.3)
    """
    if isinstance(spec, str):
        if spec not in LEVEL_PRESETS:
            raise NetworkError(f"unknown {what} level {spec!r}; use one of {sorted(LEVEL_PRESETS)} or a number in [0, 1]")
        return LEVEL_PRESETS[spec]
    if isinstance(spec, bool) or not isinstance(spec, (int, float, np.integer, np.floating)):
        raise NetworkError(f"{what} must be a level name or a number in [0, 1], got {spec!r}")
    value = float(spec)
    if not 0.0 <= value <= 1.0:
        raise NetworkError(f"{what} must be in [0, 1], got {value}")
    return value


def _check_count(value: Any, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise NetworkError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _lfr_graph(n_users: int, mu: float, average_degree: float, seed: int) -> Any:
    """The authors' LFR graph with their seed retries; returns the undirected networkx graph."""
    import networkx as nx

    attempt_seed = seed
    for _ in range(_LFR_ATTEMPTS):
        try:
            return nx.generators.community.LFR_benchmark_graph(
                n_users,
                tau1=_LFR_TAU1,
                tau2=_LFR_TAU2,
                mu=mu,
                average_degree=average_degree,
                min_community=n_users // 20,
                max_iters=_LFR_MAX_ITERS,
                seed=attempt_seed,
            )
        except nx.ExceededMaxIterations:
            attempt_seed += _LFR_SEED_STEP
        except nx.NetworkXError as exc:
            raise NetworkError(f"LFR benchmark with n_users={n_users}, mu={mu}: {exc}") from None
    raise NetworkError(
        f"LFR benchmark with n_users={n_users}, mu={mu} failed for seeds {seed}, {seed + _LFR_SEED_STEP}, ..., "
        f"{attempt_seed - _LFR_SEED_STEP}; try another seed"
    )


def paper_network(
    opinions: str | tuple[float, float] = "negative",
    modularity: str | float = "high",
    homophily: str | float = "high",
    n_users: int = 100,
    seed: int = PAPER_SEED,
    *,
    avg_degree: float = 5,
) -> SocialNetwork:
    """The synthetic network of the paper's experiments, identical to the authors' code for the same seed.

    networkx LFR benchmark (tau1 2, tau2 1.1, ``min_community = n_users // 20``, 50 iterations,
    ``mu = 1 - modularity``; on failure the seed grows by 150, at most 10 attempts), turned into a
    directed graph with both directions. Opinions are drawn with the legacy numpy generator seeded
    with ``seed``: one Beta(alpha, beta) opinion per community (communities numbered in the
    iteration order of a Python set of sorted member tuples, as the authors do), then one per
    user, then each user in id order takes its community's opinion with probability ``homophily``.
    Then the largest connected component is kept and relabelled 0..n-1; community labels are
    kept (``node_ids`` holds the LFR node numbers when some users were dropped).

    The authors' driver seeds opinions with 12121995 whatever the graph seed; here one ``seed``
    drives both, which is the same for the default. The global numpy generator is not touched.

    >>> net = paper_network("negative", "high", "high")
    >>> net.n_users, net.is_symmetric, net.communities is not None
    (100, True, True)
    """
    import networkx as nx

    alpha, beta = opinion_shape(opinions)
    mu = 1 - level(modularity, "modularity")
    h = level(homophily, "homophily")
    n_users = _check_count(n_users, "n_users", 20)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise NetworkError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    if not avg_degree > 0:
        raise NetworkError(f"avg_degree must be > 0, got {avg_degree!r}")

    graph = _lfr_graph(n_users, mu, avg_degree, int(seed)).to_directed()
    n = graph.number_of_nodes()

    # Community numbering: the iteration order of this set is part of the recipe.
    community_set = {tuple(sorted(graph.nodes[v]["community"])) for v in graph.nodes}
    label = np.empty(n, dtype=np.int64)
    for k, members in enumerate(community_set):
        label[list(members)] = k

    # A private legacy generator draws the same stream as np.random.seed(seed) + np.random.*.
    rng = np.random.RandomState(int(seed))
    community_opinion = rng.beta(alpha, beta, size=int(label.max()) + 1)
    x = rng.beta(alpha, beta, size=n)
    conform = rng.random_sample(n) < h
    x[conform] = community_opinion[label[conform]]

    giant = max(nx.connected_components(nx.Graph(graph)), key=len)
    kept = list(giant)  # the authors index opinions and labels in set order ...
    relabelled = list(nx.subgraph(graph, giant).nodes())  # ... and number users in subgraph order
    new_id = np.full(n, -1, dtype=np.int64)
    new_id[relabelled] = np.arange(len(relabelled))
    edges = new_id[np.asarray(list(graph.subgraph(giant).edges()), dtype=np.int64).reshape(-1, 2)]
    # LFR can emit self-loops; they never change who a post reaches, so they are not users' edges here.
    edges = edges[edges[:, 0] != edges[:, 1]]

    kept_label = label[kept]
    remaining = list(set(kept_label.tolist()))
    renumber = np.zeros(int(label.max()) + 1, dtype=np.int64)
    renumber[remaining] = np.arange(len(remaining))
    node_ids = None if len(relabelled) == n else np.asarray(relabelled, dtype=np.int64)
    return SocialNetwork.from_edges(edges, x[kept], renumber[kept_label], node_ids, where="LFR graph")


def planted_partition_network(
    n_users: int,
    avg_degree: float = 10.0,
    n_communities: int | None = None,
    mixing: float = 0.2,
    degree_exponent: float = 2.5,
    opinions: str | tuple[float, float] = "uniform",
    homophily: float | str = 0.75,
    symmetric: bool = True,
    seed: int = PAPER_SEED,
) -> SocialNetwork:
    """A degree-corrected planted partition (stochastic block model) with homophilous opinions, for large graphs.

    Each user u gets a propensity theta_u from a power law with exponent ``degree_exponent``
    (expected degree proportional to theta_u, mean ``avg_degree``). ``n_communities`` communities
    (default ``round(sqrt(n_users))``, sizes 1 + multinomial) partition the users. Each edge picks
    its source with probability proportional to theta; with probability ``1 - mixing`` its target is
    drawn (proportional to theta) from the source's community, otherwise from the other
    communities. ``symmetric`` graphs store every edge both ways (mean out-degree about
    ``avg_degree``). Self-loops and repeated edges are dropped, so the realised degree is a little
    lower. Opinions follow the paper's recipe: one Beta opinion per community, one per user, and
    the user takes its community's opinion with probability ``homophily``.

    One numpy ``Generator`` seeded with ``seed`` drives everything. 10^6 users and 10^7 edges take
    seconds.

    >>> net = planted_partition_network(1000, avg_degree=8, n_communities=10, seed=1)
    >>> net.n_users, net.is_symmetric, int(net.communities.max()) + 1
    (1000, True, 10)
    """
    n = _check_count(n_users, "n_users", 2)
    if not (isinstance(avg_degree, (int, float, np.integer, np.floating)) and 0 < avg_degree < n):
        raise NetworkError(f"avg_degree must be a number in (0, n_users={n}), got {avg_degree!r}")
    k = max(1, round(math.sqrt(n))) if n_communities is None else _check_count(n_communities, "n_communities", 1)
    if k > n:
        raise NetworkError(f"n_communities={k} exceeds n_users={n}")
    mixing = level(mixing, "mixing")
    if k == 1 and mixing > 0:
        raise NetworkError(f"mixing={mixing} needs at least 2 communities to mix between")
    if not (isinstance(degree_exponent, (int, float, np.integer, np.floating)) and degree_exponent > 2):
        raise NetworkError(f"degree_exponent must be > 2 (a finite mean degree), got {degree_exponent!r}")
    alpha, beta = opinion_shape(opinions)
    h = level(homophily, "homophily")
    # Measured peak: about 420 bytes per user at mean degree 10 (symmetric); this bound is a little above.
    check_memory(n * (64 + 48 * avg_degree), f"a planted network of {n:,} users with mean degree {avg_degree:g}")
    rng = np.random.default_rng(seed)

    sizes = 1 + rng.multinomial(n - k, np.full(k, 1.0 / k))
    community = rng.permutation(np.repeat(np.arange(k, dtype=np.int32), sizes))

    # Pareto propensities, capped so that no expected degree exceeds the number of other users.
    theta = (1.0 - rng.random(n)) ** (-1.0 / (degree_exponent - 1.0))
    theta = np.minimum(theta, theta.mean() * (n - 1) / avg_degree)

    # Users sorted by community: a user drawn proportional to theta is a uniform point on the
    # cumulative sum of theta, found by binary search; community c owns one stretch of it.
    by_community = np.argsort(community, kind="stable")
    cum = np.cumsum(theta[by_community])
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    stretch_start = np.concatenate([[0.0], cum])[offsets[:-1]]
    stretch_end = cum[offsets[1:] - 1]

    def draw_anyone(count: int) -> np.ndarray:
        return by_community[np.minimum(np.searchsorted(cum, rng.random(count) * cum[-1], side="right"), n - 1)]

    def draw_within(c: np.ndarray) -> np.ndarray:
        point = stretch_start[c] + rng.random(len(c)) * (stretch_end[c] - stretch_start[c])
        position = np.clip(np.searchsorted(cum, point, side="right"), offsets[c], offsets[c + 1] - 1)
        return by_community[position]

    n_draws = rng.poisson(n * avg_degree / (2 if symmetric else 1))
    src = draw_anyone(n_draws)
    c_src = community[src]
    dst = np.empty(n_draws, dtype=np.int64)
    inside = rng.random(n_draws) >= mixing
    dst[inside] = draw_within(c_src[inside])
    # Targets in other communities: draw from everyone and redraw those that fell inside.
    pending = np.flatnonzero(~inside)
    while len(pending):
        dst[pending] = draw_anyone(len(pending))
        pending = pending[community[dst[pending]] == c_src[pending]]

    keep = src != dst
    src, dst = src[keep], dst[keep]
    if symmetric:
        src, dst = np.concatenate([src, dst]), np.concatenate([dst, src])
    key = np.sort(src * n + dst)  # sorted by (source, target): CSR order
    key = key[np.concatenate([[True], key[1:] != key[:-1]])]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(key // n, minlength=n), out=indptr[1:])

    community_opinion = rng.beta(alpha, beta, size=k)
    x = rng.beta(alpha, beta, size=n)
    conform = rng.random(n) < h
    x[conform] = community_opinion[community[conform]]
    return SocialNetwork(indptr, key % n, x, community)
