"""Where the LLM agent sits: the paper's positions (central, community, echo chamber) and degree positions."""

from __future__ import annotations

import numpy as np
from numba import njit, prange
from rich.progress import Progress

from engagegen.network.graph import NetworkError, SocialNetwork

__all__ = ["PAPER_POSITIONS", "POSITIONS", "betweenness", "place_agent"]

#: The agent positions of the paper's synthetic experiments.
PAPER_POSITIONS = ("central", "comm-largest", "comm-smallest", "echo-high", "echo-low")
#: Every named position :func:`place_agent` accepts.
POSITIONS = (*PAPER_POSITIONS, "degree-high", "degree-low")

#: Networks up to this many users get exact betweenness; larger ones a sampled estimate.
EXACT_BETWEENNESS_LIMIT = 20_000
#: Sampled sources (pivots) of the betweenness estimate on large networks.
BETWEENNESS_SAMPLES = 64

# Sources are processed in chunks (progress steps), each split in parts computed in parallel.
_CHUNKS = 50
_PARTS = 4
# Betweenness values this close (relative) to the maximum count as ties: equal path counts summed
# in a different order differ in the last bits.
_TIE_RTOL = 1e-9


@njit(cache=True)
def _brandes(indptr: np.ndarray, indices: np.ndarray, sources: np.ndarray, bc: np.ndarray) -> None:
    """Add to ``bc`` each user's dependency on the shortest paths from each source (Brandes 2001).

    Unweighted, directed. The BFS order doubles as Brandes' stack, and dependencies are pulled
    from out-neighbours one level further, so no predecessor lists are stored. Distance, path
    count and dependency of a user sit side by side: one cache miss per visited neighbour.
    """
    n = len(indptr) - 1
    state = np.zeros((n, 3))  # distance (-1: unseen), shortest-path count sigma, dependency delta
    state[:, 0] = -1.0
    order = np.empty(n, dtype=np.int64)
    for s in sources:
        state[s, 0] = 0.0
        state[s, 1] = 1.0
        order[0] = s
        head, tail = 0, 1
        while head < tail:
            v = order[head]
            head += 1
            next_level = state[v, 0] + 1.0
            for p in range(indptr[v], indptr[v + 1]):
                w = indices[p]
                if state[w, 0] < 0:
                    state[w, 0] = next_level
                    order[tail] = w
                    tail += 1
                if state[w, 0] == next_level:
                    state[w, 1] += state[v, 1]
        for i in range(tail - 1, -1, -1):
            v = order[i]
            next_level = state[v, 0] + 1.0
            pulled = 0.0
            for p in range(indptr[v], indptr[v + 1]):
                w = indices[p]
                if state[w, 0] == next_level:
                    pulled += (1.0 + state[w, 2]) / state[w, 1]
            state[v, 2] = state[v, 1] * pulled
            if v != s:
                bc[v] += state[v, 2]
        for i in range(tail):
            v = order[i]
            state[v, 0] = -1.0
            state[v, 1] = 0.0
            state[v, 2] = 0.0


@njit(cache=True, parallel=True)
def _brandes_parallel(indptr: np.ndarray, indices: np.ndarray, sources: np.ndarray, n_parts: int) -> np.ndarray:
    """:func:`_brandes` over ``n_parts`` slices of the sources in parallel, summed."""
    partial = np.zeros((n_parts, len(indptr) - 1))
    bounds = np.linspace(0, len(sources), n_parts + 1).astype(np.int64)
    for part in prange(n_parts):
        _brandes(indptr, indices, sources[bounds[part] : bounds[part + 1]], partial[part])
    return partial.sum(axis=0)


