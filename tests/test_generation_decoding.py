"""The cached decoder against transformers: the same greedy tokens, the same log-probabilities.

Tiny models here get a large initialisation range so that their next-token distributions are
peaked: with the default range every logit is within float noise of the others and greedy ties
would decide the tokens, not the arithmetic.
"""

from __future__ import annotations

from typing import Any

import pytest

torch = pytest.importorskip("torch")

from engagegen.generation import LocalModel, build_prompts  # noqa: E402
from engagegen.generation.decoding import CachedDecoder, cached_decoder, end_token_ids, unsupported_reason  # noqa: E402

SIZES = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
         "num_key_value_heads": 2, "max_position_embeddings": 256, "initializer_range": 0.3}


def _tiny(kind: str, tokenizer: Any, **overrides: Any) -> Any:
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    config_cls, model_cls = {"llama": (LlamaConfig, LlamaForCausalLM), "qwen2": (Qwen2Config, Qwen2ForCausalLM)}[kind]
    config = config_cls(**{**SIZES, **overrides}, vocab_size=len(tokenizer), eos_token_id=tokenizer.eos_token_id,
                        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        return model_cls(config).eval()


def _with_lora(model: Any) -> Any:
    from peft import LoraConfig, get_peft_model

    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM"))
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(4)
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:  # peft starts B at zero: give the adapter an effect
                p.normal_(0, 0.3)
    return peft_model.eval()


PROMPTS = ["Cats are the most", "A short post about dogs and why people love them:", "Hi"]


def _greedy_reference(model: Any, tokenizer: Any, prompts: list[str], steps: int) -> list[list[int]]:
    from transformers import GenerationConfig

    out = []
    for prompt in prompts:  # one at a time: no padding on the reference side
        ids = tokenizer(prompt, return_tensors="pt")
        config = GenerationConfig(max_new_tokens=steps, do_sample=False, pad_token_id=tokenizer.pad_token_id,
                                  eos_token_id=end_token_ids(model, tokenizer))
        with torch.inference_mode():
            full = model.generate(**ids, generation_config=config)
        out.append(full[0, ids["input_ids"].shape[1]:].tolist())
    return out


def _reference_logprobs(model: Any, prompt_ids: list[int], completion: list[int]) -> Any:
    with torch.inference_mode():
        logits = model(torch.tensor([prompt_ids + completion])).logits[0].float()
    logp = torch.log_softmax(logits, -1)[len(prompt_ids) - 1 : -1]
    return logp.gather(-1, torch.tensor(completion)[:, None])[:, 0]


def _check_against_transformers(model: Any, tokenizer: Any, steps: int = 24) -> None:
    prompt_ids = tokenizer(PROMPTS)["input_ids"]  # different lengths: the decoder pads on the left
    sampled = CachedDecoder(model).sample(prompt_ids, 1, max_new_tokens=steps, temperature=0,
                                          eos_token_ids=end_token_ids(model, tokenizer))
    assert sampled.token_ids == _greedy_reference(model, tokenizer, PROMPTS, steps)
    for ids, tokens, logprobs in zip(prompt_ids, sampled.token_ids, sampled.logprobs):
        assert len(tokens) > 0
        torch.testing.assert_close(torch.tensor(logprobs), _reference_logprobs(model, ids, tokens), atol=2e-4, rtol=1e-4)


def test_greedy_tokens_and_logprobs_match_transformers_on_a_tiny_llama(smollm2_tokenizer: Any) -> None:
    _check_against_transformers(_tiny("llama", smollm2_tokenizer), smollm2_tokenizer)


def test_qwen2_with_attention_biases_matches_transformers(smollm2_tokenizer: Any) -> None:
    _check_against_transformers(_tiny("qwen2", smollm2_tokenizer), smollm2_tokenizer)


def test_a_lora_policy_samples_with_its_adapter_and_without_it_when_disabled(smollm2_tokenizer: Any) -> None:
    tokenizer = smollm2_tokenizer
    policy = _with_lora(_tiny("llama", tokenizer))
    _check_against_transformers(policy, tokenizer)
    with policy.disable_adapter():
        _check_against_transformers(policy, tokenizer)
        base_tokens = cached_decoder(policy).sample(tokenizer(PROMPTS)["input_ids"], 1, max_new_tokens=16,
                                                    temperature=0, eos_token_ids=[tokenizer.eos_token_id]).token_ids
    adapted = cached_decoder(policy).sample(tokenizer(PROMPTS)["input_ids"], 1, max_new_tokens=16, temperature=0,
                                            eos_token_ids=[tokenizer.eos_token_id]).token_ids
    assert adapted != base_tokens  # the shared decoder followed the adapter's switch both ways


def test_the_decoder_follows_a_fused_optimizer_step(smollm2_tokenizer: Any) -> None:
    """Fused AdamW updates parameters without bumping their version counters."""
    tokenizer = smollm2_tokenizer
    policy = _with_lora(_tiny("llama", tokenizer)).train()
    decoder = cached_decoder(policy)
    ids = tokenizer(PROMPTS[:1])["input_ids"]
    before = decoder.sample(ids, 1, max_new_tokens=12, temperature=0, eos_token_ids=[-1]).token_ids
    trainable = [p for p in policy.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=0.5, fused=True)
    for p in trainable:
        p.grad = torch.randn_like(p)
    versions = [p._version for p in trainable]
    optimizer.step()
    assert [p._version for p in trainable] == versions  # the case the value comparison is for
    after = decoder.sample(ids, 1, max_new_tokens=12, temperature=0, eos_token_ids=[-1]).token_ids
    assert after == _greedy_reference(policy.eval(), tokenizer, PROMPTS[:1], 12)
    assert after != before


def test_sampling_draws_from_the_softmax_distribution(smollm2_tokenizer: Any) -> None:
    tokenizer = smollm2_tokenizer
    model = _tiny("llama", tokenizer, initializer_range=0.05)  # a spread-out first-token distribution
    ids = tokenizer(["Cats"])["input_ids"]
    with torch.inference_mode():
        probs = torch.softmax(model(torch.tensor(ids)).logits[0, -1].float() / 0.7, -1)
    draws = 4000
    generator = torch.Generator().manual_seed(0)
    sampled = CachedDecoder(model).sample(ids, draws, max_new_tokens=1, temperature=0.7, eos_token_ids=[-1],
                                          generator=generator)
    counts = torch.bincount(torch.tensor([t[0] for t in sampled.token_ids]), minlength=probs.numel()).double()
    top = probs.argsort(descending=True)[:20]  # the tokens frequent enough to count
    expected = probs[top].double() * draws
    assert ((counts[top] - expected).abs() <= 5 * expected.sqrt() + 3).all()
    torch.testing.assert_close(torch.tensor([lp[0] for lp in sampled.logprobs]),
                               probs[[t[0] for t in sampled.token_ids]].log(), atol=1e-4, rtol=1e-4)


def test_top_p_samples_only_from_the_nucleus(smollm2_tokenizer: Any) -> None:
    tokenizer = smollm2_tokenizer
    model = _tiny("llama", tokenizer, initializer_range=0.05)
    ids = tokenizer(["Cats"])["input_ids"]
    with torch.inference_mode():
        probs = torch.softmax(model(torch.tensor(ids)).logits[0, -1].float(), -1)
    ordered = probs.argsort(descending=True)
    mass_before = probs[ordered].cumsum(0) - probs[ordered]
    nucleus = set(ordered[mass_before < 0.3].tolist())
    sampled = CachedDecoder(model).sample(ids, 500, max_new_tokens=1, top_p=0.3, eos_token_ids=[-1],
                                          generator=torch.Generator().manual_seed(1))
    drawn = {t[0] for t in sampled.token_ids}
    assert drawn <= nucleus and len(drawn) > 1


def test_a_completion_ends_at_its_first_end_token(smollm2_tokenizer: Any) -> None:
    tokenizer = smollm2_tokenizer
    model = _tiny("llama", tokenizer)
    ids = tokenizer(PROMPTS)["input_ids"]
    free = CachedDecoder(model).sample(ids, 1, max_new_tokens=20, temperature=0, eos_token_ids=[-1]).token_ids
    stop = free[1][5]  # pretend the sixth token of the second prompt's completion ends a post
    ended = CachedDecoder(model).sample(ids, 1, max_new_tokens=20, temperature=0, eos_token_ids=[stop]).token_ids
    assert ended[1] == free[1][: free[1].index(stop) + 1]
    for row, full in zip(ended, free):
        assert row == (full[: full.index(stop) + 1] if stop in full else full)


def test_an_unsupported_architecture_falls_back_to_transformers(smollm2_tokenizer: Any, tmp_path: Any) -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = smollm2_tokenizer
    config = GPT2Config(n_embd=32, n_layer=1, n_head=2, vocab_size=len(tokenizer), eos_token_id=tokenizer.eos_token_id,
                        pad_token_id=tokenizer.pad_token_id)
    model = GPT2LMHeadModel(config).eval()
    assert "gpt2" in unsupported_reason(model)
    assert cached_decoder(model) is None
    posts = LocalModel.from_loaded(model, tokenizer, chat=False).generate(["Cats are"], n=2, max_new_tokens=5, seed=0)
    assert len(posts) == 1 and len(posts[0]) == 2


def test_local_model_posts_are_the_decoders(tiny_model_dir: Any) -> None:
    """LocalModel samples through the decoder: seeded calls repeat, and greedy matches transformers."""
    generator = LocalModel(str(tiny_model_dir))
    prompts = build_prompts("instruction", "cats")
    assert cached_decoder(generator.hf_model) is not None
    assert generator.generate(prompts, n=3, max_new_tokens=8, seed=5) == generator.generate(prompts, n=3, max_new_tokens=8, seed=5)
    greedy = generator.generate(prompts, n=1, max_new_tokens=8, temperature=0)[0][0]
    reference = _greedy_reference(generator.hf_model, generator.tokenizer, generator.format_prompts(prompts), 8)[0]
    assert greedy == generator.tokenizer.decode(reference, skip_special_tokens=True).strip()


@pytest.mark.slow
def test_the_embedded_model_matches_transformers() -> None:
    from engagegen.generation import load_model_and_tokenizer

    model, tokenizer = load_model_and_tokenizer()
    prompts = build_prompts("instruction", "cats", tokenizer=tokenizer) + [
        tokenizer.apply_chat_template([{"role": "user", "content": "Write a post about the weather in Rome."}],
                                      tokenize=False, add_generation_prompt=True)]
    prompt_ids = tokenizer(prompts)["input_ids"]
    sampled = CachedDecoder(model).sample(prompt_ids, 1, max_new_tokens=32, temperature=0,
                                          eos_token_ids=end_token_ids(model, tokenizer))
    assert sampled.token_ids == _greedy_reference(model, tokenizer, prompts, 32)
    for ids, tokens, logprobs in zip(prompt_ids, sampled.token_ids, sampled.logprobs):
        torch.testing.assert_close(torch.tensor(logprobs), _reference_logprobs(model, ids, tokens), atol=2e-4, rtol=1e-4)
