"""Reading posts from CSV or JSONL files, with errors that name the file, line and column."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engagegen.errors import EngagegenError

__all__ = ["read_posts", "PostsFileError", "PostRecord"]


class PostsFileError(EngagegenError, ValueError):
    """A posts file that cannot be read as asked; the message names the file, line and column."""


@dataclass(frozen=True)
class PostRecord:
    """One post: its text, the file line it came from, and the row's other fields (as read)."""

    text: str
    line: int
    fields: dict[str, Any]


def read_posts(path: str | Path, text_column: str = "text") -> list[PostRecord]:
    """Read posts from ``.csv`` (header row required) or ``.jsonl`` (one object per line).

    Every row must have a string in ``text_column``; a missing column, a non-string value or a
    line that does not parse raises :class:`PostsFileError` naming the file and line.
    """
    path = Path(path)
    if not path.exists():
        raise PostsFileError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path, text_column)
    if suffix in (".jsonl", ".ndjson"):
        return _read_jsonl(path, text_column)
    raise PostsFileError(f"{path}: expected a .csv or .jsonl file of posts, got {suffix or 'no extension'}")


def _read_csv(path: Path, column: str) -> list[PostRecord]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None:
            raise PostsFileError(f"{path}: the file is empty (a header row with a {column!r} column is required)")
        if column not in reader.fieldnames:
            raise PostsFileError(f"{path}, line 1: no column {column!r} (columns: {', '.join(reader.fieldnames)}); "
                                 "choose one with --text-column")
        rows = []
        for row in reader:
            line = reader.line_num
            if None in row or any(v is None for v in row.values()):
                raise PostsFileError(f"{path}, line {line}: the row has a different number of fields than the header")
            rows.append(PostRecord(row[column], line, dict(row)))
    return rows


def _read_jsonl(path: Path, column: str) -> list[PostRecord]:
    rows = []
    for line, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise PostsFileError(f"{path}, line {line}: not valid JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise PostsFileError(f"{path}, line {line}: expected a JSON object, got {type(obj).__name__}")
        if column not in obj:
            raise PostsFileError(f"{path}, line {line}: no field {column!r} (fields: {', '.join(obj)})")
        if not isinstance(obj[column], str):
            raise PostsFileError(f"{path}, line {line}: field {column!r} is a {type(obj[column]).__name__}, not text")
        rows.append(PostRecord(obj[column], line, obj))
    return rows
