"""``engagegen generate`` on the tiny stand-in model."""

from typer.testing import CliRunner

import engagegen.cli.generate_cmd  # noqa: F401  (registers the command; patched below)
from engagegen.cli.app import app

runner = CliRunner()


def test_generate_prints_n_posts(tiny_model_dir):
    args = [
        "generate",
        "--topic",
        "cats",
        "-n",
        "2",
        "--model",
        str(tiny_model_dir),
        "--seed",
        "0",
        "--max-new-tokens",
        "4",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "post 1" in result.output and "post 2" in result.output and "post 3" not in result.output
    assert "Write a one-sentence social media post about cats." in result.output


def test_completion_mode_shows_the_prompt_it_continues(tiny_model_dir):
    args = [
        "generate",
        "--topic",
        "cats",
        "-n",
        "1",
        "--mode",
        "completion",
        "--model",
        str(tiny_model_dir),
        "--temperature",
        "0",
        "--max-new-tokens",
        "3",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Cats are the most" in result.output


def test_bad_input_is_one_line_and_exit_code_2(tiny_model_dir, tmp_path):
    for args, message in [
        (["--mode", "tweet"], "unknown prompt mode 'tweet'"),
        (["--mode", "reply"], "needs a non-empty post"),
        (["--adapter", str(tmp_path)], "no adapter_config.json"),
        (["--base-url", "http://127.0.0.1:9/v1", "--adapter", str(tmp_path)], "--adapter works with local models only"),
    ]:
        result = runner.invoke(app, ["generate", "--topic", "cats", "--model", str(tiny_model_dir), *args])
        assert result.exit_code == 2 and message in result.output, (args, result.output)


# ------------------------------------------------------------------ a trained adapter's own settings
class RecordingModel:
    """Stands in for LocalModel: records how it was built and asked (a fake adapter cannot load)."""

    calls: list[dict] = []

    def __init__(self, model, adapter=None, chat=True, allow_download=False):
        self.calls.append({"model": model, "adapter": adapter, "chat": chat})

    def generate(self, prompts, n=1, **options):
        self.calls.append({"prompts": list(prompts), "n": n, **options})
        return [[f"post {i}" for i in range(n)] for _ in prompts]


def write_adapter(folder, **settings):
    import json

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "generation.json").write_text(json.dumps(settings))
    return folder


SAVED = {"model": "my-base-model", "mode": "completion", "prompt": "", "topic": "dogs", "max_new_tokens": 32,
         "temperature": 0.7, "top_p": 0.9}


def test_sampling_settings_come_from_the_option_then_the_adapter_then_the_run_config(tmp_path):
    import pytest

    from engagegen.cli.run_settings import sampling_settings
    from engagegen.config import ConfigError
    from engagegen.training import RunConfig
    from engagegen.training.config import GenerationConfig

    base = RunConfig(topic="birds", generation=GenerationConfig(max_new_tokens=20, temperature=0.5))
    adapter = write_adapter(tmp_path / "adapter", **SAVED)
    keys = dict.fromkeys(("model", "mode", "prompt", "topic", "max_new_tokens", "temperature", "top_p"))
    s = sampling_settings(base, adapter, **{**keys, "temperature": 0.2})
    assert (s.model, s.mode, s.topic, s.max_new_tokens, s.temperature, s.top_p) == ("my-base-model", "completion", "dogs", 32, 0.2, 0.9)
    # a setting the command has no option for stays the run config's (chat and reply have no --mode)
    s = sampling_settings(base, adapter, model=None, max_new_tokens=None)
    assert (s.model, s.mode, s.topic, s.max_new_tokens, s.temperature) == ("my-base-model", "instruction", "birds", 32, 0.5)
    # an adapter saved without the file (older runs): the run config's settings
    s = sampling_settings(base, tmp_path, **keys)
    assert (s.topic, s.max_new_tokens, s.temperature, s.top_p) == ("birds", 20, 0.5, 1.0)
    write_adapter(tmp_path / "bad", **{**SAVED, "temperature": "warm"})
    with pytest.raises(ConfigError, match=r"bad/generation.json: temperature must be a number, got 'warm'"):
        sampling_settings(base, tmp_path / "bad", **keys)


def test_generate_with_an_adapter_samples_as_its_run_did(tmp_path, monkeypatch):
    monkeypatch.setattr(engagegen.cli.generate_cmd, "LocalModel", RecordingModel)
    RecordingModel.calls = []
    adapter = write_adapter(tmp_path / "adapter", **SAVED)
    result = runner.invoke(app, ["generate", "-n", "2", "--adapter", str(adapter), "--seed", "3"])
    assert result.exit_code == 0, result.output
    built, asked = RecordingModel.calls
    assert built == {"model": "my-base-model", "adapter": adapter, "chat": False}  # completion mode: raw text
    assert asked == {"prompts": ["Dogs are the most"], "n": 2, "max_new_tokens": 32, "temperature": 0.7, "top_p": 0.9,
                     "seed": 3}
    assert "generation.json): model 'my-base-model', mode 'completion'" in result.output
    # what the user gives wins; the rest stays the adapter's
    RecordingModel.calls = []
    result = runner.invoke(app, ["generate", "-n", "1", "--adapter", str(adapter), "--topic", "cats", "--temperature", "0.3",
                                 "--mode", "instruction"])
    assert result.exit_code == 0, result.output
    built, asked = RecordingModel.calls
    assert built["chat"] is True and asked["prompts"] == ["Write a one-sentence social media post about cats."]
    assert (asked["temperature"], asked["max_new_tokens"], asked["top_p"]) == (0.3, 32, 0.9)
    (adapter / "generation.json").write_text("{not json")
    result = runner.invoke(app, ["generate", "--adapter", str(adapter)])
    assert result.exit_code == 2 and "generation.json: not valid JSON" in " ".join(result.output.split())
