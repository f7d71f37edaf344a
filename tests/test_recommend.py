"""Feed recommenders, offline evaluation and the feed cascade as an engagement model."""

from __future__ import annotations

import numpy as np
import pytest

from engagegen.engagement import BoundedConfidenceCascade, EngagementError, EngagementModel
from engagegen.network import NetworkError, SocialNetwork, paper_network, place_agent, planted_partition_network
from engagegen.recommend import (
    RECOMMENDERS,
    Admission,
    ContentSimilarity,
    DiversityReranker,
    OpinionAligned,
    Popularity,
    PostPool,
    RecommendedCascade,
    RecommendError,
    Recommender,
    ReverseChronological,
    UserProfiles,
    evaluate_ranking,
    evaluate_recommender,
    interests_from_posts,
    make_recommender,
    posts_from_records,
    synthetic_interests,
    synthetic_posts,
)
from engagegen.reward.lookup import EngagementLookup


@pytest.fixture(scope="module")
def paper() -> tuple[SocialNetwork, UserProfiles, int]:
    net = paper_network("uniform")
    return net, UserProfiles(net, synthetic_interests(net, seed=1)), place_agent(net, "central")


@pytest.fixture(scope="module")
def world() -> tuple[UserProfiles, PostPool]:
    net = planted_partition_network(600, avg_degree=8, seed=3)
    profiles = UserProfiles(net, synthetic_interests(net, 12, seed=3))
    return profiles, synthetic_posts(profiles, 300, seed=4)


def reference_rank(scores: np.ndarray, k: int) -> np.ndarray:
    """Top k by score, ties to the lower id, -1 for missing: a plain Python reference."""
    out = np.full((len(scores), k), -1)
    for i, row in enumerate(scores):
        order = sorted((j for j in range(len(row)) if row[j] > -np.inf), key=lambda j: (-row[j], j))[:k]
        out[i, : len(order)] = order
    return out


class RankOnly:
    """A recommender seen only through the protocol: the feed cascade must rank the agent's post itself."""

    def __init__(self, rec):
        self.rec, self.profiles = rec, rec.profiles

    def rank(self, user_ids, posts, k, now=None):
        return self.rec.rank(user_ids, posts, k, now=now)


# ------------------------------------------------------------------------------------------ profiles


def test_synthetic_interests_are_homophilous_along_edges(world):
    profiles, _ = world
    v = profiles.interests
    e = profiles.network.edges()
    along = np.mean(np.sum(v[e[:, 0]] * v[e[:, 1]], axis=1))
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, profiles.n_users, (2, 5000))
    random_pairs = np.mean(np.sum(v[a] * v[b], axis=1))
    assert along > random_pairs + 0.15
    assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)


def test_interests_from_posts_average_and_fill_from_neighbours():
    net = SocialNetwork.from_edges([(0, 1), (1, 2)], [0.1, 0.5, 0.9])
    v = interests_from_posts(net, [0, 0, 2], [[1, 0], [0, 1], [0, 1]])
    assert np.allclose(v[0], [2**-0.5, 2**-0.5], atol=1e-6)  # mean of its two posts, unit length
    mean = np.array([2**-0.5, 2**-0.5 + 1.0])  # no posts: the mean of neighbours 0 and 2, unit length
    assert np.allclose(v[1], mean / np.linalg.norm(mean), atol=1e-6)
    with pytest.raises(RecommendError, match="user 1 wrote none of the posts"):
        interests_from_posts(net, [0, 0, 2], [[1, 0], [0, 1], [0, 1]], missing="error")
    with pytest.raises(RecommendError, match="post 1: author 7 is not a user"):
        interests_from_posts(net, [0, 7], [[1, 0], [0, 1]])


# ------------------------------------------------------------------------------------------ ranking


