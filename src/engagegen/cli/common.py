"""Shared CLI plumbing: loading a network argument, parsing an agent, vetting outputs, turning library errors into exits."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import typer
from rich.console import Console

from engagegen.cli.app import USER_ERRORS, err_console, print_user_error
from engagegen.files import check_output
from engagegen.network import SocialNetwork

__all__ = ["console", "err_console", "parse_agent", "load_network", "friendly_errors", "output_file", "output_folder"]

console = Console()

FORCE_HELP = "Overwrite an existing output."


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
