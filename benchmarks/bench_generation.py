"""Load and generation times of the embedded SmolLM2 on this machine.

    python benchmarks/bench_generation.py [--rebuild]

``--rebuild`` also times the first load: dequantizing the GGUF and writing the float32 cache (into a
temporary ENGAGEGEN_CACHE, so the real cache is left alone). Generated tokens are counted by
re-tokenizing the posts.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rebuild", action="store_true", help="also time building the cache from the GGUF")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    args = parser.parse_args()

    import torch

    from engagegen.generation import LocalModel, build_prompts, embedded_model_dir, load_model_and_tokenizer

    print(f"torch threads: {torch.get_num_threads()}, load average: {os.getloadavg()[0]:.1f}")
    if args.rebuild:
        with tempfile.TemporaryDirectory() as scratch:
            os.environ["ENGAGEGEN_CACHE"] = scratch
            started = time.perf_counter()
            embedded_model_dir()
            print(f"first load (GGUF -> float32 cache): {time.perf_counter() - started:.1f} s")
            del os.environ["ENGAGEGEN_CACHE"]
    embedded_model_dir()
    for when in ("first in this process, with imports", "again"):
        started = time.perf_counter()
        load_model_and_tokenizer()
        print(f"load from the cache ({when}): {time.perf_counter() - started:.2f} s")

    generator = LocalModel()
    prompt = build_prompts("instruction", "cats")
    generator.generate(prompt, max_new_tokens=2)  # warm-up: lazy imports, first-call allocations
    for batch in (1, 8):
        started = time.perf_counter()
        posts = generator.generate(prompt * batch, max_new_tokens=args.max_new_tokens, seed=0)
        seconds = time.perf_counter() - started
        tokens = sum(len(generator.tokenizer(text).input_ids) for group in posts for text in group)
        print(f"batch {batch}: {tokens} tokens in {seconds:.1f} s = {tokens / seconds:.1f} tokens/s")


if __name__ == "__main__":
    main()
