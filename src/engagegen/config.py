"""Typed configs from YAML/dicts: nested dataclasses, unknown keys and bad values rejected with their path.

A config is a tree of dataclasses; ``from_dict(TrainingConfig, yaml_data)`` returns it or raises
:class:`ConfigError` such as ``engagement.epsilonn: unknown key (valid keys: model, epsilon, ...)``.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import types

from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

__all__ = ["ConfigError", "from_dict", "to_dict", "load_yaml", "dump_yaml", "atomic_write_text"]

T = TypeVar("T")


class ConfigError(ValueError):
    """A config value or key that is not accepted; the message starts with the key's dotted path."""


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
        raise _fail(path, f"{' or '.join(errors)}, got {value!r}")
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed:
            raise _fail(path, f"must be one of {', '.join(repr(a) for a in allowed)}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, path)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise _fail(path, f"must be a list, got {type(value).__name__} {value!r}")
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
            raise _fail(path, f"must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(path, f"must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(path, f"must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise _fail(path, f"must be a string, got {value!r}")
        return value
    if tp is Path:
        if not isinstance(value, (str, Path)):
            raise _fail(path, f"must be a path, got {value!r}")
        return Path(value)
    raise _fail(path, f"unsupported config type {tp!r}")


def from_dict(cls: type[T], data: Any, path: str = "") -> T:
    """Build dataclass ``cls`` from a mapping, recursively; errors carry the dotted key path.

    Validation in the dataclass's ``__post_init__`` (a ValueError) is reported with the path too.
    """
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise _fail(path, f"must be a mapping of {cls.__name__} fields, got {type(data).__name__} {data!r:.60}")
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
    except ConfigError:
        raise
    except (ValueError, TypeError) as exc:
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


def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML mapping (safe loader), with errors naming the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be a YAML mapping of keys, got {type(data).__name__}")
    return data


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` via a temporary file and rename, so readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def dump_yaml(obj: Any, path: str | os.PathLike) -> Path:
    """Write a dataclass or mapping as YAML, atomically."""
    return atomic_write_text(path, yaml.safe_dump(to_dict(obj), sort_keys=False))


