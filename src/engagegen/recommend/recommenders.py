"""Feed recommenders behind one protocol: ``rank(user_ids, posts, k) -> top-k post ids per user``.

Built in:

- :class:`ReverseChronological`: the newest posts of the accounts a user follows;
- :class:`Popularity`: most liked, with likes decaying by age (half-life in rounds);
- :class:`ContentSimilarity`: cosine between the user's interest vector and the post's embedding;
- :class:`OpinionAligned`: posts closest to the user's opinion first, i.e. highest predicted
  engagement under bounded confidence (the filter-bubble recommender);
- :class:`DiversityReranker`: maximal marginal relevance over a base recommender's shortlist,
  penalising posts similar in content and opinion to those already picked.

Every score-based recommender ranks by a relevance in [0, 1] (``scores``), computed in chunks of
users and reduced to the top k by a parallel numba kernel, so 10^5 users x 10^3 posts take
seconds. Posts published after ``now`` (default: the newest post's time) and a user's own posts
are never recommended to them. Ties go to the lower post id.

For :class:`~engagegen.recommend.RecommendedCascade`, a recommender may also answer the question
"which users would get one more post, of opinion s and with a given number of likes, in their
top k?" without ranking again for every s (``exposure``); see :class:`Admission`.

(About 450 lines: five small recommenders that share the chunked top-k kernel, the protocol and
the admission logic; one file keeps their shared contract in one place.)
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from engagegen.recommend import _kernels as K
from engagegen.recommend.posts import PostPool
from engagegen.recommend.profiles import RecommendError, UserProfiles

__all__ = [
    "Recommender",
    "ScoringRecommender",
    "ReverseChronological",
    "Popularity",
    "ContentSimilarity",
    "OpinionAligned",
    "DiversityReranker",
    "AgentPost",
    "Admission",
    "check_k",
]


@runtime_checkable
class Recommender(Protocol):
    """What every recommender implements: the top ``k`` post ids of ``posts`` for each user, best first.

    Returns an int64 array of shape (len(user_ids), k); -1 fills the slots of a user with fewer
    than k eligible posts (for example few posts by the accounts they follow).
    """

    def rank(self, user_ids: Any, posts: PostPool, k: int) -> np.ndarray: ...


def check_k(k: Any, pool_size: int | None = None, what: str = "k") -> int:
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, numbers.Integral) or k < 1:
        raise RecommendError(f"{what} must be a positive integer (feed slots per user), got {k!r}")
    if pool_size is not None and k > pool_size:
        raise RecommendError(f"{what}={int(k)} is larger than the pool of {pool_size} candidate post(s); "
                             "lower k or add posts")
    return int(k)


def _real(value: Any, name: str, lo: float = -math.inf, hi: float = math.inf, open_lo: bool = False) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise RecommendError(f"{name} must be a finite number, got {value!r}")
    v = float(value)
    if v < lo or v > hi or (open_lo and v == lo):
        bracket = "(" if open_lo else "["
        raise RecommendError(f"{name} must be in {bracket}{lo:g}, {hi:g}], got {value!r}")
    return v


@dataclass(frozen=True)
class AgentPost:
    """The one post whose exposure a feed simulation follows: its author, embedding and time.

    Its opinion value and likes vary (they are the unknowns of the simulation); :meth:`pool`
    makes a one-post :class:`PostPool` for given values.
    """

    author: int
    embedding: np.ndarray
    time: float = 0.0

    def pool(self, opinion: float, likes: float = 0.0) -> PostPool:
        return PostPool(np.array([self.author]), np.array([opinion]), self.embedding[None, :],
                        np.array([self.time]), np.array([float(likes)]))


@dataclass(frozen=True)
class Admission:
    """Exposure of a new post in closed form: user i gets it in their top k iff
    ``lo[i] < s < hi[i]`` and the post has at least ``min_likes[i]`` likes.

    Admission changes only where s crosses a finite ``lo``/``hi``, so a feed simulation whose
    recommender answers in this form is piecewise constant in s, with known steps (exact optimum).
    """

    lo: np.ndarray
    hi: np.ndarray
    min_likes: np.ndarray

    @classmethod
    def fixed(cls, admitted: np.ndarray) -> Admission:
        """Admission that depends neither on the opinion value nor on likes."""
        admitted = np.asarray(admitted, bool)
        return cls(np.where(admitted, -np.inf, np.inf), np.where(admitted, np.inf, -np.inf),
                   np.where(admitted, 0.0, np.inf))

    def admitted(self, s: float, likes: float) -> np.ndarray:
        return (self.lo < s) & (s < self.hi) & (likes >= self.min_likes)


class _ScoreExposure:
    """Exposure of a score-based recommender whose scores depend on opinion or likes: score the post alone."""

    def __init__(self, rec: ScoringRecommender, users: np.ndarray, threshold: np.ndarray, agent: AgentPost, now: float):
        self.threshold = threshold
        self.score = rec._agent_score_function(users, agent, now)

    def admitted(self, s: float, likes: float) -> np.ndarray:
        return self.score(s, likes) > self.threshold


class ScoringRecommender:
    """Base of the recommenders that rank by a per-(user, post) relevance in [0, 1].

    Subclasses implement ``_scores(users, posts, now)`` (a fresh float64 (u, m) array, modified in
    place afterwards; -inf marks a post the user cannot be shown) and say whether it reads the post's opinion (``uses_opinion``) or likes
    (``uses_likes``). ``chunk_size`` users are scored at a time (memory: chunk_size x m floats).
    """

    uses_opinion = False
    uses_likes = False

    def __init__(self, profiles: UserProfiles, *, chunk_size: int = 2048) -> None:
        if not isinstance(profiles, UserProfiles):
            raise RecommendError(f"{type(self).__name__} needs UserProfiles, got {type(profiles).__name__}")
        self.profiles = profiles
        self.chunk_size = check_k(chunk_size, what="chunk_size")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.profiles.n_users} users)"

    @property
    def stepped(self) -> bool:
        """Whether :meth:`exposure` answers in :class:`Admission` form (exact feed optimum)."""
        return not (self.uses_opinion or self.uses_likes) or type(self)._admission is not ScoringRecommender._admission

    # ------------------------------------------------------------------ scoring
    def _scores(self, users: np.ndarray, posts: PostPool, now: float) -> np.ndarray:
        raise NotImplementedError

    def _masked_scores(self, users: np.ndarray, posts: PostPool, now: float) -> np.ndarray:
        s = self._scores(users, posts, now)
        if s.dtype != np.float64 or not s.flags.writeable or not s.flags.c_contiguous:
            s = np.array(s, dtype=np.float64)
        late = posts.time > now
        if late.any():
            s[:, late] = -np.inf
        if len(posts):
            indptr, order = posts.by_author
            K.exclude_own(users, indptr, order, s)
        return s

    def _validate(self, user_ids: Any, posts: PostPool, k: int | None, now: float | None) -> tuple[np.ndarray, float]:
        users = self.profiles.check_users(user_ids)
        if not isinstance(posts, PostPool):
            raise RecommendError(f"posts must be a PostPool, got {type(posts).__name__}")
        if len(posts) == 0:
            raise RecommendError("the candidate pool is empty: there are no posts to rank")
        posts.check_for(self.profiles)
        if k is not None:
            check_k(k, len(posts))
        if now is None:
            now = float(posts.time.max())
        return users, _real(now, "now")

    def scores(self, user_ids: Any, posts: PostPool, *, now: float | None = None) -> np.ndarray:
        """Relevance of every post for every user, (len(user_ids), len(posts)); -inf where not eligible."""
        users, now = self._validate(user_ids, posts, None, now)
        return self._masked_scores(users, posts, now)

    def _top(self, users: np.ndarray, posts: PostPool, k: int, now: float) -> tuple[np.ndarray, np.ndarray]:
        """Top-k ids and scores per user, chunk by chunk (no validation; k may exceed the pool)."""
        idx = np.full((len(users), k), -1, np.int64)
        val = np.full((len(users), k), -np.inf)
        if len(posts) == 0 or k == 0:
            return idx, val
        for start in range(0, len(users), self.chunk_size):
            part = users[start : start + self.chunk_size]
            i, v = K.topk_rows(self._masked_scores(part, posts, now), k)
            idx[start : start + len(part)], val[start : start + len(part)] = i, v
        return idx, val

    def rank(self, user_ids: Any, posts: PostPool, k: int, *, now: float | None = None) -> np.ndarray:
        """The ``k`` most relevant post ids for each user, best first (-1 where fewer are eligible)."""
        users, now = self._validate(user_ids, posts, k, now)
        return self._top(users, posts, int(k), now)[0]

    # ------------------------------------------------------------------ exposure of one more post
    def _agent_scores(self, users: np.ndarray, agent: AgentPost, s: float, likes: float, now: float) -> np.ndarray:
        return self._masked_scores(users, agent.pool(s, likes), now)[:, 0]

    def _agent_score_function(self, users: np.ndarray, agent: AgentPost, now: float) -> Any:
        """``f(s, likes)`` -> the agent post's score for each user, with the work not depending on s done once."""
        if not (self.uses_opinion or self.uses_likes):
            fixed = self._agent_scores(users, agent, 0.5, 0.0, now)
            return lambda s, likes: fixed
        return lambda s, likes: self._agent_scores(users, agent, s, likes, now)

    def _admission(self, users: np.ndarray, threshold: np.ndarray, agent: AgentPost, now: float) -> Admission:
        """Closed-form admission; the base version is for scores that read neither opinion nor likes."""
        return Admission.fixed(self._agent_scores(users, agent, 0.5, 0.0, now) > threshold)

    def exposure(self, user_ids: Any, competitors: PostPool, k: int, agent: AgentPost, now: float) -> Any:
        """Which users would have ``agent``'s post in their top ``k`` among ``competitors`` plus it.

        The post enters a user's top k iff its score beats the k-th best competitor's (it loses
        ties, as the last post of the pool does in :meth:`rank`). Returns an :class:`Admission`
        when the answer has a closed form, else an object with ``admitted(s, likes)``.
        """
        users = self.profiles.check_users(user_ids)
        threshold = self._top(users, competitors, int(k), float(now))[1][:, -1]
        if self.stepped:
            return self._admission(users, threshold, agent, float(now))
        return _ScoreExposure(self, users, threshold, agent, float(now))


