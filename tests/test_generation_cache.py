"""The float32 cache of the embedded SmolLM2: stale or damaged copies are detected and rebuilt with a message.

Copies of the real cache are made with hard links (no 540 MB copies); a test that damages a file
first unlinks it, so the real cache is never touched. One test does a real rebuild from the GGUF.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from engagegen.generation import EMBEDDED_MODEL, embedded_model_dir, load_model_and_tokenizer, loading


@pytest.fixture(scope="module")
def real_cache(smollm2_tokenizer) -> Path:
    return embedded_model_dir()


def link_tree(source: Path, target: Path) -> None:
    target.mkdir(parents=True)
    for path in source.iterdir():
        try:
            os.link(path, target / path.name)
        except OSError:  # another file system: copy instead
            shutil.copy2(path, target / path.name)


def replace_file(path: Path, data: bytes) -> None:
    path.unlink()  # break the hard link before writing
    path.write_bytes(data)


@pytest.fixture
def cache(real_cache, tmp_path, monkeypatch) -> Path:
    """A private copy of the cache, in effect through ENGAGEGEN_CACHE; returns the model folder."""
    monkeypatch.setenv("ENGAGEGEN_CACHE", str(tmp_path))
    folder = tmp_path / "models" / EMBEDDED_MODEL
    link_tree(real_cache, folder)
    return folder


@pytest.fixture
def builds(real_cache, monkeypatch) -> list[Path]:
    """Stands in for the GGUF rebuild (restores the intact files) and records each call."""
    calls: list[Path] = []

    def fake_build(folder: Path, gguf: Path) -> None:
        calls.append(folder)
        shutil.rmtree(folder)
        link_tree(real_cache, folder)

    monkeypatch.setattr(loading, "_build_cache", fake_build)
    return calls


def test_intact_copy_is_used_as_it_is(cache, builds, caplog):
    with caplog.at_level(logging.WARNING, logger="engagegen.generation"):
        assert embedded_model_dir() == cache
    assert builds == [] and caplog.text == ""


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda folder: (folder / "tokenizer.json").unlink(), "tokenizer.json is missing"),
        (lambda folder: (folder / loading.CACHE_MARKER).unlink(), "engagegen-cache.json is missing"),
        (
            lambda folder: replace_file(folder / loading.CACHE_MARKER, b"{not json"),
            "engagegen-cache.json is unreadable",
        ),
        (lambda folder: replace_file(folder / "config.json", b"{}"), "config.json has 2 bytes"),
    ],
    ids=["missing-file", "missing-marker", "bad-marker", "overwritten"],
)
def test_damaged_copy_is_rebuilt_with_a_message(cache, builds, caplog, damage, reason):
    damage(cache)
    with caplog.at_level(logging.WARNING, logger="engagegen.generation"):
        assert embedded_model_dir() == cache
    assert builds == [cache]
    assert reason in caplog.text and "rebuilding it from SmolLM2-135M-Instruct.Q4_1.gguf" in caplog.text


def test_changed_source_gguf_invalidates_the_copy(cache, builds, caplog):
    marker_path = cache / loading.CACHE_MARKER
    marker = json.loads(marker_path.read_text())
    marker["source"]["size"] += 1
    replace_file(marker_path, json.dumps(marker).encode())
    with caplog.at_level(logging.WARNING, logger="engagegen.generation"):
        embedded_model_dir()
    assert builds == [cache] and "changed size" in caplog.text


def test_copy_that_fails_to_load_is_rebuilt(cache, builds, caplog):
    config = cache / "config.json"
    replace_file(config, b"!" * config.stat().st_size)  # same size: only loading finds out
    with caplog.at_level(logging.WARNING, logger="engagegen.generation"):
        model, tokenizer = load_model_and_tokenizer()
    assert builds == [cache] and "loading the cached model" in caplog.text and "failed to load" in caplog.text
    assert model.config.hidden_size == 576 and tokenizer.chat_template


@pytest.mark.slow
def test_truncated_weights_are_rebuilt_from_the_gguf(cache, real_cache, caplog):
    weights = cache / "model.safetensors"
    replace_file(weights, weights.read_bytes()[: 1 << 20])
    with caplog.at_level(logging.WARNING, logger="engagegen.generation"):
        model, tokenizer = load_model_and_tokenizer()  # a real rebuild: dequantizes the GGUF
    assert "model.safetensors has 1048576 bytes" in caplog.text and "truncated" in caplog.text
    assert loading._cache_problem(cache, loading.embedded_gguf()) is None
    assert not hasattr(model.config, "quantization_config") and model.dtype == torch.float32
    assert "quantization_config" not in json.loads((cache / "config.json").read_text())
    assert (cache / "chat_template.jinja").is_file() and tokenizer.chat_template
    intact = load_file(real_cache / "model.safetensors")
    rebuilt = model.state_dict()
    assert all(torch.equal(intact[name], rebuilt[name]) for name in intact)
    assert [p.name for p in cache.parent.iterdir() if p.name.startswith(".")] == []  # no temporary folders left
