"""Turn a :class:`RunConfig` into the objects of a run: network, agent, engagement model, reward."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engagegen import scoring
from engagegen.config import ConfigError
from engagegen.engagement import (
    BoundedConfidenceCascade,
    EngagementModel,
    FriedkinJohnsen,
    IndependentCascade,
    LinearThreshold,
    NoisyBoundedConfidence,
)
from engagegen.generation.loading import EMBEDDED_MODEL, embedded_model_dir
from engagegen.interaction import ReplyReward
from engagegen.network import SocialNetwork, load_edgelist, paper_network, place_agent, planted_partition_network
from engagegen.recommend import RecommendedCascade, UserProfiles, make_recommender, synthetic_interests
from engagegen.reward import EngagementReward
from engagegen.training.config import EngagementConfig, NetworkConfig, RunConfig, ScoringConfig

__all__ = ["build_network", "build_engagement", "build_opinion_scorer", "build_fluency", "build_reward", "Audience",
           "build_audience", "build_scorers", "load_user_model"]


def _preset(value: str | float) -> str | float:
    """YAML gives numbers as floats and presets as names; numeric strings count as numbers."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def build_network(cfg: NetworkConfig) -> SocialNetwork:
    """The configured network (generators draw from ``cfg.seed``)."""
    seed = cfg.seed
    if cfg.source == "paper":
        return paper_network(opinions=cfg.opinions, modularity=_preset(cfg.modularity),
                             homophily=_preset(cfg.homophily), n_users=cfg.n_users, seed=seed)
    if cfg.source == "planted":
        return planted_partition_network(n_users=cfg.n_users, avg_degree=cfg.avg_degree,
                                         n_communities=cfg.n_communities, opinions=cfg.opinions,
                                         homophily=_preset(cfg.homophily), seed=seed)
    path = Path(str(cfg.path))
    if path.suffix == ".npz":
        return SocialNetwork.load(path)
    return load_edgelist(path, opinions=cfg.opinions_file, direction=cfg.direction)


def build_engagement(cfg: EngagementConfig, seed: int, network: SocialNetwork | None = None) -> EngagementModel:
    """The configured engagement model (``feed`` builds its users' profiles from ``network``)."""
    if cfg.model == "bcm":
        return BoundedConfidenceCascade(epsilon=cfg.epsilon)
    if cfg.model == "bcm-noisy":
        return NoisyBoundedConfidence(epsilon=cfg.epsilon, p=cfg.p, noise=cfg.noise, n_runs=cfg.n_runs, seed=seed)
    if cfg.model == "ic":
        return IndependentCascade(p=cfg.p, epsilon=cfg.epsilon, n_runs=cfg.n_runs, seed=seed)
    if cfg.model == "lt":
        return LinearThreshold(epsilon=cfg.epsilon, n_runs=cfg.n_runs, seed=seed)
    if cfg.model == "fj":
        return FriedkinJohnsen()
    if ":" in cfg.model:
        return load_user_model(cfg.model, cfg.options)
    if network is None:
        raise ConfigError("engagement.model 'feed' needs the network to build its users' feeds")
    profiles = UserProfiles(network, synthetic_interests(network, seed=seed))
    return RecommendedCascade(make_recommender(cfg.recommender, profiles), k=cfg.k, rounds=cfg.rounds,
                              follow_share=cfg.follow_share, epsilon=cfg.epsilon, seed=seed)


def load_user_model(path: str, options: dict[str, Any]) -> EngagementModel:
    """A user's own engagement model: ``package.module:ClassName`` imported and built with ``options``
    as keyword arguments (this runs that package's code)."""
    module_name, _, qualname = path.partition(":")
    where = f"engagement.model {path!r}"
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"{where}: cannot import {module_name!r} ({exc}); is it installed or on PYTHONPATH?") from None
    target: Any = module
    for part in qualname.split("."):
        if not hasattr(target, part):
            raise ConfigError(f"{where}: {module_name} has no {qualname!r}")
        target = getattr(target, part)
    try:
        model = target(**options)
    except TypeError as exc:
        raise ConfigError(f"{where}: engagement.options do not fit its arguments ({exc})") from None
    if not isinstance(model, EngagementModel):
        missing = [m for m in ("simulate", "engagement", "optimum") if not callable(getattr(model, m, None))]
        raise ConfigError(f"{where}: not an engagement model (it lacks {', '.join(missing)}; see "
                          "engagegen.engagement.EngagementModel)")
    return model


