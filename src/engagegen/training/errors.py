"""The training package's error."""

from __future__ import annotations

from engagegen.errors import EngagegenError

__all__ = ["TrainingError"]


class TrainingError(EngagegenError, RuntimeError):
    """A run that cannot start or continue; the message says why and what to change."""
