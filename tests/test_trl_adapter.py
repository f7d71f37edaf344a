"""The completion log-probabilities engagegen computes on a CPU equal TRL's fused output layer's."""

from __future__ import annotations

from typing import Any

import pytest

torch = pytest.importorskip("torch")

from engagegen.training.trl_adapter import completion_logprobs  # noqa: E402


def _policy(tokenizer: Any) -> Any:
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM
    from trl.trainer.utils import add_fused_lm_head

    config = LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=len(tokenizer), initializer_range=0.2,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = LlamaForCausalLM(config)
        add_fused_lm_head(model, temperature=0.7, outputs=("log_probs", "entropy"))  # as TRL's trainer does
        policy = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM"))
        with torch.no_grad():
            for name, p in policy.named_parameters():
                if "lora_B" in name:
                    p.normal_(0, 0.2)
    return policy


def test_completion_logprobs_and_their_gradients_equal_trls(smollm2_tokenizer: Any) -> None:
    tokenizer = smollm2_tokenizer
    policy = _policy(tokenizer)
    prompts = tokenizer(["Cats are", "A much longer prompt about cats and dogs"], padding=True, padding_side="left",
                        return_tensors="pt")
    completion = torch.randint(0, len(tokenizer), (2, 6))
    completion_mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]])  # the second ended early
    input_ids = torch.cat([prompts["input_ids"], completion], 1)
    attention_mask = torch.cat([prompts["attention_mask"], completion_mask], 1)
    weights = torch.randn(2, 6)

    # TRL's own computation (GRPOTrainer._get_per_token_logps_and_entropies, one chunk)
    labels = input_ids.masked_fill(attention_mask == 0, -100)
    labels[:, :-6] = -100
    trl_out = policy(input_ids=input_ids, attention_mask=attention_mask, labels=labels, fused_lm_head=True)
    trl_logps, trl_entropy = trl_out.log_probs[:, -6:], trl_out.entropy[:, -6:]
    trl_grads = torch.autograd.grad((trl_logps * weights).sum(), [p for p in policy.parameters() if p.requires_grad])

    logps, entropy = completion_logprobs(policy, input_ids, attention_mask, 6, temperature=0.7, with_entropy=True)
    grads = torch.autograd.grad((logps * weights).sum(), [p for p in policy.parameters() if p.requires_grad])

    torch.testing.assert_close(logps, trl_logps, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(entropy, trl_entropy.detach(), atol=1e-5, rtol=1e-5)
    assert (logps[1, 3:] == 0).all() and (entropy[1, 3:] == 0).all()
    for ours, theirs in zip(grads, trl_grads):
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("completion_length", [1, 5])
def test_rows_sharing_a_prompt_run_it_once_with_the_same_logprobs_and_gradients(smollm2_tokenizer: Any,
                                                                                  completion_length: int) -> None:
    """A GRPO group's rows share their prompt: its cached pass gives the full pass's values and gradients."""
    tokenizer = smollm2_tokenizer
    policy = _policy(tokenizer)
    prompts = tokenizer(["Cats are", "A much longer prompt about cats and dogs"], padding=True, padding_side="left",
                        return_tensors="pt")
    order = torch.tensor([0, 1, 1, 0, 1])  # two groups, interleaved: rows come back in their order
    completion = torch.randint(0, len(tokenizer), (5, completion_length))
    completion_mask = torch.ones(5, completion_length, dtype=torch.long)
    completion_mask[2, 1:] = 0  # this one ended early
    input_ids = torch.cat([prompts["input_ids"][order], completion], 1)
    attention_mask = torch.cat([prompts["attention_mask"][order], completion_mask], 1)
    weights = torch.randn(5, completion_length)
    params = [p for p in policy.parameters() if p.requires_grad]
    calls = []
    inner = policy.get_base_model().model
    hook = inner.register_forward_pre_hook(lambda module, args, kwargs: calls.append(kwargs["input_ids"].shape), with_kwargs=True)
    shared, _ = completion_logprobs(policy, input_ids, attention_mask, completion_length, temperature=0.7, with_entropy=False)
    hook.remove()
    shared_grads = torch.autograd.grad((shared * weights).sum(), params)
    # the reference: each row alone, its full sequence in one pass
    alone = torch.cat([completion_logprobs(policy, input_ids[i : i + 1], attention_mask[i : i + 1], completion_length,
                                           temperature=0.7, with_entropy=False)[0] for i in range(5)])
    alone_grads = torch.autograd.grad((alone * weights).sum(), params)

    prompt_length = prompts["input_ids"].shape[1]
    assert sorted(shape[0] for shape in calls if shape[1] == prompt_length) == [1, 1]  # each prompt ran once
    torch.testing.assert_close(shared, alone, atol=1e-5, rtol=1e-5)
    assert (shared[2, 1:] == 0).all()
    for ours, theirs in zip(shared_grads, alone_grads):
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-4)
