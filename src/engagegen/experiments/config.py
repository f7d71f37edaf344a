"""Grid configs: a base run config, a cartesian product over any of its fields, and the baselines.

A grid YAML file::

    name: paper-central
    base:                      # a RunConfig mapping (what ``engagegen train`` reads)
      topic: cats
      agent: central
    grid:                      # dotted RunConfig field -> list of values; the cartesian product
      network.opinions: [positive, negative, neutral, uniform]
      network.modularity: [high, low]
    baselines:                 # optional; every field has a default
      samples: 64

Unknown keys and bad values are rejected with the path of the offending key, e.g.
``grid.training.group_size[1]: must be an integer, got 'ten'``. Each configuration gets a stable id: a
readable slug of its grid values and a short hash of everything in its config that differs from
the defaults (so adding a new defaulted field to :class:`RunConfig` does not change the ids of
finished configurations).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import itertools
import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, get_type_hints

from engagegen.config import ConfigError, from_dict, load_yaml, to_dict
from engagegen.training.config import RunConfig

__all__ = ["GridConfig", "BaselineConfig", "OpenAIBaselineConfig", "GridPoint", "GridWarning", "load_grid_config",
           "config_hash", "non_defaults", "sample_budget", "with_changes"]

_SLUG_LIMIT = 64


class GridWarning(UserWarning):
    """A grid that runs, but not as its author probably meant (e.g. two points that are one run)."""


@dataclass(frozen=True)
class OpenAIBaselineConfig:
    """A chat-completions server as a baseline (the paper's GPT-4o row).

    ``name`` labels its column in the results (default: the model name); the key is read from the
    environment variable ``api_key_env`` at each request (unset: no key, as local servers expect).
    """

    base_url: str
    model: str
    name: str = ""
    api_key_env: str | None = "OPENAI_API_KEY"
    timeout: float = 60.0
    max_retries: int = 5

    def __post_init__(self) -> None:
        if not self.base_url.strip() or not self.model.strip():
            raise ConfigError("baselines.openai needs a base_url and a model")

    @property
    def label(self) -> str:
        return self.name or self.model


@dataclass(frozen=True)
class BaselineConfig:
    """What each configuration is compared with; all are scored by the configuration's own reward.

    untuned: the model without fine-tuning (mean over the best-of-N pool of posts).
    best_of_n: the best post by reward among N untuned posts, N = the training sample budget
        (steps x group_size x prompts_per_step), capped at ``best_of_n_max`` when set.
    prompt_steered: the prompt describes the audience's opinion mix and asks for a post that fits it.
    openai: an OpenAI-compatible model (not run unless configured).
    random_oracle: a post whose opinion value s is drawn uniformly from [0, 1] (expected engagement,
        exact for step-function engagement models).
    samples: posts per prompt-steered and OpenAI baseline (and the k of the top-k best-of-N mean).
    batch_size: posts generated per model call. examples: posts kept per policy for the report.
    """

    untuned: bool = True
    best_of_n: bool = True
    prompt_steered: bool = True
    random_oracle: bool = True
    openai: OpenAIBaselineConfig | None = None
    samples: int = 64
    best_of_n_max: int | None = None
    batch_size: int = 64
    examples: int = 3

    def __post_init__(self) -> None:
        for name in ("samples", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"baselines.{name} must be >= 1, got {getattr(self, name)}")
        if self.best_of_n_max is not None and self.best_of_n_max < 1:
            raise ConfigError(f"baselines.best_of_n_max must be >= 1 (or null for no cap), got {self.best_of_n_max}")
        if self.examples < 0:
            raise ConfigError(f"baselines.examples must be >= 0, got {self.examples}")


@dataclass(frozen=True)
class GridPoint:
    """One point of a grid: its id (run folder name), readable name, grid values and full config."""

    id: str
    name: str
    params: dict[str, Any]
    config: RunConfig

    @property
    def slug(self) -> str:
        """Its id without the config hash: the grid values, e.g. ``uniform_low_high``."""
        return self.id.rsplit("-", 1)[0]

    @property
    def sample_budget(self) -> int:
        """Posts its training may sample: the budget its best-of-N baseline gets."""
        return sample_budget(self.config)


def sample_budget(cfg: RunConfig) -> int:
    """The most posts a training run samples: each stage's steps (within the run's budget) x
    group_size x its prompts per step."""
    tr = cfg.training
    left, total = tr.steps, 0
    for stage in tr.stages:
        steps = min(stage.steps, left)
        total += steps * tr.group_size * (stage.prompts_per_step or tr.prompts_per_step)
        left -= steps
    return total


def _diff(value: Any, default: Any) -> Any:
    """The part of ``value`` that differs from ``default`` (nested mappings), or ``_SAME``."""
    if isinstance(value, dict) and isinstance(default, dict):
        out = {}
        for key, v in value.items():
            d = _diff(v, default.get(key, _MISSING))
            if d is not _SAME:
                out[key] = d
        return out if out else _SAME
    return _SAME if value == default else value


_SAME = object()
_MISSING = object()


def non_defaults(cfg: RunConfig) -> dict[str, Any]:
    """The fields of ``cfg`` that differ from the defaults, as a nested mapping."""
    diff = _diff(to_dict(cfg), to_dict(RunConfig()))
    return {} if diff is _SAME else diff


def config_hash(cfg: RunConfig) -> str:
    """Eight hex digits naming what ``cfg`` sets away from the defaults (stable across new defaulted fields)."""
    text = json.dumps(non_defaults(cfg), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _field_paths(cls: type, prefix: str = "") -> dict[str, Any]:
    """Every dotted field path of a config dataclass (leaves and sub-configs) and its type."""
    out: dict[str, Any] = {}
    hints = get_type_hints(cls)
    for f in dataclasses.fields(cls):
        path = f"{prefix}{f.name}"
        out[path] = hints[f.name]
        if dataclasses.is_dataclass(hints[f.name]):
            out.update(_field_paths(hints[f.name], f"{path}."))
    return out


_RUN_FIELDS = _field_paths(RunConfig)


def _check_field(key: str, where: str) -> None:
    """Raise a ConfigError naming ``where.key`` and the valid keys beside it unless ``key`` is a RunConfig field."""
    if key in _RUN_FIELDS:
        return
    parent = key.rsplit(".", 1)[0] if "." in key else ""
    siblings = sorted(p.rsplit(".", 1)[-1] for p in _RUN_FIELDS if (p.rsplit(".", 1)[0] if "." in p else "") == parent)
    hint = f" (valid keys{' under ' + parent if parent else ''}: {', '.join(siblings)})" if siblings else ""
    raise ConfigError(f"{where}.{key}: not a run config field{hint}")


def with_changes(cfg: RunConfig, changes: dict[str, Any], where: str = "changes") -> RunConfig:
    """``cfg`` with dotted fields set, validated as a whole (errors name ``where.key``).

    >>> with_changes(RunConfig(), {"reward.sharpness": 4}).reward.sharpness
    4.0
    """
    data = to_dict(cfg)
    for key, value in changes.items():
        _check_field(key, where)
        _set_path(data, key, value)
        try:
            from_dict(RunConfig, data)
        except ConfigError as exc:
            raise ConfigError(f"{where}.{key}: {_strip_path(str(exc), key)}") from None
    return from_dict(RunConfig, data)


def _set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Set a dotted path in nested dicts; a mapping value is merged into an existing mapping."""
    *parents, leaf = path.split(".")
    node = data
    for key in parents:
        node = node.setdefault(key, {})
    if isinstance(value, dict) and isinstance(node.get(leaf), dict):
        merged = copy.deepcopy(node[leaf])
        for k, v in value.items():
            _set_path(merged, k, v)
        node[leaf] = merged
    else:
        node[leaf] = copy.deepcopy(value)


