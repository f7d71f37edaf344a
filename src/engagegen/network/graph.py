"""The one graph type of engagegen: users with opinions, directed "reaches" edges, CSR storage."""

from __future__ import annotations

import os
import warnings
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from engagegen.errors import EngagegenError
from engagegen.files import InputFileError, atomic_open, read_npz

__all__ = ["SocialNetwork", "NetworkError", "NetworkWarning"]

FORMAT_VERSION = 1


class NetworkError(EngagegenError, ValueError):
    """Malformed network input; the message names the problem and where it is."""


class NetworkWarning(UserWarning):
    """Input that was repaired (self-loops, duplicate edges dropped); the message says what was dropped."""


def _index_dtype(n: int) -> np.dtype:
    return np.dtype(np.int32) if n < 2**31 - 1 else np.dtype(np.int64)


def validate_opinions(opinions: Any, n: int | None = None, where: str = "opinions") -> np.ndarray:
    """Return opinions as a float64 array, or raise naming the first bad value.

    >>> validate_opinions([0.1, 0.5]).dtype
    dtype('float64')
    """
    try:
        x = np.asarray(opinions, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise NetworkError(f"{where}: not numeric ({exc})") from None
    if x.ndim != 1:
        raise NetworkError(f"{where}: expected a 1-d array of opinions, got shape {x.shape}")
    if n is not None and x.shape[0] != n:
        raise NetworkError(f"{where}: expected {n} opinions (one per user), got {x.shape[0]}")
    bad = ~np.isfinite(x) | (x < 0.0) | (x > 1.0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise NetworkError(
            f"{where}: opinion of user {i} is {float(x[i])!r}; opinions must be finite numbers in [0, 1] "
            f"({int(bad.sum())} bad value(s) in all)"
        )
    return x


class SocialNetwork:
    """Users with an opinion in [0, 1] on a topic, and directed edges ``u -> v``: what u posts reaches v.

    Stored as compressed sparse rows (``indptr``, ``indices``: the out-neighbours of ``u`` are
    ``indices[indptr[u]:indptr[u + 1]]``, sorted), so 10^6 users and 10^7 edges take about 50 MB.
    The arrays are read-only; a network is immutable (use :meth:`with_opinions` for a copy with
    other opinions).

    >>> net = SocialNetwork.from_edges([(0, 1), (1, 2)], opinions=[0.1, 0.2, 0.9])
    >>> net.n_users, net.n_edges, net.out_neighbors(1).tolist()
    (3, 2, [2])
    """

    __slots__ = ("indptr", "indices", "opinions", "communities", "node_ids", "__dict__")

    def __init__(
        self,
        indptr: np.ndarray,
        indices: np.ndarray,
        opinions: np.ndarray,
        communities: np.ndarray | None = None,
        node_ids: np.ndarray | None = None,
    ) -> None:
        n = len(opinions)
        if n == 0:
            raise NetworkError("the network is empty: it needs at least one user")
        indptr = np.asarray(indptr, dtype=np.int64)
        indices = np.asarray(indices, dtype=_index_dtype(n))
        if indptr.shape != (n + 1,) or indptr[0] != 0 or indptr[-1] != len(indices):
            raise NetworkError(f"CSR indptr must have n+1={n + 1} entries from 0 to {len(indices)}")
        if np.any(np.diff(indptr) < 0):
            raise NetworkError("CSR indptr must be non-decreasing")
        if len(indices) and (indices.min() < 0 or indices.max() >= n):
            raise NetworkError(f"CSR indices must be user ids in 0..{n - 1}")
        self.indptr = indptr
        self.indices = indices
        self.opinions = validate_opinions(opinions)
        self.communities = None if communities is None else self._check_labels(communities, n)
        self.node_ids = None if node_ids is None else np.asarray(node_ids)
        if self.node_ids is not None and self.node_ids.shape != (n,):
            raise NetworkError(f"node_ids must have one entry per user ({n}), got {self.node_ids.shape}")
        for a in (self.indptr, self.indices, self.opinions, self.communities, self.node_ids):
            if a is not None:
                a.flags.writeable = False

    @staticmethod
    def _check_labels(communities: Any, n: int) -> np.ndarray:
        c = np.asarray(communities)
        if c.shape != (n,) or not np.issubdtype(c.dtype, np.integer) or (n and c.min() < 0):
            raise NetworkError(
                f"communities must be {n} non-negative integer labels, one per user; got shape {c.shape}, dtype {c.dtype}"
            )
        return c.astype(np.int32)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_edges(
        cls,
        edges: Any,
        opinions: Any,
        communities: Any = None,
        node_ids: Any = None,
        *,
        where: str = "edges",
        line_numbers: np.ndarray | None = None,
    ) -> "SocialNetwork":
        """Build from an (m, 2) array-like of ``(u, v)`` user ids in ``0..n-1``, n = ``len(opinions)``.

        Self-loops and duplicate edges are dropped with a :class:`NetworkWarning` that counts them and
        shows the first; ids out of range raise :class:`NetworkError`. ``line_numbers`` (one per edge)
        lets file loaders point errors at the file line.

        >>> SocialNetwork.from_edges([(0, 1), (1, 0)], [0.2, 0.3]).is_symmetric
        True
        """
        x = validate_opinions(opinions)
        n = len(x)
        if n == 0:
            raise NetworkError("the network is empty: it needs at least one user")
        e = np.asarray(edges)
        if e.size == 0:
            e = np.empty((0, 2), dtype=np.int64)
        if e.ndim != 2 or e.shape[1] != 2:
            raise NetworkError(f"{where}: expected an (m, 2) array of (source, target) pairs, got shape {e.shape}")
        if not np.issubdtype(e.dtype, np.integer):
            if np.issubdtype(e.dtype, np.floating) and np.all(np.isfinite(e)) and np.all(e == np.round(e)):
                e = e.astype(np.int64)
            else:
                raise NetworkError(f"{where}: user ids must be integers, got dtype {e.dtype}")
        e = e.astype(np.int64, copy=False)

        # Positions in the caller's input (or file lines), kept through the filtering below.
        position = np.arange(len(e)) if line_numbers is None else np.asarray(line_numbers)

        def at(i: int) -> str:
            if line_numbers is not None:
                return f"{where}, line {int(position[i])}"
            return f"{where}[{int(position[i])}]"

        def shown(i: int) -> str:  # an edge as the caller wrote it: original ids when given
            u, v = (e[i] if node_ids is None else np.asarray(node_ids)[e[i]]).tolist()
            return f"({u}, {v})"

        out_of_range = (e < 0) | (e >= n)
        if out_of_range.any():
            i = int(np.flatnonzero(out_of_range.any(axis=1))[0])
            raise NetworkError(
                f"{at(i)}: edge ({e[i, 0]}, {e[i, 1]}) names a user outside 0..{n - 1} "
                f"(there are {n} opinions, one per user)"
            )
        loops = e[:, 0] == e[:, 1]
        if loops.any():
            i = int(np.flatnonzero(loops)[0])
            warnings.warn(
                f"{at(i)}: dropped {int(loops.sum())} self-loop(s), first {shown(i)}",
                NetworkWarning,
                stacklevel=2,
            )
            e, position = e[~loops], position[~loops]
        key = e[:, 0] * n + e[:, 1]
        order = np.argsort(key, kind="stable")
        key_sorted = key[order]
        dup = np.zeros(len(key_sorted), dtype=bool)
        dup[1:] = key_sorted[1:] == key_sorted[:-1]
        if dup.any():
            i = int(order[np.flatnonzero(dup)[0]])
            warnings.warn(
                f"{at(i)}: dropped {int(dup.sum())} duplicate edge(s), first {shown(i)}",
                NetworkWarning,
                stacklevel=2,
            )
        uniq = order[~dup]
        src, dst = e[uniq, 0], e[uniq, 1]  # sorted by (src, dst)
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
        return cls(indptr, dst, x, communities, node_ids)

    @classmethod
    def from_networkx(cls, graph: Any, opinion_attr: str = "opinion", community_attr: str | None = "community") -> "SocialNetwork":
        """Build from a networkx graph whose nodes carry an opinion attribute.

        Undirected graphs become directed both ways. Nodes are numbered in ``graph.nodes`` order and
        the original labels kept in ``node_ids``. Integer community attributes are kept.

        >>> import networkx as nx
        >>> g = nx.path_graph(3); nx.set_node_attributes(g, 0.5, "opinion")
        >>> SocialNetwork.from_networkx(g).n_edges
        4
        """
        nodes = list(graph.nodes)
        index = {v: i for i, v in enumerate(nodes)}
        missing = [v for v in nodes if opinion_attr not in graph.nodes[v]]
        if missing:
            raise NetworkError(f"networkx graph: node {missing[0]!r} has no {opinion_attr!r} attribute ({len(missing)} nodes lack it)")
        opinions = validate_opinions([graph.nodes[v][opinion_attr] for v in nodes], where=f"networkx node attribute {opinion_attr!r}")
        pairs = [(index[u], index[v]) for u, v in graph.edges()]
        if not graph.is_directed():
            pairs += [(b, a) for a, b in pairs]
        communities = None
        if community_attr and nodes and all(isinstance(graph.nodes[v].get(community_attr), (int, np.integer)) for v in nodes):
            communities = [graph.nodes[v][community_attr] for v in nodes]
        node_ids = np.asarray(nodes) if not all(isinstance(v, (int, np.integer)) and v == i for i, v in enumerate(nodes)) else None
        if node_ids is not None and node_ids.dtype == object:
            node_ids = np.asarray([str(v) for v in nodes])
        return cls.from_edges(np.asarray(pairs, dtype=np.int64).reshape(-1, 2), opinions, communities, node_ids, where="networkx graph")

    def to_networkx(self) -> Any:
        """A ``networkx.DiGraph`` with ``opinion`` (and ``community``) node attributes."""
        import networkx as nx

        g = nx.DiGraph()
        for u in range(self.n_users):
            attrs: dict[str, Any] = {"opinion": float(self.opinions[u])}
            if self.communities is not None:
                attrs["community"] = int(self.communities[u])
            g.add_node(u, **attrs)
        g.add_edges_from(self.edges().tolist())
        return g

    def with_opinions(self, opinions: Any) -> "SocialNetwork":
        """The same users and edges with other opinions (the arrays are shared, not copied)."""
        return SocialNetwork(self.indptr, self.indices, validate_opinions(opinions, self.n_users), self.communities, self.node_ids)

    # ------------------------------------------------------------------ views
    @property
    def n_users(self) -> int:
        return len(self.opinions)

    @property
    def n_edges(self) -> int:
        return len(self.indices)

    def out_neighbors(self, u: int) -> np.ndarray:
        return self.indices[self.indptr[u] : self.indptr[u + 1]]

    @cached_property
    def out_degree(self) -> np.ndarray:
        return np.diff(self.indptr)

    @cached_property
    def in_degree(self) -> np.ndarray:
        return np.bincount(self.indices, minlength=self.n_users)

    def edges(self) -> np.ndarray:
        """All edges as an (m, 2) int64 array, sorted by source then target."""
        src = np.repeat(np.arange(self.n_users, dtype=np.int64), self.out_degree)
        return np.column_stack([src, self.indices.astype(np.int64)])

    @cached_property
    def reverse(self) -> "SocialNetwork":
        """The network with every edge turned around (CSR of in-neighbours)."""
        e = self.edges()
        order = np.lexsort((e[:, 0], e[:, 1]))
        indptr = np.zeros(self.n_users + 1, dtype=np.int64)
        np.cumsum(self.in_degree, out=indptr[1:])
        return SocialNetwork(indptr, e[order, 0], self.opinions, self.communities, self.node_ids)

    @cached_property
    def is_symmetric(self) -> bool:
        """True when every edge u -> v has its twin v -> u (an undirected graph stored both ways)."""
        rev = self.reverse
        return bool(np.array_equal(self.indptr, rev.indptr) and np.array_equal(self.indices, rev.indices))

    def check_user(self, user: Any, what: str = "user") -> int:
        """Return ``user`` as an int id, or raise naming the bad value."""
        if isinstance(user, (bool, np.bool_)) or not isinstance(user, (int, np.integer)):
            raise NetworkError(f"{what} must be an integer user id in 0..{self.n_users - 1}, got {user!r}")
        if not 0 <= int(user) < self.n_users:
            raise NetworkError(f"{what} {int(user)} does not exist: the network has users 0..{self.n_users - 1}")
        return int(user)

    def __repr__(self) -> str:
        comm = "" if self.communities is None else f", communities={int(self.communities.max()) + 1}"
        return f"SocialNetwork(n_users={self.n_users}, n_edges={self.n_edges}{comm})"

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Write to a compressed ``.npz`` (numpy arrays only, no pickle), atomically."""
        path = Path(path)
        arrays: dict[str, np.ndarray] = {
            "format_version": np.asarray(FORMAT_VERSION),
            "indptr": self.indptr,
            "indices": self.indices,
            "opinions": self.opinions,
        }
        if self.communities is not None:
            arrays["communities"] = self.communities
        if self.node_ids is not None:
            if self.node_ids.dtype == object:
                raise NetworkError("node_ids of dtype object cannot be saved without pickle; use str or int ids")
            arrays["node_ids"] = self.node_ids
        with atomic_open(path, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SocialNetwork":
        """Read a network written by :meth:`save`. Never unpickles."""
        path = Path(path)
        if not path.exists():
            raise NetworkError(f"{path}: no such network file")
        try:
            data = read_npz(path, what="network file")
        except InputFileError as exc:
            raise NetworkError(str(exc)) from None
        missing = {"indptr", "indices", "opinions"} - data.keys()
        if missing:
            raise NetworkError(f"{path}: missing array(s) {sorted(missing)}; not a network file written by engagegen")
        version = int(data.get("format_version", 0))
        if version != FORMAT_VERSION:
            raise NetworkError(f"{path}: network format version {version}, this engagegen reads version {FORMAT_VERSION}")
        try:
            return cls(data["indptr"], data["indices"], data["opinions"], data.get("communities"), data.get("node_ids"))
        except NetworkError as exc:
            raise NetworkError(f"{path}: {exc}") from None
