"""A feed recommender as the engagement model: who sees the agent's post is decided by feeds.

Each round r = 1..rounds (time r), every user who has not yet seen the agent's post gets ``k``
feed slots: ``round(follow_share * k)`` from the accounts they follow (newest first) and the rest
from the recommender, which ranks the round's fresh posts (pool posts with time in (r - 1, r])
together with the agent's post. A user sees the post when

- a followee shared it (the agent at time 0, an engaged user in the round they engaged) and fewer
  than the follow slots of newer posts by their followees have appeared since, or
- the recommender puts it in their top slots (its likes are the users engaged so far, its age is r).

A user who sees the post engages by the bounded-confidence rule ``|s - x| < epsilon`` (each user
faces it once); engaged users share it, so their followers may see it next round. Engagement is
the number of engaged users at the end (the agent never counts).

Everything is deterministic in s. When the recommender's answer has a closed form in s
(:class:`~engagegen.recommend.recommenders.Admission`: every built-in recommender except the
diversity reranker with an opinion term), engagement is piecewise constant with known steps, and
:meth:`RecommendedCascade.optimum` evaluates every step: exact. Otherwise it searches a grid plus
every bounded-confidence step, and says so (``exact=False``).
"""

from __future__ import annotations

import inspect
import math
import numbers
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from engagegen.engagement.base import Cascade, EngagementError, Interval, Optimum, check_messages, check_source
from engagegen.engagement.bounded_confidence import CascadeSequence
from engagegen.engagement.optimum import steps_to_optimum
from engagegen.network.graph import SocialNetwork
from engagegen.recommend import _kernels as K
from engagegen.recommend.posts import PostPool, synthetic_posts
from engagegen.recommend.profiles import RecommendError, UserProfiles, check_network_match
from engagegen.recommend.recommenders import Admission, AgentPost, Recommender

__all__ = ["RecommendedCascade"]


class _RankExposure:
    """Exposure for a recommender that only has ``rank``: rank the round's posts plus the agent's, look for it."""

    def __init__(self, rec: Recommender, users: np.ndarray, competitors: PostPool, k: int, agent: AgentPost, now: float):
        self.rec, self.users, self.competitors, self.k, self.agent, self.now = rec, users, competitors, k, agent, now
        self.pass_now = "now" in inspect.signature(rec.rank).parameters

    def admitted(self, s: float, likes: float) -> np.ndarray:
        pool = self.competitors.append(self.agent.pool(s, likes))
        kwargs = {"now": self.now} if self.pass_now else {}
        ranked = np.asarray(self.rec.rank(self.users, pool, min(self.k, len(pool)), **kwargs))
        return (ranked == len(pool) - 1).any(axis=1)


@dataclass
class _Prepared:
    """Everything about one (network, agent) that does not depend on the message value."""

    indptr: np.ndarray  # kept to pin the cache key (the id of the network's CSR array)
    source: int
    exposures: list[Any]
    stepped: bool
    lo: np.ndarray | None
    hi: np.ndarray | None
    min_likes: np.ndarray | None
    fpt_indptr: np.ndarray
    fpt_times: np.ndarray