def _slug(value: Any) -> str:
    text = re.sub(r"[^A-Za-z0-9.+-]+", "-", str(value)).strip("-.")
    return text or "x"


def _short_keys(keys: list[str]) -> dict[str, str]:
    """The last component of each dotted key, or the whole key where two last components clash."""
    last = [k.rsplit(".", 1)[-1] for k in keys]
    return {k: (s if last.count(s) == 1 else k) for k, s in zip(keys, last)}


@dataclass(frozen=True)
class GridConfig:
    """A base run config, the grid of values to vary, and the baselines to compare with.

    ``configurations`` lists every point of the cartesian product of ``grid`` (in the order the
    keys and values are written), each validated as a full :class:`RunConfig`.
    """

    name: str = "grid"
    description: str = ""
    base: RunConfig = field(default_factory=RunConfig)
    grid: dict[str, list[Any]] = field(default_factory=dict)
    baselines: BaselineConfig = field(default_factory=BaselineConfig)

    def __post_init__(self) -> None:
        if not self.name.strip() or "/" in self.name:
            raise ConfigError(f"name: must be a non-empty name without '/', got {self.name!r}")
        base = to_dict(self.base)
        for key, values in self.grid.items():
            _check_field(key, "grid")
            if not values:
                raise ConfigError(f"grid.{key}: must list at least one value")
            for i, value in enumerate(values):
                data = copy.deepcopy(base)
                _set_path(data, key, value)
                try:
                    from_dict(RunConfig, data)
                except ConfigError as exc:
                    raise ConfigError(f"grid.{key}[{i}]: {_strip_path(str(exc), key)}") from None
        self.configurations  # noqa: B018  (validates every combination now, not at run time)

    @cached_property
    def configurations(self) -> list[GridPoint]:
        keys = list(self.grid)
        short = _short_keys(keys)
        base = to_dict(self.base)
        out: list[GridPoint] = []
        seen: dict[str, str] = {}
        for values in itertools.product(*(self.grid[k] for k in keys)):
            data = copy.deepcopy(base)
            for key, value in zip(keys, values):
                _set_path(data, key, value)
            params = dict(zip(keys, values))
            name = ", ".join(f"{short[k]}={value_label(v)}" for k, v in params.items()) or self.name
            try:
                cfg = from_dict(RunConfig, data)
            except ConfigError as exc:
                raise ConfigError(f"grid: the configuration {name} is not valid: {exc}") from None
            slug = "_".join(_slug(Path(value_label(v)).stem if isinstance(v, str) and "/" in v else value_label(v))
                            for v in values)[:_SLUG_LIMIT] or _slug(self.name)
            cid = f"{slug}-{config_hash(cfg)}"
            if cid in seen:
                raise ConfigError(f"grid: the configurations {seen[cid]} and {name} are the same run config")
            seen[cid] = name
            out.append(GridPoint(cid, name, params, cfg))
        return out

    def to_dict(self) -> dict[str, Any]:
        """The grid as YAML-ready data, its base reduced to what differs from the defaults: reloaded
        after the defaults change, it names the same configurations (ids) as the file it came from."""
        data = to_dict(self)
        data["base"] = non_defaults(self.base)
        return data

    def configuration(self, cid: str) -> GridPoint:
        for c in self.configurations:
            if c.id == cid:
                return c
        raise KeyError(cid)


