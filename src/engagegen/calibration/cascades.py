"""Observed cascades: posts, their authors and opinion values, and the users who engaged with them.

Two file formats (``docs/calibration.md``), both naming users by the network's user ids:

- JSONL (``.jsonl``), one cascade per line:
  ``{"post": "p1", "author": "u7", "opinion": 0.31, "engaged": ["u2", "u9"]}``; ``text`` instead of
  (or beside) ``opinion`` has the post scored by an opinion scorer; optional ``time`` (the post's),
  ``times`` and ``parents`` (one per engaged user: when, and from whom, the author or an earlier
  engaged user).
- CSV (``.csv``, header row), one engagement per row: ``post,author,opinion,user`` (and optional
  ``text``, ``time``, ``user_time``, ``parent``); the rows of one post repeat its author, opinion,
  text and time.

A cascade is a post that at least one user engaged with. Loading is strict: a malformed line, an
unknown key, a duplicate post id, an empty cascade, a user twice in one cascade, an author who
engages with their own post, an opinion outside [0, 1] or a user the network does not have stops
with an error naming the file and line. With ``unknown="drop"`` users the network does not have are
left out instead, each named in a :class:`CascadeWarning`, as is every cascade left empty by it.

(About 450 lines: the JSONL and CSV readers share every check above and its messages; one file
keeps the two formats' rules the same.)
"""

from __future__ import annotations

import csv
import json
import math
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from engagegen.errors import EngagegenError
from engagegen.files import atomic_write_text
from engagegen.network.graph import SocialNetwork

__all__ = ["ObservedCascades", "CascadeError", "CascadeWarning", "load_cascades", "write_cascades", "UserIds"]

_JSON_KEYS = ("post", "author", "opinion", "text", "engaged", "time", "times", "parents")
_CSV_COLUMNS = ("post", "author", "opinion", "text", "user", "time", "user_time", "parent")


class CascadeError(EngagegenError, ValueError):
    """A cascade file that cannot be read as it is; the message names the file and line."""


class CascadeWarning(UserWarning):
    """Users or cascades left out of a cascade file (``unknown="drop"``), each named."""


class UserIds:
    """The network's user ids (``node_ids``, or 0..n-1) and their lookup from the ids files use.

    Integer ids (numbers or digit strings in a file) are compared as integers, other ids as exact
    strings with surrounding blanks trimmed, as :func:`engagegen.network.load_edgelist` does.

    >>> ids = UserIds(np.array(["ann", "bob"]))
    >>> ids.index("bob"), ids.index(" ann "), ids.index("cat")
    (1, 0, -1)
    >>> UserIds(3).index("2"), UserIds(3).index(7)
    (2, -1)
    """

    def __init__(self, users: SocialNetwork | np.ndarray | int) -> None:
        if isinstance(users, SocialNetwork):
            ids = users.node_ids if users.node_ids is not None else users.n_users
        else:
            ids = users
        if isinstance(ids, (int, np.integer)):
            self.ids: np.ndarray = np.arange(int(ids), dtype=np.int64)
        else:
            self.ids = np.asarray(ids)
        self.integer = np.issubdtype(self.ids.dtype, np.integer)
        keys = self.ids.astype(np.int64) if self.integer else np.char.strip(self.ids.astype(str))
        self._order = np.argsort(keys, kind="stable")
        self._sorted = keys[self._order]

    def __len__(self) -> int:
        return len(self.ids)

    def key(self, value: Any) -> int | str | None:
        """The comparable form of an id read from a file, or None when it cannot be one."""
        if isinstance(value, bool) or value is None or isinstance(value, (list, dict, float)):
            return None
        text = str(value).strip()
        if not text:
            return None
        if self.integer:
            try:
                return int(text)
            except ValueError:
                return None
        return text

    def index(self, value: Any) -> int:
        """The user number of a file's id, -1 when the network has no such user."""
        key = self.key(value)
        if key is None:
            return -1
        pos = int(np.searchsorted(self._sorted, key))
        if pos < len(self._sorted) and self._sorted[pos] == key:
            return int(self._order[pos])
        return -1

    def name(self, user: int) -> str:
        return str(self.ids[user])


