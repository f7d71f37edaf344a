"""Sampling speed of the embedded SmolLM2: transformers' ``generate`` against engagegen's cached decoder.

    python benchmarks/bench_generation.py [--rebuild] [--repeats 5]

Posts of exactly 32 new tokens (no end token counted) from the demo's prompt, at the RL batch (16
posts from one prompt) and at the evaluation batch (64), for the base model and for the policy
with a rank-16 LoRA adapter on every linear layer (random, non-zero: unmerged, as during training).
Figures are medians of ``--repeats`` calls after a warm-up call. GFLOP/s count 2 x parameters per
token (prefill included); the share of peak is against a 2048 x 2048 float32 matmul measured here.
At 16 rows a decoding step reads all 540 MB of weights from memory, so the floor there is memory
bandwidth (also measured here), not arithmetic.

``--rebuild`` also times the first load: dequantizing the GGUF and writing the float32 cache (into
a temporary ENGAGEGEN_CACHE, so the real cache is left alone).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import Callable

from rich.console import Console
from rich.table import Table

NEW_TOKENS = 32


def median_seconds(call: Callable[[], object], repeats: int) -> float:
    call()  # warm-up: packing weights, first allocations
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def machine_limits() -> tuple[float, float]:
    """GFLOP/s of a 2048 x 2048 float32 matmul and GB/s of reading 512 MB, here."""
    import torch

    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    flops = 2 * 2048**3 / median_seconds(lambda: a @ b, 10) / 1e9
    big = torch.randn(128 * 1024 * 1024)
    bandwidth = big.numel() * 4 / median_seconds(big.sum, 5) / 1e9
    return flops, bandwidth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rebuild", action="store_true", help="also time building the cache from the GGUF")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import GenerationConfig

    from engagegen.generation import build_prompts, embedded_model_dir, load_model_and_tokenizer
    from engagegen.generation.decoding import CachedDecoder

    console = Console()
    if args.rebuild:
        with tempfile.TemporaryDirectory() as scratch:
            os.environ["ENGAGEGEN_CACHE"] = scratch
            started = time.perf_counter()
            embedded_model_dir()
            console.print(f"first load (GGUF -> float32 cache): {time.perf_counter() - started:.1f} s")
            del os.environ["ENGAGEGEN_CACHE"]
    started = time.perf_counter()
    model, tokenizer = load_model_and_tokenizer()
    console.print(f"load from the cache: {time.perf_counter() - started:.2f} s")
    peak, bandwidth = machine_limits()
    params = sum(p.numel() for p in model.parameters())
    prompt = build_prompts("instruction", "cats", tokenizer=tokenizer)
    prompt_ids = tokenizer(prompt)["input_ids"]

    def transformers_call(policy: object, rows: int) -> Callable[[], object]:
        encoded = tokenizer(prompt * rows, return_tensors="pt")
        config = GenerationConfig(max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, do_sample=True, temperature=1.0,
                                  top_k=0, top_p=1.0, pad_token_id=tokenizer.pad_token_id)

        def call() -> object:
            with torch.inference_mode():
                return policy.generate(**encoded, generation_config=config)
        return call

    def decoder_call(policy: object, rows: int) -> Callable[[], object]:
        decoder = CachedDecoder(policy)
        return lambda: decoder.sample(prompt_ids, rows, max_new_tokens=NEW_TOKENS, temperature=1.0, eos_token_ids=[-1])

    lora = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM"))
    with torch.no_grad():
        for name, p in lora.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.01)
    lora.eval()
    rows_out = []
    for label, rows in (("RL batch", 16), ("evaluation batch", 64)):
        for policy_name, policy in (("base", lora), ("LoRA r=16", lora)):
            context = lora.disable_adapter() if policy_name == "base" else contextlib.nullcontext()
            with context:
                reference = median_seconds(transformers_call(policy, rows), args.repeats) if rows == 16 else None
                fast = median_seconds(decoder_call(policy, rows), args.repeats)
            rows_out.append((label, rows, policy_name, reference, fast))

    table = Table(title=f"Sampling {NEW_TOKENS} new tokens per post from SmolLM2-135M, {torch.get_num_threads()} threads")
    for column in ("batch", "model", "transformers generate", "cached decoder", "speed-up", "GFLOP/s", "of peak"):
        table.add_column(column, justify="left" if column in ("batch", "model") else "right")
    for label, rows, policy_name, reference, fast in rows_out:
        tokens = rows * NEW_TOKENS
        gflops = 2 * params * (tokens + len(prompt_ids[0])) / fast / 1e9
        table.add_row(f"{label} ({rows} posts)", policy_name,
                      "" if reference is None else f"{tokens / reference:.0f} tokens/s ({reference:.2f} s)",
                      f"{tokens / fast:.0f} tokens/s ({fast:.2f} s)",
                      "" if reference is None else f"{reference / fast:.1f}x", f"{gflops:.0f}", f"{gflops / peak:.0%}")
    console.print(table)
    floor = params * 4 / bandwidth / 1e9
    console.print(f"peak {peak:.0f} GFLOP/s (2048 x 2048 float32 matmul), memory {bandwidth:.1f} GB/s: one decoding "
                  f"step reads {params * 4 / 1e6:.0f} MB of weights, at least {floor * 1000:.0f} ms, so at most "
                  f"{16 / floor:.0f} tokens/s at 16 posts and {64 / floor:.0f} at 64 from memory alone")


if __name__ == "__main__":
    main()