def value_label(value: Any) -> str:
    """A grid value as short text: a file by its name, a mapping as ``k=v+k=v``, a list joined by ``+``."""
    if isinstance(value, str) and "/" in value:
        return Path(value).name  # a file: its name says enough
    if isinstance(value, dict):
        return "+".join(f"{k}={value_label(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return "+".join(value_label(v) for v in value)
    return str(value)


def _strip_path(message: str, key: str) -> str:
    """``network.opinions: must be ...`` -> ``must be ...`` when the error is about ``key`` or the
    config section holding it (``network: ...``, raised by the section's own checks)."""
    parts = key.split(".")
    for prefix in (".".join(parts[:i]) + ": " for i in range(len(parts), 0, -1)):
        if message.startswith(prefix):
            return message[len(prefix):]
    return message


def load_grid_config(path: str | Path, overrides: dict[str, Any] | None = None) -> GridConfig:
    """Read a grid config from YAML; its ``name`` defaults to the file's stem.

    Paths inside the config (network.path, network.opinions_file, ...) are read relative to the
    directory the grid runs from, as with ``engagegen train``.
    """
    path = Path(path)
    data = load_yaml(path)
    if overrides:
        data = {**data, **overrides}
    data.setdefault("name", path.stem)
    return from_dict(GridConfig, data)