@dataclass(frozen=True)
class ObservedCascades:
    """Cascades over a network's users (numbered 0..n-1), engaged users in compressed rows.

    post_ids: each post's id; sources: its author; messages: its opinion value in [0, 1] (NaN when
    only ``texts`` gives it: :meth:`with_messages` fills it in); indptr/users: cascade c's engaged
    users are ``users[indptr[c]:indptr[c + 1]]``, in file order; times/parents: per engaged user
    (NaN / -1 when not given); post_times: per post (NaN when not given); lines: the line each
    cascade starts on in ``path``; n_users: the network's size.
    """

    post_ids: np.ndarray
    sources: np.ndarray
    messages: np.ndarray
    texts: tuple[str | None, ...]
    indptr: np.ndarray
    users: np.ndarray
    times: np.ndarray
    parents: np.ndarray
    post_times: np.ndarray
    lines: np.ndarray
    n_users: int
    path: str = "<cascades>"

    def __len__(self) -> int:
        return len(self.post_ids)

    @property
    def sizes(self) -> np.ndarray:
        """Engaged users per cascade."""
        return np.diff(self.indptr)

    def engaged(self, c: int) -> np.ndarray:
        return self.users[self.indptr[c]:self.indptr[c + 1]]

    @property
    def cascade_of(self) -> np.ndarray:
        """For every entry of ``users``, its cascade."""
        return np.repeat(np.arange(len(self)), self.sizes)

    def where(self, c: int) -> str:
        return f"{self.path}, line {int(self.lines[c])} (post {self.post_ids[c]!s})"

    def subset(self, index: Sequence[int] | np.ndarray) -> "ObservedCascades":
        """The cascades at ``index``, in that order."""
        idx = np.asarray(index, dtype=np.int64)
        starts, sizes = self.indptr[idx], self.sizes[idx]
        entries = (np.repeat(starts - np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes) + np.arange(sizes.sum())
                   if len(idx) else np.empty(0, np.int64))
        return replace(self, post_ids=self.post_ids[idx], sources=self.sources[idx], messages=self.messages[idx],
                       texts=tuple(self.texts[i] for i in idx.tolist()), indptr=np.concatenate([[0], np.cumsum(sizes)]),
                       users=self.users[entries], times=self.times[entries], parents=self.parents[entries],
                       post_times=self.post_times[idx], lines=self.lines[idx])

    def with_messages(self, score: Callable[[list[str]], Any]) -> "ObservedCascades":
        """Fill in the opinion value of every post given only by its text, with ``score(texts)``
        (an opinion scorer's ``score``); values given in the file are kept."""
        todo = np.flatnonzero(np.isnan(self.messages))
        if len(todo) == 0:
            return self
        values = np.asarray(score([self.texts[i] or "" for i in todo.tolist()]), dtype=np.float64)
        if values.shape != (len(todo),) or not np.all((values >= 0) & (values <= 1)):
            raise CascadeError(f"{self.path}: the opinion scorer returned values outside [0, 1] or of the wrong shape")
        messages = self.messages.copy()
        messages[todo] = values
        return replace(self, messages=messages)


@dataclass
class _Cascade:
    post: str
    author: Any
    opinion: float
    text: str | None
    time: float
    line: int
    engaged: list[Any]
    times: list[float]
    parents: list[Any]
    entry_lines: list[int]


def _fail(path: Path, line: int, message: str) -> CascadeError:
    return CascadeError(f"{path}, line {line}: {message}")


def _opinion(value: Any, path: Path, line: int) -> float:
    if value is None or value == "":
        return math.nan
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise _fail(path, line, f"opinion {value!r} is not a number") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0.0 <= float(value) <= 1.0):
        raise _fail(path, line, f"opinion {value!r} is not a number in [0, 1]")
    return float(value)