@pytest.mark.parametrize("name", ["chronological", "popularity", "content", "opinion"])
def test_rank_is_the_top_k_of_the_scores(world, name):
    profiles, posts = world
    rec = make_recommender(name, profiles)
    users = np.arange(0, profiles.n_users, 7)
    now = 3.0  # posts after time 3 are not out yet
    scores = rec.scores(users, posts, now=now)
    ranked = rec.rank(users, posts, 12, now=now)
    assert np.array_equal(ranked, reference_rank(scores, 12))
    shown = ranked[ranked >= 0]
    assert (posts.time[shown] <= now).all()
    assert not (posts.author[np.maximum(ranked, 0)] == users[:, None])[ranked >= 0].any()  # never one's own post


def test_reverse_chronological_shows_followed_accounts_newest_first(world):
    profiles, posts = world
    ranked = ReverseChronological(profiles).rank(np.arange(50), posts, 5)
    for user, row in enumerate(ranked):
        row = row[row >= 0]
        assert set(posts.author[row]) <= set(profiles.followees(user).tolist())
        assert (np.diff(posts.time[row]) <= 0).all()


def test_opinion_aligned_is_a_filter_bubble_and_diversity_breaks_it(world):
    profiles, posts = world
    users = np.arange(profiles.n_users)
    bubble = evaluate_recommender(OpinionAligned(profiles), users, posts, 10)
    assert bubble.cross_cutting == 0.0 and bubble.precision == 1.0
    # The reranker can only reach what the shortlist holds: 20 x 10 of the 300 posts here.
    rer = DiversityReranker(OpinionAligned(profiles), lam=0.3, content_weight=0.0, shortlist=20)
    diverse = evaluate_recommender(rer, users, posts, 10)
    assert diverse.cross_cutting > 0.1 and diverse.precision < bubble.precision  # variety costs predicted engagement
    same = DiversityReranker(OpinionAligned(profiles), lam=1.0).rank(users[:40], posts, 10)
    assert np.array_equal(same, OpinionAligned(profiles).rank(users[:40], posts, 10))  # lam = 1: no re-ranking


def test_offline_metrics_by_hand():
    net = SocialNetwork.from_edges([(0, 1)], [0.5, 0.1])
    profiles = UserProfiles(net, [[1.0], [1.0]])
    posts = PostPool(author=[1, 1, 1, 0], opinion=[0.55, 0.9, 0.45, 0.5], embedding=[[1.0]] * 4)
    m = evaluate_ranking(profiles, [0], posts, [[0, 1, -1]])
    # user 0 (x = 0.5) engages with posts 0 and 2 (post 3 is their own); slot 1 is far, slot 3 empty
    assert m.precision == pytest.approx(1 / 3)
    assert m.ndcg == pytest.approx(1.0 / (1.0 + 1.0 / np.log2(3)))
    assert m.coverage == pytest.approx(2 / 4)
    assert m.cross_cutting == pytest.approx(1 / 2)


def test_rank_bad_input_is_named(world):
    profiles, posts = world
    rec = ContentSimilarity(profiles)
    with pytest.raises(RecommendError, match="candidate pool is empty"):
        rec.rank([0], posts.subset([]), 1)
    with pytest.raises(RecommendError, match="k=301 is larger than the pool of 300"):
        rec.rank([0], posts, 301)
    wrong = PostPool(posts.author, posts.opinion, np.ones((len(posts), 5)))
    with pytest.raises(RecommendError, match="5 dimensions but the users' interest vectors have 12"):
        rec.rank([0], wrong, 3)
    with pytest.raises(RecommendError, match="user 600 does not exist"):
        rec.rank([600], posts, 3)
    with pytest.raises(RecommendError, match="post 1: opinion 1.5"):
        PostPool([0, 1], [0.2, 1.5], [[1.0], [1.0]])