def build_opinion_scorer(cfg: ScoringConfig) -> Any:
    if cfg.opinion == "vader":
        return scoring.VaderOpinion()
    if cfg.opinion == "stance":
        return scoring.StanceClassifier.load(cfg.opinion_model)
    return scoring.TransformersOpinion(cfg.opinion_model, positive_label=cfg.positive_label)


@dataclass
class Audience:
    """The simulated side of a run: who listens, who posts, how they engage, and the reward."""

    network: SocialNetwork
    agent: int
    engagement: EngagementModel
    reward: Any  # EngagementReward, or ReplyReward in reply mode


def build_fluency(cfg: ScoringConfig) -> Any:
    """The fluency scorer, with perplexity under ``cfg.fluency_model`` when one is set (the embedded
    model is read from its float32 copy in the engagegen cache, made on first use)."""
    if cfg.fluency_model is None:
        return scoring.Fluency()
    model = str(embedded_model_dir()) if cfg.fluency_model == EMBEDDED_MODEL else cfg.fluency_model
    good, bad = cfg.fluency_perplexity
    return scoring.Fluency(perplexity_model=model, perplexity_range=(good, bad))


def build_scorers(cfg: RunConfig) -> dict[str, Any]:
    """The reward's text scorers, by :class:`EngagementReward`'s argument names: opinion, topic,
    fluency (with perplexity when ``scoring.fluency_model`` is set), moderation, language."""
    return {
        "opinion": build_opinion_scorer(cfg.scoring),
        "topic_scorer": scoring.TopicAlignment(cfg.topic, keywords=list(cfg.scoring.topic_keywords) or None),
        "fluency": build_fluency(cfg.scoring),
        "moderation": scoring.Moderation(),
        "language": scoring.LanguageCheck(),
    }


def build_reward(cfg: RunConfig, network: SocialNetwork, agent: int, engagement: EngagementModel,
                 scorers: dict[str, Any] | None = None) -> Any:
    """The run's reward: :class:`EngagementReward`, or in reply mode a :class:`ReplyReward` over the
    posts of ``generation.reply_posts`` (their authors' audiences). ``scorers``: prebuilt
    :func:`build_scorers` (shared between rewards of one topic and scoring config)."""
    scorers = scorers if scorers is not None else build_scorers(cfg)
    if cfg.generation.mode == "reply":
        return ReplyReward.from_posts_file(network, agent, str(cfg.generation.reply_posts), scorers["opinion"],
                                           epsilon=cfg.engagement.epsilon, config=cfg.reward,
                                           fluency=scorers["fluency"])
    return EngagementReward(network=network, source=agent, engagement=engagement, topic=cfg.topic, config=cfg.reward,
                            **scorers)


def build_audience(cfg: RunConfig, engagement: EngagementModel | None = None) -> Audience:
    """The run's audience; ``engagement``: an engagement model object to use instead of the config's."""
    net = build_network(cfg.network)
    agent = place_agent(net, cfg.agent)
    if engagement is not None and not isinstance(engagement, EngagementModel):
        raise ConfigError(f"engagement: a {type(engagement).__name__} is not an engagement model (it needs simulate, "
                          "engagement and optimum; see engagegen.engagement.EngagementModel)")
    model = engagement if engagement is not None else build_engagement(cfg.engagement, cfg.network.seed, net)
    return Audience(net, agent, model, build_reward(cfg, net, agent, model))
