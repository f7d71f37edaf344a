"""Shared CLI plumbing: loading a network argument, parsing an agent, vetting outputs, turning library
errors into exits, the defaults every command takes from :class:`RunConfig`, and help examples.

One skin for every command: what a command writes is ``--out``; the network a command is about is
its first argument (``simulate``, ``optimum``, ``network stats``...) and the network it scores for
is ``--network``; ``--model`` is always a language model and ``--engagement`` an engagement model;
``--topic`` and the generation settings default to those of the default run config.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import typer
from rich.console import Console
from rich.markup import escape

from engagegen.cli.app import USER_ERRORS, err_console, print_user_error
from engagegen.files import check_output
from engagegen.network import SocialNetwork
from engagegen.scoring import StanceClassifier, VaderOpinion
from engagegen.training.config import RunConfig

__all__ = ["console", "err_console", "percent", "parse_agent", "load_network", "friendly_errors", "output_file", "output_folder",
           "examples", "opinion_scorer", "quiet_model_loading", "DEFAULT_RUN"]

console = Console()

FORCE_HELP = "Overwrite an existing output."

#: The defaults of every command's topic, generation and engagement settings: those of a run.
DEFAULT_RUN = RunConfig()


def percent(value: object) -> str:
    """A fraction as a whole percentage in a table cell; "-" where there is none."""
    return f"{value:.0%}" if isinstance(value, (int, float)) else "-"


def examples(*commands: str) -> str:
    """A command's ``--help`` epilog: the example command lines, shown as typed."""
    return "Example" + ("s" if len(commands) > 1 else "") + ":\n\n" + "\n\n".join(f"  {escape(c)}" for c in commands)


def quiet_model_loading() -> None:
    """Turn off transformers' progress bars: the command's status line says what is loading.
    transformers is imported here, when a model is about to load, so that ``--help`` stays fast."""
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()


def opinion_scorer(stance: Path | None) -> VaderOpinion | StanceClassifier:
    """The opinion scorer of ``--stance``: a trained stance classifier folder, or VADER when none is given."""
    return VaderOpinion() if stance is None else StanceClassifier.load(stance)


def parse_agent(value: str) -> str | int:
    """``central``-style position names stay strings; digits become a user id."""
    return int(value) if value.strip().lstrip("-").isdigit() else value.strip()


def load_network(path: Path) -> SocialNetwork:
    """A network file: ``.npz`` written by engagegen (``engagegen network generate/load`` make one)."""
    if path.suffix != ".npz":
        raise typer.BadParameter(
            f"{path}: expected a .npz network file; convert an edge list first with "
            "`engagegen network load EDGES --opinions OPINIONS.csv --out net.npz`"
        )
    return SocialNetwork.load(path)


def output_file(path: Path, *, force: bool, inputs: Sequence[Path | None] = (), suffixes: Sequence[str] = (),
                option: str = "--out") -> Path:
    """Check a file to write before any work (see :func:`engagegen.files.check_output`); exits with one line."""
    with friendly_errors():
        return check_output(path, force=force, inputs=inputs, suffixes=suffixes, option=option)


def output_folder(path: Path, *, force: bool, files: Sequence[str], inputs: Sequence[Path | None] = (),
                  option: str = "--out") -> Path:
    """Check a folder to write ``files`` into before any work; exits with one line."""
    with friendly_errors():
        return check_output(path, force=force, inputs=inputs, folder=True, files=files, option=option)


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Errors of the input (engagegen's own, and the OS's) become one red line and exit code 2.

    Anything else propagates to the root command, which prints it as a bug with its traceback.
    """
    try:
        yield
    except USER_ERRORS as exc:
        print_user_error(exc)
        raise typer.Exit(2) from None
