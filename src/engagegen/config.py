"""Typed configs from YAML/dicts: nested dataclasses, unknown keys and bad values rejected with their path.

A config is a tree of dataclasses; ``from_dict(TrainingConfig, yaml_data)`` returns it or raises
:class:`ConfigError` such as ``engagement.epsilonn: unknown key (valid keys: model, epsilon, ...)``.
"""

from __future__ import annotations

import dataclasses
import os
import reprlib
import types

from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from engagegen.errors import EngagegenError
from engagegen.files import InputFileError, atomic_write_text, read_text

__all__ = ["ConfigError", "from_dict", "to_dict", "load_yaml", "dump_yaml", "excerpt"]

T = TypeVar("T")


class ConfigError(EngagegenError, ValueError):
    """A config value or key that is not accepted; the message starts with the key's dotted path."""


_REPR = reprlib.Repr()  # keyword arguments only from Python 3.12
_REPR.maxlevel, _REPR.maxlist, _REPR.maxtuple, _REPR.maxdict, _REPR.maxset = 2, 4, 4, 4, 4
_REPR.maxstring = _REPR.maxother = 60


def excerpt(value: Any) -> str:
    """``repr(value)`` cut short: error messages quote at most about a line of a value.

    >>> excerpt("x" * 500)
    "'xxxxxxxxxxxxxxxxxxxxxxxxxxx...xxxxxxxxxxxxxxxxxxxxxxxxxxxx'"
    >>> excerpt([[1, 2, 3, 4, 5]] * 9)
    '[[1, 2, 3, 4, ...], [1, 2, 3, 4, ...], [1, 2, 3, 4, ...], [1, 2, 3, 4, ...], ...]'
    """
    return _REPR.repr(value)


def _fail(path: str, message: str) -> ConfigError:
    return ConfigError(f"{path or '<root>'}: {message}")


def _convert(tp: Any, value: Any, path: str) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        options = get_args(tp)
        if value is None:
            if type(None) in options:
                return None
            raise _fail(path, "must not be empty (null)")
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(option, value, path)
            except ConfigError as exc:
                errors.append(str(exc).split(": ", 1)[-1].split(", got ")[0])
        raise _fail(path, f"{' or '.join(errors)}, got {excerpt(value)}")
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed:
            raise _fail(path, f"must be one of {', '.join(repr(a) for a in allowed)}, got {excerpt(value)}")
        return value
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, path)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise _fail(path, f"must be a list, got {type(value).__name__} {excerpt(value)}")
        args = get_args(tp)
        item = args[0] if args else Any
        return origin(_convert(item, v, f"{path}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise _fail(path, f"must be a mapping, got {type(value).__name__}")
        _, vt = get_args(tp) or (Any, Any)
        return {str(k): _convert(vt, v, f"{path}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise _fail(path, f"must be true or false, got {excerpt(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(path, f"must be an integer, got {excerpt(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(path, f"must be a number, got {excerpt(value)}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise _fail(path, f"must be a string, got {excerpt(value)}")
        return value
    if tp is Path:
        if not isinstance(value, (str, Path)):
            raise _fail(path, f"must be a path, got {excerpt(value)}")
        return Path(value)
    raise _fail(path, f"unsupported config type {tp!r}")


def from_dict(cls: type[T], data: Any, path: str = "") -> T:
    """Build dataclass ``cls`` from a mapping, recursively; errors carry the dotted key path.

    Validation in the dataclass's ``__post_init__`` (a :class:`ConfigError`, or a plain ValueError)
    is reported as a ConfigError with the path of a nested config in front (a grid's ``base``
    names the whole path); a TypeError there is a bug and propagates.
    """
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise _fail(path, f"must be a mapping of {cls.__name__} fields, got {type(data).__name__} {excerpt(data)}")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in data if k not in fields]
    if unknown:
        key = f"{path}.{unknown[0]}" if path else str(unknown[0])
        raise _fail(key, f"unknown key (valid keys: {', '.join(fields)})")
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _convert(hints[name], value, f"{path}.{name}" if path else name)
    missing = [n for n, f in fields.items() if n not in kwargs and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise _fail(f"{path}.{missing[0]}" if path else missing[0], "required key is missing")
    try:
        return cls(**kwargs)
    except ConfigError as exc:  # validation in __post_init__ naming its key: a nested config's path goes first
        raise (_fail(path, str(exc)) if path else exc) from None
    except ValueError as exc:  # validation by a plain ValueError: given the key path
        raise _fail(path, str(exc)) from None


def to_dict(obj: Any) -> Any:
    """A dataclass (recursively) as plain YAML/JSON-ready data."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_dict(v) for k, v in obj.items()}
    if isinstance(obj, Path):
        return str(obj)
    return obj


MAX_CONFIG_BYTES = 1024 * 1024
# Values a config may expand to through YAML aliases (``*name``); a real config has a few hundred.
MAX_CONFIG_VALUES = 100_000


def _expanded_size(node: yaml.Node, path: Path, sizes: dict[int, int], open_nodes: set[int]) -> int:
    """How many values ``node`` stands for once its aliases are expanded (memoised per shared node)."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_nodes:
        raise ConfigError(f"{path}, line {node.start_mark.line + 1}: a YAML alias refers to itself")
    open_nodes.add(key)
    if isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(child, path, sizes, open_nodes) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, path, sizes, open_nodes) + _expanded_size(v, path, sizes, open_nodes)
                       for k, v in node.value)
    else:
        size = 1
    open_nodes.discard(key)
    sizes[key] = size
    if size > MAX_CONFIG_VALUES:
        raise ConfigError(f"{path}, line {node.start_mark.line + 1}: this value expands to more than "
                          f"{MAX_CONFIG_VALUES:,} values through YAML aliases (*name); a config is refused past that")
    return size


def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML mapping (safe loader), with errors naming the file and line.

    Refused: a file over 1 MiB, text that is not UTF-8, an empty file, and aliases that expand to more
    than :data:`MAX_CONFIG_VALUES` values (a few hundred bytes of nested aliases can stand for billions).
    """
    path = Path(path)
    try:
        text = read_text(path, max_bytes=MAX_CONFIG_BYTES, what="config file")
    except InputFileError as exc:
        raise ConfigError(str(exc)) from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ConfigError(f"{path}: the config file is empty; write the settings to change "
                              "(`{}` keeps every default)")
        _expanded_size(node, path, {}, set())
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: not valid YAML ({excerpt(getattr(exc, 'problem', None) or exc)})") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be a YAML mapping of keys, got {type(data).__name__}")
    return data


def dump_yaml(obj: Any, path: str | os.PathLike) -> Path:
    """Write a dataclass or mapping as YAML, atomically."""
    return atomic_write_text(path, yaml.safe_dump(to_dict(obj), sort_keys=False))


