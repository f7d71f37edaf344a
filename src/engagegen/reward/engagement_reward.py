"""The reward: from a post's text to the simulated audience's engagement, gated by quality checks."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Sequence

import numpy as np

from engagegen import scoring
from engagegen.engagement.base import EngagementModel, Optimum, check_source
from engagegen.errors import EngagegenError
from engagegen.network.graph import SocialNetwork
from engagegen.reward.lookup import EngagementLookup
from engagegen.generation.prompts import message_text
from engagegen.scoring.form import copies, ends_a_sentence, is_degenerate, up_to_last_sentence

__all__ = ["EngagementReward", "RewardConfig", "RewardBreakdown", "RewardError"]


class RewardError(EngagegenError, ValueError):
    """Bad reward configuration or input."""


@dataclass(frozen=True)
class RewardConfig:
    """How the reward is put together. Every field has a documented default that works offline.

    preset: ``constrained`` (default): engagement as a fraction of the exact optimum, shaped, times
        soft gates for topic alignment and fluency, zero when moderation flags the post.
        ``paper``: the authors' sqrt(engaged * max(FK grade of prompt + post, 0)), opinion read off
        prompt + post, no gates (kept for reproduction; the grade level rewards hard text).
    topic_threshold, topic_softness: the topic gate is a logistic in the cosine similarity between
        post and topic, 0.5 at ``topic_threshold``, width ``topic_softness``. Default 0.17: on the test
        set of short posts (tests/data), every on-topic post scored >= 0.20 against "cats" with MiniLM
        and every off-topic one <= 0.14.
    fluency_threshold, fluency_softness: the fluency gate is a logistic in the fluency score
        (readability band x degeneration checks, in [0, 1]), 0.5 at ``fluency_threshold``.
    shaping: ``True`` adds a tie-breaking term worth less than ``shaping_scale`` users of engagement:
        half smoothed engagement over the kernel ``s + k * smoothing_step`` (k = -smoothing_width..
        smoothing_width) and half proximity to the nearest optimal interval. Posts whose raw
        engagement differs by at least ``shaping_scale`` users keep their order; posts with equal
        raw engagement get different rewards, so group-relative RL (GRPO) still has a signal.
    proximity_scale: how proximity to the nearest optimal interval falls with the distance d (in
        opinion units): ``None`` (default) as 1 - d; a number as exp(-d / proximity_scale). Where
        no post of a group engages anyone (an agent whose one follower engages all or nothing), the
        shaping is a group's only signal besides the gates, and 1 - d barely differs between posts
        (0.72 vs 0.78 at d 0.28 vs 0.22) while exp(-d / 0.1) doubles over the same step.
    sharpness: the gated reward is raised to this power. 1 (default) rewards engagement linearly.
        Larger values keep the order of posts (the gates weigh as before) but widen the gaps near
        the optimum: at 4, a post at 90% of the optimum earns 0.66 of an optimal one instead of 0.9.
        Group-relative RL then still separates posts that all engage most of the audience, where
        otherwise the few posts failing a gate (reward about 0) set the group's spread and the rest
        look alike. Meant for a later, fine-tuning training stage.
    prompt_copy_threshold: a post whose character similarity to its prompt is at least this is a
        copy of the prompt and gets no reward.
    trim: the post is the completion up to the end of its last complete sentence (a trailing
        fragment cut off by the length limit is dropped, as a person publishing it would); every
        score is of that post. ``False``: the completion as it is.
    cut_off: the reward of a post that does not end where a sentence ends (after trimming: one
        with no complete sentence), as a share of what it would get otherwise. 0 (default): such a
        post earns nothing, as a degenerate (looping) or flagged one.
    """

    preset: Literal["constrained", "paper"] = "constrained"
    topic_threshold: float = 0.17
    topic_softness: float = 0.015
    fluency_threshold: float = 0.5
    fluency_softness: float = 0.08
    shaping: bool = True
    shaping_scale: float = 0.9
    smoothing_step: float = 0.01
    smoothing_width: int = 2
    proximity_scale: float | None = None
    sharpness: float = 1.0
    prompt_copy_threshold: float = 0.8
    trim: bool = True
    cut_off: float = 0.0

    def __post_init__(self) -> None:
        if self.preset not in ("constrained", "paper"):
            raise RewardError(f"reward preset must be 'constrained' or 'paper', got {self.preset!r}")
        for name in ("topic_softness", "fluency_softness", "smoothing_step"):
            if not getattr(self, name) > 0:
                raise RewardError(f"reward config {name} must be > 0, got {getattr(self, name)!r}")
        if not 0 <= self.shaping_scale < 1:
            raise RewardError(f"reward config shaping_scale must be in [0, 1) users, got {self.shaping_scale!r}")
        if not (math.isfinite(self.sharpness) and self.sharpness > 0):
            raise RewardError(f"reward config sharpness must be a finite number > 0, got {self.sharpness!r}")
        if self.preset == "paper" and self.sharpness != 1:
            raise RewardError("reward config sharpness applies to the 'constrained' preset; the 'paper' preset is the authors' formula as it is")
        if self.proximity_scale is not None and not (math.isfinite(self.proximity_scale) and self.proximity_scale > 0):
            raise RewardError(f"reward config proximity_scale must be a finite number > 0 (or null), got {self.proximity_scale!r}")
        if self.smoothing_width < 0:
            raise RewardError(f"reward config smoothing_width must be >= 0, got {self.smoothing_width!r}")
        if not 0 <= self.cut_off <= 1:
            raise RewardError(f"reward config cut_off must be in [0, 1], got {self.cut_off!r}")
        if not 0 < self.prompt_copy_threshold <= 1:
            raise RewardError(f"reward config prompt_copy_threshold must be in (0, 1], got {self.prompt_copy_threshold!r}")


@dataclass
class RewardBreakdown:
    """Per-post arrays of every reward component, and why a post got nothing (``reason``, '' if scored).

    ``passes_gates``: the post is readable: on topic and fluent (each gate at least 0.5), not
    flagged, not degenerate, ending where a sentence ends, not empty and not a copy of its prompt.
    ``readable_fraction``: engagement as a fraction of the optimum counting only readable posts
    (0 for the others): the headline measure of every result."""

    text: list[str]
    opinion: np.ndarray
    engaged: np.ndarray
    engaged_fraction: np.ndarray
    fluency: np.ndarray
    perplexity: np.ndarray  # under the fluency scorer's reference model (NaN without one)
    topic: np.ndarray
    topic_gate: np.ndarray
    fluency_gate: np.ndarray
    flagged: np.ndarray
    flags: list[list[str]]
    out_of_language: np.ndarray  # scored anyway, but the scorers were made for English text
    optimal_distance: np.ndarray
    shaping: np.ndarray
    degenerate: np.ndarray
    complete: np.ndarray
    passes_gates: np.ndarray
    readable_fraction: np.ndarray
    total: np.ndarray
    reason: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.text)

    def records(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per post."""
        out = []
        for i in range(len(self)):
            row: dict[str, Any] = {}
            for key, value in asdict(self).items():
                v = value[i]
                row[key] = v.item() if isinstance(v, np.generic) else v
            out.append(row)
        return out

    def subset(self, idx: Sequence[int] | np.ndarray) -> RewardBreakdown:
        """The breakdown of the posts at positions ``idx``, in that order."""
        idx = np.asarray(idx, dtype=np.int64)
        return RewardBreakdown(**{k: (v[idx] if isinstance(v, np.ndarray) else [v[i] for i in idx])
                                  for k, v in vars(self).items()})

    @staticmethod
    def concat(parts: Sequence[RewardBreakdown]) -> RewardBreakdown:
        """One breakdown of the posts of ``parts``, one after another."""
        first = vars(parts[0])
        return RewardBreakdown(**{k: (np.concatenate([getattr(p, k) for p in parts]) if isinstance(v, np.ndarray)
                                      else [x for p in parts for x in getattr(p, k)]) for k, v in first.items()})

    def summary(self) -> dict[str, float]:
        """Means (and a few extremes) for per-step logging."""
        return {
            "engaged_mean": float(self.engaged.mean()),
            "engaged_max": float(self.engaged.max()),
            "engaged_fraction_mean": float(self.engaged_fraction.mean()),
            "readable_fraction_mean": float(self.readable_fraction.mean()),
            "gate_share": float(self.passes_gates.mean()),
            "opinion_mean": float(self.opinion.mean()),
            "fluency_mean": float(self.fluency.mean()),
            "topic_mean": float(self.topic.mean()),
            "flagged_count": int(self.flagged.sum()),
            "out_of_language_count": int(self.out_of_language.sum()),
            "reward_mean": float(self.total.mean()),
            "reward_std": float(self.total.std()),
        }


