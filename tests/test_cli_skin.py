"""The command line is one skin: every command shows an example in its --help, outputs are ``--out``,
``--model`` is always a language model, and defaults come from the default run config."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from engagegen.cli import app
from engagegen.cli.common import DEFAULT_RUN

runner = CliRunner()
ROOT = typer.main.get_command(app)


def _commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every leaf command under ``group`` by its path of names (typer bundles its own click: duck-typed)."""
    for name, command in sorted(group.commands.items()):
        if hasattr(command, "commands"):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name), command


COMMANDS = dict(_commands(ROOT))


def test_the_walk_sees_every_command() -> None:
    assert {"simulate", "optimum", "score", "generate", "reply", "chat", "train", "calibrate"} <= {p[-1] for p in COMMANDS}
    assert ("network", "generate", "paper") in COMMANDS and ("grid", "run") in COMMANDS


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=" ".join)
def test_every_command_help_shows_an_example(path: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*path, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "Example" in result.output and f"engagegen {' '.join(path[:1])}" in result.output


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=" ".join)
def test_outputs_are_out_and_model_is_a_language_model(path: tuple[str, ...]) -> None:
    options = {name for param in COMMANDS[path].params for name in param.opts}
    assert "--output" not in options and "--plot" not in options
    if "--model" in options:  # the language model: the commands that write text
        assert path[-1] in ("generate", "reply", "chat"), path


def test_defaults_come_from_the_run_config() -> None:
    def default(path: tuple[str, ...], name: str) -> object:
        return next(p.default for p in COMMANDS[path].params if p.name == name)

    for path in (("generate",), ("reply",), ("chat",)):
        assert default(path, "temperature") == DEFAULT_RUN.generation.temperature
        assert default(path, "max_new_tokens") == DEFAULT_RUN.generation.max_new_tokens
        assert default(path, "model") == DEFAULT_RUN.generation.model
    for path in (("generate",), ("chat",), ("analyze",)):
        assert default(path, "topic") == DEFAULT_RUN.topic
    # score takes its audience from --config or the default run config; an option given changes it
    assert default(("score",), "topic") is None and default(("score",), "config") is None
    for path in (("simulate",), ("optimum",)):
        assert default(path, "engagement") == DEFAULT_RUN.engagement.model
        assert default(path, "epsilon") == DEFAULT_RUN.engagement.epsilon
