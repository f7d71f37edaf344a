"""Candidate posts for feeds: who wrote them, their opinion value, embedding, time and likes.

Times are in rounds of the feed simulation (a post at time 2.4 appears in round 3); ``likes`` is
the popularity signal (engagements so far). Pools come from :func:`synthetic_posts` (the network's
own users posting near their opinion and interests) or :func:`posts_from_records` (a CSV/JSONL of
real posts scored with the opinion scorer and the sentence embedder).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from engagegen.network.graph import SocialNetwork
from engagegen.recommend.profiles import RecommendError, UserProfiles, unit_rows
from engagegen.scoring import Embedder, VaderOpinion

__all__ = ["PostPool", "synthetic_posts", "posts_from_records", "one_hop_likes"]


@dataclass(frozen=True, eq=False)
class PostPool:
    """A pool of m posts as parallel arrays; a post's id is its position 0..m-1.

    ``author`` (int64 user ids), ``opinion`` (float64 in [0, 1]), ``embedding`` ((m, d), scaled to
    unit length here), ``time`` (float64, in rounds; default 0), ``likes`` (float64 >= 0; default 0),
    ``text`` (optional, for display).

    >>> pool = PostPool(author=[0, 1], opinion=[0.2, 0.9], embedding=[[1, 0], [0, 1]])
    >>> len(pool), pool.dimension
    (2, 2)
    """

    author: np.ndarray
    opinion: np.ndarray
    embedding: np.ndarray
    time: np.ndarray | None = None
    likes: np.ndarray | None = None
    text: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        author = np.atleast_1d(np.asarray(self.author))
        m = author.shape[0]
        if author.ndim != 1 or (m and not np.issubdtype(author.dtype, np.integer)):
            raise RecommendError(f"post authors must be a 1-d array of integer user ids, got dtype {author.dtype}")
        if m and author.min() < 0:
            raise RecommendError(f"post {int(np.argmin(author))}: author {int(author.min())} is not a user id")
        opinion = self._vector(self.opinion, m, "opinion")
        bad = (opinion < 0) | (opinion > 1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise RecommendError(f"post {i}: opinion {float(opinion[i])!r} is not in [0, 1]")
        if m == 0:
            emb = np.asarray(self.embedding, dtype=np.float32)
            if emb.ndim != 2:
                raise RecommendError(f"post embeddings: expected a 2-d array (0, d) for an empty pool, got shape {emb.shape}")
        else:
            emb = unit_rows(self.embedding, "post embeddings")
        if emb.shape[0] != m:
            raise RecommendError(f"post embeddings: got {emb.shape[0]} rows for {m} posts (one row per post)")
        time = np.zeros(m) if self.time is None else self._vector(self.time, m, "time")
        likes = np.zeros(m) if self.likes is None else self._vector(self.likes, m, "likes")
        if (likes < 0).any():
            raise RecommendError(f"post {int(np.flatnonzero(likes < 0)[0])}: likes must be >= 0")
        text = None if self.text is None else tuple(self.text)
        if text is not None and len(text) != m:
            raise RecommendError(f"got {len(text)} texts for {m} posts")
        for name, value in (("author", author.astype(np.int64)), ("opinion", opinion), ("embedding", emb),
                            ("time", time), ("likes", likes)):
            value.flags.writeable = False
            object.__setattr__(self, name, value)
        object.__setattr__(self, "text", text)

    @staticmethod
    def _vector(value: Any, m: int, what: str) -> np.ndarray:
        try:
            v = np.array(value, dtype=np.float64).reshape(-1) if np.ndim(value) else np.full(m, float(value))
        except (TypeError, ValueError) as exc:
            raise RecommendError(f"post {what}: not numeric ({exc})") from None
        if v.shape != (m,):
            raise RecommendError(f"post {what}: got {v.shape[0]} values for {m} posts (one per post)")
        if not np.isfinite(v).all():
            raise RecommendError(f"post {int(np.flatnonzero(~np.isfinite(v))[0])}: {what} is not a finite number")
        return v

    def __len__(self) -> int:
        return int(self.author.shape[0])

    @property
    def dimension(self) -> int:
        return int(self.embedding.shape[1])

    def subset(self, index: Any) -> PostPool:
        """The posts at ``index`` (positions), renumbered 0..len(index)-1 in that order."""
        idx = np.asarray(index, dtype=np.int64)
        text = None if self.text is None else tuple(self.text[i] for i in idx)
        return PostPool(self.author[idx], self.opinion[idx], self.embedding[idx], self.time[idx], self.likes[idx], text)

    def append(self, other: PostPool) -> PostPool:
        """This pool followed by ``other`` (its ids shift by ``len(self)``)."""
        if len(self) and other.dimension != self.dimension:
            raise RecommendError(f"cannot join pools with {self.dimension}- and {other.dimension}-dimensional embeddings")
        text = None if self.text is None or other.text is None else self.text + other.text
        emb = other.embedding if not len(self) else np.concatenate([self.embedding, other.embedding])
        return PostPool(np.concatenate([self.author, other.author]), np.concatenate([self.opinion, other.opinion]), emb,
                        np.concatenate([self.time, other.time]), np.concatenate([self.likes, other.likes]), text)

    def check_for(self, profiles: UserProfiles, what: str = "posts") -> None:
        """Raise unless every author is a user of ``profiles`` and the embeddings match its interest vectors."""
        if len(self) and self.author.max() >= profiles.n_users:
            i = int(np.argmax(self.author))
            raise RecommendError(f"{what}: post {i} has author {int(self.author[i])}, but the users are 0..{profiles.n_users - 1}")
        if len(self) and self.dimension != profiles.dimension:
            raise RecommendError(
                f"{what}: post embeddings have {self.dimension} dimensions but the users' interest vectors have "
                f"{profiles.dimension}; embed posts and interests with the same model"
            )

    @cached_property
    def by_author(self) -> tuple[np.ndarray, np.ndarray]:
        """CSR (indptr over author ids 0..max, post ids) of each author's posts, in post-id order."""
        n = int(self.author.max()) + 1 if len(self) else 0
        order = np.argsort(self.author, kind="stable")
        indptr = np.zeros(n + 1, np.int64)
        np.cumsum(np.bincount(self.author, minlength=n), out=indptr[1:])
        return indptr, order.astype(np.int64)