class ReverseChronological(ScoringRecommender):
    """Posts by the accounts the user follows, newest first (relevance ``1 / (1 + age)``).

    >>> from engagegen.network import SocialNetwork
    >>> net = SocialNetwork.from_edges([(0, 2), (1, 2)], [0.1, 0.5, 0.9])
    >>> rec = ReverseChronological(UserProfiles(net, [[1.0], [1.0], [1.0]]))
    >>> posts = PostPool(author=[0, 1, 2], opinion=[0.5] * 3, embedding=[[1.0]] * 3, time=[1.0, 2.0, 3.0])
    >>> rec.rank([2, 0], posts, 2).tolist()  # user 2 follows 0 and 1; user 0 follows nobody
    [[1, 0], [-1, -1]]
    """

    def _scores(self, users: np.ndarray, posts: PostPool, now: float) -> np.ndarray:
        f = self.profiles.following
        indptr, order = posts.by_author
        mask = K.followee_mask(users, f.indptr, f.indices, indptr, order, len(posts))
        age = np.maximum(now - posts.time, 0.0)
        score = np.tile(1.0 / (1.0 + age), (len(users), 1))
        score[~mask] = -np.inf
        return score


class Popularity(ScoringRecommender):
    """Most liked first, likes fading with age: ``likes / (likes + half_saturation) * 2^(-age / half_life)``.

    The same ranking for everyone (but their own posts). ``half_life`` is in rounds (time units).
    """

    uses_likes = True

    def __init__(self, profiles: UserProfiles, *, half_saturation: float = 10.0, half_life: float = 1.0,
                 chunk_size: int = 2048) -> None:
        super().__init__(profiles, chunk_size=chunk_size)
        self.half_saturation = _real(half_saturation, "half_saturation", 0.0, open_lo=True)
        self.half_life = _real(half_life, "half_life", 0.0, open_lo=True)

    def _decay(self, age: np.ndarray) -> np.ndarray:
        return np.exp2(-np.maximum(age, 0.0) / self.half_life)

    def _scores(self, users: np.ndarray, posts: PostPool, now: float) -> np.ndarray:
        score = posts.likes / (posts.likes + self.half_saturation) * self._decay(now - posts.time)
        return np.tile(score, (len(users), 1))

    def _top(self, users: np.ndarray, posts: PostPool, k: int, now: float) -> tuple[np.ndarray, np.ndarray]:
        # One ranking for everyone: walk the global order, skipping each user's own posts.
        if len(posts) == 0 or k == 0:
            return super()._top(users, posts, k, now)
        score = self._masked_scores(np.array([-1]), posts, now)[0]  # user -1 wrote nothing
        order = np.argsort(-score, kind="stable")
        per_author = np.bincount(posts.author).max()
        head = order[: min(len(posts), k + int(per_author))]
        cand = np.broadcast_to(head, (len(users), len(head)))
        val = np.where(posts.author[cand] == users[:, None], -np.inf, score[cand])
        i, v = K.topk_rows(np.ascontiguousarray(val), k)
        return np.where(i >= 0, head[np.maximum(i, 0)], -1), v

    def _agent_score_function(self, users: np.ndarray, agent: AgentPost, now: float) -> Any:
        eligible = self._agent_scores(users, agent, 0.5, 0.0, now) > -np.inf
        decay = float(self._decay(np.array(now - agent.time)))
        h = self.half_saturation
        return lambda s, likes: np.where(eligible, likes / (likes + h) * decay, -np.inf)

    def _admission(self, users: np.ndarray, threshold: np.ndarray, agent: AgentPost, now: float) -> Admission:
        eligible = self._agent_scores(users, agent, 0.5, 0.0, now) > -np.inf
        decay = float(self._decay(np.array(now - agent.time)))
        h = self.half_saturation

        def beats(likes: np.ndarray) -> np.ndarray:  # the same float expression as _scores
            return likes / (likes + h) * decay > threshold

        q = np.where(np.isfinite(threshold), threshold, -1.0) / decay
        reachable = q < 1.0
        guess = np.where(reachable & (q > 0), np.floor(h * np.clip(q, 0, 1 - 1e-15) / (1.0 - np.clip(q, 0, 1 - 1e-15))), 0.0)
        likes = np.maximum(guess - 2.0, 0.0)
        for _ in range(8):  # rounding puts the true minimum within a step or two of the guess
            step = reachable & ~beats(likes)
            if not step.any():
                break
            likes = likes + step
        min_likes = np.where(reachable & eligible & beats(likes), likes, np.inf)
        ok = np.isfinite(min_likes)
        return Admission(np.where(ok, -np.inf, np.inf), np.where(ok, np.inf, -np.inf), min_likes)


