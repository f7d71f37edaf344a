"""Summary statistics of a social network: size, degrees, communities, opinions, connectivity."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from engagegen.network.graph import NetworkError, SocialNetwork

__all__ = ["DegreeSummary", "NetworkStats", "network_stats", "modularity", "opinion_assortativity"]

HISTOGRAM_BINS = 10
_BARS = "▁▂▃▄▅▆▇█"


@dataclass(frozen=True)
class DegreeSummary:
    mean: float
    min: int
    max: int

    @classmethod
    def of(cls, degree: np.ndarray) -> "DegreeSummary":
        return cls(float(degree.mean()), int(degree.min()), int(degree.max()))


@dataclass(frozen=True)
class NetworkStats:
    """What :func:`network_stats` measures. ``None`` marks a statistic that is undefined for the network."""

    n_users: int
    n_edges: int
    symmetric: bool
    out_degree: DegreeSummary
    in_degree: DegreeSummary
    n_isolated: int
    n_communities: int | None
    modularity: float | None
    opinion_mean: float
    opinion_std: float
    #: Users per opinion bin [0, 0.1), [0.1, 0.2), ..., [0.9, 1].
    opinion_histogram: tuple[int, ...]
    opinion_assortativity: float | None
    n_components: int
    largest_component: int

    def to_dict(self) -> dict[str, Any]:
        """Plain Python values (JSON-ready)."""
        out = asdict(self)
        out["opinion_histogram"] = list(self.opinion_histogram)
        return out

    def to_table(self, title: str | None = None) -> Any:
        """A ``rich`` table of the statistics."""
        from rich.table import Table

        def fmt(value: float | None, digits: int = 3) -> str:
            return "undefined" if value is None else f"{value:.{digits}f}"

        table = Table(title=title, show_header=False, title_justify="left")
        table.add_column("statistic", style="bold")
        table.add_column("value", justify="right")
        kind = "each stored both ways" if self.symmetric else "directed"
        table.add_row("users", f"{self.n_users:,}")
        table.add_row("edges", f"{self.n_edges:,} ({kind})")
        for name, d in (("out-degree", self.out_degree), ("in-degree", self.in_degree)):
            table.add_row(f"{name} mean / min / max", f"{d.mean:.2f} / {d.min:,} / {d.max:,}")
        table.add_row("isolated users", f"{self.n_isolated:,}")
        table.add_row(
            "weakly connected components",
            f"{self.n_components:,} (largest {self.largest_component:,}, {self.largest_component / self.n_users:.1%})",
        )
        if self.n_communities is None:
            table.add_row("communities", "none")
        else:
            table.add_row("communities / modularity", f"{self.n_communities:,} / {fmt(self.modularity)}")
        table.add_row("opinion mean / std", f"{self.opinion_mean:.3f} / {self.opinion_std:.3f}")
        top = max(self.opinion_histogram)
        bars = "".join(_BARS[round(c / top * (len(_BARS) - 1))] if c else "·" for c in self.opinion_histogram)
        table.add_row("opinion histogram 0 → 1", f"[cyan]{bars}[/cyan]")
        table.add_row("opinion assortativity", fmt(self.opinion_assortativity))
        return table

    def __rich__(self) -> Any:
        return self.to_table()


def modularity(net: SocialNetwork, communities: Any = None) -> float | None:
    """Modularity of a partition (default: the network's community labels); ``None`` without edges.

    Directed modularity (Leicht and Newman 2008), which on a symmetric network (every edge stored
    both ways) equals Newman's undirected modularity, as networkx computes them.

    >>> net = SocialNetwork.from_edges([(0, 1), (1, 0), (2, 3), (3, 2)], [0.5] * 4, communities=[0, 0, 1, 1])
    >>> modularity(net)
    0.5
    """
    labels = net.communities if communities is None else SocialNetwork._check_labels(communities, net.n_users)
    if labels is None:
        raise NetworkError("modularity: the network has no community labels; pass communities=")
    m = net.n_edges
    if m == 0:
        return None
    k = int(labels.max()) + 1
    inside = np.count_nonzero(np.repeat(labels, net.out_degree) == labels[net.indices])
    out_total = np.bincount(labels, weights=net.out_degree, minlength=k)
    in_total = np.bincount(labels, weights=net.in_degree, minlength=k)
    return float(inside / m - np.dot(out_total, in_total) / m**2)


def opinion_assortativity(net: SocialNetwork) -> float | None:
    """Pearson correlation of the opinions at the two ends of the edges; ``None`` when undefined.

    >>> net = SocialNetwork.from_edges([(0, 1), (1, 0), (2, 3), (3, 2)], [0.1, 0.2, 0.8, 0.9])
    >>> round(opinion_assortativity(net), 3)
    0.96
    """
    if net.n_edges < 2:
        return None
    source = np.repeat(net.opinions, net.out_degree)
    target = net.opinions[net.indices]
    source = source - source.mean()
    target = target - target.mean()
    norm = np.sqrt(np.dot(source, source) * np.dot(target, target))
    return None if norm == 0 else float(np.dot(source, target) / norm)


def network_stats(net: SocialNetwork) -> NetworkStats:
    """Size, degrees, communities, opinions and connectivity of ``net``, vectorised over CSR.

    >>> s = network_stats(SocialNetwork.from_edges([(0, 1), (1, 0)], [0.2, 0.4, 0.9]))
    >>> s.n_users, s.n_edges, s.symmetric, s.n_isolated, s.largest_component
    (3, 2, True, 1, 2)
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    n = net.n_users
    adjacency = csr_matrix((np.ones(net.n_edges, dtype=np.int8), net.indices, net.indptr), shape=(n, n))
    n_components, component = connected_components(adjacency, directed=True, connection="weak")
    x = net.opinions
    histogram, _ = np.histogram(x, bins=HISTOGRAM_BINS, range=(0.0, 1.0))
    return NetworkStats(
        n_users=n,
        n_edges=net.n_edges,
        symmetric=net.is_symmetric,
        out_degree=DegreeSummary.of(net.out_degree),
        in_degree=DegreeSummary.of(net.in_degree),
        n_isolated=int(np.count_nonzero((net.out_degree == 0) & (net.in_degree == 0))),
        n_communities=None if net.communities is None else len(np.unique(net.communities)),
        modularity=None if net.communities is None else modularity(net),
        opinion_mean=float(x.mean()),
        opinion_std=float(x.std()),
        opinion_histogram=tuple(int(c) for c in histogram),
        opinion_assortativity=opinion_assortativity(net),
        n_components=int(n_components),
        largest_component=int(np.bincount(component).max()),
    )
