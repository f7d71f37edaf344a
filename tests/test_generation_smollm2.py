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
        "<|im_start|>user\nWrite a one-sentence social media post about cats.<|im_end|>"
        in generator.format_prompts(prompts)[0]
    )

    # Correct weights and chat template answer a factual question; broken ones do not.
    [[answer]] = generator.generate(["What is the capital of France?"], max_new_tokens=12, temperature=0)
    assert "Paris" in answer
    [posts] = generator.generate(prompts, n=2, max_new_tokens=24, seed=0)
    assert len(posts) == 2 and all(posts)


@pytest.mark.slow
def test_the_embedded_model_as_fluency_reference_fails_a_chain_of_real_words():
    from engagegen.training import RunConfig
    from engagegen.training.build import build_audience, build_fluency
    from engagegen.training.config import ScoringConfig

    assert build_fluency(ScoringConfig(fluency_model=None)).perplexity is None
    fluency = build_audience(RunConfig()).reward.fluency  # the default: the embedded model as reference
    assert fluency.perplexity.model == str(embedded_model_dir()) and fluency.perplexity_range == (50.0, 1000.0)
    story = "The cat's life was a cat's nightmare. A cat had been killed by the scourge of the plague."
    # a trained policy's post (negative/low/low of the paper grid) that readability, repetition and
    # non-word checks pass
    chain = "Cats eyes lost by hood dropped by deading slabying licked by weak boy who ran by dropped by hood grasping"
    plain, checked = build_fluency(ScoringConfig(fluency_model=None)).details([story, chain]), fluency.details([story, chain])
    assert (plain.score >= 0.9).all()
    assert checked.perplexity[0] < 100 < 500 < checked.perplexity[1]
    assert checked.score[0] >= 0.5 > checked.score[1]
