"""Each user's opinion from the posts they wrote, and the ``node,opinion`` file a network loads.

The glue of the "bring your own network" workflow (docs/real-networks.md): score every post with
an opinion scorer (a trained :class:`~engagegen.scoring.StanceClassifier`, VADER, ...), average the
values per author, match the authors to the users of a follow graph, and write the opinions file
that :func:`engagegen.network.load_edgelist` reads.

>>> ops = user_opinions(["ann", "bob", "ann"], np.array([0.2, 0.9, 0.4]))
>>> ops.users.tolist(), ops.opinion.round(2).tolist(), ops.n_posts.tolist()
(['ann', 'bob'], [0.3, 0.9], [2, 1])
>>> ops.missing(["ann", "bob", "cat"]).tolist()
['cat']
>>> ops.for_nodes(["ann", "bob", "cat"], missing="neutral").opinion.round(2).tolist()
[0.3, 0.9, 0.5]
>>> import tempfile
>>> path = write_opinions(ops.for_nodes(["ann", "bob", "cat"], missing="neutral"), tempfile.mkdtemp() + "/opinions.csv")
>>> print(path.read_text().strip())
node,opinion
ann,0.300000
bob,0.900000
cat,0.500000

With a real follow graph the nodes are ``engagegen.network.edgelist_nodes("edges.csv")``.

Users are matched the way :func:`~engagegen.network.load_edgelist` matches an opinions file to an
edge list: when every graph user id is an integer, ids are compared as integers (author ``"007"``
is user 7); otherwise as exact strings (after trimming surrounding blanks).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from engagegen.analysis.posts import AnalysisError
from engagegen.files import atomic_write_text

__all__ = ["UserOpinions", "NodeOpinions", "user_opinions", "post_authors", "write_opinions",
           "MISSING_POLICIES"]

MISSING_POLICIES = ("error", "neutral", "mean")
NEUTRAL = 0.5
_SHOWN = 5  # ids named in an error message


def _first(ids: np.ndarray) -> str:
    shown = ", ".join(repr(v) for v in ids[:_SHOWN].tolist())
    return shown + (", ..." if len(ids) > _SHOWN else "")


def _int_keys(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which string ids are integers (``-?\\d+``, a leading ``+`` allowed), and their values."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(ids, type=pa.string())
    is_int = pc.match_substring_regex(arr, r"^[+-]?\d+$").to_numpy(zero_copy_only=False)
    values = np.zeros(len(ids), dtype=np.int64)
    try:
        values[is_int] = pc.cast(arr.filter(pa.array(is_int)), pa.int64()).to_numpy()
    except pa.ArrowInvalid:
        raise AnalysisError(f"a user id is an integer too large for 64 bits (among {_first(ids[is_int])})") from None
    return is_int, values


def _as_node_ids(nodes: Any) -> np.ndarray:
    """Graph user ids as sorted unique int64 (integer ids) or str values."""
    a = np.asarray(nodes.tolist() if isinstance(nodes, np.ndarray) else list(nodes))
    if a.ndim != 1:
        raise AnalysisError(f"nodes must be a flat sequence of user ids, got shape {a.shape}")
    if len(a) == 0:
        raise AnalysisError("nodes is empty: the graph has no users")
    if np.issubdtype(a.dtype, np.integer):
        return np.unique(a.astype(np.int64))
    if a.dtype.kind != "U":
        raise AnalysisError(f"nodes must be integer or string user ids, got {a.dtype}")
    a = np.char.strip(a)
    is_int, values = _int_keys(a)
    # as load_edgelist does: ids that are all integers are compared as numbers
    return np.unique(values) if is_int.all() else np.unique(a)


@dataclass(frozen=True)
class NodeOpinions:
    """One opinion per graph user, ready to write as the ``node,opinion`` file of a network.

    nodes: the graph's user ids (sorted; int64 when they are integers, else str).
    opinion: each user's opinion; n_posts: the scored posts behind it (0 for filled users).
    filled: users without an opinion of their own, set by the ``missing`` policy to ``fill_value``.
    not_in_graph: authors with an opinion who are not graph users (left out of the file).
    """

    nodes: np.ndarray
    opinion: np.ndarray
    n_posts: np.ndarray
    filled: np.ndarray
    missing: str
    fill_value: float | None
    not_in_graph: np.ndarray

    @property
    def n_filled(self) -> int:
        return int(self.filled.sum())

    def to_csv(self, decimals: int = 6) -> str:
        return _opinions_csv(self.nodes, self.opinion, decimals)


@dataclass(frozen=True)
class UserOpinions:
    """Per-author opinions: the mean opinion value of each author's scored posts.

    users: author ids (str, sorted) with at least ``min_posts`` scored posts.
    opinion, n_posts, std: mean, count and population standard deviation of their posts' values.
    dropped: authors left out for having fewer than ``min_posts`` scored posts.
    posts: all posts given; unscored_posts: those without a value (NaN, e.g. empty posts).
    """

    users: np.ndarray
    opinion: np.ndarray
    n_posts: np.ndarray
    std: np.ndarray
    dropped: np.ndarray
    min_posts: int
    posts: int
    unscored_posts: int

    def _positions(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each node, the row of ``users`` holding its opinion (-1: none); and which users are nodes."""
        if np.issubdtype(nodes.dtype, np.integer):
            is_int, keys = _int_keys(self.users)
            rows = np.flatnonzero(is_int)
            keys = keys[rows]
            order = np.argsort(keys, kind="stable")
            keys, rows = keys[order], rows[order]
            same = np.flatnonzero(keys[1:] == keys[:-1])
            if len(same):
                a, b = str(self.users[rows[same[0]]]), str(self.users[rows[same[0] + 1]])
                raise AnalysisError(f"authors {a!r} and {b!r} are the same graph user {int(keys[same[0]])} (integer ids "
                                    "are compared as numbers); write each author's id one way")
        else:
            keys, rows = self.users, np.arange(len(self.users))  # users are sorted and unique already
        if len(keys) == 0:
            return np.full(len(nodes), -1), np.zeros(len(self.users), dtype=bool)
        pos = np.minimum(np.searchsorted(keys, nodes), len(keys) - 1)
        found = keys[pos] == nodes
        in_graph = np.zeros(len(self.users), dtype=bool)
        in_graph[rows[np.isin(keys, nodes)]] = True
        return np.where(found, rows[pos], -1), in_graph

    def missing(self, nodes: Any) -> np.ndarray:
        """The graph users (of ``nodes``, e.g. :func:`engagegen.network.edgelist_nodes`) who have no opinion here:
        no posts, or fewer than ``min_posts`` scored ones. Sorted; integer ids as int64."""
        ids = _as_node_ids(nodes)
        return ids[self._positions(ids)[0] < 0]

    def for_nodes(self, nodes: Any, *, missing: Literal["error", "neutral", "mean"] = "error") -> NodeOpinions:
        """One opinion per graph user in ``nodes``.

        missing: what a graph user without an opinion gets. ``error`` (default): raise, naming how
            many and the first few, since an invented opinion changes who engages with a post.
            ``neutral``: 0.5. ``mean``: the mean opinion of the graph users who have one.
        Authors who are not graph users are left out and listed in ``not_in_graph``.
        """
        if missing not in MISSING_POLICIES:
            raise AnalysisError(f"missing must be one of {', '.join(MISSING_POLICIES)}, got {missing!r}")
        ids = _as_node_ids(nodes)
        pos, in_graph = self._positions(ids)
        lack = pos < 0
        fill: float | None = None
        if lack.all():  # before the policy: this is ids written two ways, not a few silent users
            raise AnalysisError(f"none of the {len(ids)} graph users has an opinion: no author of the posts is a "
                                f"graph user (graph users {_first(ids)}; authors {_first(self.users)})")
        if lack.any():
            absent = ids[lack]
            few = np.isin(absent, self._dropped_keys(ids))
            if missing == "error":
                why = f"{int((~few).sum())} without posts"
                if few.any():
                    why += f", {int(few.sum())} with fewer than {self.min_posts} scored posts"
                raise AnalysisError(
                    f"{len(absent)} of {len(ids)} graph users have no opinion ({why}): {_first(absent)}. "
                    "Give them posts, or choose a fill policy (missing=, --missing): 'neutral' (opinion 0.5) or "
                    "'mean' (the mean opinion of the graph users who have one)"
                )
            fill = NEUTRAL if missing == "neutral" else float(self.opinion[pos[~lack]].mean())
        opinion = np.where(lack, fill if fill is not None else 0.0, self.opinion[np.maximum(pos, 0)])
        n_posts = np.where(lack, 0, self.n_posts[np.maximum(pos, 0)])
        return NodeOpinions(ids, opinion, n_posts, lack, missing, fill, self.users[~in_graph])

    def _dropped_keys(self, nodes: np.ndarray) -> np.ndarray:
        if not np.issubdtype(nodes.dtype, np.integer):
            return self.dropped
        is_int, keys = _int_keys(self.dropped)
        return keys[is_int]

    def to_csv(self, decimals: int = 6) -> str:
        """The ``node,opinion`` file of every author with an opinion (no graph: nothing matched or filled)."""
        return _opinions_csv(self.users, self.opinion, decimals)

    def table_csv(self) -> str:
        """Per-author details: ``user,opinion,posts,std`` (full precision)."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["user", "opinion", "posts", "std"])
        writer.writerows(zip(self.users.tolist(), self.opinion.tolist(), self.n_posts.tolist(), self.std.tolist()))
        return buf.getvalue()


def user_opinions(authors: Sequence[str] | np.ndarray, opinions: Any, *, min_posts: int = 1) -> UserOpinions:
    """Each author's opinion: the mean of the opinion values of the posts they wrote.

    authors[i] wrote the post with opinion value ``opinions[i]`` in [0, 1]. A NaN value marks a post
    without one (an empty post) and is left out. Authors with fewer than ``min_posts`` scored posts
    are left out and listed in ``dropped``. Ids are compared as strings with surrounding blanks
    trimmed (integers are written in decimal).
    """
    if isinstance(min_posts, bool) or not isinstance(min_posts, (int, np.integer)) or min_posts < 1:
        raise AnalysisError(f"min_posts must be an integer >= 1, got {min_posts!r}")
    if isinstance(authors, (str, bytes)):
        raise AnalysisError("authors must be a sequence of author ids, one per post, not a single string")
    a = np.asarray(authors)
    x = np.asarray(opinions, dtype=float)
    if a.ndim != 1 or x.ndim != 1 or len(a) != len(x):
        raise AnalysisError(f"got {a.shape} authors and {x.shape} opinion values; give one author per post")
    if len(a) == 0:
        raise AnalysisError("no posts: there is nothing to average")
    if a.dtype.kind not in "iuU":
        if a.dtype.kind == "O" and np.equal(a, None).any():
            raise AnalysisError(f"post {int(np.flatnonzero(np.equal(a, None))[0])} has no author (None)")
        if a.dtype.kind not in "OS":
            raise AnalysisError(f"author ids must be strings or integers, got {a.dtype}")
    a = np.char.strip(a.astype(str))
    empty = np.char.str_len(a) == 0
    if empty.any():
        raise AnalysisError(f"post {int(np.flatnonzero(empty)[0])} has an empty author id ({int(empty.sum())} in all)")
    bad = ~np.isnan(x) & ~((x >= 0.0) & (x <= 1.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise AnalysisError(f"post {i}: opinion value {float(x[i])!r} is not in [0, 1] ({int(bad.sum())} bad value(s) in all)")

    users, inverse = np.unique(a, return_inverse=True)
    scored = ~np.isnan(x)
    who, values = inverse[scored], x[scored]
    counts = np.bincount(who, minlength=len(users))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(who, weights=values, minlength=len(users)) / counts
        # deviations from each user's mean, not E[x^2] - E[x]^2, which cancels badly
        var = np.bincount(who, weights=(values - mean[who]) ** 2, minlength=len(users)) / counts
    keep = counts >= min_posts
    return UserOpinions(users[keep], mean[keep], counts[keep], np.sqrt(var[keep]), users[~keep], int(min_posts),
                        len(x), int((~scored).sum()))


def post_authors(records: Sequence[Any], column: str = "author", *, where: str = "posts") -> np.ndarray:
    """The author of each post read by :func:`engagegen.scoring.read_posts`, from field ``column``.

    Errors name ``where`` (the file), the line and the column: a column no post has, a post
    without it, or an empty author.
    """
    if not records:
        raise AnalysisError(f"{where}: no posts")
    fields = [getattr(r, "fields", {}) for r in records]
    if not any(column in f for f in fields):
        raise AnalysisError(f"{where}: no column {column!r} with the posts' authors (columns: {', '.join(map(str, fields[0]))}); "
                            "choose one with --author-column")
    out = []
    for rec, f in zip(records, fields):
        value = f.get(column)
        text = "" if value is None else str(value).strip()
        if not text:
            state = "empty" if column in f else "missing"
            raise AnalysisError(f"{where}, line {getattr(rec, 'line', '?')}: {state} author (column {column!r})")
        out.append(text)
    return np.asarray(out)


def _opinions_csv(ids: np.ndarray, values: np.ndarray, decimals: int) -> str:
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 1 <= decimals <= 17:
        raise AnalysisError(f"decimals must be an integer from 1 to 17, got {decimals!r}")
    text_ids = ids.astype(str)
    # load_edgelist strips '#' comments from the opinions file too, so such an id would not load back.
    hashed = np.char.find(text_ids, "#") >= 0
    if hashed.any():
        raise AnalysisError(f"user id {str(text_ids[hashed][0])!r} contains '#', which network files read as the start of a "
                            f"comment ({int(hashed.sum())} such id(s)); rename these users")
    broken = (np.char.find(text_ids, "\n") >= 0) | (np.char.find(text_ids, "\r") >= 0)
    if broken.any():
        raise AnalysisError(f"user id {str(text_ids[broken][0])!r} contains a line break")
    rounded = np.char.mod(f"%.{decimals}f", np.round(np.asarray(values, dtype=float), decimals))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["node", "opinion"])
    writer.writerows(zip(text_ids.tolist(), rounded.tolist()))
    return buf.getvalue()


def write_opinions(opinions: UserOpinions | NodeOpinions, path: str | os.PathLike, *, decimals: int = 6) -> Path:
    """Write the ``node,opinion`` file (header ``node,opinion``, values rounded to ``decimals``)
    that ``load_edgelist(edges, opinions=path)`` and ``engagegen network load --opinions`` read."""
    if not isinstance(opinions, (UserOpinions, NodeOpinions)):
        raise AnalysisError(f"write_opinions takes UserOpinions or NodeOpinions, got {type(opinions).__name__}")
    return atomic_write_text(path, opinions.to_csv(decimals))
