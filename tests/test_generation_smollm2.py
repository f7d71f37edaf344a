"""The real embedded SmolLM2-135M-Instruct, loaded offline from the engagegen cache."""

import pytest
import torch

from engagegen.generation import LocalModel, build_prompts, embedded_model_dir


@pytest.mark.slow
def test_real_smollm2_writes_posts_about_the_topic():
    generator = LocalModel()
    assert generator.hf_model.dtype == torch.float32 and generator.chat
    assert generator.hf_model.name_or_path == str(embedded_model_dir())
    assert getattr(generator.hf_model, "hf_quantizer", None) is None
    assert not hasattr(generator.hf_model.config, "quantization_config")
    prompts = build_prompts("instruction", "cats")
    assert (
        "<|im_start|>user\nWrite a short social media post about cats.<|im_end|>"
        in generator.format_prompts(prompts)[0]
    )

    # Correct weights and chat template answer a factual question; broken ones do not.
    [[answer]] = generator.generate(["What is the capital of France?"], max_new_tokens=12, temperature=0)
    assert "Paris" in answer
    [posts] = generator.generate(prompts, n=2, max_new_tokens=24, seed=0)
    assert len(posts) == 2 and all(posts)