class RecommendedCascade:
    """The engagement model of a feed: follow slots plus recommender slots, round by round.

    Parameters
    ----------
    recommender : a :class:`~engagegen.recommend.Recommender` with a ``profiles`` attribute
        (:class:`UserProfiles` of the network's users); built-in recommenders have one.
    k : feed slots per user per round.
    rounds : rounds of the simulation.
    follow_share : share of the slots filled from followed accounts (rounded to whole slots);
        1 is a pure follower feed, 0 a pure recommender feed.
    epsilon : bounded-confidence threshold of engagement; mu : opinion shift of an engaged user
        (``opinions_after`` and :meth:`simulate_sequence`).
    pool : the competing posts; default ``synthetic_posts(profiles, pool_size, time_span=(0, rounds))``.
        Times place posts in rounds; a pool whose posts all have the same time is dealt into the
        rounds in id order.
    post_embedding : the embedding of the agent's post (default: the agent's interest vector).
    grid_size : grid points of the optimum search when it cannot be exact.
    max_evaluations : at most this many message values for the optimum (None: no limit). The exact
        optimum evaluates every step, about 2 n (1 + rounds) of them, each one cascade (about 5 ms
        on 10^5 users: minutes); above the limit the optimum comes from the grid (``exact=False``).

    The recommender ranks with what it knows (its ``profiles``, opinions included); the engagement
    rule uses the opinions of the network passed to each call, so multi-shot opinion changes move
    engagement but not the recommender's model of its users.
    """

    def __init__(
        self,
        recommender: Recommender,
        k: int = 10,
        rounds: int = 5,
        follow_share: float = 0.5,
        *,
        epsilon: float = 0.2,
        mu: float = 0.5,
        pool: PostPool | None = None,
        pool_size: int | None = None,
        post_embedding: Any = None,
        grid_size: int = 2001,
        max_evaluations: int | None = None,
        seed: int = 0,
    ) -> None:
        if not hasattr(recommender, "rank"):
            raise EngagementError(f"recommender must have a rank(user_ids, posts, k) method, got {type(recommender).__name__}")
        profiles = getattr(recommender, "profiles", None)
        if not isinstance(profiles, UserProfiles):
            raise EngagementError("the recommender must carry the users it serves as .profiles (UserProfiles)")
        for name, value, lo in (("k", k, 1), ("rounds", rounds, 1), ("grid_size", grid_size, 2)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < lo:
                raise EngagementError(f"{name} must be an integer >= {lo}, got {value!r}")
        for name, value, lo, hi in (("follow_share", follow_share, 0.0, 1.0), ("mu", mu, 0.0, 1.0)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not lo <= value <= hi:
                raise EngagementError(f"{name} must be a number in [{lo:g}, {hi:g}], got {value!r}")
        if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) or not 0 < epsilon < math.inf:
            raise EngagementError(f"epsilon must be a finite number > 0, got {epsilon!r}")
        self.recommender = recommender
        self.profiles = profiles
        self.k, self.rounds, self.grid_size = int(k), int(rounds), int(grid_size)
        self.follow_share, self.epsilon, self.mu = float(follow_share), float(epsilon), float(mu)
        self.k_follow = int(round(self.follow_share * self.k))
        self.k_recommended = self.k - self.k_follow
        if pool is None:
            pool = synthetic_posts(profiles, pool_size, time_span=(0.0, float(self.rounds)), epsilon=self.epsilon, seed=seed)
        elif not isinstance(pool, PostPool):
            raise EngagementError(f"pool must be a PostPool, got {type(pool).__name__}")
        pool.check_for(profiles, "competing posts")
        if len(pool) == 0:
            raise RecommendError("the pool of competing posts is empty; give at least one post (or pool=None for synthetic posts)")
        if len(pool) > 1 and np.all(pool.time == pool.time[0]):
            dealt = (np.arange(len(pool)) % self.rounds) + 0.5
            pool = PostPool(pool.author, pool.opinion, pool.embedding, dealt, pool.likes, pool.text)
        self.pool = pool
        self.post_embedding = None
        if post_embedding is not None:
            e = np.asarray(post_embedding, dtype=np.float32).reshape(-1)
            if e.shape != (profiles.dimension,) or not np.isfinite(e).all() or not np.linalg.norm(e) > 0:
                raise RecommendError(f"post_embedding must be a non-zero vector of {profiles.dimension} numbers "
                                     f"(the recommender's embedding size), got shape {e.shape}")
            self.post_embedding = e / np.linalg.norm(e)
        if max_evaluations is not None and (isinstance(max_evaluations, bool) or not isinstance(max_evaluations, numbers.Integral)
                                            or max_evaluations < self.grid_size):
            raise EngagementError(f"max_evaluations must be None or an integer >= grid_size ({self.grid_size}), got {max_evaluations!r}")
        self.max_evaluations = max_evaluations
        self.seed = seed
        self._cache: dict[tuple[int, int], _Prepared] = {}
        # Only an exact model offers breakpoints: EngagementLookup then evaluates each step once.
        if bool(getattr(recommender, "stepped", False)):
            self.breakpoints = self._breakpoints

    def __repr__(self) -> str:
        return (f"RecommendedCascade({self.recommender!r}, k={self.k}, rounds={self.rounds}, "
                f"follow_share={self.follow_share}, epsilon={self.epsilon}, pool={len(self.pool)} posts)")

    @property
    def exact(self) -> bool:
        """Whether engagement is piecewise constant with known steps (the optimum is then exact,
        unless ``max_evaluations`` caps it)."""
        return hasattr(self, "breakpoints")

    # ------------------------------------------------------------------ preparation
    def _prepare(self, network: SocialNetwork, source: Any) -> _Prepared:
        src = check_source(network, source)
        check_network_match(self.profiles, network, "RecommendedCascade")
        key = (id(network.indptr), src)
        hit = self._cache.get(key)
        if hit is not None and hit.indptr is network.indptr:
            return hit
        embedding = self.post_embedding if self.post_embedding is not None else self.profiles.interests[src]
        agent = AgentPost(src, np.asarray(embedding, np.float32), 0.0)
        users = np.arange(network.n_users, dtype=np.int64)
        exposures: list[Any] = []
        for r in range(1, self.rounds + 1):
            fresh = self.pool.subset(np.flatnonzero((self.pool.time > r - 1) & (self.pool.time <= r)))
            if self.k_recommended == 0:
                exposures.append(Admission.fixed(np.zeros(network.n_users, bool)))
            elif hasattr(self.recommender, "exposure"):
                exposures.append(self.recommender.exposure(users, fresh, self.k_recommended, agent, float(r)))
            else:
                exposures.append(_RankExposure(self.recommender, users, fresh, self.k_recommended, agent, float(r)))
        stepped = all(isinstance(e, Admission) for e in exposures)
        lo = hi = min_likes = None
        if stepped:
            lo = np.ascontiguousarray(np.stack([e.lo for e in exposures]), dtype=np.float64)
            hi = np.ascontiguousarray(np.stack([e.hi for e in exposures]), dtype=np.float64)
            min_likes = np.ascontiguousarray(np.stack([e.min_likes for e in exposures]), dtype=np.float64)
        following = network.reverse
        pa_indptr, pa_posts = self.pool.by_author
        fpt_indptr, fpt_times = K.followee_post_times(following.indptr, following.indices, pa_indptr, pa_posts, self.pool.time)
        prep = _Prepared(network.indptr, src, exposures, stepped, lo, hi, min_likes, fpt_indptr, fpt_times)
        if len(self._cache) >= 8:
            self._cache.pop(next(iter(self._cache)))
        self._cache[key] = prep
        return prep

    # ------------------------------------------------------------------ one message, step by step
    def _run(self, network: SocialNetwork, prep: _Prepared, s: float) -> tuple[np.ndarray, dict[str, Any]]:
        x = network.opinions
        n = network.n_users
        seen = np.zeros(n, bool)
        seen[prep.source] = True
        latest = np.full(n, -np.inf)
        latest[network.out_neighbors(prep.source)] = 0.0
        agrees = (x - self.epsilon < s) & (s < x + self.epsilon)
        engaged: list[np.ndarray] = []
        likes = 0
        by_follow = by_recommender = 0
        per_round = []
        for r in range(self.rounds):
            now = float(r + 1)
            follow = K.follow_visible(seen, latest, prep.fpt_indptr, prep.fpt_times, now, self.k_follow)
            recommended = ~seen & ~follow & prep.exposures[r].admitted(s, float(likes))
            show = follow | recommended
            newly = np.flatnonzero(show & agrees)
            seen |= show
            by_follow += int(follow.sum())
            by_recommender += int(recommended.sum())
            K.share(newly.astype(np.int64), network.indptr, network.indices, latest, now)
            likes += len(newly)
            per_round.append(len(newly))
            engaged.append(newly)
        active = np.sort(np.concatenate(engaged)) if engaged else np.zeros(0, np.int64)
        extra = {"exposed": by_follow + by_recommender, "exposed_by_follow": by_follow,
                 "exposed_by_recommender": by_recommender, "engaged_by_round": per_round}
        return active, extra

    def _counts(self, network: SocialNetwork, prep: _Prepared, s: np.ndarray) -> np.ndarray:
        if prep.stepped:
            return K.feed_cascade_batch(
                np.ascontiguousarray(s, dtype=np.float64), network.opinions, self.epsilon, prep.source, self.rounds,
                self.k_follow, prep.lo, prep.hi, prep.min_likes, network.indptr, network.indices,
                prep.fpt_indptr, prep.fpt_times, numba.get_num_threads(),
            )
        return np.array([len(self._run(network, prep, float(v))[0]) for v in s], dtype=np.int64)

    # ------------------------------------------------------------------ the engagement protocol
    def simulate(self, network: SocialNetwork, source: int, message: float) -> Cascade:
        """One post; ``extra`` counts the users exposed through each channel and the engaged per round."""
        if np.ndim(message) != 0:
            raise EngagementError(f"simulate takes one message value, got shape {np.shape(message)}; use engagement() for many")
        s = float(check_messages(message)[0])
        prep = self._prepare(network, source)
        active, extra = self._run(network, prep, s)
        after = network.opinions.copy()
        after[active] = np.clip(after[active] + self.mu * (s - after[active]), 0.0, 1.0)
        return Cascade(engaged=len(active), active=active, message=s, source=prep.source, opinions_after=after, extra=extra)

    def engagement(self, network: SocialNetwork, source: int, messages: Any) -> np.ndarray:
        """Engaged users (int64) for each message value."""
        s = check_messages(messages)
        prep = self._prepare(network, source)
        keys, back = np.unique(s, return_inverse=True)
        return self._counts(network, prep, keys)[back]

    def _breakpoints(self, network: SocialNetwork, source: int) -> np.ndarray:
        """Sorted message values (0 and 1 included) between which engagement is constant."""
        prep = self._prepare(network, source)
        x = np.delete(network.opinions, prep.source)
        ends = [x - self.epsilon, x + self.epsilon]
        if prep.stepped:
            ends += [prep.lo.ravel(), prep.hi.ravel()]
        b = np.concatenate(ends)
        b = b[(b > 0.0) & (b < 1.0)]
        return np.unique(np.concatenate([[0.0, 1.0], b]))

    def optimum(self, network: SocialNetwork, source: int) -> Optimum:
        """The best engagement over s in [0, 1].

        Exact (every step of the piecewise-constant engagement evaluated) when the recommender
        answers in closed form; otherwise the best of a ``grid_size``-point grid and every
        bounded-confidence step, with ``exact=False``.
        """
        prep = self._prepare(network, source)
        b = self._breakpoints(network, source)
        limit = math.inf if self.max_evaluations is None else self.max_evaluations
        if prep.stepped and 2 * len(b) - 1 <= limit:
            inside = 0.5 * (b[:-1] + b[1:])
            filled = (b[:-1] < inside) & (inside < b[1:])  # segments holding at least one float
            points_value = self._counts(network, prep, b)
            segment_value = np.full(len(b) - 1, -1, np.int64)
            segment_value[filled] = self._counts(network, prep, inside[filled])
            return steps_to_optimum(b, points_value, segment_value,
                                    f"every step of the piecewise-constant engagement ({len(b) + int(filled.sum())} cells)")
        grid = np.linspace(0.0, 1.0, self.grid_size)
        steps = np.concatenate([b, 0.5 * (b[:-1] + b[1:])])
        if len(grid) + len(steps) <= limit:
            grid = np.unique(np.concatenate([grid, steps]))
            what = "plus every step"
        else:
            what = f"(too many steps, {len(steps)}, for max_evaluations={self.max_evaluations})"
        values = self._counts(network, prep, grid)
        best = int(values.max())
        at = values == best
        edges = np.diff(np.concatenate([[0], at.astype(np.int8), [0]]))
        runs = zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1)
        intervals = tuple(Interval(float(grid[a]), float(grid[z]), True, True) for a, z in runs)
        widest = max(intervals, key=lambda iv: iv.width)
        return Optimum(value=best, message=widest.midpoint if widest.midpoint in widest else widest.lo, intervals=intervals,
                       exact=False, method=f"grid of {self.grid_size} points {what} ({len(grid)} values)"
                                           + ("" if prep.stepped else ": the recommender's ranking moves continuously with s"))

    def simulate_sequence(self, network: SocialNetwork, source: int, messages: Any) -> CascadeSequence:
        """Multi-shot: post ``messages`` in order; engaged users' opinions move by ``mu (s - x)`` and persist."""
        s = check_messages(messages)
        current = network
        cascades = []
        for value in s:
            c = self.simulate(current, source, float(value))
            shift = float(np.sum(c.opinions_after - current.opinions))
            cascades.append(Cascade(engaged=c.engaged, active=c.active, message=c.message, source=c.source,
                                    extra={**c.extra, "opinion_shift": shift}))
            current = current.with_opinions(c.opinions_after)
        return CascadeSequence(tuple(cascades), current.opinions.copy())
