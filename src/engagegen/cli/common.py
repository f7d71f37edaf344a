"""Shared CLI plumbing: loading a network argument, parsing an agent, turning library errors into exits."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import typer
from rich.console import Console

from engagegen.network import SocialNetwork

console = Console()
err_console = Console(stderr=True)


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


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Library errors (bad input) become one red line and exit code 2, not a traceback."""
    try:
        yield
    except (ValueError, FileNotFoundError, RuntimeError, ImportError) as exc:
        if isinstance(exc, typer.BadParameter):
            raise
        err_console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