class ContentSimilarity(ScoringRecommender):
    """Posts closest to the user's interests: relevance ``(1 + cos(interest, embedding)) / 2``."""

    def _scores(self, users: np.ndarray, posts: PostPool, now: float) -> np.ndarray:
        sim = (self.profiles.interests[users] @ posts.embedding.T).astype(np.float64)
        sim += 1.0  # in place: this array is the biggest of a ranking (chunk x pool)
        sim *= 0.5
        return sim


class OpinionAligned(ScoringRecommender):
    """Posts closest to the user's opinion first: relevance ``1 - |o_post - x_user|``.

    Under the bounded-confidence model a user engages with a post iff it is within epsilon of
    their opinion, so this ranking maximises predicted engagement, and shows nobody a post far
    from their own view: the filter-bubble recommender.
    """

    uses_opinion = True

    def _scores(self, users: np.ndarray, posts: PostPool, now: float) -> np.ndarray:
        score = np.subtract(posts.opinion[None, :], self.profiles.opinions[users][:, None])
        np.abs(score, out=score)
        np.subtract(1.0, score, out=score)
        return score

    def _agent_score_function(self, users: np.ndarray, agent: AgentPost, now: float) -> Any:
        eligible = self._agent_scores(users, agent, 0.5, 0.0, now) > -np.inf
        x = self.profiles.opinions[users]
        return lambda s, likes: np.where(eligible, 1.0 - np.abs(s - x), -np.inf)

    def _admission(self, users: np.ndarray, threshold: np.ndarray, agent: AgentPost, now: float) -> Admission:
        eligible = self._agent_scores(users, agent, 0.5, 0.0, now) > -np.inf
        x = self.profiles.opinions[users]
        reach = np.where(np.isfinite(threshold), 1.0 - threshold, np.inf)  # |s - x| < reach
        lo = np.where(eligible, x - reach, np.inf)
        hi = np.where(eligible, x + reach, -np.inf)
        return Admission(lo, hi, np.zeros(len(users)))


