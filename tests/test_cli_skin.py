"""The command line is one skin: every command shows an example in its --help, outputs are ``--out``,
``--model`` is always a language model, and defaults come from the default run config."""

from __future__ import annotations

import subprocess
import sys
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


def test_python_dash_m_runs_the_command() -> None:
    done = subprocess.run([sys.executable, "-m", "engagegen", "simulate", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Example" in done.stdout and "engagegen simulate" in done.stdout


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
    def option(path: tuple[str, ...], name: str) -> Any:
        return next(p for p in COMMANDS[path].params if p.name == name)

    from engagegen.cli.run_settings import sampling_settings

    # generate, reply and chat: an option not given comes from --adapter's generation.json, else
    # the run config (--config's for chat and reply, else the default one); --help says so
    resolved = sampling_settings(DEFAULT_RUN, None, model=None, topic=None, max_new_tokens=None, temperature=None)
    for path in (("generate",), ("reply",), ("chat",)):
        for name in ("temperature", "max_new_tokens", "model", "top_p"):
            assert option(path, name).default is None
            assert "the adapter's generation.json" in option(path, name).show_default
            assert option(path, name).show_default.endswith(f"else {getattr(DEFAULT_RUN.generation, name)}")
    assert (resolved.model, resolved.topic, resolved.max_new_tokens, resolved.temperature) == (
        DEFAULT_RUN.generation.model, DEFAULT_RUN.topic, DEFAULT_RUN.generation.max_new_tokens, DEFAULT_RUN.generation.temperature)
    for path in (("generate",), ("chat",)):
        assert option(path, "topic").default is None and option(path, "topic").show_default.endswith(f"else {DEFAULT_RUN.topic}")
    assert option(("analyze",), "topic").default == DEFAULT_RUN.topic
    # score, chat and reply take their audience from --config or the default run config; an option given changes it
    for path in (("score",), ("chat",), ("reply",)):
        assert option(path, "config").default is None and option(path, "network").default is None
        assert option(path, "epsilon").default is None
        assert option(path, "epsilon").show_default == f"the config's, else {DEFAULT_RUN.engagement.epsilon}"
    assert option(("score",), "topic").default is None
    for path in (("simulate",), ("optimum",)):
        assert option(path, "engagement").default == DEFAULT_RUN.engagement.model
        assert option(path, "epsilon").default == DEFAULT_RUN.engagement.epsilon