def _logistic(x: np.ndarray, center: float, width: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(x - center) / width))


class EngagementReward:
    """Score posts by the engagement they reach in a simulated audience.

    >>> from engagegen.engagement import BoundedConfidenceCascade
    >>> from engagegen.network import paper_network, place_agent
    >>> from engagegen.scoring import VaderOpinion
    >>> net = paper_network(opinions="negative")
    >>> reward = EngagementReward(network=net, source=place_agent(net, "central"),
    ...                           engagement=BoundedConfidenceCascade(0.2), opinion=VaderOpinion(), topic="cats")
    >>> out = reward.score(["Cats are the worst pets. They scratch and ruin everything."])
    >>> out.engaged[0] > 0, out.reason[0]
    (np.True_, '')

    ``opinion`` reads s in [0, 1] off a text; ``fluency``, ``topic_scorer``, ``moderation`` and
    ``language`` (marks non-English posts in the breakdown) default to the bundled offline scorers (``topic`` is the description the posts must be about).
    The instance is also a TRL reward function: ``reward(prompts=..., completions=...)``.
    """

    def __init__(
        self,
        network: SocialNetwork,
        source: int,
        engagement: EngagementModel,
        opinion: Any,
        topic: str,
        *,
        fluency: Any = None,
        topic_scorer: Any = None,
        moderation: Any = None,
        language: Any = None,
        config: RewardConfig | None = None,
    ) -> None:
        if not isinstance(topic, str) or not topic.strip():
            raise RewardError("topic must be a non-empty description of what posts should be about")
        self.network = network
        self.source = check_source(network, source)
        self.engagement = engagement
        self.opinion = opinion
        self.topic = topic.strip()
        self.config = config or RewardConfig()
        self.fluency = fluency if fluency is not None else scoring.Fluency()
        self.topic_scorer = topic_scorer if topic_scorer is not None else scoring.TopicAlignment(self.topic)
        self.moderation = moderation if moderation is not None else scoring.Moderation()
        self.language = language if language is not None else scoring.LanguageCheck()
        self.lookup = EngagementLookup(network, self.source, engagement)
        self.optimum: Optimum = engagement.optimum(network, self.source)
        self.__name__ = "engagement_reward"  # TRL names reward functions by __name__
        self.last: RewardBreakdown | None = None  # the breakdown of the latest TRL call, for step logging

    # ------------------------------------------------------------------ scoring
    def score(self, texts: Sequence[str], prompts: Sequence[str] | None = None) -> RewardBreakdown:
        with scoring.reused_embeddings():  # the topic, stance and moderation scorers embed the same posts
            return self._score(texts, prompts)

    def _score(self, texts: Sequence[str], prompts: Sequence[str] | None) -> RewardBreakdown:
        texts = self._check_texts(texts)
        if self.config.trim:
            texts = [up_to_last_sentence(t) for t in texts]
        if prompts is not None and len(prompts) != len(texts):
            raise RewardError(f"got {len(prompts)} prompts for {len(texts)} posts; pass one prompt per post or none")
        n = len(texts)
        empty = np.array([not t.strip() for t in texts], dtype=bool)
        scored = [t if t.strip() else "." for t in texts]  # scorers see a placeholder; the post still gets 0
        if self.config.preset == "paper" and prompts is not None:
            opinion_input = [f"{p} {t}".strip() for p, t in zip(prompts, scored)]
        else:
            opinion_input = scored
        s = np.clip(np.asarray(self.opinion.score(opinion_input), dtype=np.float64), 0.0, 1.0)
        engaged = self.lookup(s)
        opt = float(self.optimum.value)
        fraction = engaged / opt if opt > 0 else np.zeros(n)
        distance = np.array([self.optimum.distance(v) for v in s])
        if hasattr(self.fluency, "details"):  # the built-in scorer also tells each post's perplexity
            details = self.fluency.details(scored)
            fluency, perplexity = np.asarray(details.score, dtype=np.float64), np.asarray(details.perplexity, dtype=np.float64)
        else:
            fluency, perplexity = np.asarray(self.fluency.score(scored), dtype=np.float64), np.full(n, np.nan)
        topic = np.asarray(self.topic_scorer.score(scored), dtype=np.float64)
        flags = self.moderation.flags(scored)
        flagged = np.array([bool(f) for f in flags], dtype=bool)
        degenerate = np.array([is_degenerate(t) for t in scored], dtype=bool)
        complete = np.array([ends_a_sentence(t) for t in scored], dtype=bool) & ~empty
        out_of_language = np.asarray(self.language.out_of_language(scored), dtype=bool) & ~empty
        cfg = self.config
        topic_gate = _logistic(topic, cfg.topic_threshold, cfg.topic_softness)
        fluency_gate = _logistic(fluency, cfg.fluency_threshold, cfg.fluency_softness)
        shaping = self._shaping(s, distance) if cfg.shaping and opt > 0 else np.zeros(n)
        reason = [""] * n
        if cfg.preset == "paper":
            import textstat

            grade = np.array([textstat.flesch_kincaid_grade(f"{p} {t}" if prompts else t)
                              for p, t in zip(prompts or [""] * n, scored)])
            total = np.sqrt(engaged * np.maximum(grade, 0.0))
        else:
            total = (engaged + cfg.shaping_scale * shaping) / opt if opt > 0 else np.zeros(n)
            total = (total * topic_gate * fluency_gate) ** cfg.sharpness
            total[~complete] *= cfg.cut_off
            for i in np.flatnonzero(~complete):
                reason[i] = "cut off mid-sentence"
            total[degenerate] = 0.0
            for i in np.flatnonzero(degenerate):
                reason[i] = "degenerate (repeats itself)"
            total[flagged] = 0.0
            for i in np.flatnonzero(flagged):
                reason[i] = "flagged: " + ", ".join(flags[i])
        copied = np.zeros(n, dtype=bool)
        if prompts is not None:
            for i, (p, t) in enumerate(zip(prompts, texts)):
                copied[i] = bool(t.strip()) and copies(p, t, cfg.prompt_copy_threshold)
        if cfg.preset != "paper":
            total[copied] = 0.0
            for i in np.flatnonzero(copied):
                reason[i] = "copies the prompt"
        total[empty] = 0.0
        for i in np.flatnonzero(empty):
            reason[i] = "empty post"
        passes = ((topic_gate >= 0.5) & (fluency_gate >= 0.5) & ~flagged & ~degenerate & complete & ~empty & ~copied)
        return RewardBreakdown(
            text=list(texts), opinion=s, engaged=engaged, engaged_fraction=fraction, fluency=fluency,
            perplexity=perplexity, topic=topic,
            topic_gate=topic_gate, fluency_gate=fluency_gate, flagged=flagged, flags=[list(f) for f in flags],
            out_of_language=out_of_language, optimal_distance=distance, shaping=shaping, degenerate=degenerate,
            complete=complete, passes_gates=passes, readable_fraction=np.where(passes, fraction, 0.0), total=total,
            reason=reason,
        )

    def _shaping(self, s: np.ndarray, distance: np.ndarray) -> np.ndarray:
        """Tie-breaker in [0, 1]: smoothed engagement (as a fraction of the optimum) and proximity to the optimum."""
        cfg = self.config
        offsets = cfg.smoothing_step * np.arange(-cfg.smoothing_width, cfg.smoothing_width + 1)
        kernel = np.clip(s[:, None] + offsets[None, :], 0.0, 1.0)
        smoothed = self.lookup(kernel.ravel()).reshape(kernel.shape).mean(axis=1) / float(self.optimum.value)
        if cfg.proximity_scale is None:
            proximity = 1.0 - np.minimum(distance, 1.0)
        else:
            proximity = np.exp(-distance / cfg.proximity_scale)
        return 0.5 * smoothed + 0.5 * proximity

    @staticmethod
    def _check_texts(texts: Sequence[str]) -> list[str]:
        if isinstance(texts, str):
            raise RewardError("score() takes a sequence of posts; wrap a single post in a list")
        out = list(texts)
        for i, t in enumerate(out):
            if not isinstance(t, str):
                raise RewardError(f"post {i} is a {type(t).__name__}, not a string: {t!r:.60}")
        return out

    # ------------------------------------------------------------------ TRL reward function
    def __call__(self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] | None = None, **kwargs: Any) -> list[float]:
        """TRL's reward-function signature: one float per completion (conversational or plain)."""
        if completions is None:
            raise RewardError("the reward function needs completions=")
        texts = [message_text(c) for c in completions]
        prompt_texts = None if prompts is None else [message_text(p) for p in prompts]
        out = self.score(texts, prompt_texts)
        log_metric = kwargs.get("log_metric")
        if callable(log_metric):
            for key, value in out.summary().items():
                log_metric(key, value)
        values = [float(v) for v in out.total]
        if len(values) != len(texts) or any(math.isnan(v) for v in values):
            raise RewardError(f"reward returned {len(values)} values for {len(texts)} completions (or NaN)")
        self.last = out
        return values