def betweenness(
    net: SocialNetwork,
    k: int | None = None,
    *,
    seed: int = 0,
    normalized: bool = True,
    progress: bool = False,
) -> np.ndarray:
    """Betweenness centrality of every user on the directed graph, exact or from ``k`` sampled sources.

    The same values as ``networkx.betweenness_centrality`` on the directed graph (endpoints
    excluded, normalised by ``(n-1)(n-2)``). With ``k`` sources sampled without replacement
    (seeded), the estimate is rescaled like networkx's: unbiased, exact when ``k == n``.
    Exact costs one BFS per user (O(n m)); ``k`` sources cost O(k m).

    >>> net = SocialNetwork.from_edges([(0, 1), (1, 2), (2, 3)], [0.5] * 4)
    >>> betweenness(net, normalized=False).tolist()
    [0.0, 2.0, 2.0, 0.0]
    """
    n = net.n_users
    if k is None:
        sources = np.arange(n, dtype=np.int64)
    else:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
            raise NetworkError(f"k (sampled sources) must be an integer in 1..{n}, got {k!r}")
        sources = np.sort(np.random.default_rng(seed).choice(n, size=int(k), replace=False))
    # Fixed chunks and parts fix the summation order, so the values do not depend on the thread count.
    bc = np.zeros(n)
    with Progress(transient=True, disable=not progress) as bar:
        task = bar.add_task("betweenness", total=len(sources))
        for chunk in np.array_split(sources, min(_CHUNKS, max(1, len(sources) // _PARTS))):
            bc += _brandes_parallel(net.indptr, net.indices, chunk, min(_PARTS, len(chunk)))
            bar.advance(task, len(chunk))

    if k is not None:
        # Scale the sample up to all sources; a sampled source cannot lie on its own paths, so its
        # estimate rests on the k - 1 other sources (networkx rescales the same way).
        scale = np.full(n, (n - 1) / len(sources))
        scale[sources] = (n - 1) / max(len(sources) - 1, 1)
        bc *= scale
    if normalized and n > 2:
        bc /= (n - 1) * (n - 2)
    return bc


def _first_of_best(score: np.ndarray, first_member: np.ndarray, best: str) -> int:
    """The lowest-id user of the community with the best score; ties go to the community met first."""
    target = score.max() if best == "max" else score.min()
    tied = np.flatnonzero(score == target)
    return int(first_member[tied].min())


def place_agent(
    net: SocialNetwork,
    position: str | int,
    *,
    k: int = BETWEENNESS_SAMPLES,
    seed: int = 0,
    exact_limit: int = EXACT_BETWEENNESS_LIMIT,
    progress: bool = False,
) -> int:
    """The user id where the agent posts, for a named position or an explicit user id.

    - ``central``: highest betweenness on the directed graph, ties to the lowest id; exact up
      to ``exact_limit`` users, above that estimated from ``k`` sampled sources (``seed``).
    - ``comm-largest`` / ``comm-smallest``: the lowest-id user of the largest / smallest community.
    - ``echo-high`` / ``echo-low``: the lowest-id user of the community with the highest / lowest
      mean opinion.
    - ``degree-high`` / ``degree-low``: highest / lowest out-degree (the latter among users with at
      least one out-edge), ties to the lowest id.

    Community ties go to the community whose lowest-id user comes first, as in the authors' code
    (which scans users in id order). Two positions may name one user (on the paper's network
    degree-low and comm-smallest are both user 0; a grid warns when its points do).

    >>> net = SocialNetwork.from_edges([(0, 1), (1, 0), (1, 2), (2, 1)], [0.1, 0.2, 0.9], communities=[0, 0, 1])
    >>> place_agent(net, "central"), place_agent(net, "echo-high"), place_agent(net, 2)
    (1, 2, 2)
    """
    if not isinstance(position, str):
        return net.check_user(position, "agent position")
    if position not in POSITIONS:
        raise NetworkError(f"unknown agent position {position!r}; use a user id or one of {', '.join(POSITIONS)}")

    if position == "central":
        exact = net.n_users <= exact_limit
        bc = betweenness(net, None if exact else min(k, net.n_users), seed=seed, progress=progress)
        top = bc.max()
        return int(np.flatnonzero(bc >= top - _TIE_RTOL * abs(top))[0])
    if position.startswith("degree-"):
        degree = net.out_degree
        if position == "degree-high":
            return int(np.argmax(degree))
        if not degree.any():
            raise NetworkError("degree-low: no user has an out-edge")
        return int(np.argmin(np.where(degree > 0, degree, np.iinfo(degree.dtype).max)))

    if net.communities is None:
        raise NetworkError(f"agent position {position!r} needs community labels, and this network has none")
    first_member, members = _communities(net.communities)
    if position.startswith("comm-"):
        return _first_of_best(np.array([len(m) for m in members]), first_member, "max" if position == "comm-largest" else "min")
    # np.mean over members in id order: the same floating-point means as the authors' code.
    means = np.array([net.opinions[m].mean() for m in members])
    return _first_of_best(means, first_member, "max" if position == "echo-high" else "min")


def _communities(communities: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """The lowest-id member of each community present, and its members in id order."""
    order = np.argsort(communities, kind="stable")
    starts = np.flatnonzero(np.diff(communities[order], prepend=-1))
    return order[starts], np.split(order, starts[1:])
