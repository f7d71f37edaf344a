"""Offline evaluation of a recommender against simulated engagement.

The simulated ground truth is the bounded-confidence rule: user u engages with post p iff
``|o_p - x_u| < epsilon`` (never with their own post). Measures, over the given users:

- ``precision``: share of the k slots holding a post the user engages with (empty slots count as misses);
- ``ndcg``: normalised discounted cumulative gain at k (binary gains, log2 discount), averaged over
  the users who would engage with at least one post of the pool;
- ``coverage``: share of the pool recommended to at least one user (catalogue coverage);
- ``cross_cutting``: share of the recommended posts at least epsilon away from the user's opinion
  (exposure to views the user would not engage with; the filter-bubble measure).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from engagegen.recommend.posts import PostPool
from engagegen.recommend.profiles import RecommendError, UserProfiles
from engagegen.recommend.recommenders import Recommender, check_k

__all__ = ["OfflineMetrics", "evaluate_ranking", "evaluate_recommender", "engages"]


@dataclass(frozen=True)
class OfflineMetrics:
    k: int
    precision: float
    ndcg: float
    coverage: float
    cross_cutting: float
    n_users: int
    n_users_with_relevant: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def engages(opinion_user: np.ndarray, opinion_post: np.ndarray, epsilon: float) -> np.ndarray:
    """The bounded-confidence rule, in the float form the cascades use: ``x - eps < o < x + eps``."""
    return (opinion_user - epsilon < opinion_post) & (opinion_post < opinion_user + epsilon)


def evaluate_ranking(profiles: UserProfiles, user_ids: Any, posts: PostPool, ranked: Any, *, epsilon: float = 0.2) -> OfflineMetrics:
    """Metrics of a given ranking (``ranked[i]``: post ids for ``user_ids[i]``, best first, -1 for empty slots)."""
    users = profiles.check_users(user_ids)
    r = np.asarray(ranked)
    if r.ndim != 2 or r.shape[0] != len(users):
        raise RecommendError(f"ranked must have one row per user ({len(users)}), got shape {r.shape}")
    if not epsilon > 0:
        raise RecommendError(f"epsilon must be > 0, got {epsilon!r}")
    if len(users) == 0:
        raise RecommendError("no users to evaluate")
    k = check_k(r.shape[1])
    if r.size and (r.max() >= len(posts) or r.min() < -1):
        raise RecommendError(f"ranked holds post ids outside 0..{len(posts) - 1}")
    x = profiles.opinions[users]
    filled = r >= 0
    safe = np.where(filled, r, 0)
    hit = filled & engages(x[:, None], posts.opinion[safe], epsilon) & (posts.author[safe] != users[:, None])
    precision = float(hit.sum(axis=1).mean() / k)
    # Relevant posts per user: those within epsilon (counted on sorted opinions), minus their own.
    order = np.sort(posts.opinion)
    window = np.searchsorted(order, x + epsilon, side="left") - np.searchsorted(order, x - epsilon, side="right")
    own_relevant = engages(profiles.opinions[posts.author], posts.opinion, epsilon)
    own = np.bincount(posts.author[own_relevant], minlength=profiles.n_users)[users]
    relevant = np.maximum(window - own, 0)
    discount = 1.0 / np.log2(np.arange(k) + 2.0)
    dcg = (hit * discount).sum(axis=1)
    ideal = np.concatenate([[0.0], np.cumsum(discount)])[np.minimum(relevant, k)]
    with_relevant = relevant > 0
    ndcg = float((dcg[with_relevant] / ideal[with_relevant]).mean()) if with_relevant.any() else float("nan")
    shown = r[filled]
    coverage = len(np.unique(shown)) / len(posts) if len(posts) else 0.0
    far = filled & ~engages(x[:, None], posts.opinion[safe], epsilon)
    cross = float(far.sum() / filled.sum()) if filled.any() else float("nan")
    return OfflineMetrics(k, precision, ndcg, float(coverage), cross, len(users), int(with_relevant.sum()))


def evaluate_recommender(recommender: Recommender, user_ids: Any, posts: PostPool, k: int, *,
                         epsilon: float = 0.2, profiles: UserProfiles | None = None) -> OfflineMetrics:
    """Rank ``posts`` for ``user_ids`` with ``recommender`` and measure the top ``k``."""
    profiles = profiles if profiles is not None else getattr(recommender, "profiles", None)
    if not isinstance(profiles, UserProfiles):
        raise RecommendError("pass profiles= (the recommender has no .profiles to evaluate against)")
    return evaluate_ranking(profiles, user_ids, posts, recommender.rank(user_ids, posts, k), epsilon=epsilon)
