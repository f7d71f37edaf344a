"""Read social networks from edge-list and opinion files (vectorised: 10^7 edges in seconds)."""

from __future__ import annotations

import csv
import io
import os
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from engagegen.files import InputFileError, strip_bom
from engagegen.network.graph import NetworkError, NetworkWarning, SocialNetwork, validate_opinions

__all__ = ["load_edgelist", "edgelist_nodes", "HeaderNote"]


class HeaderNote(NetworkWarning):
    """Which first line of a file was taken as a header (when the header was detected, not given)."""


# A first line made only of these words is a header, even when the user ids are not numbers.
_HEADER_WORDS = frozenset(
    {"source", "target", "src", "dst", "from", "to", "u", "v", "node", "user", "id", "follower", "followee",
     "followed", "following", "opinion", "stance", "value"}
)


@dataclass
class _Rows:
    """The data rows of a delimited file as Arrow string columns, and the file line of each row."""

    path: Path
    columns: list[Any]
    lines: np.ndarray

    def at(self, row: int) -> str:
        return f"{self.path}, line {int(self.lines[row])}"

    def text(self, column: int, row: int) -> str:
        return self.columns[column][row].as_py()


def _is_int(field: str) -> bool:
    return re.fullmatch(r"-?\d+", field) is not None


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def _edge_header(first: list[str], second: list[str] | None) -> bool:
    """A header has no number in it (so no data line is ever dropped) and is made of header words,
    or sits above integer ids."""
    if any(map(_is_number, first)):
        return False
    if all(f.lower() in _HEADER_WORDS for f in first):
        return True
    return second is not None and all(map(_is_int, second))


def _opinion_header(first: list[str], second: list[str] | None) -> bool:
    return not any(map(_is_number, first))


def _split(line: bytes, delimiter: str | None) -> list[str]:
    """Fields of one line, the way the fast path reads them (``None``: runs of blanks)."""
    text = line.decode("utf-8")
    if delimiter is None:
        return text.split()
    return [f.strip() for f in next(csv.reader([text], delimiter=delimiter))]


def _data_lines(data: bytes) -> np.ndarray:
    """1-based line numbers of the non-empty lines of ``data`` (the rows the CSV reader returns)."""
    if b"\n\n" not in data and not data.startswith(b"\n"):
        return np.arange(1, data.count(b"\n") + (not data.endswith(b"\n")) + 1)
    raw = np.frombuffer(data, dtype=np.uint8)
    breaks = np.flatnonzero(raw == ord("\n"))
    nonempty = np.concatenate([[0], breaks + 1]) < np.concatenate([breaks, [len(data)]])
    return np.flatnonzero(nonempty) + 1


def _first_lines(data: bytes, count: int) -> list[tuple[int, int]]:
    """Byte ranges of the first ``count`` lines that are not blank."""
    spans: list[tuple[int, int]] = []
    start = 0
    while len(spans) < count and start < len(data):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end
        if data[start:end].strip():
            spans.append((start, end))
        start = end + 1
    return spans


def _single_blank_separated(data: bytes, n_columns: int) -> bool:
    """True when every line has its fields separated by exactly one space, or exactly one tab."""
    has_space, has_tab = b" " in data, b"\t" in data
    if has_space == has_tab:
        return not has_space
    return data.count(b" " if has_space else b"\t") == (n_columns - 1) * len(_data_lines(data))