def test_posts_from_records_names_bad_lines(tmp_path, world):
    from engagegen.scoring import read_posts

    profiles, _ = world
    net = profiles.network
    path = tmp_path / "posts.csv"
    path.write_text("text,author,likes\nCats are great,3,4\nCats are awful,9999,1\n")
    with pytest.raises(RecommendError, match=r"line 3: unknown author 9999"):
        posts_from_records(read_posts(path), net, likes_field="likes")
    path.write_text("text,author\nCats are great,\n")
    with pytest.raises(RecommendError, match=r"line 2: missing field 'author'"):
        posts_from_records(read_posts(path), net)


# ------------------------------------------------------------------------------------------ feed cascade


def test_a_follower_only_feed_without_congestion_is_the_bounded_confidence_cascade(paper):
    net, profiles, agent = paper
    feed = RecommendedCascade(ContentSimilarity(profiles), k=10_000, rounds=net.n_users, follow_share=1.0)
    s = np.linspace(0, 1, 101)
    assert np.array_equal(feed.engagement(net, agent, s), BoundedConfidenceCascade(0.2).engagement(net, agent, s))


@pytest.mark.parametrize("follow_share", [0.0, 0.5])
@pytest.mark.parametrize("name", [*RECOMMENDERS, "diverse-opinion"])
def test_closed_form_exposure_agrees_with_ranking_the_post(paper, name, follow_share):
    net, profiles, agent = paper
    rec = make_recommender(name, profiles)
    kwargs = dict(k=6, rounds=4, follow_share=follow_share, pool_size=150, seed=3)
    fast, slow = RecommendedCascade(rec, **kwargs), RecommendedCascade(RankOnly(rec), **kwargs)
    s = np.random.default_rng(1).random(24)
    assert np.array_equal(fast.engagement(net, agent, s), slow.engagement(net, agent, s))
    assert fast.exact == (name != "diverse" and name != "diverse-opinion") and not slow.exact


@pytest.mark.parametrize("name", RECOMMENDERS)
def test_simulate_agrees_with_engagement_and_the_rule(paper, name):
    net, profiles, agent = paper
    feed = RecommendedCascade(make_recommender(name, profiles), k=8, rounds=5, follow_share=0.5)
    for s in (0.12, 0.5, 0.77):
        c = feed.simulate(net, agent, s)
        assert c.engaged == feed.engagement(net, agent, [s])[0]
        assert agent not in c.active
        assert (np.abs(net.opinions[c.active] - s) < 0.2).all()
        assert sum(c.extra["engaged_by_round"]) == c.engaged <= c.extra["exposed"]


@pytest.mark.parametrize("name", ["content", "opinion", "popularity", "diverse"])
def test_optimum_is_the_best_engagement(paper, name):
    net, profiles, agent = paper
    feed = RecommendedCascade(make_recommender(name, profiles), k=8, rounds=5, follow_share=0.5, grid_size=501)
    opt = feed.optimum(net, agent)
    dense = np.unique(np.concatenate([np.linspace(0, 1, 3001), feed._breakpoints(net, agent)]))
    values = feed.engagement(net, agent, dense)
    assert opt.value == values.max()
    assert feed.engagement(net, agent, [opt.message])[0] == opt.value and opt.contains(opt.message)
    assert opt.exact == (name != "diverse")


def test_optimum_falls_back_to_a_grid_when_asked(paper):
    net, profiles, agent = paper
    exact = RecommendedCascade(OpinionAligned(profiles), k=8, rounds=5).optimum(net, agent)
    capped = RecommendedCascade(OpinionAligned(profiles), k=8, rounds=5, grid_size=101, max_evaluations=200)
    opt = capped.optimum(net, agent)
    assert not opt.exact and "grid of 101 points" in opt.method and opt.value <= exact.value