class _MMRExposure:
    """The reranker's answer for one more post, from the greedy picks made without it.

    If the post is not picked at steps 1..j-1, those steps pick what they pick without it; so it
    is picked at step j iff its MMR value there beats the value that won step j without it.
    """

    def __init__(self, rer: DiversityReranker, users: np.ndarray, competitors: PostPool, k: int,
                 agent: AgentPost, now: float) -> None:
        base = rer.base
        size = min(len(competitors) + 1, rer.shortlist * k)
        idx, val = base._top(users, competitors, size, now)
        self.short_threshold = val[:, -1]  # the post must beat the last of the shortlist to enter it
        picked, self.best = rer._select(idx[:, : size - 1], val[:, : size - 1], competitors, k)
        valid = picked >= 0
        safe = np.where(valid, picked, 0)
        cos = (competitors.embedding[safe] @ agent.embedding).astype(np.float64) if len(competitors) else np.zeros(picked.shape)
        self.content = np.where(valid, np.maximum(cos, 0.0), 0.0)
        self.opinion = np.where(valid, competitors.opinion[safe] if len(competitors) else 0.0, np.nan)
        self.valid = valid
        self.rer = rer
        self.relevance = rer.base._agent_score_function(users, agent, now)

    def admitted(self, s: float, likes: float) -> np.ndarray:
        rer = self.rer
        rel = self.relevance(s, likes)
        sim = rer.content_weight * self.content + rer.opinion_weight * (1.0 - np.abs(s - self.opinion))
        sim = np.where(self.valid, sim, -np.inf)
        penalty = np.zeros_like(sim)  # before step j: max similarity to picks 1..j-1 (0 at step 1)
        if sim.shape[1] > 1:
            penalty[:, 1:] = np.maximum(np.maximum.accumulate(sim, axis=1)[:, :-1], 0.0)
        value = rer.lam * rel[:, None] - (1.0 - rer.lam) * penalty
        wins = (value > self.best).any(axis=1) if self.best.shape[1] else np.ones(len(rel), bool)
        return (rel > self.short_threshold) & (rel > -np.inf) & wins