def one_hop_likes(network: SocialNetwork, author: np.ndarray, opinion: np.ndarray, epsilon: float) -> np.ndarray:
    """For each post, how many of its author's followers (out-neighbours) are within ``epsilon`` of its opinion."""
    deg = network.out_degree[author]
    followers = np.concatenate([network.out_neighbors(int(a)) for a in author]) if len(author) else np.zeros(0, np.int64)
    post_of = np.repeat(np.arange(len(author)), deg)
    x = network.opinions[followers]
    s = opinion[post_of]
    agree = (x - epsilon < s) & (s < x + epsilon)
    return np.bincount(post_of[agree], minlength=len(author)).astype(np.float64)


def synthetic_posts(
    profiles: UserProfiles,
    n_posts: int | None = None,
    *,
    time_span: tuple[float, float] = (0.0, 5.0),
    opinion_noise: float = 0.05,
    topic_noise: float = 0.5,
    epsilon: float = 0.2,
    seed: int = 0,
) -> PostPool:
    """Posts written by the network's users: near their author's opinion and interests.

    Authors are drawn with probability proportional to 1 + out-degree (users with a large audience
    post more); opinion = author's opinion + N(0, ``opinion_noise``) clipped to [0, 1]; embedding =
    author's interest vector times log-normal noise of scale ``topic_noise`` (interest vectors of
    synthetic topic mixtures are non-negative; for signed embeddings, additive noise); time uniform in
    ``time_span``; likes = followers of the author within ``epsilon`` of the post's opinion (what a
    bounded-confidence audience would engage with in one hop). ``n_posts`` defaults to one per user.
    """
    net = profiles.network
    m = net.n_users if n_posts is None else int(n_posts)
    if m < 1:
        raise RecommendError(f"n_posts must be at least 1, got {n_posts!r}")
    lo, hi = (float(v) for v in time_span)
    if not hi > lo:
        raise RecommendError(f"time_span must be (start, end) with end > start, got {time_span!r}")
    rng = np.random.default_rng(seed)
    weight = 1.0 + net.out_degree.astype(np.float64)
    author = rng.choice(net.n_users, size=m, p=weight / weight.sum())
    opinion = np.clip(net.opinions[author] + rng.normal(0.0, opinion_noise, m), 0.0, 1.0)
    base = profiles.interests[author].astype(np.float64)
    if (profiles.interests >= 0).all():
        emb = base * np.exp(rng.normal(0.0, topic_noise, base.shape))
    else:
        emb = base + rng.normal(0.0, topic_noise / np.sqrt(base.shape[1]), base.shape)
    time = rng.uniform(lo, hi, m)
    likes = one_hop_likes(net, author, opinion, epsilon)
    return PostPool(author, opinion, emb, time, likes)


