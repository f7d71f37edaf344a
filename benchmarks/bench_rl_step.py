"""Profile of one RL step of the demo settings: where the time goes, against the machine's peak.

Run: ``.venv/bin/python benchmarks/bench_rl_step.py [--steps 8]`` (about two minutes).

Trains the demo configuration (``engagegen run``'s defaults: SmolLM2-135M + LoRA, GRPO, 16 posts
of at most 32 tokens per step) for a few steps with no evaluation in between, and reads the phases
the trainer writes into ``metrics.jsonl`` for every step: sampling (the cached decoder, inside
TRL's rollout hook), reward scoring, the policy's forward and backward passes (with TRL's batch
preparation), the optimizer step, and the rest (logging, callbacks). The first step is left out
(warm-up: packing weights, first allocations); figures are medians over the others.

GFLOP/s count 2 x parameters per token for a forward pass (the tied output layer included);
the backward pass with frozen base weights computes input gradients only, about the forward's
FLOPs again, so forward+backward counts 2 x forward. The tokens counted are those computed: each
distinct prompt once (the rows of a GRPO group share its pass), then the completions. The peak is
a 2048 x 2048 float32 matmul on this machine, measured here.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table


def matmul_peak() -> float:
    """GFLOP/s of a 2048 x 2048 float32 matmul (median of 10, after warm-up)."""
    import torch

    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    times = []
    for _ in range(10):
        started = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - started)
    return 2 * 2048**3 / statistics.median(times) / 1e9


def profile_config(steps: int):
    """The demo's settings, trained for ``steps`` steps of its first stage with no evaluation."""
    import dataclasses

    from engagegen.config import from_dict
    from engagegen.training import RunConfig

    cfg = from_dict(RunConfig, {"training": {"checkpoint_every": 10_000},
                                "evaluation": {"every": 10_000, "samples": 1, "during_samples": 1, "best_of_n_max": 1}})
    first = cfg.training.stages[0]
    stage = dataclasses.replace(first, steps=steps, warmup_steps=min(first.warmup_steps, steps - 1), until=None)
    return dataclasses.replace(cfg, training=dataclasses.replace(cfg.training, stages=[stage]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=8, help="RL steps to run (the first is warm-up)")
    args = parser.parse_args()

    import torch

    from engagegen.generation import load_model_and_tokenizer
    from engagegen.training import EngagementTrainer

    peak = matmul_peak()
    model, _ = load_model_and_tokenizer()
    params = sum(p.numel() for p in model.parameters())  # tied: the embedding counted once, as the output layer
    del model
    cfg = profile_config(args.steps)
    with tempfile.TemporaryDirectory() as scratch:
        EngagementTrainer(cfg, Path(scratch) / "run").train(progress=False)
        metrics = [json.loads(line) for line in (Path(scratch) / "run" / "metrics.jsonl").read_text().splitlines()]
    steps = metrics[1:]  # the first step warms up

    def median(key: str) -> float:
        return statistics.median(m[key] for m in steps)

    rows = cfg.training.group_size * cfg.training.prompts_per_step
    sampled, prefilled = median("sampled_tokens"), median("prefilled_tokens")
    completion = median("max_length")  # TRL pads the batch to its longest completion
    # each distinct prompt runs once (its tokens are the ones prefilled for sampling), then every row's
    # completion but its last token (nothing is predicted after it)
    policy_tokens = prefilled + rows * (completion - 1)
    phases = {
        "sampling (cached decoder)": (median("seconds_sampling"), f"{sampled / median('seconds_sampling'):.0f} tokens/s",
                                      2 * params * (sampled + prefilled) / median("seconds_sampling") / 1e9),
        "reward scoring": (median("seconds_reward"), f"{rows / median('seconds_reward'):.0f} posts/s", None),
        "policy forward + backward": (median("seconds_policy"), f"{policy_tokens / median('seconds_policy'):.0f} tokens/s",
                                      2 * 2 * params * policy_tokens / median("seconds_policy") / 1e9),
        "optimizer": (median("seconds_optimizer"), "", None),
    }
    total = median("seconds")
    other = statistics.median(m["seconds"] - m["seconds_sampling"] - m["seconds_reward"] - m["seconds_policy"]
                             - m["seconds_optimizer"] for m in steps)
    phases["other (TRL bookkeeping, logging)"] = (other, "", None)

    table = Table(title=f"One RL step of the demo settings: {rows} posts of at most {cfg.generation.max_new_tokens} "
                        f"tokens, {torch.get_num_threads()} threads; median of {len(steps)} steps")
    for column in ("phase", "seconds", "share", "throughput", "GFLOP/s", "of peak"):
        table.add_column(column, justify="left" if column == "phase" else "right")
    for name, (seconds, throughput, gflops) in phases.items():
        table.add_row(name, f"{seconds:.2f}", f"{seconds / total:.0%}", throughput,
                      "" if gflops is None else f"{gflops:.0f}", "" if gflops is None else f"{gflops / peak:.0%}")
    table.add_row("[bold]step", f"[bold]{total:.2f}", "100%", "", "", "")
    console = Console()
    console.print(table)
    console.print(f"peak: {peak:.0f} GFLOP/s (2048 x 2048 float32 matmul); {params / 1e6:.1f}M parameters, "
                  f"{2 * params / 1e9:.2f} GFLOP per token forward; mean completion {median('mean_length'):.1f} tokens, "
                  f"longest {completion:.0f}; steps: {[m['seconds'] for m in metrics]}")


if __name__ == "__main__":
    main()
