"""The ``engagegen`` command line: a thin layer over the library."""

from engagegen.cli.app import app, main

__all__ = ["app", "main"]
