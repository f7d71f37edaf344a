"""The posts baselines are scored on: pools of sampled posts, cached and grown, and the prompts of
the prompt-steered baseline.

The untuned model's posts depend only on (model, prompt, generation settings, seed), so one pool
is sampled per such key (:func:`untuned_key`) and scored against every configuration; a
prompt-steered pool depends only on the audience description in its prompt (in quarters, so that
networks with a similar opinion mix share it). Pools are cached as JSONL files in the grid folder
(``pools/``). A pool of n posts is the first n of every larger pool with the same key
(:func:`sample_local`): a larger budget extends the cached pool, and a smaller budget scored again
sees the posts it saw before.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engagegen.experiments.config import BaselineConfig
from engagegen.files import atomic_write_text
from engagegen.generation import load_model_and_tokenizer
from engagegen.training.config import RunConfig

__all__ = ["Pool", "PoolCache", "sample_local", "chunk_size", "describe_audience", "steered_prompt", "untuned_key",
           "steered_key", "openai_key", "content_key", "generation_key", "SamplingModels"]


# Opinion bands of the audience description: against below 0.4, neutral up to 0.6, in favour above.
_AGAINST, _FAVOUR = 0.4, 0.6


def content_key(data: Any) -> str:
    """A short stable hash of JSON-able ``data``: the name of a cached pool or memo."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:12]


# ---------------------------------------------------------------------------------------------- pools
@dataclass
class Pool:
    """Posts sampled for a baseline: ``prompts[i]`` is the exact model input that produced ``texts[i]``."""
    kind: str
    key: str
    prompts: list[str]
    texts: list[str]
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.texts)

    def head(self, n: int) -> Pool:
        return Pool(self.kind, self.key, self.prompts[:n], self.texts[:n], self.meta)


class PoolCache:
    """Pools as ``<folder>/<kind>-<key>.jsonl``: a metadata line, then one ``{"prompt", "text"}`` per post."""
    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def path(self, kind: str, key: str) -> Path:
        return self.folder / f"{kind}-{key}.jsonl"

    def load(self, kind: str, key: str, n: int | None = None) -> Pool | None:
        """The cached pool if it holds at least ``n`` posts (its first ``n``), else None; with ``n``
        None, all of it."""
        path = self.path(kind, key)
        if not path.exists():
            return None
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
            meta = json.loads(lines[0])["meta"]
            rows = [json.loads(line) for line in lines[1:] if line.strip()]
        except (OSError, ValueError, KeyError, IndexError):
            return None  # unreadable: sample again (the file is rewritten atomically)
        if n is not None and len(rows) < n:
            return None
        pool = Pool(kind, key, [r["prompt"] for r in rows], [r["text"] for r in rows], meta)
        return pool if n is None else pool.head(n)

    def save(self, pool: Pool) -> Path:
        lines = [json.dumps({"meta": pool.meta})] + [json.dumps({"prompt": p, "text": t}) for p, t in zip(pool.prompts, pool.texts)]
        return atomic_write_text(self.path(pool.kind, pool.key), "\n".join(lines) + "\n")


def generation_key(cfg: RunConfig) -> dict[str, Any]:
    gen = cfg.generation
    return {"model": gen.model, "max_new_tokens": gen.max_new_tokens, "temperature": gen.temperature,
            "top_p": gen.top_p, "seed": cfg.seed}


def untuned_key(cfg: RunConfig) -> str:
    """The untuned pool a configuration uses: the same for every network and agent."""
    gen = cfg.generation
    return content_key({**generation_key(cfg), "mode": gen.mode, "prompt": gen.prompt, "reply_posts": gen.reply_posts,
                 "topic": cfg.topic})


# ------------------------------------------------------------------------------ audience description
def describe_audience(opinions: np.ndarray, agent: int, topic: str) -> str:
    """The audience's opinion mix in words, in quarters, so that audiences with similar mixes share
    one prompt (and one pool of posts). Against: opinion below 0.4; in favour: above 0.6.

    >>> describe_audience(np.array([0.5, 0.05, 0.1, 0.2, 0.9]), 0, "cats")
    'about three quarters of them are against cats, none are neutral and about a quarter are in favour'
    """
    x = np.delete(np.asarray(opinions, dtype=np.float64), agent)
    if x.size == 0:
        x = np.asarray(opinions, dtype=np.float64)
    shares = np.array([np.mean(x < _AGAINST), np.mean((x >= _AGAINST) & (x <= _FAVOUR)), np.mean(x > _FAVOUR)])
    quarters = np.round(shares * 4).astype(int)
    quarters[int(np.argmax(shares))] += 4 - quarters.sum()  # make the rounded shares add up to the whole
    against, neutral, favour = (_QUARTERS[q] for q in quarters)
    return f"{against} of them are against {topic}, {neutral} are neutral and {favour} are in favour"


