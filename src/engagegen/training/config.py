"""One typed config for a run: network, agent, engagement model, scorers, reward, generator, RL trainer.

Every field has a documented default that works on a 2-core CPU with the embedded SmolLM2-135M;
on a GPU only the sizes change. Load from YAML with :func:`load_run_config`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from engagegen.config import ConfigError, from_dict, load_yaml
from engagegen.reward import RewardConfig
from engagegen.training.schedule import StageConfig

__all__ = [
    "NetworkConfig",
    "EngagementConfig",
    "ScoringConfig",
    "GenerationConfig",
    "StageConfig",
    "TrainerConfig",
    "EvaluationConfig",
    "RunConfig",
    "load_run_config",
]

PAPER_SEED = 12121995


@dataclass(frozen=True)
class NetworkConfig:
    """Where the audience comes from.

    source: ``paper`` (the authors' LFR recipe; ``opinions``, ``modularity``, ``homophily`` are
        presets or numbers), ``planted`` (scalable degree-corrected block model with ``n_users``,
        ``avg_degree``, ``n_communities``), or ``file`` (``path`` to a saved .npz network, or an edge
        list with ``opinions_file`` and ``direction``).
    seed: the generators' seed (the paper's by default, which gives the authors' networks); the
        run's ``seed`` varies sampling and training on the same network.
    """

    source: Literal["paper", "planted", "file"] = "paper"
    opinions: str = "negative"
    modularity: str | float = "high"
    homophily: str | float = "high"
    n_users: int = 100
    avg_degree: float = 10.0
    n_communities: int = 10
    path: str | None = None
    opinions_file: str | None = None
    direction: Literal["influence", "follow"] = "influence"
    seed: int = PAPER_SEED

    def __post_init__(self) -> None:
        if self.source == "file" and not self.path:
            raise ConfigError("network.path is required when network.source is 'file'")
        if self.n_users < 2:
            raise ConfigError(f"network.n_users must be at least 2, got {self.n_users}")


#: The engagement models a run config names by a word.
BUILT_IN_MODELS = ("bcm", "bcm-noisy", "ic", "lt", "fj", "feed")


@dataclass(frozen=True)
class EngagementConfig:
    """The engagement model: ``bcm`` (the paper's bounded-confidence cascade), ``bcm-noisy`` (the
    same with a per-hop engagement probability ``p`` within ``epsilon`` and ``noise`` outside it, as
    ``engagegen calibrate`` fits it; see :class:`engagegen.engagement.NoisyBoundedConfidence`), ``ic`` (independent
    cascade with opinion-dependent probability p * max(0, 1 - |s - x| / epsilon)), ``lt`` (linear
    threshold), ``fj`` (Friedkin-Johnsen), or ``feed`` (a recommender-driven feed: each of ``rounds``
    rounds every user sees ``k`` slots, ``follow_share`` of them from followed accounts and the rest
    ranked by ``recommender``: chronological, popularity, content, opinion or diverse; see
    :class:`engagegen.recommend.RecommendedCascade`). ``n_runs`` and the run seed apply to
    stochastic models.

    A user's own model: ``model: "package.module:ClassName"`` with its keyword arguments in
    ``options``. This imports and runs that code (as ``import package.module`` would); the class
    needs no engagegen base class, only the methods of
    :class:`~engagegen.engagement.EngagementModel`."""

    model: str = "bcm"
    options: dict[str, Any] = field(default_factory=dict)
    epsilon: float = 0.2
    p: float = 0.5
    noise: float = 0.0
    n_runs: int = 256
    recommender: Literal["chronological", "popularity", "content", "opinion", "diverse"] = "opinion"
    k: int = 10
    rounds: int = 5
    follow_share: float = 0.5

    def __post_init__(self) -> None:
        if self.model not in BUILT_IN_MODELS and not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*", self.model):
            raise ConfigError(f"engagement.model must be one of {', '.join(BUILT_IN_MODELS)} or an import path "
                             f"'package.module:ClassName', got {self.model!r}")
        if self.options and self.model in BUILT_IN_MODELS:
            raise ConfigError("engagement.options are the keyword arguments of a user's own model (model: "
                             "'package.module:ClassName'); built-in models take their own fields")
        if not self.epsilon > 0:
            raise ConfigError(f"engagement.epsilon must be > 0, got {self.epsilon}")
        if not 0 <= self.p <= 1:
            raise ConfigError(f"engagement.p must be in [0, 1], got {self.p}")
        if not 0 <= self.noise <= 1:
            raise ConfigError(f"engagement.noise must be in [0, 1], got {self.noise}")
        if self.n_runs < 1:
            raise ConfigError(f"engagement.n_runs must be >= 1, got {self.n_runs}")
        if self.k < 1 or self.rounds < 1:
            raise ConfigError(f"engagement.k and engagement.rounds must be >= 1, got {self.k} and {self.rounds}")
        if not 0 <= self.follow_share <= 1:
            raise ConfigError(f"engagement.follow_share must be in [0, 1], got {self.follow_share}")


@dataclass(frozen=True)
class ScoringConfig:
    """Scorers of the reward. ``opinion``: ``vader`` (offline default), ``stance`` (a StanceClassifier
    folder trained with ``engagegen scorer train``, in ``opinion_model``), or ``transformers`` (a
    local text-classification model path in ``opinion_model`` with ``positive_label``).

    ``fluency_model``: a causal language model whose perplexity joins the fluency score
    (``smollm2-135m``, the embedded model, by default; a local folder or a cached hub id): 1 at or
    below ``fluency_perplexity[0]``, 0 at or above ``fluency_perplexity[1]``, log-linear between.
    ``null`` leaves fluency to readability, repetition, non-words and length, which a chain of real
    words ("Cats eyes lost by hood dropped by ...") can pass."""

    opinion: Literal["vader", "stance", "transformers"] = "vader"
    opinion_model: str | None = None
    positive_label: str = "POSITIVE"
    topic_keywords: list[str] = field(default_factory=list)
    fluency_model: str | None = "smollm2-135m"
    fluency_perplexity: list[float] = field(default_factory=lambda: [50.0, 1000.0])

    def __post_init__(self) -> None:
        if self.opinion != "vader" and not self.opinion_model:
            raise ConfigError(f"scoring.opinion_model is required for opinion scorer {self.opinion!r}")
        if self.fluency_model is not None and not self.fluency_model.strip():
            raise ConfigError("scoring.fluency_model must name a model (or be null for no perplexity)")
        ppl = self.fluency_perplexity
        if len(ppl) != 2 or not 0 < ppl[0] < ppl[1] or not all(math.isfinite(v) for v in ppl):
            raise ConfigError(f"scoring.fluency_perplexity must be [good, bad] with 0 < good < bad, got {ppl}")


@dataclass(frozen=True)
class GenerationConfig:
    """The policy model and how it is prompted.

    model: ``smollm2-135m`` (embedded) or any Hugging Face model id or local path.
    mode: ``instruction`` (``prompt`` through the chat template), ``completion`` (raw text, the
        paper's "Cats are the most"), ``reply`` (answer posts from ``reply_posts``, a CSV/JSONL).
    prompt: the template; ``{topic}`` is filled in. Empty means the mode's default.
    """

    model: str = "smollm2-135m"
    mode: Literal["instruction", "completion", "reply"] = "instruction"
    prompt: str = ""
    reply_posts: str | None = None
    max_new_tokens: int = 48
    temperature: float = 1.0
    top_p: float = 1.0

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ConfigError(f"generation.max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if not self.temperature > 0:
            raise ConfigError(f"generation.temperature must be > 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"generation.top_p must be in (0, 1], got {self.top_p}")
        if self.mode == "reply" and not self.reply_posts:
            raise ConfigError("generation.reply_posts (a CSV/JSONL of posts) is required in reply mode")


def _default_stages() -> list[StageConfig]:
    return [
        StageConfig(steps=30, learning_rate=1.5e-3, lr_scheduler="cosine", warmup_steps=3, temperature=0.8,
                    until=0.9, plateau=False),
        StageConfig(steps=15, learning_rate=3e-4, temperature=0.7, eval_samples=64),
    ]


@dataclass(frozen=True)
class TrainerConfig:
    """RL settings: the schedule of stages, the method, the adapter.

    stages: the schedule (:class:`~engagegen.training.schedule.StageConfig`): each stage's steps,
        learning rate, sampling temperature, prompts per step, held-out sample size and target.
        Each starts from the best adapter so far, with a fresh optimizer. goal: training stops once
        the held-out readable engagement reaches this fraction of the optimum. patience,
        min_improvement: a stage ends early after ``patience`` held-out evaluations that do not
        beat the best score by ``min_improvement`` (a plateau). budget: the most steps of all
        stages together (``None``: the sum of their steps).
    algorithm: ``grpo`` or ``rloo`` (TRL trainers). group_size: posts sampled per prompt (the
        group GRPO normalises within). prompts_per_step: prompts per optimisation step (a stage
        may set its own). updates_per_batch: optimizer updates on each sampled batch (TRL's
        ``num_iterations``; above 1 the policy ratio is clipped, as in PPO). beta: KL coefficient to the untuned model (0: no reference pass; the
        reward's gates keep posts readable instead). lora_*: the adapter (on all linear layers by
        default).
    entropy_coef, entropy_floor: an entropy bonus against a policy collapsing onto a few posts:
        the loss subtracts ``entropy_coef`` times the mean token entropy of the sampled posts, at
        every step, or with ``entropy_floor`` (nats) only at the steps after one whose mean token
        entropy fell to the floor or below (TRL's adaptive entropy control, its coefficient held
        fixed). ``entropy_coef`` ``None`` is 0.2 with GRPO and 0 with RLOO (TRL's RLOO has no
        entropy bonus); the floor (0.5) lies below a healthy run's entropy (about 1-2 nats), so
        the bonus acts only once a policy starts writing the same post again and again.
    checkpoint_every: steps between checkpoints (adapter + optimizer + RNG state).
    gradient_checkpointing: recompute activations in the backward pass (saves memory on large
        models, costs time; off by default, since a 135M model fits easily).
    init_adapter: a LoRA adapter folder (``adapter_config.json`` + ``adapter_model.safetensors``,
        e.g. an earlier run's ``adapter/``) to start from instead of a fresh adapter. Its rank and
        target modules must be this config's. It is evaluated before the first step.
    """

    stages: list[StageConfig] = field(default_factory=_default_stages)
    goal: float = 0.95
    patience: int = 2
    min_improvement: float = 0.02
    budget: int | None = None
    algorithm: Literal["grpo", "rloo"] = "grpo"
    beta: float = 0.0
    group_size: int = 16
    prompts_per_step: int = 1
    updates_per_batch: int = 1
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    lora_target_modules: str = "all-linear"
    max_grad_norm: float = 1.0
    entropy_coef: float | None = None
    entropy_floor: float | None = 0.5
    gradient_checkpointing: bool = False
    checkpoint_every: int = 10
    keep_checkpoints: int = 2
    report_to: list[str] = field(default_factory=list)
    init_adapter: str | None = None

    def __post_init__(self) -> None:
        if not self.stages:
            raise ConfigError("training.stages must hold at least one stage")
        for name in ("group_size", "prompts_per_step", "updates_per_batch", "lora_r", "lora_alpha", "checkpoint_every", "keep_checkpoints",
                     "patience"):
            if getattr(self, name) < 1:
                raise ConfigError(f"training.{name} must be >= 1, got {getattr(self, name)}")
        if self.group_size < 2:
            raise ConfigError(f"training.group_size must be >= 2 (group-relative RL compares posts), got {self.group_size}")
        if self.budget is not None and self.budget < 1:
            raise ConfigError(f"training.budget must be >= 1 step (or null), got {self.budget}")
        if not 0 < self.goal <= 1:
            raise ConfigError(f"training.goal must be in (0, 1], got {self.goal}")
        if not 0 <= self.min_improvement < 1:
            raise ConfigError(f"training.min_improvement must be in [0, 1), got {self.min_improvement}")
        if self.beta < 0:
            raise ConfigError(f"training.beta must be >= 0, got {self.beta}")
        if self.entropy_coef is not None and self.entropy_coef < 0:
            raise ConfigError(f"training.entropy_coef must be >= 0, got {self.entropy_coef}")
        if self.entropy_floor is not None and not self.entropy_floor > 0:
            raise ConfigError(f"training.entropy_floor must be > 0 (or null), got {self.entropy_floor}")
        if self.algorithm == "rloo" and self.entropy_bonus > 0:
            raise ConfigError("training.entropy_coef: TRL's RLOO trainer has no entropy bonus; use algorithm grpo or entropy_coef 0")
        if not 0 <= self.lora_dropout < 1:
            raise ConfigError(f"training.lora_dropout must be in [0, 1), got {self.lora_dropout}")
        unknown = set(self.report_to) - {"tensorboard", "wandb"}
        if unknown:
            raise ConfigError(f"training.report_to accepts 'tensorboard' and 'wandb', got {sorted(unknown)}")

    @property
    def steps(self) -> int:
        """The most steps the schedule can take: the budget, or the stages' steps together."""
        total = sum(stage.steps for stage in self.stages)
        return total if self.budget is None else min(self.budget, total)

    @property
    def entropy_bonus(self) -> float:
        """The entropy coefficient in force: ``entropy_coef``, or its default for the algorithm."""
        if self.entropy_coef is not None:
            return self.entropy_coef
        return 0.2 if self.algorithm == "grpo" else 0.0


@dataclass(frozen=True)
class EvaluationConfig:
    """Held-out evaluation.

    During training, every ``every`` steps, ``during_samples`` validation posts (a stage may set
    its own number) judge the policy: the best adapter is kept, and the schedule reacts. After
    training, ``samples`` fresh posts per policy, sampled with a seed the validation never used,
    give the reported numbers: the trained policy (best adapter, at the temperature it was
    validated at), the untuned model, and best-of-N: the ``best_of_n_top`` best of N untuned posts,
    N the posts training sampled (at most ``best_of_n_max``). Posts are generated ``batch_size``
    at a time.

    A validation score that would make the adapter the run's best, or reach the goal, is first
    confirmed on ``confirm_samples`` more posts and judged on all of them together (0: never):
    the best of many noisy scores on a few dozen posts overstates the policy it picks."""

    every: int = 5
    during_samples: int = 32
    confirm_samples: int = 64
    samples: int = 256
    best_of_n_top: int = 64
    best_of_n_max: int = 2048
    batch_size: int = 64

    def __post_init__(self) -> None:
        for name in ("every", "during_samples", "samples", "best_of_n_top", "best_of_n_max", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"evaluation.{name} must be >= 1, got {getattr(self, name)}")
        if self.confirm_samples < 0:
            raise ConfigError(f"evaluation.confirm_samples must be >= 0, got {self.confirm_samples}")


@dataclass(frozen=True)
class RunConfig:
    """Everything one run needs. ``seed`` controls sampling, training and evaluation (the network
    has its own, ``network.seed``)."""

    topic: str = "cats"
    seed: int = PAPER_SEED
    agent: str | int = "central"
    network: NetworkConfig = field(default_factory=NetworkConfig)
    engagement: EngagementConfig = field(default_factory=EngagementConfig)
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    training: TrainerConfig = field(default_factory=TrainerConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)

    def __post_init__(self) -> None:
        if not self.topic.strip():
            raise ConfigError("topic must not be empty: posts are scored for alignment with it")


def load_run_config(path: str | Path, overrides: dict | None = None) -> RunConfig:
    """Read a run config from YAML (unknown keys and bad values rejected with their dotted path)."""
    data = load_yaml(path)
    if overrides:
        data = {**data, **overrides}
    return from_dict(RunConfig, data)