class DiversityReranker:
    """Maximal marginal relevance (Carbonell & Goldstein 1998) over a base recommender's shortlist.

    The base's ``shortlist * k`` best posts are re-ranked greedily: each slot takes the post
    maximising ``lam * relevance - (1 - lam) * max similarity to the posts already picked``, where
    similarity = ``content_weight * max(cos, 0) + opinion_weight * (1 - |opinion difference|)``.
    ``lam = 1`` is the base ranking; lower values trade relevance for variety of topics and views.
    """

    def __init__(self, base: ScoringRecommender, *, lam: float = 0.7, content_weight: float = 0.5,
                 opinion_weight: float = 0.5, shortlist: int = 5) -> None:
        if not isinstance(base, ScoringRecommender):
            raise RecommendError(f"DiversityReranker re-ranks a score-based recommender, got {type(base).__name__}")
        self.base = base
        self.lam = _real(lam, "lam", 0.0, 1.0)
        self.content_weight = _real(content_weight, "content_weight", 0.0)
        self.opinion_weight = _real(opinion_weight, "opinion_weight", 0.0)
        self.shortlist = check_k(shortlist, what="shortlist")

    def __repr__(self) -> str:
        return (f"DiversityReranker({self.base!r}, lam={self.lam}, content_weight={self.content_weight}, "
                f"opinion_weight={self.opinion_weight}, shortlist={self.shortlist})")

    @property
    def profiles(self) -> UserProfiles:
        return self.base.profiles

    @property
    def stepped(self) -> bool:
        # Similarity in opinion moves continuously with s; without it the base decides.
        return self.opinion_weight == 0 and not (self.base.uses_opinion or self.base.uses_likes)

    def _select(self, idx: np.ndarray, val: np.ndarray, posts: PostPool, k: int) -> tuple[np.ndarray, np.ndarray]:
        if idx.shape[1] == 0 or len(posts) == 0:
            return np.full((idx.shape[0], k), -1, np.int64), np.full((idx.shape[0], k), -np.inf)
        use_gram = len(posts) <= 4096  # a post x post cosine table, when it fits in 64 MB
        emb = np.ascontiguousarray(posts.embedding, dtype=np.float64)
        gram = emb @ emb.T if use_gram else np.zeros((1, 1))
        return K.mmr_select(idx, val, posts.opinion, emb, gram, use_gram, self.lam, self.content_weight,
                            self.opinion_weight, k)

    def rank(self, user_ids: Any, posts: PostPool, k: int, *, now: float | None = None) -> np.ndarray:
        users, now = self.base._validate(user_ids, posts, k, now)
        size = min(len(posts), self.shortlist * int(k))
        idx, val = self.base._top(users, posts, size, now)
        return self._select(idx, val, posts, int(k))[0]

    def exposure(self, user_ids: Any, competitors: PostPool, k: int, agent: AgentPost, now: float) -> Any:
        users = self.profiles.check_users(user_ids)
        answer = _MMRExposure(self, users, competitors, int(k), agent, float(now))
        if self.stepped:
            return Admission.fixed(answer.admitted(0.5, 0.0))
        return answer