_QUARTERS = ("none", "about a quarter", "about half", "about three quarters", "all")


def steered_prompt(topic: str, audience: str) -> str:
    """The prompt-steered baseline's request: the audience's opinion mix and a post that fits it."""
    return (f"Write a one-sentence social media post about {topic} for your followers. About your followers: {audience}. "
            f"Write the post so that as many of them as possible agree with it and share it.")


# ------------------------------------------------------------------------------------------ sampling
def chunk_size(prompts: Sequence[str], batch_size: int) -> int:
    """Posts per prompt that :func:`sample_local` samples in one call (one seed)."""
    return max(1, batch_size // len(prompts))


def sample_local(
    generator: Any, prompts: Sequence[str], n: int, cfg: RunConfig, seed: int, batch_size: int,
    advance: Callable[[int], None] | None = None, start: Pool | None = None,
    checkpoint: Callable[[list[str], list[str]], None] | None = None,
) -> tuple[list[str], list[str]]:
    """``n`` posts spread evenly over ``prompts`` (exact model inputs), in round-robin order so any
    prefix of the pool is balanced over the prompts. Chunk ``i`` is sampled whole (``chunk`` posts
    per prompt, seed ``seed + i``) and cut to what is needed: a batch's random stream depends on its
    size, so a cut-short chunk sampled at its own size would differ from the same chunk in a larger
    pool. Sampled this way, the pool of ``n`` posts is the first ``n`` of every larger pool with the
    same settings, and a smaller budget scored again sees the same posts.

    ``start``: a smaller pool sampled the same way (same prompts, seed and chunk size); its whole
    chunks are kept and sampling goes on from the next chunk, so the result is the pool a single
    call would have sampled, at the cost of the new posts only.

    ``checkpoint``: called after every whole chunk but the last with the pool so far (its prompts
    and posts, in pool order), which is such a start: a long sampling that is stopped loses at most
    the chunk in flight."""
    gen = cfg.generation
    prompts = list(prompts)
    per_prompt = -(-n // len(prompts))
    chunk = chunk_size(prompts, batch_size)
    groups: list[list[str]] = [[] for _ in prompts]
    kept = 0  # posts per prompt taken from ``start``: its whole chunks
    if start is not None:
        kept = min(len(start) // len(prompts) // chunk * chunk, per_prompt)
        for i in range(kept * len(prompts)):
            if start.prompts[i] != prompts[i % len(prompts)]:
                raise ValueError(f"pool {start.key}: post {i} was sampled from another prompt")
            groups[i % len(prompts)].append(start.texts[i])
        if advance and kept:
            advance(kept * len(prompts))
    for i, begin in enumerate(range(0, per_prompt, chunk)):
        if begin < kept:
            continue
        count = min(chunk, per_prompt - begin)
        out = generator.generate(prompts, n=chunk, max_new_tokens=gen.max_new_tokens, temperature=gen.temperature,
                                 top_p=gen.top_p, seed=seed + i, raw=True)
        for group, new in zip(groups, out):
            group.extend(new[:count])
        if advance:
            advance(count * len(prompts))
        if checkpoint and begin + chunk < per_prompt:
            checkpoint(*_pool_order(prompts, groups, begin + chunk, n))
    return _pool_order(prompts, groups, per_prompt, n)


def _pool_order(prompts: list[str], groups: list[list[str]], per_prompt: int, n: int) -> tuple[list[str], list[str]]:
    """The first ``per_prompt`` posts of every prompt's group in round-robin order, at most ``n``."""
    order = [(j, k) for k in range(per_prompt) for j in range(len(prompts))][:n]
    return [prompts[j] for j, _ in order], [groups[j][k] for j, k in order]


class SamplingModels:
    """One local model in memory at a time (pools are sampled grouped by model)."""

    def __init__(self) -> None:
        self.name: str | None = None
        self.model: Any = None
        self.tokenizer: Any = None

    def get(self, name: str) -> tuple[Any, Any]:
        if name != self.name:
            self.model = self.tokenizer = None
            self.model, self.tokenizer = load_model_and_tokenizer(name)
            self.model.eval()
            self.name = name
        return self.model, self.tokenizer


def steered_key(cfg: RunConfig, audience: str) -> str:
    return content_key({**generation_key(cfg), "prompt": steered_prompt(cfg.topic, audience)})


def openai_key(cfg: RunConfig, settings: BaselineConfig) -> str:
    assert settings.openai is not None
    gen = cfg.generation
    return content_key({"base_url": settings.openai.base_url, "model": settings.openai.model, "mode": gen.mode,
                 "prompt": gen.prompt, "topic": cfg.topic, "max_new_tokens": gen.max_new_tokens,
                 "temperature": gen.temperature, "seed": cfg.seed, "n": settings.samples})