def posts_from_records(
    records: Sequence[Any],
    network: SocialNetwork,
    *,
    author_field: str = "author",
    time_field: str | None = None,
    likes_field: str | None = None,
    opinion: Any = None,
    embedder: Any = None,
    where: str = "posts",
) -> PostPool:
    """A pool from posts read by :func:`engagegen.scoring.read_posts` (``PostRecord`` objects).

    ``author_field`` names the author: a user id, or a label from ``network.node_ids``. Opinion
    values come from ``opinion`` (default VADER) and embeddings from ``embedder`` (default the shared
    MiniLM). ``time_field`` / ``likes_field`` are optional numeric fields. Missing fields, authors who
    are not in the network and non-numeric values raise :class:`RecommendError` naming the line.
    """
    if not records:
        raise RecommendError(f"{where}: no posts: the candidate pool would be empty")
    lookup: dict[str, int] | None = None
    if network.node_ids is not None:
        lookup = {str(v): i for i, v in enumerate(network.node_ids.tolist())}
    authors, times, likes, texts = [], [], [], []
    for rec in records:
        line = getattr(rec, "line", "?")
        fields = getattr(rec, "fields", {})
        text = getattr(rec, "text", None)
        if not isinstance(text, str) or not text.strip():
            raise RecommendError(f"{where}, line {line}: the post has no text")
        if author_field not in fields or fields[author_field] in (None, ""):
            raise RecommendError(f"{where}, line {line}: missing field {author_field!r} (the post's author)")
        raw = str(fields[author_field]).strip()
        if lookup is not None:
            if raw not in lookup:
                raise RecommendError(f"{where}, line {line}: unknown author {raw!r}: no such user in the network")
            authors.append(lookup[raw])
        else:
            try:
                a = int(raw)
            except ValueError:
                raise RecommendError(f"{where}, line {line}: author {raw!r} is not a user id (the network has no labels)") from None
            if not 0 <= a < network.n_users:
                raise RecommendError(f"{where}, line {line}: unknown author {a}: the users are 0..{network.n_users - 1}")
            authors.append(a)
        for name, out in ((time_field, times), (likes_field, likes)):
            if name is None:
                continue
            if name not in fields or fields[name] in (None, ""):
                raise RecommendError(f"{where}, line {line}: missing field {name!r}")
            try:
                out.append(float(fields[name]))
            except (TypeError, ValueError):
                raise RecommendError(f"{where}, line {line}: field {name!r} = {fields[name]!r} is not a number") from None
        texts.append(text)
    if opinion is None:
        opinion = VaderOpinion()
    if embedder is None:
        embedder = Embedder.shared()
    values = np.clip(np.asarray(opinion.score(texts), dtype=np.float64), 0.0, 1.0)
    return PostPool(np.asarray(authors, np.int64), values, embedder.encode(texts),
                    None if time_field is None else np.asarray(times), None if likes_field is None else np.asarray(likes),
                    tuple(texts))
