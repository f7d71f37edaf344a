"""Root Typer app. Each command group lives in its own module and registers itself here.

Every command runs inside :class:`_Root`'s error handling: an :class:`EngagegenError` or an error of
the operating system (a missing file, a full disk) is the user's to fix and prints one red line
(exit code 2); any other exception is a bug in engagegen and prints its traceback with a request
to report it (exit code 1).
"""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from engagegen.errors import EngagegenError

err_console = Console(stderr=True)

# What a user can fix: engagegen's own errors and the operating system's (no such file, disk full...).
USER_ERRORS: tuple[type[BaseException], ...] = (EngagegenError, OSError)
BUG_NOTE = ("[bold red]This is a bug in engagegen[/bold red], not a problem with your input: please report it "
            "(the command you ran and the traceback above) on the engagegen issue tracker.")


def print_user_error(exc: BaseException) -> None:
    """One red line: the error's message (OS errors with their file name and cause)."""
    if isinstance(exc, OSError) and not isinstance(exc, EngagegenError) and exc.strerror:
        message = f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    else:
        message = str(exc)
    err_console.print(f"[red]error:[/red] {message}", highlight=False, markup=True, soft_wrap=True)


class _Root(TyperGroup):
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except USER_ERRORS as exc:
            print_user_error(exc)
            raise typer.Exit(2) from None
        except (typer.Exit, typer.Abort, typer.TyperException, KeyboardInterrupt):
            raise  # usage errors and exits: typer prints them
        except Exception:
            err_console.print_exception(show_locals=False)
            err_console.print(BUG_NOTE)
            raise typer.Exit(1) from None


app = typer.Typer(
    name="engagegen",
    cls=_Root,
    help="Engagement-driven content generation with language models on simulated social networks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def main() -> None:
    app()