def _time(value: Any, what: str, path: Path, line: int) -> float:
    if value is None or value == "":
        return math.nan
    try:
        t = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        t = math.nan
    if not math.isfinite(t):
        raise _fail(path, line, f"{what} {value!r} is not a finite number")
    return t


def _read_jsonl(path: Path, data: str) -> list[_Cascade]:
    out = []
    for number, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise _fail(path, number, f"not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise _fail(path, number, f"a cascade must be a JSON object, got {type(row).__name__}")
        unknown = [k for k in row if k not in _JSON_KEYS]
        if unknown:
            raise _fail(path, number, f"unknown key {unknown[0]!r} (valid keys: {', '.join(_JSON_KEYS)})")
        for key in ("post", "author", "engaged"):
            if key not in row:
                raise _fail(path, number, f"missing key {key!r}")
        engaged = row["engaged"]
        if not isinstance(engaged, list):
            raise _fail(path, number, f"'engaged' must be a list of user ids, got {type(engaged).__name__}")
        extra = {}
        for key in ("times", "parents"):
            value = row.get(key)
            if value is not None and (not isinstance(value, list) or len(value) != len(engaged)):
                raise _fail(path, number, f"{key!r} must be a list with one entry per engaged user ({len(engaged)})")
            extra[key] = value if value is not None else [None] * len(engaged)
        text = row.get("text")
        if text is not None and not isinstance(text, str):
            raise _fail(path, number, f"'text' must be a string, got {type(text).__name__}")
        out.append(_Cascade(
            post=_post_id(row["post"], path, number), author=row["author"], opinion=_opinion(row.get("opinion"), path, number),
            text=text, time=_time(row.get("time"), "time", path, number), line=number, engaged=list(engaged),
            times=[_time(t, "engagement time", path, number) for t in extra["times"]], parents=extra["parents"],
            entry_lines=[number] * len(engaged),
        ))
    return out


def _post_id(value: Any, path: Path, line: int) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        raise _fail(path, line, f"post id {value!r} must be a non-empty string or integer")
    return str(value).strip()


def _read_csv(path: Path, data: str) -> list[_Cascade]:
    reader = csv.reader(data.splitlines())
    header = next(reader, None)
    if header is None:
        raise CascadeError(f"{path}: the file is empty")
    columns = [h.strip() for h in header]
    unknown = [c for c in columns if c not in _CSV_COLUMNS]
    if unknown:
        raise _fail(path, 1, f"unknown column {unknown[0]!r} (valid columns: {', '.join(_CSV_COLUMNS)})")
    for need in ("post", "author", "user"):
        if need not in columns:
            raise _fail(path, 1, f"missing column {need!r} (a header row naming post, author, user and opinion or text)")
    if "opinion" not in columns and "text" not in columns:
        raise _fail(path, 1, "missing column 'opinion' (or 'text', to score the posts)")
    by_post: dict[str, _Cascade] = {}
    for row in reader:
        number = reader.line_num
        if not any(f.strip() for f in row):
            continue
        if len(row) != len(columns):
            raise _fail(path, number, f"{len(row)} fields, the header has {len(columns)}")
        f = dict(zip(columns, row))
        post = _post_id(f["post"], path, number)
        shared = (f["author"].strip(), _opinion(f.get("opinion"), path, number), f.get("text"),
                  _time(f.get("time"), "time", path, number))
        cascade = by_post.get(post)
        if cascade is None:
            cascade = by_post[post] = _Cascade(post, shared[0], shared[1], shared[2], shared[3], number, [], [], [], [])
        else:
            seen = (cascade.author, cascade.opinion, cascade.text, cascade.time)
            for name, a, b in zip(("author", "opinion", "text", "time"), seen, shared):
                if a != b and not (isinstance(a, float) and math.isnan(a) and math.isnan(b)):
                    raise _fail(path, number, f"post {post!r} has {name} {b!r} here but {a!r} on line {cascade.line}")
        user = f["user"].strip()
        if user:
            cascade.engaged.append(user)
            cascade.times.append(_time(f.get("user_time"), "user_time", path, number))
            cascade.parents.append((f.get("parent") or "").strip() or None)
            cascade.entry_lines.append(number)
    return list(by_post.values())


def _resolve(rows: list[_Cascade], ids: UserIds, path: Path, unknown: str) -> list[tuple[_Cascade, int, list[int], list[int]]]:
    """Users as numbers; checks every cascade. Returns (cascade, author, engaged, parents) kept."""
    seen_posts: dict[str, int] = {}
    kept = []
    dropped_users: list[str] = []
    dropped_cascades: list[str] = []
    for c in rows:
        if c.post in seen_posts:
            raise _fail(path, c.line, f"duplicate post id {c.post!r} (first on line {seen_posts[c.post]})")
        seen_posts[c.post] = c.line
        if math.isnan(c.opinion) and not (c.text and c.text.strip()):
            raise _fail(path, c.line, f"post {c.post!r} has neither an opinion value nor a text to score")
        if not c.engaged:
            raise _fail(path, c.line, f"post {c.post!r}: empty cascade (nobody engaged); a cascade is a post at least one user "
                                      "engaged with, leave such posts out")
        author = ids.index(c.author)
        if author < 0:
            if unknown == "error":
                raise _fail(path, c.line, f"author {c.author!r} of post {c.post!r} is not a user of the network")
            dropped_cascades.append(f"{c.post} (line {c.line}: author {c.author!r} not in the network)")
            continue
        engaged, parents, where = [], [], {}
        for value, parent, line in zip(c.engaged, c.parents, c.entry_lines):
            user = ids.index(value)
            if user < 0:
                if ids.key(value) is None:
                    raise _fail(path, line, f"post {c.post!r}: {value!r} is not a user id")
                if unknown == "error":
                    raise _fail(path, line, f"post {c.post!r}: user {value!r} is not a user of the network")
                dropped_users.append(f"{value} (line {line}, post {c.post})")
                engaged.append(-1)
                parents.append(-1)
                continue
            if user == author:
                raise _fail(path, line, f"post {c.post!r}: the author {value!r} is also listed as engaged")
            if user in where:
                raise _fail(path, line, f"post {c.post!r}: user {value!r} is listed twice (first on line {where[user]})")
            where[user] = line
            engaged.append(user)
            parents.append(-2 if parent is None else ids.index(parent))
        for i, parent in enumerate(parents):
            if parent == -1 or parent == -2 or engaged[i] < 0:
                continue
            if parent != author and parent not in where:
                raise _fail(path, c.entry_lines[i], f"post {c.post!r}: parent {c.parents[i]!r} of user {c.engaged[i]!r} is "
                                                    "neither the author nor a user who engaged")
        keep = [i for i, u in enumerate(engaged) if u >= 0]
        if not keep:
            dropped_cascades.append(f"{c.post} (line {c.line}: every engaged user is unknown)")
            continue
        if any(parents[i] == -1 and c.parents[i] is not None for i in keep):
            bad = next(i for i in keep if parents[i] == -1 and c.parents[i] is not None)
            raise _fail(path, c.entry_lines[bad], f"post {c.post!r}: parent {c.parents[bad]!r} is not a user of the network")
        c.times = [c.times[i] for i in keep]
        kept.append((c, author, [engaged[i] for i in keep], [max(parents[i], -1) for i in keep]))
    if dropped_users:
        warnings.warn(f"{path}: {len(dropped_users)} engaged user(s) not in the network left out: "
                      + "; ".join(dropped_users), CascadeWarning, stacklevel=3)
    if dropped_cascades:
        warnings.warn(f"{path}: {len(dropped_cascades)} cascade(s) left out: " + "; ".join(dropped_cascades),
                      CascadeWarning, stacklevel=3)
    return kept


def load_cascades(path: str | os.PathLike, network: SocialNetwork | np.ndarray | int, *,
                  unknown: Literal["error", "drop"] = "error") -> ObservedCascades:
    """Read observed cascades from ``path`` (``.jsonl`` or ``.csv``) over the users of ``network``
    (a :class:`SocialNetwork`, its user ids, or a number of users 0..n-1).

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "c.jsonl").write_text('{"post": "a", "author": 0, "opinion": 0.4, "engaged": [1, 2]}\\n')
    >>> c = load_cascades(d / "c.jsonl", 3)
    >>> c.sources.tolist(), c.messages.tolist(), c.engaged(0).tolist()
    ([0], [0.4], [1, 2])
    """
    if unknown not in ("error", "drop"):
        raise CascadeError(f"unknown must be 'error' or 'drop', got {unknown!r}")
    path = Path(path)
    if not path.is_file():
        raise CascadeError(f"{path}: no such file")
    try:
        data = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CascadeError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        rows = _read_jsonl(path, data)
    elif suffix == ".csv":
        rows = _read_csv(path, data)
    else:
        raise CascadeError(f"{path}: cascade files are .jsonl (one cascade per line) or .csv (one engagement per row)")
    if not rows:
        raise CascadeError(f"{path}: no cascades")
    ids = UserIds(network)
    kept = _resolve(rows, ids, path, unknown)
    if not kept:
        raise CascadeError(f"{path}: no cascade is left once users outside the network are left out")
    sizes = [len(e) for _, _, e, _ in kept]
    return ObservedCascades(
        post_ids=np.array([c.post for c, *_ in kept]),
        sources=np.array([a for _, a, _, _ in kept], dtype=np.int64),
        messages=np.array([c.opinion for c, *_ in kept], dtype=np.float64),
        texts=tuple(c.text for c, *_ in kept),
        indptr=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
        users=np.array([u for _, _, e, _ in kept for u in e], dtype=np.int64),
        times=np.array([t for c, *_ in kept for t in c.times], dtype=np.float64),
        parents=np.array([p for *_, ps in kept for p in ps], dtype=np.int64),
        post_times=np.array([c.time for c, *_ in kept], dtype=np.float64),
        lines=np.array([c.line for c, *_ in kept], dtype=np.int64),
        n_users=len(ids), path=str(path),
    )


def write_cascades(cascades: ObservedCascades, path: str | os.PathLike, network: SocialNetwork | np.ndarray | int) -> Path:
    """Write cascades as JSONL (the users named by ``network``'s ids), atomically.

    Writes only what the cascades hold: opinion values (or texts), times and parents when given.
    """
    ids = UserIds(network)

    def name(user: int) -> Any:
        value = ids.ids[user]
        return int(value) if ids.integer else str(value)

    lines = []
    for c in range(len(cascades)):
        row: dict[str, Any] = {"post": str(cascades.post_ids[c]), "author": name(int(cascades.sources[c]))}
        if not math.isnan(cascades.messages[c]):
            row["opinion"] = round(float(cascades.messages[c]), 6)
        if cascades.texts[c] is not None:
            row["text"] = cascades.texts[c]
        if not math.isnan(cascades.post_times[c]):
            row["time"] = float(cascades.post_times[c])
        lo, hi = cascades.indptr[c], cascades.indptr[c + 1]
        row["engaged"] = [name(int(u)) for u in cascades.users[lo:hi]]
        if not np.isnan(cascades.times[lo:hi]).all():
            row["times"] = [None if math.isnan(t) else float(t) for t in cascades.times[lo:hi]]
        if (cascades.parents[lo:hi] >= 0).any():
            row["parents"] = [None if p < 0 else name(int(p)) for p in cascades.parents[lo:hi]]
        lines.append(json.dumps(row))
    return atomic_write_text(path, "\n".join(lines) + "\n")