def test_a_popularity_feed_needs_likes_to_start(paper):
    net, profiles, agent = paper
    s = np.linspace(0, 1, 21)
    # 500 posts: about 100 fresh ones a round, so the post always has 10 competitors to beat.
    pure = RecommendedCascade(Popularity(profiles), k=10, rounds=5, follow_share=0.0, pool_size=500)
    mixed = RecommendedCascade(Popularity(profiles), k=30, rounds=5, follow_share=0.5, pool_size=500)
    assert (pure.engagement(net, agent, s) == 0).all()  # nobody has liked the post, so it never trends
    assert mixed.engagement(net, agent, s).max() > 0  # follow slots give it a start


def test_feed_congestion_lowers_follower_reach(paper):
    net, profiles, agent = paper
    s = np.linspace(0, 1, 41)
    open_feed = RecommendedCascade(ContentSimilarity(profiles), k=10_000, rounds=10, follow_share=1.0, pool_size=2000)
    crowded = RecommendedCascade(ContentSimilarity(profiles), k=1, rounds=10, follow_share=1.0, pool_size=2000)
    a, b = open_feed.engagement(net, agent, s), crowded.engagement(net, agent, s)
    assert (b <= a).all() and b.sum() < a.sum()


def test_reward_uses_the_feed_unchanged(paper):
    net, profiles, agent = paper
    feed = RecommendedCascade(OpinionAligned(profiles), k=8, rounds=5, follow_share=0.5)
    assert isinstance(feed, EngagementModel)
    lookup = EngagementLookup(net, agent, feed)  # stepped: evaluates each step once
    s = np.random.default_rng(2).random(30)
    assert np.array_equal(lookup(s), feed.engagement(net, agent, s).astype(float))


def test_multi_shot_moves_engaged_users_towards_the_posts(paper):
    net, profiles, agent = paper
    feed = RecommendedCascade(ContentSimilarity(profiles), k=8, rounds=5, follow_share=0.5, mu=0.5)
    seq = feed.simulate_sequence(net, agent, [0.3, 0.3, 0.3])
    first = seq.cascades[0].active
    assert len(first) and (np.abs(seq.opinions[first] - 0.3) <= np.abs(net.opinions[first] - 0.3)).all()
    untouched = np.setdiff1d(np.arange(net.n_users), np.concatenate([c.active for c in seq.cascades]))
    assert np.array_equal(seq.opinions[untouched], net.opinions[untouched])


def test_feed_bad_input_is_named(paper):
    net, profiles, agent = paper
    rec = ContentSimilarity(profiles)
    other = planted_partition_network(50, seed=1)
    with pytest.raises(NetworkError, match="the recommender knows 100 users but the network has 50"):
        RecommendedCascade(rec).engagement(other, 0, [0.5])
    with pytest.raises(EngagementError, match="k must be an integer >= 1"):
        RecommendedCascade(rec, k=0)
    with pytest.raises(EngagementError, match="follow_share must be a number in"):
        RecommendedCascade(rec, follow_share=1.5)
    with pytest.raises(RecommendError, match="pool of competing posts is empty"):
        RecommendedCascade(rec, pool=synthetic_posts(profiles, 5).subset([]))
    with pytest.raises(RecommendError, match="post_embedding must be a non-zero vector of 16"):
        RecommendedCascade(rec, post_embedding=np.ones(3))
    assert isinstance(rec, Recommender) and isinstance(Admission.fixed(np.ones(2, bool)), Admission)


def test_a_feed_audience_is_built_from_the_run_config():
    """``engagement.model: feed`` gives the trainer a RecommendedCascade with an exact optimum."""
    from engagegen.config import from_dict
    from engagegen.experiments.exposure_comparison import polarization_after
    from engagegen.training import RunConfig
    from engagegen.training.build import build_audience

    cfg = from_dict(RunConfig, {"engagement": {"model": "feed", "recommender": "opinion", "k": 10}})
    audience = build_audience(cfg)
    assert isinstance(audience.engagement, RecommendedCascade) and audience.reward.optimum.exact
    moved = polarization_after(audience.engagement, audience.network, audience.agent, [0.1] * 5)
    assert moved["polarization_after"] != moved["polarization_before"]
