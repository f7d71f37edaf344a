"""Who the users are to a recommender: an opinion and an interest vector each, and whom they follow.

Interest vectors come from embeddings of the users' past posts (:func:`interests_from_posts`) or,
for generated networks, from synthetic topic mixtures that are similar along edges
(:func:`synthetic_interests`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np

from engagegen.errors import EngagegenError
from engagegen.network.graph import NetworkError, SocialNetwork

__all__ = ["RecommendError", "UserProfiles", "synthetic_interests", "interests_from_posts", "unit_rows"]


class RecommendError(EngagegenError, ValueError):
    """Bad input to a recommender, a post pool or a feed simulation; the message names the problem."""


def unit_rows(vectors: Any, what: str) -> np.ndarray:
    """``vectors`` as a float32 (n, d) array with rows scaled to unit length, or an error naming the bad row."""
    try:
        v = np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise RecommendError(f"{what}: not a numeric array ({exc})") from None
    if v.ndim != 2 or v.shape[1] == 0:
        raise RecommendError(f"{what}: expected a 2-d array (one vector per row), got shape {v.shape}")
    finite = np.isfinite(v).all(axis=1)
    if not finite.all():
        raise RecommendError(f"{what}: row {int(np.flatnonzero(~finite)[0])} has a NaN or infinite value")
    norm = np.linalg.norm(v, axis=1)
    if (norm == 0).any():
        raise RecommendError(f"{what}: row {int(np.flatnonzero(norm == 0)[0])} is all zeros and has no direction")
    return np.ascontiguousarray(v / norm[:, None], dtype=np.float32)


@dataclass(frozen=True, eq=False)
class UserProfiles:
    """The users a recommender serves: the network (who follows whom, opinions) and unit interest vectors.

    ``network``: ``u -> v`` means v sees u's posts (v follows u), so v's followees are its in-neighbours.
    ``interests``: (n_users, d) array, one interest vector per user, scaled to unit length here.

    >>> net = SocialNetwork.from_edges([(0, 1), (1, 2)], [0.2, 0.5, 0.9])
    >>> p = UserProfiles(net, [[1, 0], [1, 1], [0, 2]])
    >>> p.n_users, p.dimension, p.followees(2).tolist()
    (3, 2, [1])
    """

    network: SocialNetwork
    interests: np.ndarray

    def __post_init__(self) -> None:
        if not isinstance(self.network, SocialNetwork):
            raise RecommendError(f"UserProfiles needs a SocialNetwork, got {type(self.network).__name__}")
        interests = unit_rows(self.interests, "interest vectors")
        if interests.shape[0] != self.network.n_users:
            raise RecommendError(
                f"interest vectors: got {interests.shape[0]} rows for {self.network.n_users} users (one row per user)"
            )
        interests.flags.writeable = False
        object.__setattr__(self, "interests", interests)

    @property
    def n_users(self) -> int:
        return self.network.n_users

    @property
    def dimension(self) -> int:
        return int(self.interests.shape[1])

    @property
    def opinions(self) -> np.ndarray:
        return self.network.opinions

    @cached_property
    def following(self) -> SocialNetwork:
        """The network turned around: the out-neighbours of v here are the accounts v follows."""
        return self.network.reverse

    def followees(self, user: int) -> np.ndarray:
        return self.following.out_neighbors(user)

    def check_users(self, user_ids: Any) -> np.ndarray:
        """``user_ids`` as an int64 array of existing users, or an error naming the first bad one."""
        ids = np.atleast_1d(np.asarray(user_ids))
        if ids.ndim != 1 or (ids.size and not np.issubdtype(ids.dtype, np.integer)):
            raise RecommendError(f"user_ids must be a 1-d array of integer user ids, got dtype {ids.dtype}, shape {ids.shape}")
        ids = ids.astype(np.int64)
        bad = (ids < 0) | (ids >= self.n_users)
        if bad.any():
            raise RecommendError(
                f"user {int(ids[np.flatnonzero(bad)[0]])} does not exist: the users are 0..{self.n_users - 1}"
            )
        return ids


def synthetic_interests(
    network: SocialNetwork,
    n_topics: int = 16,
    *,
    homophily: float = 0.7,
    concentration: float = 0.3,
    iterations: int = 3,
    seed: int = 0,
) -> np.ndarray:
    """Topic mixtures (n_users, n_topics), similar between users joined by an edge.

    Each user draws a private mixture from a symmetric Dirichlet(``concentration``) (small values:
    users care about few topics). Then, ``iterations`` times, every user's mixture becomes
    ``(1 - homophily) * private + homophily * mean of its neighbours' mixtures`` (neighbours in
    either direction), so interests diffuse along edges as opinions do in homophilous networks.
    Users with a community label start from a private mixture tilted towards a topic of their
    community, which keeps communities distinct after smoothing.

    >>> net = SocialNetwork.from_edges([(0, 1), (1, 0)], [0.5, 0.5, 0.5])
    >>> synthetic_interests(net, 4, seed=1).shape
    (3, 4)
    """
    if isinstance(n_topics, bool) or not isinstance(n_topics, (int, np.integer)) or n_topics < 2:
        raise RecommendError(f"n_topics must be an integer >= 2, got {n_topics!r}")
    if not 0.0 <= homophily < 1.0:
        raise RecommendError(f"homophily must be in [0, 1), got {homophily!r}")
    if not concentration > 0:
        raise RecommendError(f"concentration must be > 0, got {concentration!r}")
    rng = np.random.default_rng(seed)
    n = network.n_users
    private = rng.dirichlet(np.full(n_topics, float(concentration)), size=n)
    if network.communities is not None:
        topic_of = rng.integers(0, n_topics, size=int(network.communities.max()) + 1)
        private[np.arange(n), topic_of[network.communities]] += 1.0
        private /= private.sum(axis=1, keepdims=True)
    from scipy.sparse import csr_matrix

    adjacency = csr_matrix((np.ones(network.n_edges), network.indices, network.indptr), shape=(n, n))
    both = (adjacency + adjacency.T).tocsr()
    both.data[:] = 1.0
    degree = np.asarray(both.sum(axis=1)).ravel()
    mixture = private
    for _ in range(int(iterations)):
        neighbour_mean = np.where(degree[:, None] > 0, both @ mixture / np.maximum(degree, 1)[:, None], mixture)
        mixture = (1.0 - homophily) * private + homophily * neighbour_mean
    return mixture.astype(np.float32)


def interests_from_posts(
    n_users: int | SocialNetwork,
    authors: Any,
    embeddings: Any,
    *,
    missing: Literal["neighbours", "error"] = "neighbours",
) -> np.ndarray:
    """Each user's interest vector: the mean embedding of the posts they wrote (unit length).

    ``authors[i]`` wrote the post with embedding ``embeddings[i]``. Users without posts get the
    mean of their neighbours' vectors (in either direction; the mean of everyone when they have no
    neighbour with posts) when ``missing="neighbours"`` and a network is given, or an error naming
    the first of them with ``missing="error"``.
    """
    network = n_users if isinstance(n_users, SocialNetwork) else None
    n = network.n_users if network is not None else int(n_users)
    emb = unit_rows(embeddings, "post embeddings")
    a = np.asarray(authors)
    if a.shape != (emb.shape[0],):
        raise RecommendError(f"got {a.shape} authors for {emb.shape[0]} post embeddings; give one author per post")
    if a.size and not np.issubdtype(a.dtype, np.integer):
        raise RecommendError(f"authors must be integer user ids, got dtype {a.dtype}")
    bad = (a < 0) | (a >= n)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise RecommendError(f"post {i}: author {int(a[i])} is not a user (users are 0..{n - 1})")
    sums = np.zeros((n, emb.shape[1]), np.float64)
    np.add.at(sums, a, emb)
    has = np.bincount(a, minlength=n) > 0
    if not has.all():
        first = int(np.flatnonzero(~has)[0])
        if missing == "error" or network is None:
            hint = "" if missing == "error" else " (pass the network to fill them from their neighbours)"
            raise RecommendError(f"user {first} wrote none of the posts, so has no interest vector{hint}; "
                                 f"{int((~has).sum())} user(s) lack posts")
        if missing != "neighbours":
            raise RecommendError(f"missing must be 'neighbours' or 'error', got {missing!r}")
        known = np.where(has[:, None], sums / np.maximum(np.linalg.norm(sums, axis=1), 1e-12)[:, None], 0.0)
        from scipy.sparse import csr_matrix

        adj = csr_matrix((np.ones(network.n_edges), network.indices, network.indptr), shape=(n, n))
        both = adj + adj.T
        fill = np.asarray(both @ known)
        fill[np.linalg.norm(fill, axis=1) == 0] = known[has].mean(axis=0)
        sums = np.where(has[:, None], sums, fill)
    try:
        return unit_rows(sums, "interest vectors")
    except RecommendError as exc:  # opposite posts cancelling out exactly
        raise RecommendError(f"{exc} (the user's post embeddings cancel out)") from None


def check_network_match(profiles: UserProfiles, network: SocialNetwork, where: str) -> None:
    """The network a feed runs on must have the users the recommender knows."""
    if network.n_users != profiles.n_users:
        raise NetworkError(
            f"{where}: the recommender knows {profiles.n_users} users but the network has {network.n_users}; "
            "build the recommender's UserProfiles from this network"
        )
