"""Replies: who reads a reply, how it engages them, and the reward of a reply.

A reply to a post by ``author`` is read by the author's audience (their out-neighbours: the users
the post reached) and by the thread's participants (the author included, unless told otherwise).
:class:`ReplyEngagement` is an engagement model over that audience: a reader engages iff the
reply's opinion value is within epsilon of theirs (one hop; the reply is not passed on), with an
exact optimum. :class:`ReplyReward` scores replies: engagement in the audience (as a fraction of
the best possible), gated like posts by relevance to the post (embedding similarity, as the topic),
fluency and moderation, plus a relevance term; a reply that copies the post gets nothing.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from engagegen import scoring
from engagegen.engagement.base import Cascade, EngagementError, Optimum, check_messages, check_source
from engagegen.engagement.optimum import steps_to_optimum
from engagegen.generation.prompts import message_text
from engagegen.network.graph import NetworkError, SocialNetwork
from engagegen.reward import EngagementReward, RewardBreakdown, RewardConfig, RewardError
from engagegen.scoring.form import copies

__all__ = ["ReplyEngagement", "ReplyTarget", "ReplyReward", "reply_audience"]


def reply_audience(network: SocialNetwork, author: int, thread: Sequence[int] = (), *,
                   include_author: bool = True, exclude: int | None = None) -> np.ndarray:
    """Sorted ids of the users who read a reply to ``author``'s post: the author's out-neighbours,
    the ``thread`` participants and (``include_author``) the author; ``exclude`` (the replier) is left out.

    >>> net = SocialNetwork.from_edges([(0, 1), (0, 2), (3, 0)], [0.5] * 4)
    >>> reply_audience(net, 0, thread=[3], exclude=2).tolist()
    [0, 1, 3]
    """
    a = network.check_user(author, "author")
    members = [network.out_neighbors(a)]
    for i, t in enumerate(thread):
        members.append(np.array([network.check_user(t, f"thread participant {i}")]))
    if include_author:
        members.append(np.array([a]))
    out = np.unique(np.concatenate(members).astype(np.int64))
    if exclude is not None:
        out = out[out != exclude]
    return out


class ReplyEngagement:
    """Engagement with a reply: readers (see :func:`reply_audience`) within ``epsilon`` of its opinion value.

    The source passed to the protocol methods is the replier (never counted). Piecewise constant in
    s with steps at ``x +- epsilon`` of the readers: the optimum is exact.

    >>> net = SocialNetwork.from_edges([(0, 1), (0, 2)], [0.5, 0.1, 0.8, 0.9])
    >>> model = ReplyEngagement(author=0)
    >>> model.engagement(net, 3, [0.1, 0.6]).tolist()  # readers 0, 1, 2 (opinions 0.5, 0.1, 0.8)
    [1, 1]
    >>> model.optimum(net, 3).value
    2
    """

    def __init__(self, author: int, thread: Sequence[int] = (), *, epsilon: float = 0.2, include_author: bool = True) -> None:
        if isinstance(author, (bool, np.bool_)) or not isinstance(author, numbers.Integral):
            raise EngagementError(f"author must be an integer user id, got {author!r}")
        if isinstance(thread, (str, bytes)) or not all(isinstance(t, numbers.Integral) and not isinstance(t, bool) for t in thread):
            raise EngagementError(f"thread must be a list of integer user ids, got {thread!r}")
        if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) or not 0 < epsilon < math.inf:
            raise EngagementError(f"epsilon must be a finite number > 0, got {epsilon!r}")
        self.author = int(author)
        self.thread = tuple(int(t) for t in thread)
        self.epsilon = float(epsilon)
        self.include_author = bool(include_author)

    def __repr__(self) -> str:
        return f"ReplyEngagement(author={self.author}, thread={list(self.thread)}, epsilon={self.epsilon})"

    def audience(self, network: SocialNetwork, source: int) -> np.ndarray:
        src = check_source(network, source)
        return reply_audience(network, self.author, self.thread, include_author=self.include_author, exclude=src)

    def _bounds(self, network: SocialNetwork, source: int) -> tuple[np.ndarray, np.ndarray]:
        x = network.opinions[self.audience(network, source)]
        return np.sort(x - self.epsilon), np.sort(x + self.epsilon)

    def engagement(self, network: SocialNetwork, source: int, messages: Any) -> np.ndarray:
        s = check_messages(messages)
        lo, hi = self._bounds(network, source)
        # lo < s < hi  <=>  (lo < s) and not (hi <= s), with lo < hi for every reader
        return (np.searchsorted(lo, s, side="left") - np.searchsorted(hi, s, side="right")).astype(np.int64)

    def simulate(self, network: SocialNetwork, source: int, message: float) -> Cascade:
        if np.ndim(message) != 0:
            raise EngagementError(f"simulate takes one message value, got shape {np.shape(message)}")
        s = float(check_messages(message)[0])
        readers = self.audience(network, source)
        x = network.opinions[readers]
        active = readers[(x - self.epsilon < s) & (s < x + self.epsilon)]
        return Cascade(engaged=len(active), active=active, message=s, source=int(source),
                       extra={"audience": int(len(readers))})

    def breakpoints(self, network: SocialNetwork, source: int) -> np.ndarray:
        lo, hi = self._bounds(network, source)
        b = np.concatenate([lo, hi])
        return np.unique(np.concatenate([[0.0, 1.0], b[(b > 0) & (b < 1)]]))

    def optimum(self, network: SocialNetwork, source: int) -> Optimum:
        b = self.breakpoints(network, source)
        inside = 0.5 * (b[:-1] + b[1:])
        filled = (b[:-1] < inside) & (inside < b[1:])
        point = self.engagement(network, source, b)
        segment = np.full(len(b) - 1, -1, np.int64)
        segment[filled] = self.engagement(network, source, inside[filled])
        return steps_to_optimum(b, point, segment, f"every step over the reply's audience ({len(b)} breakpoints)")


@dataclass(frozen=True)
class ReplyTarget:
    """A post to reply to: its text, its author (user id) and the thread's other participants."""

    text: str
    author: int
    thread: tuple[int, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise RewardError("a reply target needs the non-empty text of the post being answered")
        object.__setattr__(self, "thread", tuple(self.thread))


class ReplyReward:
    """Reward of replies: engagement in the reply's audience, relevance to the post, moderation.

    ``total = (1 - relevance_weight) * engagement reward + relevance_weight * relevance`` where the
    engagement reward is :class:`EngagementReward` over :class:`ReplyEngagement` with the post as
    the topic (so its topic gate is relevance to the post) and relevance is the topic score (cosine
    between reply and post, floored at 0). Flagged, empty and copied replies (character similarity
    to the post at least ``copy_threshold``) get 0.

    One instance serves many posts (:meth:`from_posts_file` reads them with their authors): each
    reply's target comes from its prompt (the prompt given for the target at construction, else the
    target whose text the prompt contains), so ``score(texts, prompts)`` and the TRL call
    ``reward(prompts=..., completions=...)`` work as for :class:`EngagementReward`, and the trainer
    can take a ``ReplyReward`` in its place.
    """

    def __init__(
        self,
        network: SocialNetwork,
        agent: int,
        targets: Sequence[ReplyTarget],
        opinion: Any,
        *,
        epsilon: float = 0.2,
        relevance_weight: float = 0.25,
        copy_threshold: float = 0.8,
        prompts: Sequence[str] | None = None,
        fluency: Any = None,
        moderation: Any = None,
        embedder: Any = None,
        config: RewardConfig | None = None,
    ) -> None:
        targets = list(targets)
        if not targets:
            raise RewardError("ReplyReward needs at least one post to reply to")
        if not 0 <= relevance_weight <= 1:
            raise RewardError(f"relevance_weight must be in [0, 1], got {relevance_weight!r}")
        if prompts is not None and len(prompts) != len(targets):
            raise RewardError(f"got {len(prompts)} prompts for {len(targets)} posts; give one prompt per post")
        self.network, self.agent = network, check_source(network, agent)
        for i, t in enumerate(targets):
            if not isinstance(t, ReplyTarget):
                raise RewardError(f"target {i} is a {type(t).__name__}, not a ReplyTarget")
            try:
                network.check_user(t.author, f"author of post {i}")
                for u in t.thread:
                    network.check_user(u, f"thread participant of post {i}")
            except NetworkError as exc:
                raise RewardError(str(exc)) from None
        self.targets = targets
        self.relevance_weight = float(relevance_weight)
        self.copy_threshold = float(copy_threshold)
        fluency = fluency if fluency is not None else scoring.Fluency()
        moderation = moderation if moderation is not None else scoring.Moderation()
        embedder = embedder if embedder is not None else scoring.Embedder.shared()
        self.rewards = [
            EngagementReward(network=network, source=self.agent,
                             engagement=ReplyEngagement(t.author, t.thread, epsilon=epsilon),
                             opinion=opinion, topic=t.text, topic_scorer=scoring.TopicAlignment(t.text, embedder=embedder),
                             fluency=fluency, moderation=moderation, config=config)
            for t in targets
        ]
        self._by_prompt = {p: i for i, p in enumerate(prompts)} if prompts is not None else {}
        self.__name__ = "reply_reward"
        self.last: RewardBreakdown | None = None

    def target_of(self, prompt: str) -> int:
        """Index of the target a prompt asks to reply to."""
        if prompt in self._by_prompt:
            return self._by_prompt[prompt]
        hits = [i for i, t in enumerate(self.targets) if t.text.strip() in prompt]
        if not hits:
            raise RewardError(f"prompt {prompt[:80]!r} names none of the {len(self.targets)} posts this reward knows")
        return max(hits, key=lambda i: len(self.targets[i].text))

    @classmethod
    def from_posts_file(cls, network: SocialNetwork, agent: int, path: str | Path, opinion: Any, *,
                        text_column: str = "text", author_column: str = "author", thread_column: str | None = "thread",
                        **options: Any) -> ReplyReward:
        """One target per post of a CSV/JSONL file: its text, its author (a user id, or a label of
        ``network.node_ids``) and, when the file has them, thread participants (``thread_column``:
        ids separated by ``;``; ``None`` reads none)."""
        labels = None if network.node_ids is None else {str(v): i for i, v in enumerate(network.node_ids.tolist())}

        def user(raw: Any, line: int, what: str) -> int:
            text = str(raw).strip()
            if labels is not None:
                if text not in labels:
                    raise RewardError(f"{path}, line {line}: unknown {what} {text!r}: no such user in the network")
                return labels[text]
            if not text.lstrip("-").isdigit() or not 0 <= int(text) < network.n_users:
                raise RewardError(f"{path}, line {line}: unknown {what} {text!r}: the users are 0..{network.n_users - 1}")
            return int(text)

        targets = []
        for rec in scoring.read_posts(path, text_column):
            if not rec.text.strip():
                raise RewardError(f"{path}, line {rec.line}: the post is empty")
            if rec.fields.get(author_column) in (None, ""):
                raise RewardError(f"{path}, line {rec.line}: missing field {author_column!r} (who wrote the post)")
            thread = ()
            if thread_column and rec.fields.get(thread_column):
                thread = tuple(user(t, rec.line, "thread participant") for t in str(rec.fields[thread_column]).split(";") if t.strip())
            targets.append(ReplyTarget(rec.text, user(rec.fields[author_column], rec.line, "author"), thread))
        if not targets:
            raise RewardError(f"{path}: no posts to reply to")
        return cls(network, agent, targets, opinion, **options)

    @property
    def optimum(self) -> Optimum:
        """The best engagement of a reply: the target's optimum, or with several targets their mean value."""
        if len(self.rewards) == 1:
            return self.rewards[0].optimum
        optima = [r.optimum for r in self.rewards]
        return Optimum(value=float(np.mean([o.value for o in optima])), message=float(np.median([o.message for o in optima])),
                       intervals=(), exact=all(o.exact for o in optima), method=f"mean over the audiences of {len(optima)} posts")

    def score(self, texts: Sequence[str], prompts: Sequence[str] | None = None, *,
              posts: Sequence[int] | None = None) -> RewardBreakdown:
        """Breakdown of each reply. Its target: the one its prompt names (``prompts``), or ``posts[i]``
        (target indices), or target 0."""
        if isinstance(texts, str):
            raise RewardError("score() takes a sequence of replies; wrap a single reply in a list")
        texts = list(texts)
        if prompts is not None:
            if len(prompts) != len(texts):
                raise RewardError(f"got {len(prompts)} prompts for {len(texts)} replies; pass one prompt per reply")
            posts = [self.target_of(p) for p in prompts]
        which = np.zeros(len(texts), np.int64) if posts is None else np.asarray(posts, np.int64)
        if which.shape != (len(texts),):
            raise RewardError(f"got {which.shape[0]} target indices for {len(texts)} replies")
        if len(which) and (which.min() < 0 or which.max() >= len(self.targets)):
            raise RewardError(f"target index out of range 0..{len(self.targets) - 1}")
        parts: dict[int, tuple[np.ndarray, RewardBreakdown]] = {}
        for t in np.unique(which):
            idx = np.flatnonzero(which == t)
            parts[int(t)] = (idx, self.rewards[int(t)].score([texts[i] for i in idx]))
        out = _stitch(len(texts), parts)
        w = self.relevance_weight
        total = (1.0 - w) * out.total + w * np.clip(out.topic, 0.0, 1.0)
        reason = list(out.reason)
        for i, text in enumerate(texts):
            post = self.targets[int(which[i])].text
            if out.flagged[i] or not text.strip():
                total[i] = 0.0
            elif copies(post, text, self.copy_threshold):
                total[i], reason[i] = 0.0, "copies the post"
        self.last = replace(out, total=total, reason=reason)
        return self.last

    def __call__(self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] | None = None, **kwargs: Any) -> list[float]:
        if completions is None or prompts is None:
            raise RewardError("the reply reward needs prompts= and completions=")
        texts = [message_text(c) for c in completions]
        out = self.score(texts, [message_text(p) for p in prompts])
        log_metric = kwargs.get("log_metric")
        if callable(log_metric):
            for key, value in out.summary().items():
                log_metric(key, value)
        return [float(v) for v in out.total]


def _stitch(n: int, parts: dict[int, tuple[np.ndarray, RewardBreakdown]]) -> RewardBreakdown:
    """One breakdown of n replies from breakdowns of groups of them (``idx`` gives their positions)."""
    positions = np.concatenate([idx for idx, _ in parts.values()])
    if sorted(positions.tolist()) != list(range(n)):
        raise RewardError(f"internal: reply groups cover {len(positions)} positions, expected each of 0..{n - 1} once")
    return RewardBreakdown.concat([out for _, out in parts.values()]).subset(np.argsort(positions, kind="stable"))

