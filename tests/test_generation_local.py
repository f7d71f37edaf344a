"""LocalModel on a tiny random Llama with the SmolLM2 tokenizer: shapes, seeds, padding, chat template, adapters."""

from pathlib import Path

import pytest
import torch

from engagegen.generation import (
    GenerationError,
    Generator,
    LocalModel,
    build_prompts,
    load_model_and_tokenizer,
    to_chat,
)

PROMPTS = ["Cats", "Write a short social media post about cats and why people love them so much."]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir) -> LocalModel:
    return LocalModel(str(tiny_model_dir), batch_size=4)


def save_adapter(model_dir: Path, out: Path, *, random_weights: bool) -> Path:
    """A LoRA adapter for the model in ``model_dir``; with ``random_weights`` it changes the model's outputs."""
    from peft import LoraConfig, get_peft_model

    model, _ = load_model_and_tokenizer(str(model_dir))
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))
    if random_weights:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(1)
            for name, weight in peft_model.named_parameters():
                if "lora_B" in name:
                    weight.normal_(std=0.5)
    peft_model.save_pretrained(out)
    return out


def test_generate_returns_n_stripped_strings_per_prompt(tiny):
    assert isinstance(tiny, Generator)
    posts = tiny.generate(PROMPTS * 3, n=3, max_new_tokens=6, seed=0)  # 6 prompts: two batches of 4 and 2
    assert len(posts) == 6 and all(len(group) == 3 for group in posts)
    assert all(isinstance(text, str) and text == text.strip() for group in posts for text in group)


def test_seed_repeats_samples_without_touching_global_rng(tiny):
    state = torch.random.get_rng_state()
    first = tiny.generate(PROMPTS, n=2, max_new_tokens=8, seed=7)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert tiny.generate(PROMPTS, n=2, max_new_tokens=8, seed=7) == first
    assert tiny.generate(PROMPTS, n=2, max_new_tokens=8, seed=8) != first
    # Without a seed the global stream is used and moves on.
    tiny.generate(PROMPTS[:1], max_new_tokens=2)
    assert not torch.equal(torch.random.get_rng_state(), state)


def test_left_padded_batch_matches_one_prompt_at_a_time(tiny):
    lengths = {len(tiny.tokenizer(text).input_ids) for text in tiny.format_prompts(PROMPTS)}
    assert len(lengths) == 2  # the batch really needs padding
    batched = tiny.generate(PROMPTS, max_new_tokens=10, temperature=0)
    one_by_one = [tiny.generate([prompt], max_new_tokens=10, temperature=0)[0] for prompt in PROMPTS]
    assert batched == one_by_one


def test_greedy_returns_n_copies(tiny):
    [group] = tiny.generate(PROMPTS[:1], n=3, max_new_tokens=5, temperature=0)
    assert len(group) == 3 and len(set(group)) == 1


def test_chat_template_is_applied_and_only_new_text_returned(tiny):
    prompt = PROMPTS[1]
    [formatted] = tiny.format_prompts([prompt])
    assert tiny.chat and formatted == to_chat(tiny.tokenizer, prompt)
    assert formatted.startswith("<|im_start|>system\n") and formatted.endswith("<|im_start|>assistant\n")
    ids = tiny.tokenizer(formatted, add_special_tokens=False, return_tensors="pt").input_ids
    out = tiny.hf_model.generate(
        ids,
        attention_mask=torch.ones_like(ids),
        do_sample=False,
        max_new_tokens=8,
        pad_token_id=tiny.tokenizer.pad_token_id,
    )
    expected = tiny.tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True).strip()
    assert tiny.generate([prompt], max_new_tokens=8, temperature=0) == [[expected]]
    # raw=True takes the templated text as it is: same answer.
    assert tiny.generate([formatted], max_new_tokens=8, temperature=0, raw=True) == [[expected]]


def test_completion_mode_skips_the_chat_template(tiny_model_dir, tiny):
    raw = LocalModel(str(tiny_model_dir), chat=False)
    assert raw.format_prompts(["Cats are the most"]) == ["Cats are the most"]
    ids = raw.tokenizer("Cats are the most", return_tensors="pt").input_ids
    out = raw.hf_model.generate(
        ids,
        attention_mask=torch.ones_like(ids),
        do_sample=False,
        max_new_tokens=6,
        pad_token_id=raw.tokenizer.pad_token_id,
    )
    expected = raw.tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True).strip()
    assert raw.generate(["Cats are the most"], max_new_tokens=6, temperature=0) == [[expected]]


