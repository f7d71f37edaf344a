"""Root Typer app. Each command group lives in its own module and registers itself here."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="engagegen",
    help="Engagement-driven content generation with language models on simulated social networks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def main() -> None:
    app()
