"""What a command runs with: the run config of ``--config`` (changed by the options given) and the
sampling settings of ``--adapter``.

A setting the user leaves out comes from, in this order: the trained adapter's
``generation.json`` (the settings its run validated it at: sampled otherwise, a policy trained at
temperature 0.7 for 32 tokens writes other posts), the ``--config`` run config, the default
:class:`RunConfig`. The audience and reward are then built from the run config by
:func:`engagegen.training.build.build_audience`, as training builds them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from rich.markup import escape

from engagegen.cli.common import err_console, load_network, parse_agent
from engagegen.config import ConfigError
from engagegen.training import RunConfig, load_run_config
from engagegen.training.config import NetworkConfig, ScoringConfig

__all__ = ["ADAPTER_SETTINGS", "FROM_CONFIG_NETWORK", "Sampling", "from_adapter", "from_config", "run_config",
           "sampling_settings"]

#: The file of an adapter folder that holds the settings its run sampled it at.
ADAPTER_SETTINGS = "generation.json"



def from_config(value: object) -> str:
    """An option's default as ``--help`` shows it: the ``--config`` run config's, else ``value``."""
    return f"the config's, else {value}"


def from_adapter(value: object, config: bool = False) -> str:
    """A sampling option's default as ``--help`` shows it: the adapter's, (the config's,) else ``value``."""
    return f"the adapter's generation.json, else {from_config(value) if config else value}"


#: Where ``--network`` defaults from, as ``--help`` shows it.
FROM_CONFIG_NETWORK = "the config's, else the paper's negative network"


def run_config(config: Path | None, *, network: Path | None = None, agent: str | None = None,
               topic: str | None = None, epsilon: float | None = None, preset: str | None = None) -> RunConfig:
    """The run config a command works under: ``config`` (or the default one, fluency without
    perplexity so that scoring stays fast), changed by the options given."""
    cfg = load_run_config(config) if config is not None else RunConfig(scoring=ScoringConfig(fluency_model=None))
    if network is not None:
        load_network(network)  # a clear error for a file that is not a network, before any model loads
        cfg = replace(cfg, network=NetworkConfig(source="file", path=str(network), seed=cfg.network.seed))
    if agent is not None:
        cfg = replace(cfg, agent=parse_agent(agent))
    if topic is not None:
        cfg = replace(cfg, topic=topic)
    if epsilon is not None:
        cfg = replace(cfg, engagement=replace(cfg.engagement, epsilon=epsilon))
    if preset is not None:
        cfg = replace(cfg, reward=replace(cfg.reward, preset=preset))
    return cfg


@dataclass(frozen=True)
class Sampling:
    """How a command samples: the language model, the prompt, the topic and the decoding settings."""

    model: str
    mode: str
    prompt: str
    topic: str
    max_new_tokens: int
    temperature: float
    top_p: float


_NAMES = tuple(f.name for f in fields(Sampling))
_NUMBERS = ("max_new_tokens", "temperature", "top_p")


def _adapter_settings(adapter: Path) -> dict[str, Any]:
    """The sampling settings an adapter folder keeps; none for an adapter saved without them."""
    path = Path(adapter) / ADAPTER_SETTINGS
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object of sampling settings, got {type(data).__name__}")
    settings = {k: v for k, v in data.items() if k in _NAMES and v is not None}
    for key, value in settings.items():
        wanted = (int, float) if key in _NUMBERS else str
        if isinstance(value, bool) or not isinstance(value, wanted):
            raise ConfigError(f"{path}: {key} must be a {'number' if key in _NUMBERS else 'string'}, got {value!r}")
    return settings


def sampling_settings(base: RunConfig, adapter: Path | None, **given: Any) -> Sampling:
    """The sampling settings: each option ``given`` (None: not given), else the adapter's
    ``generation.json``, else ``base``'s. Only the settings a command has options for (``given``'s
    keys) are taken from the adapter; the others are ``base``'s. Says on stderr which came from it."""
    gen = base.generation
    defaults = {"model": gen.model, "mode": gen.mode, "prompt": gen.prompt, "topic": base.topic,
                "max_new_tokens": gen.max_new_tokens, "temperature": gen.temperature, "top_p": gen.top_p}
    saved = _adapter_settings(adapter) if adapter is not None else {}
    chosen = {k: v for k, v in given.items() if v is not None}
    taken = {k: v for k, v in saved.items() if k not in chosen and k in given}
    if taken:
        listed = escape(", ".join(f"{k} {v!r}" for k, v in taken.items()))
        err_console.print(f"[dim]as the adapter's run sampled it ({escape(str(Path(adapter or '') / ADAPTER_SETTINGS))}): {listed}[/dim]",
                          highlight=False, soft_wrap=True)
    settings = {**defaults, **taken, **chosen}
    settings["max_new_tokens"] = int(settings["max_new_tokens"])
    return Sampling(**settings)