def test_loader_gives_a_plain_float32_model_with_pad_token(tiny_model_dir):
    model, tokenizer = load_model_and_tokenizer(str(tiny_model_dir))
    assert model.dtype == torch.float32 and tokenizer.pad_token is not None
    assert getattr(model, "hf_quantizer", None) is None and not hasattr(model.config, "quantization_config")


def test_from_loaded_wraps_a_policy_in_training(tiny_model_dir):
    from peft import LoraConfig, get_peft_model

    model, tokenizer = load_model_and_tokenizer(str(tiny_model_dir))
    policy = get_peft_model(model, LoraConfig(r=4, target_modules="all-linear"))
    policy.train()
    generator = LocalModel.from_loaded(policy, tokenizer)
    assert generator.chat
    prompts = build_prompts("instruction", "cats", tokenizer=tokenizer)
    [group] = generator.generate(prompts, n=2, max_new_tokens=4, seed=0, raw=True)
    assert len(group) == 2 and policy.training  # its train/eval mode is the trainer's business


def test_matching_adapter_is_merged(tiny_model_dir, tiny, tmp_path):
    adapter = save_adapter(tiny_model_dir, tmp_path / "adapter", random_weights=True)
    tuned = LocalModel(str(tiny_model_dir), adapter=adapter)
    assert "adapter=" in repr(tuned)
    base_weight = tiny.hf_model.model.layers[0].self_attn.q_proj.weight
    tuned_weight = tuned.hf_model.model.layers[0].self_attn.q_proj.weight
    assert not torch.allclose(base_weight, tuned_weight)
    assert len(tuned.generate(PROMPTS[:1], n=2, max_new_tokens=4, seed=0)[0]) == 2


@pytest.mark.parametrize("other", [{"hidden_size": 32}, {"num_hidden_layers": 3}], ids=["width", "depth"])
def test_adapter_of_another_base_model_is_a_clear_error(make_tiny_model_dir, tiny_model_dir, tmp_path, other):
    adapter = save_adapter(make_tiny_model_dir(**other), tmp_path / "adapter", random_weights=False)
    with pytest.raises(GenerationError, match="does not match the base model"):
        LocalModel(str(tiny_model_dir), adapter=adapter)


def test_adapter_folder_errors(tiny_model_dir, tmp_path):
    with pytest.raises(GenerationError, match=r"no adapter_config\.json"):
        LocalModel(str(tiny_model_dir), adapter=tmp_path)
    (tmp_path / "adapter_config.json").write_text("{}")
    (tmp_path / "adapter_model.bin").write_bytes(b"")
    with pytest.raises(GenerationError, match=r"adapter_model\.bin is a pickle"):
        LocalModel(str(tiny_model_dir), adapter=tmp_path)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prompts": "Cats"}, "single string"),
        ({"prompts": []}, "prompts is empty"),
        ({"prompts": ["ok", "  "]}, "prompt 1 is empty"),
        ({"n": 0}, "n must be a positive integer"),
        ({"max_new_tokens": 2.5}, "max_new_tokens must be a positive integer"),
        ({"temperature": -0.1}, "temperature must be"),
        ({"temperature": float("nan")}, "temperature must be"),
        ({"seed": -1}, "seed must be"),
        ({"top_p": 0.0}, "top_p must be"),
    ],
)
def test_bad_generate_arguments(tiny, kwargs, message):
    with pytest.raises(GenerationError, match=message):
        tiny.generate(**{"prompts": ["Cats"], **kwargs})


def test_unknown_models_and_options_are_clear_errors(tiny_model_dir, tmp_path):
    with pytest.raises(GenerationError, match="allow_download"):
        LocalModel("engagegen-tests/no-such-model")
    with pytest.raises(GenerationError, match="neither an existing file or folder nor a Hugging Face model id"):
        LocalModel(str(tmp_path / "missing" / "model folder"))
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(GenerationError, match=r"not a \.gguf file"):
        LocalModel(str(tmp_path / "weights.bin"))
    with pytest.raises(GenerationError, match="unknown dtype"):
        LocalModel(str(tiny_model_dir), dtype="float8")
    with pytest.raises(GenerationError, match="batch_size"):
        LocalModel(str(tiny_model_dir), batch_size=0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_asking_for_a_gpu_without_one_is_a_clear_error(tiny_model_dir):
    with pytest.raises(GenerationError, match="no usable CUDA GPU"):
        LocalModel(str(tiny_model_dir), device="cuda")
