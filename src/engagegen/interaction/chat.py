"""Talking with the agent model by hand: each answer comes with its live reward breakdown.

With a language model (this loads SmolLM2 and a trained adapter, so it is not run as a test; the
``engagegen chat`` command is this loop)::

    session = ChatSession(LocalModel(adapter="runs/demo/adapter"), reward)  # reward: an EngagementReward
    turn = session.ask("What do you think about cats?")
    turn.text, turn.breakdown.engaged[0], describe(turn.breakdown, reward.optimum.value)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engagegen.generation.base import GenerationError
from engagegen.reward import RewardBreakdown

__all__ = ["ChatSession", "ChatTurn", "describe"]


@dataclass(frozen=True)
class ChatTurn:
    """One exchange: the person's message, the agent's answer and the answer's reward breakdown."""

    message: str
    text: str
    breakdown: RewardBreakdown


def describe(out: RewardBreakdown, optimum: float, i: int = 0) -> str:
    """One line: opinion value, users engaged out of the optimum, topic, flags, reward."""
    flags = ", ".join(out.flags[i]) or "none"
    reason = f" ({out.reason[i]})" if out.reason and out.reason[i] else ""
    return (f"opinion {out.opinion[i]:.2f} · engages {out.engaged[i]:g} of {optimum:g} users (optimum) · "
            f"topic {out.topic[i]:.2f} · flags: {flags} · reward {out.total[i]:.3f}{reason}")


class ChatSession:
    """A conversation with a local model (``LocalModel``, optionally with a trained adapter).

    The last ``history_turns`` exchanges go through the model's chat template with each new
    message, so the agent answers in context; every answer is scored by ``reward`` (an
    :class:`~engagegen.reward.EngagementReward` or anything with ``score(texts)``) as a post.
    """

    def __init__(self, generator: Any, reward: Any, *, system: str | None = None, max_new_tokens: int = 64,
                 temperature: float = 0.7, top_p: float = 1.0, seed: int | None = None, history_turns: int = 4) -> None:
        tokenizer = getattr(generator, "tokenizer", None)
        if tokenizer is None or not getattr(tokenizer, "chat_template", None):
            raise GenerationError("chat needs a local model with a chat template (an instruct model)")
        if history_turns < 0:
            raise GenerationError(f"history_turns must be >= 0, got {history_turns!r}")
        self.generator, self.reward, self.system = generator, reward, system
        self.max_new_tokens, self.temperature, self.top_p, self.seed = max_new_tokens, temperature, top_p, seed
        self.history_turns = history_turns
        self.turns: list[ChatTurn] = []

    def reset(self) -> None:
        self.turns.clear()

    def _prompt(self, message: str) -> str:
        messages: list[dict[str, str]] = [{"role": "system", "content": self.system}] if self.system else []
        for turn in self.turns[len(self.turns) - self.history_turns :] if self.history_turns else []:
            messages += [{"role": "user", "content": turn.message}, {"role": "assistant", "content": turn.text}]
        messages.append({"role": "user", "content": message})
        return self.generator.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def ask(self, message: str) -> ChatTurn:
        if not isinstance(message, str) or not message.strip():
            raise GenerationError("say something: the message is empty")
        seed = None if self.seed is None else self.seed + len(self.turns)
        text = self.generator.generate([self._prompt(message.strip())], n=1, max_new_tokens=self.max_new_tokens,
                                       temperature=self.temperature, top_p=self.top_p, seed=seed, raw=True)[0][0]
        turn = ChatTurn(message.strip(), text, self.reward.score([text]))
        self.turns.append(turn)
        return turn
