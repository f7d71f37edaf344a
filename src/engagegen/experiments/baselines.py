"""Baselines for every configuration of a grid, each scored by that configuration's own reward.

Sampling posts is the expensive part, and most of it does not depend on the network: the untuned
model's posts depend only on (model, prompt, generation settings, seed), so one pool is sampled per
such key and scored against every configuration; a prompt-steered pool depends only on the
audience description in its prompt (in quarters, so that networks with a similar opinion mix share it).
Pools are cached as JSONL files in the grid folder (``pools/``) and reused by later runs. A pool
of n posts is the first n of every larger pool with the same key (:func:`sample_local`): a larger
budget extends the cached pool, and a smaller budget scored again sees the posts it saw before.

Scoring a pool against many configurations repeats the text scorers (opinion, topic, fluency,
moderation) on the same texts; they are memoised per text, so each text is scored once and only
the engagement lookup runs per configuration. The reward object is the same
:class:`~engagegen.reward.EngagementReward` a training run builds.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engagegen.config import to_dict
from engagegen.experiments.config import BaselineConfig, GridPoint, GridWarning
from engagegen.experiments.results import target_columns
from engagegen.experiments.pools import (
    Pool,
    PoolCache,
    SamplingModels,
    chunk_size,
    content_key,
    describe_audience,
    generation_key,
    openai_key,
    sample_local,
    steered_key,
    steered_prompt,
    untuned_key,
)
from engagegen.generation import LocalModel, OpenAICompatible, build_prompts, to_chat
from engagegen.network import place_agent
from engagegen.reward import SteppedEngagement
from engagegen.training.build import build_engagement, build_network, build_reward, build_scorers
from engagegen.training.config import RunConfig

__all__ = ["BaselineScorer", "random_opinion_engagement", "score_configuration", "run_baselines", "POLICIES"]

#: Policies of the results table, in the order the figures show them.
POLICIES = ("untuned", "best_of_n", "prompt_steered", "openai", "random_oracle", "trained")

# --------------------------------------------------------------------------------------- scoring
class _Memo:
    """A text scorer that scores each distinct text once (``score``; ``flags`` for moderation,
    ``out_of_language`` for the language check)."""

    def __init__(self, scorer: Any) -> None:
        self.scorer = scorer
        self._values: dict[str, Any] = {}
        self._flags: dict[str, list[str]] = {}
        self._language: dict[str, bool] = {}

    def _lookup(self, texts: Sequence[str], cache: dict[str, Any], fn: Callable[[list[str]], Any]) -> list[Any]:
        todo = list(dict.fromkeys(t for t in texts if t not in cache))
        if todo:
            cache.update(zip(todo, list(fn(todo))))
        return [cache[t] for t in texts]

    def score(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self._lookup(texts, self._values, self.scorer.score), dtype=np.float64)

    def flags(self, texts: Sequence[str]) -> list[list[str]]:
        return [list(f) for f in self._lookup(texts, self._flags, self.scorer.flags)]

    def out_of_language(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self._lookup(texts, self._language, self.scorer.out_of_language), dtype=bool)


def random_opinion_engagement(reward: Any) -> float:
    """Expected engagement of a post whose opinion value s ~ Uniform(0, 1), via the reward's lookup.

    Exact for engagement models that are step functions of s (they report their breakpoints): the
    sum over steps of width x engagement. Otherwise a 2,000-point midpoint rule.
    """

    if getattr(reward, "rewards", None):  # a reward over several audiences (replies to several posts): their mean
        return float(np.mean([random_opinion_engagement(r) for r in reward.rewards]))
    model = reward.engagement
    if isinstance(model, SteppedEngagement):
        inner = np.asarray(model.breakpoints(reward.network, reward.source), dtype=np.float64)
        edges = np.unique(np.concatenate([[0.0, 1.0], inner[(inner > 0) & (inner < 1)]]))
        mids, widths = 0.5 * (edges[:-1] + edges[1:]), np.diff(edges)
        return float(np.dot(reward.lookup(mids), widths))
    grid = (np.arange(2000) + 0.5) / 2000
    return float(reward.lookup(grid).mean())


class BaselineScorer:
    """Builds each configuration's reward once per (network, agent, engagement, scoring) and scores
    pools with it; networks, opinion scorers and per-text scores are shared across configurations."""

    def __init__(self) -> None:
        self._networks: dict[str, Any] = {}
        self._agents: dict[tuple[str, str | int], int] = {}
        self._scorers: dict[str, dict[str, _Memo]] = {}

    def network(self, cfg: RunConfig) -> Any:
        key = content_key(to_dict(cfg.network))
        if key not in self._networks:
            self._networks[key] = build_network(cfg.network)
        return self._networks[key]

    def audience(self, cfg: RunConfig) -> tuple[Any, int]:
        """The network and the agent's user, placed once per network and position (placing at
        ``central`` on a large network estimates betweenness, and each configuration asks several times)."""
        net = self.network(cfg)
        key = (content_key(to_dict(cfg.network)), cfg.agent)
        if key not in self._agents:
            self._agents[key] = place_agent(net, cfg.agent)
        return net, self._agents[key]

    def scorers(self, cfg: RunConfig) -> dict[str, _Memo]:
        """The reward's text scorers (:func:`~engagegen.training.build.build_scorers`), memoised and
        shared by every configuration with the same topic and scoring config."""
        key = content_key([cfg.topic, to_dict(cfg.scoring)])
        if key not in self._scorers:
            self._scorers[key] = {name: _Memo(scorer) for name, scorer in build_scorers(cfg).items()}
        return self._scorers[key]

    def reward(self, cfg: RunConfig) -> Any:
        """The configuration's reward, as training builds it (with the shared, memoised scorers)."""
        net, agent = self.audience(cfg)
        return build_reward(cfg, net, agent, build_engagement(cfg.engagement, cfg.network.seed, net), self.scorers(cfg))


