"""Feed recommenders: users' interests, candidate posts, ranking, offline evaluation, and the feed as
an engagement model.

>>> from engagegen.network import planted_partition_network
>>> from engagegen.recommend import UserProfiles, synthetic_interests, synthetic_posts, OpinionAligned
>>> net = planted_partition_network(200, seed=1)
>>> users = UserProfiles(net, synthetic_interests(net, seed=1))
>>> posts = synthetic_posts(users, 50, seed=1)
>>> OpinionAligned(users).rank([0, 1], posts, 3).shape
(2, 3)

``RecommendedCascade(recommender, k, rounds, follow_share)`` implements the engagement protocol
(simulate / engagement / optimum), so :class:`~engagegen.reward.EngagementReward` and the trainer
use a feed as the audience unchanged.
"""

from engagegen.recommend.cascade import RecommendedCascade
from engagegen.recommend.evaluation import OfflineMetrics, engages, evaluate_ranking, evaluate_recommender
from engagegen.recommend.posts import PostPool, one_hop_likes, posts_from_records, synthetic_posts
from engagegen.recommend.profiles import RecommendError, UserProfiles, interests_from_posts, synthetic_interests
from engagegen.recommend.recommenders import (
    Admission,
    AgentPost,
    ContentSimilarity,
    DiversityReranker,
    OpinionAligned,
    Popularity,
    Recommender,
    ReverseChronological,
    ScoringRecommender,
)

__all__ = [
    "RecommendError",
    "UserProfiles",
    "synthetic_interests",
    "interests_from_posts",
    "PostPool",
    "synthetic_posts",
    "posts_from_records",
    "one_hop_likes",
    "Recommender",
    "ScoringRecommender",
    "ReverseChronological",
    "Popularity",
    "ContentSimilarity",
    "OpinionAligned",
    "DiversityReranker",
    "AgentPost",
    "Admission",
    "RecommendedCascade",
    "OfflineMetrics",
    "evaluate_ranking",
    "evaluate_recommender",
    "engages",
    "RECOMMENDERS",
    "make_recommender",
]

#: The built-in recommenders by name (for configs and the command line).
RECOMMENDERS = ("chronological", "popularity", "content", "opinion", "diverse")


def make_recommender(name: str, profiles: UserProfiles, **options: object) -> Recommender:
    """A built-in recommender by name: ``chronological``, ``popularity``, ``content``, ``opinion``, or
    ``diverse`` (MMR over content similarity; ``diverse-opinion`` re-ranks the opinion-aligned one)."""
    base = {"chronological": ReverseChronological, "popularity": Popularity, "content": ContentSimilarity,
            "opinion": OpinionAligned}
    if name in base:
        return base[name](profiles, **options)  # type: ignore[arg-type]
    if name in ("diverse", "diverse-content", "diverse-opinion"):
        inner = OpinionAligned(profiles) if name == "diverse-opinion" else ContentSimilarity(profiles)
        return DiversityReranker(inner, **options)  # type: ignore[arg-type]
    raise RecommendError(f"unknown recommender {name!r}; choose one of {', '.join(RECOMMENDERS)}, diverse-opinion")