def _read_rows(
    path: Path,
    names: Sequence[str],
    delimiter: str | None,
    header: bool | None,
    comment: str | None,
    looks_like_header: Callable[[list[str], list[str] | None], bool],
) -> _Rows:
    """Parse ``path`` into ``len(names)`` string columns with pyarrow; locate errors line by line."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    if path.is_dir():
        raise NetworkError(f"{path}: is a folder, expected a file")
    if not path.is_file():
        raise NetworkError(f"{path}: no such file")
    if delimiter is not None and len(delimiter) != 1:
        raise NetworkError(f"delimiter must be one character or None (auto), got {delimiter!r}")
    try:
        data = strip_bom(path.read_bytes(), path)
    except InputFileError as exc:
        raise NetworkError(str(exc)) from None
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if comment and comment.encode() in data:
        data = re.sub(re.escape(comment.encode()) + rb"[^\n]*", b"", data)
    head = _first_lines(data, 1)
    if not head:
        raise NetworkError(f"{path}: the file is empty (no data lines)")
    if delimiter is None and b"," in data[head[0][0] : head[0][1]]:
        delimiter = ","
    # Newlines are kept throughout, so line numbers hold.
    if delimiter is None:
        if not _single_blank_separated(data, len(names)):  # runs of blanks become one space
            data = re.sub(rb"[ \t]+", b" ", data)
            data = re.sub(rb"(?m)^ | $", b"", data)
        read_delimiter = "\t" if b"\t" in data else " "
    else:
        if b"\n " in data or b"\n\t" in data or data[:1] in (b" ", b"\t"):  # blank-only lines become empty
            data = re.sub(rb"(?m)^[ \t]+$", b"", data)
        read_delimiter = delimiter

    if header is None:
        try:
            first, *rest = [_split(data[a:b], delimiter) for a, b in _first_lines(data, 2)]
        except (UnicodeDecodeError, csv.Error):
            first, rest = [], []  # not a header; the reader below names the bad line
        header = len(first) == len(names) and looks_like_header(first, rest[0] if rest else None)
        if header and not all(f.lower() in _HEADER_WORDS for f in first):  # a guess: say what was taken
            shown = data[slice(*_first_lines(data, 1)[0])].decode("utf-8", "replace")[:80]
            warnings.warn(f"{path}, line 1: read as a header ({shown!r}), not as data; pass header=False "
                          "(--no-header) if it is data", HeaderNote, stacklevel=4)
    if header:
        # Blank the header line but keep its newline, so line numbers still count it.
        start, end = _first_lines(data, 1)[0]
        data = data[:start] + data[end:]
    lines = _data_lines(data)
    if len(lines) == 0:
        raise NetworkError(f"{path}: the file has a header and no data lines")

    column_names = [f"c{i}" for i in range(len(names))]
    try:
        table = pcsv.read_csv(
            io.BytesIO(data),
            read_options=pcsv.ReadOptions(column_names=column_names),
            parse_options=pcsv.ParseOptions(delimiter=read_delimiter, quote_char='"' if delimiter else False),
            convert_options=pcsv.ConvertOptions(
                column_types=dict.fromkeys(column_names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        _raise_at_bad_line(path, data, names, delimiter)
        raise NetworkError(f"{path}: cannot parse ({exc})") from None
    columns = [table.column(c).combine_chunks() for c in column_names]
    if delimiter is not None:
        columns = [pc.utf8_trim_whitespace(c) for c in columns]
    for column, name in zip(columns, names):
        empty = pc.equal(pc.utf8_length(column), 0)
        if pc.any(empty).as_py():
            row = int(np.flatnonzero(empty.to_numpy(zero_copy_only=False))[0])
            raise NetworkError(f"{path}, line {int(lines[row])}: empty {name} field")
    return _Rows(path, columns, lines)


def _raise_at_bad_line(path: Path, data: bytes, names: Sequence[str], delimiter: str | None) -> None:
    """Find the first line the fast reader rejected and raise naming it (error path only)."""
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw:
            continue
        try:
            fields = _split(raw, delimiter)
        except UnicodeDecodeError:
            raise NetworkError(f"{path}, line {number}: not UTF-8 text") from None
        except csv.Error as exc:
            raise NetworkError(f"{path}, line {number}: cannot parse ({exc}): {raw[:80]!r}") from None
        if len(fields) != len(names):
            raise NetworkError(
                f"{path}, line {number}: expected {len(names)} fields ({', '.join(names)}), "
                f"found {len(fields)}: {raw[:80].decode('utf-8', 'replace')!r}"
            )


def _as_int(column: Any) -> np.ndarray | None:
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        return pc.cast(column, pa.int64()).to_numpy()
    except pa.ArrowInvalid:
        return None


def _first_non_int(rows: _Rows, column: int) -> int:
    import pyarrow.compute as pc

    matches = pc.match_substring_regex(rows.columns[column], r"^-?\d+$").to_numpy(zero_copy_only=False)
    return int(np.flatnonzero(~matches)[0])


@dataclass
class _Opinions:
    """Users of an opinions file sorted by id: ``ids`` (int64 array or Arrow strings), ``values``, file ``lines``."""

    ids: Any
    values: np.ndarray
    lines: np.ndarray


def _read_opinions(path: Path, comment: str | None, as_int: bool) -> _Opinions:
    import pyarrow as pa
    import pyarrow.compute as pc

    rows = _read_rows(path, ("node", "opinion"), None, None, comment, _opinion_header)
    try:
        values = pc.cast(rows.columns[1], pa.float64()).to_numpy()
    except pa.ArrowInvalid:
        row = next(i for i in range(len(rows.lines)) if not _is_number(rows.text(1, i)))
        raise NetworkError(
            f"{rows.at(row)}: opinion {rows.text(1, row)!r} of user {rows.text(0, row)!r} is not a number"
        ) from None
    bad = ~np.isfinite(values) | (values < 0.0) | (values > 1.0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise NetworkError(
            f"{rows.at(row)}: opinion of user {rows.text(0, row)!r} is {rows.text(1, row)}; "
            f"opinions must be finite numbers in [0, 1] ({int(bad.sum())} bad value(s) in all)"
        )
    ids = _as_int(rows.columns[0]) if as_int else None
    if ids is not None:
        order = np.argsort(ids, kind="stable")
        sorted_ids: Any = ids[order]
        same = sorted_ids[1:] == sorted_ids[:-1]
    else:
        order = pc.array_sort_indices(rows.columns[0]).to_numpy()
        sorted_ids = rows.columns[0].take(order)
        same = pc.equal(sorted_ids[1:], sorted_ids[:-1]).to_numpy(zero_copy_only=False)
    if same.any():
        i = int(np.flatnonzero(same)[0])
        first, second = sorted((int(rows.lines[order[i]]), int(rows.lines[order[i + 1]])))
        raise NetworkError(
            f"{path}, line {second}: user {rows.text(0, int(order[i]))!r} already has an opinion on line {first} "
            f"({int(same.sum())} duplicate row(s) in all)"
        )
    return _Opinions(sorted_ids, values[order], rows.lines[order])


def load_edgelist(
    path: str | os.PathLike,
    opinions: str | os.PathLike | Sequence[float] | np.ndarray,
    *,
    direction: Literal["influence", "follow"] = "influence",
    delimiter: str | None = None,
    header: bool | None = None,
    comment: str | None = "#",
) -> SocialNetwork:
    """Read a network from an edge-list file and an opinions file (or array).

    The edge file has one ``source target`` pair per line, separated by a comma or blanks
    (``delimiter=None`` detects which), after an optional header (``header=None`` detects a
    header line) and with ``comment`` starting comments. ``direction="influence"``: ``u v`` means
    u's posts reach v; ``"follow"``: u follows v, so v's posts reach u (the edges are reversed).

    ``opinions`` is a file of ``node,opinion`` rows (header optional, comma or blanks), or an array
    indexed by integer user ids 0..n-1. User ids are any strings; ids that all parse as integers are
    compared as integers. Users are numbered 0..n-1 in sorted id order and the original ids kept in
    ``node_ids`` (unless they already are 0..n-1). Users of the opinions file that no edge names are
    isolated users. Errors name the file and line; self-loops and duplicate edges are dropped with a
    :class:`NetworkWarning` naming the line.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "e.txt").write_text("alice bob\\nbob carol\\n")
    >>> _ = (d / "o.csv").write_text("node,opinion\\nalice,0.2\\nbob,0.4\\ncarol,0.9\\ndave,0.5\\n")
    >>> net = load_edgelist(d / "e.txt", d / "o.csv")
    >>> net.n_users, net.n_edges, net.node_ids.tolist()
    (4, 2, ['alice', 'bob', 'carol', 'dave'])
    """
    import pyarrow.compute as pc

    path = Path(path)
    if direction not in ("influence", "follow"):
        raise NetworkError(
            f"direction must be 'influence' (u v: u reaches v) or 'follow' (u v: u follows v), got {direction!r}"
        )
    rows = _read_rows(path, ("source", "target"), delimiter, header, comment, _edge_header)
    int_edges = [_as_int(c) for c in rows.columns]
    node_ids: np.ndarray | None = None

    if isinstance(opinions, (str, os.PathLike)):
        opinions_path = Path(opinions)
        table = _read_opinions(opinions_path, comment, as_int=all(e is not None for e in int_edges))
        x = table.values
        n = len(x)
        if isinstance(table.ids, np.ndarray):
            if table.ids[0] == 0 and table.ids[-1] == n - 1:
                index = list(int_edges)  # the ids are exactly 0..n-1
            else:
                index = []
                for e in int_edges:
                    pos = np.minimum(np.searchsorted(table.ids, e), n - 1)
                    index.append(np.where(table.ids[pos] == e, pos, -1))
                node_ids = table.ids
        else:
            index = [pc.fill_null(pc.index_in(c, value_set=table.ids), -1).to_numpy() for c in rows.columns]
            node_ids = table.ids.to_numpy(zero_copy_only=False).astype(str)
        missing = [np.flatnonzero((i < 0) | (i >= n)) for i in index]
        if any(len(m) for m in missing):
            row = min(int(m[0]) for m in missing if len(m))
            column = 0 if len(missing[0]) and missing[0][0] == row else 1
            hint = " (if that line is a header, pass header=True)" if row == 0 and header is None else ""
            n_rows = len(np.union1d(missing[0], missing[1]))
            raise NetworkError(
                f"{rows.at(row)}: user {rows.text(column, row)!r} has no opinion in {opinions_path}{hint} "
                f"({n_rows} edge line(s) name users without one)"
            )
        edges = np.column_stack(index)
    else:
        x = validate_opinions(opinions, where="opinions")
        for column, e in enumerate(int_edges):
            if e is None:
                row = _first_non_int(rows, column)
                raise NetworkError(
                    f"{rows.at(row)}: user id {rows.text(column, row)!r} is not an integer; with opinions given as an "
                    f"array, user ids are integers 0..{len(x) - 1} (give an opinions file to use other ids)"
                )
        edges = np.column_stack(int_edges)

    if direction == "follow":
        edges = edges[:, ::-1]
    return SocialNetwork.from_edges(edges, x, node_ids=node_ids, where=str(path), line_numbers=rows.lines)


def edgelist_nodes(
    path: str | Path,
    *,
    delimiter: str | None = None,
    header: bool | None = None,
    comment: str | None = "#",
) -> np.ndarray:
    """The users an edge list names, read as :func:`load_edgelist` reads them
    (same options): sorted int64 ids when every id is an integer, else sorted strings."""
    # The loader's own reader, so header detection, comments and blanks are handled identically.
    rows = _read_rows(Path(path), ("source", "target"), delimiter, header, comment, _edge_header)
    ints = [_as_int(c) for c in rows.columns]
    if all(i is not None for i in ints):
        return np.unique(np.concatenate(ints))
    return np.unique(np.concatenate([c.to_numpy(zero_copy_only=False).astype(str) for c in rows.columns]))
