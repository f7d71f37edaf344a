"""Judging policies: held-out samples, and the final report of a run in readable engagement.

The headline measure is *readable engagement*: users engaged per post as a fraction of the exact
optimum, where a post that fails any gate (off topic, not fluent, perplexity too high, looping,
cut off mid-sentence, flagged) engages no one. The raw fraction, counting every post, is reported
beside it. Final numbers come from fresh posts sampled with seeds that no validation during
training used, with their standard errors.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from engagegen.reward import RewardBreakdown

__all__ = ["Sampler", "evaluate_policies", "isolated_rng", "policy_summary", "distinct_share", "standard_error", "FINAL_SEED_OFFSET"]

#: Final evaluations draw from ``seed + FINAL_SEED_OFFSET`` (+1, +2): validation seeds are
#: ``seed + 7919 * step + 104729 * stage`` (+1 for a confirming sample), far below it for any run length.
FINAL_SEED_OFFSET = 1_000_003

Sampler = Callable[[list[str], int], list[list[str]]]


@contextmanager
def isolated_rng(seed: int) -> Iterator[None]:
    """Sample with a fixed seed without moving the training RNG stream, so a resumed run stays exact."""
    import torch

    state = torch.get_rng_state()
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.set_rng_state(state)


def evaluate_policies(sampler: Sampler, reward: Any, prompts: list[str], n: int, seed: int,
                      batch_size: int = 64) -> tuple[list[str], RewardBreakdown]:
    """Sample ``n`` posts spread over ``prompts`` with a fixed seed and score them.

    Posts are generated at most ``batch_size`` per call, so a large best-of-N pool does not hold
    N sequences in memory at once (and small batches do not waste the per-token overhead)."""
    per_prompt = -(-n // len(prompts))
    chunk = max(1, batch_size // len(prompts))
    groups: list[list[str]] = [[] for _ in prompts]
    with isolated_rng(seed):
        for start in range(0, per_prompt, chunk):
            for group, new in zip(groups, sampler(prompts, min(chunk, per_prompt - start))):
                group.extend(new)
    texts = [t for group in groups for t in group]
    prompt_of = [p for p in prompts for _ in range(per_prompt)]
    texts, prompt_of = texts[:n], prompt_of[:n]
    return prompt_of, reward.score(texts, prompt_of)


def standard_error(values: Sequence[float] | np.ndarray) -> float:
    """The standard error of the mean of ``values`` (0 for fewer than two)."""
    values = np.asarray(values, dtype=np.float64)
    return float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else 0.0


def distinct_share(texts: Sequence[str]) -> float:
    """The share of distinct posts among ``texts``, case and spacing aside (1: all differ).

    >>> distinct_share(["No cats.", "no  cats.", "Cats!", "Dogs."])
    0.75
    """
    return len({" ".join(t.lower().split()) for t in texts}) / len(texts) if texts else 0.0


def policy_summary(name: str, out: RewardBreakdown) -> dict[str, Any]:
    """One policy's figures: readable and raw engagement (mean users and fraction of the optimum,
    with standard errors), the share of posts passing every gate and why the others failed, the
    mean opinion value, the median perplexity and the share of distinct posts (a policy that
    always writes the same post has engagement but nothing a person could choose from)."""
    readable_users = out.engaged * out.passes_gates
    perplexity = out.perplexity[np.isfinite(out.perplexity)]
    return {
        f"{name}_readable_fraction": float(out.readable_fraction.mean()),
        f"{name}_readable_fraction_se": standard_error(out.readable_fraction),
        f"{name}_readable_engaged_mean": float(readable_users.mean()),
        f"{name}_fraction": float(out.engaged_fraction.mean()),
        f"{name}_fraction_se": standard_error(out.engaged_fraction),
        f"{name}_engaged_mean": float(out.engaged.mean()),
        f"{name}_gate_share": float(out.passes_gates.mean()),
        f"{name}_cut_off_share": float((~out.complete).mean()),
        f"{name}_degenerate_count": int(out.degenerate.sum()),
        f"{name}_flagged_count": int(out.flagged.sum()),
        f"{name}_opinion_mean": float(out.opinion.mean()),
        f"{name}_perplexity_median": float(np.median(perplexity)) if perplexity.size else None,
        f"{name}_distinct_share": distinct_share(out.text),
        f"{name}_posts": len(out),
    }
