"""The ``engagegen`` command line: a thin layer over the library.

Each command group lives in its own module and registers itself on the root app when imported.
"""

from engagegen.cli import (  # noqa: F401  (registration)
    analyze_cmd,
    calibrate_cmd,
    chat_cmd,
    engine_cmd,
    generate_cmd,
    grid_cmd,
    network_cmd,
    network_report_cmd,
    recommend_cmd,
    reply_cmd,
    score_cmd,
    scorer_cmd,
    train_cmd,
)
from engagegen.cli.app import app, main

__all__ = ["app", "main"]
