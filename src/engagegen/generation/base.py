"""The generator protocol, its errors, and the argument checks every backend shares."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from engagegen.errors import EngagegenError

__all__ = ["GenerationError", "Generator", "ServerError", "check_generate_args"]


class GenerationError(EngagegenError, ValueError):
    """Bad generation arguments, or a model, adapter or prompt that cannot be used; the message says which."""


class ServerError(EngagegenError, RuntimeError):
    """An OpenAI-compatible server failed, timed out or rejected the request (never contains the API key)."""


@runtime_checkable
class Generator(Protocol):
    """What every text generator implements: ``n`` sampled continuations for each prompt.

    ``generate`` returns one list per prompt, each holding ``n`` strings: only the newly generated
    text, stripped. ``temperature=0`` means greedy decoding; ``seed`` makes sampling repeatable.
    """

    def generate(
        self,
        prompts: Sequence[str],
        n: int = 1,
        max_new_tokens: int = 48,
        temperature: float = 1.0,
        seed: int | None = None,
    ) -> list[list[str]]: ...


def check_generate_args(
    prompts: Sequence[str], n: int, max_new_tokens: int, temperature: float, seed: int | None
) -> list[str]:
    """The prompts as a list, or a :class:`GenerationError` naming the first bad argument.

    >>> check_generate_args(["Cats are the most"], 2, 16, 0.7, None)
    ['Cats are the most']
    """
    if isinstance(prompts, str):
        raise GenerationError("prompts must be a sequence of strings, got a single string; wrap it in a list")
    prompts = list(prompts)
    if not prompts:
        raise GenerationError("prompts is empty; pass at least one prompt")
    for i, prompt in enumerate(prompts):
        if not isinstance(prompt, str):
            raise GenerationError(f"prompt {i} is a {type(prompt).__name__}, not a string")
        if not prompt.strip():
            raise GenerationError(f"prompt {i} is empty")
    for name, value in (("n", n), ("max_new_tokens", max_new_tokens)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise GenerationError(f"{name} must be a positive integer, got {value!r}")
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, (int, float))
        or not 0.0 <= temperature < float("inf")
    ):
        raise GenerationError(f"temperature must be a finite number >= 0 (0 = greedy), got {temperature!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise GenerationError(f"seed must be a non-negative integer or None, got {seed!r}")
    return prompts