def _policy(out: Any, name: str) -> dict[str, Any]:
    return {f"{name}_n": len(out), f"{name}_engaged": float(out.engaged.mean()),
            f"{name}_readable_fraction": float(out.readable_fraction.mean()),
            f"{name}_fraction": float(out.engaged_fraction.mean()), f"{name}_gate_share": float(out.passes_gates.mean()),
            f"{name}_opinion": float(out.opinion.mean())}


def _examples(out: Any, policy: str, k: int) -> list[dict[str, Any]]:
    passed = out.passes_gates
    top = np.argsort(-out.total, kind="stable")[:k]
    return [{"policy": policy, "text": out.text[i], "opinion": round(float(out.opinion[i]), 4),
             "engaged": float(out.engaged[i]), "total": round(float(out.total[i]), 4), "passes_gates": bool(passed[i])}
            for i in top]


def score_configuration(
    configuration: GridPoint, settings: BaselineConfig, scorer: BaselineScorer, pools: dict[str, Pool],
    openai_errors: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Every baseline of one configuration, as a flat dict of results (plus ``examples``)."""
    started = time.time()
    cfg = configuration.config
    reward = scorer.reward(cfg)
    net, agent = scorer.audience(cfg)
    opt = reward.optimum
    value = float(opt.value)
    result: dict[str, Any] = {
        "n_users": int(net.n_users), "agent_user": int(agent), "optimum": value, "optimum_exact": bool(opt.exact), "optimal_message": float(opt.message),
        "optimal_intervals": [[float(iv.lo), float(iv.hi)] for iv in opt.intervals],
    }
    examples: list[dict[str, Any]] = []
    opinions: dict[str, Any] = {}
    k = settings.examples
    n_best = _best_of_n(configuration, settings)
    if settings.untuned or settings.best_of_n:
        pool = pools[untuned_key(cfg)]
        out = reward.score(pool.texts[: max(n_best, settings.samples)], pool.prompts[: max(n_best, settings.samples)])
        if settings.untuned:
            result.update(_policy(out, "untuned"))
            examples += _examples(out, "untuned", k)
            opinions["untuned"] = out.opinion
        if settings.best_of_n:
            head = out.subset(np.arange(min(n_best, len(out))))
            order = np.argsort(-head.total, kind="stable")
            best, topk = int(order[0]), order[: settings.samples]
            result.update({"best_of_n_n": len(head), "best_of_n_engaged": float(head.engaged[best]),
                           "best_of_n_fraction": float(head.engaged_fraction[best]),
                           "best_of_n_readable_fraction": float(head.readable_fraction[best]),
                           "best_of_n_opinion": float(head.opinion[best]),
                           "best_of_n_topk_engaged": float(head.engaged[topk].mean()),
                           "best_of_n_topk_fraction": float(head.engaged_fraction[topk].mean()),
                           "best_of_n_topk_readable_fraction": float(head.readable_fraction[topk].mean())})
            examples += _examples(head, "best_of_n", k)
    if settings.prompt_steered and cfg.generation.mode != "reply":
        audience = describe_audience(net.opinions, agent, cfg.topic)
        pool = pools[steered_key(cfg, audience)]
        out = reward.score(pool.texts, pool.prompts)
        result["audience"] = audience
        result.update(_policy(out, "prompt_steered"))
        examples += _examples(out, "prompt_steered", k)
    if settings.openai is not None:
        key = openai_key(cfg, settings)
        result["openai_label"] = settings.openai.label
        if key in pools:
            out = reward.score(pools[key].texts, pools[key].prompts)
            result.update(_policy(out, "openai"))
            examples += _examples(out, "openai", k)
        else:
            result["openai_error"] = (openai_errors or {}).get(key, "no posts")
    if settings.random_oracle:
        engaged = random_opinion_engagement(reward)
        result.update({"random_oracle_engaged": engaged, "random_oracle_fraction": engaged / value if value > 0 else 0.0})
    # the reply reward has no single engagement model over s, and so no target set
    result.update(target_columns(getattr(reward, "engagement", None), net, agent, opinions))
    result["baselines_seconds"] = round(time.time() - started, 3)
    result["examples"] = examples
    return result


def _best_of_n(configuration: GridPoint, settings: BaselineConfig) -> int:
    n = configuration.sample_budget
    return min(n, settings.best_of_n_max) if settings.best_of_n_max else n


# ------------------------------------------------------------------------------------------ driver
@dataclass
class _Need:
    kind: str
    key: str
    cfg: RunConfig
    n: int
    prompt: str | None = None  # the steering request (steered pools)
    smaller: Pool | None = None  # a cached pool with fewer posts, which sampling may extend


def _needs(configurations: Sequence[GridPoint], settings: BaselineConfig, scorer: BaselineScorer,
           broken: dict[str, str]) -> dict[tuple[str, str], _Need]:
    needs: dict[tuple[str, str], _Need] = {}
    for c in configurations:
        cfg = c.config
        try:
            if settings.untuned or settings.best_of_n:
                n = max(_best_of_n(c, settings), settings.samples)
                key = ("untuned", untuned_key(cfg))
                if key not in needs or needs[key].n < n:
                    needs[key] = _Need("untuned", key[1], cfg, n)
            if settings.prompt_steered and cfg.generation.mode != "reply":  # a reply answers its post: no steering
                net, agent = scorer.audience(cfg)
                audience = describe_audience(net.opinions, agent, cfg.topic)
                key = ("steered", steered_key(cfg, audience))
                needs.setdefault(key, _Need("steered", key[1], cfg, settings.samples, steered_prompt(cfg.topic, audience)))
            if settings.openai is not None:
                key = ("openai", openai_key(cfg, settings))
                needs.setdefault(key, _Need("openai", key[1], cfg, settings.samples))
        except Exception as exc:  # noqa: BLE001  (a broken configuration is reported, the others go on)
            broken[c.id] = f"{type(exc).__name__}: {exc}"
    return needs


def _warn_same_runs(configurations: Sequence[GridPoint], scorer: BaselineScorer, broken: dict[str, str]) -> None:
    """Warn about grid points that name one user by two positions (on the paper's network
    degree-low and comm-smallest are both user 0): they train the same run twice."""
    first: dict[str, GridPoint] = {}
    for c in configurations:
        if c.id in broken or not isinstance(c.config.agent, str):
            continue
        try:
            user = scorer.audience(c.config)[1]
        except Exception:  # noqa: BLE001  (scoring the configuration reports it)
            continue
        key = content_key(to_dict(dataclasses.replace(c.config, agent=user)))
        if key in first:
            other = first[key]
            warnings.warn(GridWarning(f"grid points {other.name!r} and {c.name!r} are the same run: agent {other.config.agent!r} "
                                      f"and {c.config.agent!r} are both user {user} of their network"), stacklevel=2)
        else:
            first[key] = c


def _sample(need: _Need, settings: BaselineConfig, models: SamplingModels, advance: Callable[[int], None],
            save: Callable[[Pool], Any]) -> Pool:
    """The pool ``need`` asks for; a local model's pool is ``save``d after every chunk as well, so
    sampling it again after a stop goes on from there (see :func:`sample_local`)."""

    cfg, gen = need.cfg, need.cfg.generation
    started = time.time()
    meta: dict[str, Any] = {"kind": need.kind, "n": need.n, "topic": cfg.topic, "seed": cfg.seed, **generation_key(cfg)}
    if need.kind == "openai":
        oa = settings.openai
        assert oa is not None
        client = OpenAICompatible(oa.base_url, oa.model, api_key_env=oa.api_key_env, timeout=oa.timeout,
                                  max_retries=oa.max_retries)
        prompts = build_prompts(gen.mode, cfg.topic, template=gen.prompt or None, posts_file=gen.reply_posts)
        per_prompt = -(-need.n // len(prompts))
        out = client.generate(prompts, n=per_prompt, max_new_tokens=gen.max_new_tokens, temperature=gen.temperature,
                              seed=cfg.seed)
        pairs = [(prompts[j], out[j][k]) for k in range(per_prompt) for j in range(len(prompts))][: need.n]
        advance(need.n)
        meta.update(model=oa.model, base_url=oa.base_url)
        return Pool(need.kind, need.key, [p for p, _ in pairs], [t for _, t in pairs],
                    {**meta, "seconds": round(time.time() - started, 1)})

    model, tokenizer = models.get(gen.model)
    generator = LocalModel.from_loaded(model, tokenizer, batch_size=settings.batch_size)
    if need.kind == "untuned":
        prompts = build_prompts(gen.mode, cfg.topic, template=gen.prompt or None, posts_file=gen.reply_posts,
                                tokenizer=tokenizer)
    else:
        assert need.prompt is not None
        # The steering request is an instruction: through the chat template when the model has one.
        prompts = [to_chat(tokenizer, need.prompt) if tokenizer.chat_template else need.prompt]
        meta["request"] = need.prompt
    # A distinct seed stream per pool kind, so the steered pool does not replay the untuned samples.
    seed = cfg.seed + (0 if need.kind == "untuned" else 100_003)
    meta["chunk"] = chunk_size(prompts, settings.batch_size)
    # A smaller cached pool sampled in chunks of the same size is the start of this one: keep it.
    start = need.smaller if need.smaller is not None and need.smaller.meta.get("chunk") == meta["chunk"] else None
    earlier = float(start.meta.get("seconds", 0.0)) if start is not None else 0.0

    def pool(prompt_of: list[str], texts: list[str]) -> Pool:
        return Pool(need.kind, need.key, prompt_of, texts,
                    {**meta, "n": len(texts), "seconds": round(time.time() - started + earlier, 1)})

    return pool(*sample_local(generator, prompts, need.n, cfg, seed, settings.batch_size, advance, start,
                              checkpoint=lambda prompt_of, texts: save(pool(prompt_of, texts))))


def run_baselines(
    configurations: Sequence[GridPoint], settings: BaselineConfig, pool_dir: str | Path, progress: bool = True,
) -> Iterator[tuple[GridPoint, dict[str, Any] | str]]:
    """Baselines of each configuration: yields ``(configuration, results)`` or ``(configuration, error)``.

    Pools are sampled first (cached in ``pool_dir``), then every configuration is scored against them.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    cache = PoolCache(pool_dir)
    scorer = BaselineScorer()
    broken: dict[str, str] = {}
    pools: dict[str, Pool] = {}
    openai_errors: dict[str, str] = {}
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=not progress) as bar:
        setup = bar.add_task("networks", total=None, info="building networks and placing agents")
        needs = _needs(configurations, settings, scorer, broken)
        _warn_same_runs(configurations, scorer, broken)
        bar.remove_task(setup)
        todo = []
        for (kind, key), need in needs.items():
            cached = cache.load(kind, key, need.n)
            if cached is not None:
                pools[key] = cached
            else:
                need.smaller = cache.load(kind, key)
                todo.append(need)
        if todo:
            task = bar.add_task("sampling posts", total=sum(n.n for n in todo), info="")
            models = SamplingModels()
            for need in sorted(todo, key=lambda n: (n.kind == "openai", n.cfg.generation.model)):
                bar.update(task, info=f"{need.kind} pool ({need.cfg.generation.model if need.kind != 'openai' else settings.openai.label})")  # type: ignore[union-attr]
                try:
                    pool = _sample(need, settings, models, lambda k: bar.advance(task, k), cache.save)
                except Exception as exc:  # noqa: BLE001  (a failed OpenAI server must not stop the local baselines)
                    if need.kind != "openai":
                        raise
                    openai_errors[need.key] = f"{type(exc).__name__}: {exc}"
                    continue
                cache.save(pool)
                pools[need.key] = pool
            models.model = None
        task = bar.add_task("scoring baselines", total=len(configurations), info="")
        for c in configurations:
            if c.id in broken:
                yield c, broken[c.id]
            else:
                bar.update(task, info=c.name)
                try:
                    result = score_configuration(c, settings, scorer, pools, openai_errors)
                except Exception as exc:  # noqa: BLE001
                    yield c, f"{type(exc).__name__}: {exc}"
                else:
                    yield c, result
            bar.advance(task)


