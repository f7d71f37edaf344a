"""One typed config for a run: network, agent, engagement model, scorers, reward, generator, RL trainer.

Every field has a documented default that works on a 2-core CPU with the embedded SmolLM2-135M;
on a GPU only the sizes change. Load from YAML with :func:`load_run_config`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args, get_type_hints

from engagegen.config import from_dict, load_yaml
from engagegen.reward import RewardConfig

__all__ = [
    "NetworkConfig",
    "EngagementConfig",
    "ScoringConfig",
    "GenerationConfig",
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

    def __post_init__(self) -> None:
        if self.source == "file" and not self.path:
            raise ValueError("network.path is required when network.source is 'file'")
        if self.n_users < 2:
            raise ValueError(f"network.n_users must be at least 2, got {self.n_users}")


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
    stochastic models."""

    model: Literal["bcm", "bcm-noisy", "ic", "lt", "fj", "feed"] = "bcm"
    epsilon: float = 0.2
    p: float = 0.5
    noise: float = 0.0
    n_runs: int = 256
    recommender: Literal["chronological", "popularity", "content", "opinion", "diverse"] = "opinion"
    k: int = 10
    rounds: int = 5
    follow_share: float = 0.5

    def __post_init__(self) -> None:
        if not self.epsilon > 0:
            raise ValueError(f"engagement.epsilon must be > 0, got {self.epsilon}")
        if not 0 <= self.p <= 1:
            raise ValueError(f"engagement.p must be in [0, 1], got {self.p}")
        if not 0 <= self.noise <= 1:
            raise ValueError(f"engagement.noise must be in [0, 1], got {self.noise}")
        if self.n_runs < 1:
            raise ValueError(f"engagement.n_runs must be >= 1, got {self.n_runs}")
        if self.k < 1 or self.rounds < 1:
            raise ValueError(f"engagement.k and engagement.rounds must be >= 1, got {self.k} and {self.rounds}")
        if not 0 <= self.follow_share <= 1:
            raise ValueError(f"engagement.follow_share must be in [0, 1], got {self.follow_share}")


