"""``engagegen generate`` on the tiny stand-in model."""

from typer.testing import CliRunner

import engagegen.cli.generate_cmd  # noqa: F401  (registers the command)
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
