"""The base of every error engagegen raises on purpose.

An :class:`EngagegenError` means the input, a file or a setting is not usable and the message says
why and where; the command line prints it as one line. Any other exception out of engagegen is a
bug, and the command line shows its traceback and asks for a report. Subclasses may also derive
from a built-in type (``ValueError``, ``ImportError``...) so ``except ValueError`` keeps working.

>>> class MyError(EngagegenError, ValueError): ...
>>> isinstance(MyError("bad"), ValueError), isinstance(MyError("bad"), EngagegenError)
(True, True)
"""

from __future__ import annotations

__all__ = ["EngagegenError", "ResourceError"]


class EngagegenError(Exception):
    """An error in what engagegen was given (input, file, setting); the message names the problem and where."""


class ResourceError(EngagegenError, MemoryError):
    """A job that would need more memory (or another resource) than the machine has; refused before it starts."""
