"""Reading posts from CSV, TSV or JSONL files, with errors that name the file, line and column."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engagegen.errors import EngagegenError
from engagegen.files import InputFileError, csv_records, jsonl_records

__all__ = ["read_posts", "PostsFileError", "PostRecord"]

SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson")


class PostsFileError(EngagegenError, ValueError):
    """A posts file that cannot be read as asked; the message names the file, line and column."""


@dataclass(frozen=True)
class PostRecord:
    """One post: its text, the file line it came from, and the row's other fields (as read)."""

    text: str
    line: int
    fields: dict[str, Any]


def read_posts(path: str | Path, text_column: str = "text") -> list[PostRecord]:
    """Read posts from ``.csv``/``.tsv`` (header row required) or ``.jsonl`` (one object per line).

    Every row must have a string in ``text_column``; a missing column, a non-string value or a
    line that does not parse raises :class:`PostsFileError` naming the file and line. Files are
    UTF-8 (a byte-order mark is dropped).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise PostsFileError(f"{path}: expected a .csv, .tsv or .jsonl file of posts, got {suffix or 'no extension'}")
    try:
        return _read_jsonl(path, text_column) if suffix in (".jsonl", ".ndjson") else _read_csv(path, text_column)
    except InputFileError as exc:
        raise PostsFileError(str(exc)) from None


def _read_csv(path: Path, column: str) -> list[PostRecord]:
    header, rows = csv_records(path)
    if column not in header:
        raise PostsFileError(f"{path}, line 1: no column {column!r} (columns: {', '.join(map(repr, header))}); "
                             "choose one with --text-column")
    return [PostRecord(row.fields[column], row.line, row.fields) for row in rows]


def _read_jsonl(path: Path, column: str) -> list[PostRecord]:
    rows = []
    for line, obj in jsonl_records(path):
        if column not in obj:
            raise PostsFileError(f"{path}, line {line}: no field {column!r} (fields: {', '.join(map(repr, obj))})")
        if not isinstance(obj[column], str):
            raise PostsFileError(f"{path}, line {line}: field {column!r} is a {type(obj[column]).__name__}, not text")
        rows.append(PostRecord(obj[column], line, obj))
    return rows