@dataclass(frozen=True)
class ScoringConfig:
    """Scorers of the reward. ``opinion``: ``vader`` (offline default), ``stance`` (a StanceClassifier
    folder trained with ``engagegen scorer train``, in ``opinion_model``), or ``transformers`` (a
    local text-classification model path in ``opinion_model`` with ``positive_label``).

    ``fluency_model``: a causal language model whose perplexity joins the fluency score
    (``smollm2-135m`` for the embedded model, a local folder or a cached hub id): 1 at or below
    ``fluency_perplexity[0]``, 0 at or above ``fluency_perplexity[1]``, log-linear between. Without
    it fluency is readability, repetition, non-words and length, which a chain of real words
    ("Cats eyes lost by hood dropped by ...") can pass."""

    opinion: Literal["vader", "stance", "transformers"] = "vader"
    opinion_model: str | None = None
    positive_label: str = "POSITIVE"
    topic_keywords: list[str] = field(default_factory=list)
    fluency_model: str | None = None
    fluency_perplexity: list[float] = field(default_factory=lambda: [50.0, 1000.0])

    def __post_init__(self) -> None:
        if self.opinion != "vader" and not self.opinion_model:
            raise ValueError(f"scoring.opinion_model is required for opinion scorer {self.opinion!r}")
        if self.fluency_model is not None and not self.fluency_model.strip():
            raise ValueError("scoring.fluency_model must name a model (or be null for no perplexity)")
        ppl = self.fluency_perplexity
        if len(ppl) != 2 or not 0 < ppl[0] < ppl[1] or not all(math.isfinite(v) for v in ppl):
            raise ValueError(f"scoring.fluency_perplexity must be [good, bad] with 0 < good < bad, got {ppl}")


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
    max_new_tokens: int = 32
    temperature: float = 1.0
    top_p: float = 1.0

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"generation.max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if not self.temperature > 0:
            raise ValueError(f"generation.temperature must be > 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"generation.top_p must be in (0, 1], got {self.top_p}")
        if self.mode == "reply" and not self.reply_posts:
            raise ValueError("generation.reply_posts (a CSV/JSONL of posts) is required in reply mode")


@dataclass(frozen=True)
class TrainerConfig:
    """RL settings. Defaults were tuned on the demo set-up on a 2-core CPU (see README): 16 posts
    of 32 tokens per step take about 13 s; learning rate 1e-3 reaches ~92% of the optimum by step
    20 and held 85-97% to step 38, then degenerated without a KL term (hence 30 steps and the
    best-checkpoint selection of the evaluation); a cosine decay over 30 steps learned too slowly
    (50% at step 20).

    algorithm: ``grpo`` or ``rloo`` (TRL trainers). group_size: posts sampled per prompt (the
    group GRPO normalises within). prompts_per_step: prompts per optimisation step. beta: KL
    coefficient to the untuned model (0: no reference pass, ~10% faster per step; the reward's
    fluency gates keep posts readable instead). lora_*: the adapter (on all linear layers by default).
    checkpoint_every: steps between checkpoints (adapter + optimizer + RNG state).
    gradient_checkpointing: recompute activations in the backward pass (saves memory on large
        models, costs time; off by default, since a 135M model fits easily).
    init_adapter: a LoRA adapter folder (``adapter_config.json`` + ``adapter_model.safetensors``,
        e.g. an earlier run's ``adapter/``) to start from instead of a fresh adapter: a second,
        gentler training stage, or a policy moved to another network. Its rank and target modules
        must be this config's. The starting policy is evaluated at step 0, so a stage that only
        makes it worse keeps it as the best adapter.
    """

    algorithm: Literal["grpo", "rloo"] = "grpo"
    steps: int = 30
    learning_rate: float = 1e-3
    lr_scheduler: Literal["constant", "linear", "cosine", "constant_with_warmup"] = "constant_with_warmup"
    warmup_steps: int = 3
    beta: float = 0.0
    group_size: int = 16
    prompts_per_step: int = 1
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    lora_target_modules: str = "all-linear"
    max_grad_norm: float = 1.0
    gradient_checkpointing: bool = False
    checkpoint_every: int = 10
    keep_checkpoints: int = 2
    report_to: list[str] = field(default_factory=list)
    init_adapter: str | None = None

    def __post_init__(self) -> None:
        for name in ("steps", "group_size", "prompts_per_step", "lora_r", "lora_alpha", "checkpoint_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise ValueError(f"training.{name} must be >= 1, got {getattr(self, name)}")
        if self.group_size < 2:
            raise ValueError(f"training.group_size must be >= 2 (group-relative RL compares posts), got {self.group_size}")
        if not self.learning_rate > 0:
            raise ValueError(f"training.learning_rate must be > 0, got {self.learning_rate}")
        schedules = get_args(get_type_hints(TrainerConfig)["lr_scheduler"])
        if self.lr_scheduler not in schedules:
            raise ValueError(f"training.lr_scheduler must be one of {', '.join(schedules)}, got {self.lr_scheduler!r}")
        if self.beta < 0:
            raise ValueError(f"training.beta must be >= 0, got {self.beta}")
        if not 0 <= self.lora_dropout < 1:
            raise ValueError(f"training.lora_dropout must be in [0, 1), got {self.lora_dropout}")
        unknown = set(self.report_to) - {"tensorboard", "wandb"}
        if unknown:
            raise ValueError(f"training.report_to accepts 'tensorboard' and 'wandb', got {sorted(unknown)}")


@dataclass(frozen=True)
class EvaluationConfig:
    """Held-out evaluation. During training every ``every`` steps on ``during_samples`` posts (the
    best adapter is kept; training stops early once the mean engagement reaches
    ``early_stop_fraction`` of the optimum with ``early_stop_gate_share`` of posts passing the
    topic and fluency gates). After training ``samples`` fresh posts per policy: untuned,
    best-of-N (N = posts sampled in training, capped at ``best_of_n_max``), trained. Evaluation
    posts are generated ``batch_size`` at a time."""

    every: int = 5
    during_samples: int = 32
    samples: int = 64
    early_stop_fraction: float = 0.95
    early_stop_gate_share: float = 0.9
    best_of_n_max: int = 1024
    batch_size: int = 64

    def __post_init__(self) -> None:
        for name in ("every", "during_samples", "samples", "best_of_n_max", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"evaluation.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("early_stop_fraction", "early_stop_gate_share"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"evaluation.{name} must be in (0, 1], got {getattr(self, name)}")


@dataclass(frozen=True)
class RunConfig:
    """Everything one run needs. ``seed`` controls the graph, opinions, sampling and training."""

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
            raise ValueError("topic must not be empty: posts are scored for alignment with it")


def load_run_config(path: str | Path, overrides: dict | None = None) -> RunConfig:
    """Read a run config from YAML (unknown keys and bad values rejected with their dotted path)."""
    data = load_yaml(path)
    if overrides:
        data = {**data, **overrides}
    return from_dict(RunConfig, data)
