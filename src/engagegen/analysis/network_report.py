"""A report on a social network: communities, echo chambers, polarization, where the agent could sit.

- echo-chamber score: opinion assortativity (correlation of the opinions at the two ends of the
  edges; 1 when everyone hears only like-minded users);
- polarization index: ``4 * var(x)``, the sum of squared deviations from the mean opinion
  (Musco, Musco & Tsourakakis 2018) normalised so that 1 is the most polarised network (half at 0,
  half at 1) and 0 full consensus;
- community spread: size-weighted standard deviation of the communities' mean opinions;
- per agent position (:data:`engagegen.network.POSITIONS`): the user, their degrees, betweenness,
  opinion and community.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from engagegen.html_page import figure_tag, page, table_tag
from engagegen.network import (
    POSITIONS,
    NetworkError,
    NetworkStats,
    SocialNetwork,
    betweenness,
    network_stats,
    place_agent,
)

__all__ = ["NetworkReport", "network_report", "polarization_index"]

#: Users drawn in the picture; larger networks are drawn from a sample.
PICTURE_LIMIT = 1500


def polarization_index(opinions: Any) -> float:
    """``4 * var(x)`` in [0, 1]: 0 when everyone agrees, 1 when half hold 0 and half hold 1.

    >>> polarization_index([0, 0, 1, 1]), polarization_index([0.5, 0.5])
    (1.0, 0.0)
    """
    x = np.asarray(opinions, dtype=np.float64)
    return float(4.0 * x.var()) if x.size else 0.0


@dataclass
class NetworkReport:
    stats: NetworkStats
    communities: list[dict[str, Any]]
    echo_chamber: float | None
    polarization: float
    community_spread: float | None
    positions: list[dict[str, Any]]
    betweenness_exact: bool
    betweenness: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {"stats": self.stats.to_dict(), "communities": self.communities, "echo_chamber": self.echo_chamber,
                "polarization": self.polarization, "community_spread": self.community_spread,
                "positions": self.positions, "betweenness_exact": self.betweenness_exact}

    def to_html(self, network: SocialNetwork, title: str = "Network report", seed: int = 0) -> str:
        st = self.stats

        def kpi(label: str, value: Any) -> str:
            shown = "undefined" if value is None else (f"{value:.3g}" if isinstance(value, float) else f"{value:,}")
            return f'<span class="kpi"><b>{shown}</b>{label}</span>'

        body = [
            kpi("users", st.n_users), kpi("edges", st.n_edges), kpi("communities", st.n_communities),
            kpi("modularity", st.modularity), kpi("echo-chamber score (opinion assortativity)", self.echo_chamber),
            kpi("polarization index 4·var(x)", self.polarization), kpi("community spread", self.community_spread),
            kpi("opinion mean", st.opinion_mean),
        ]
        how = "exact" if self.betweenness_exact else "estimated from sampled sources"
        body.append(f"<h2>Agent positions</h2><p class=\"muted\">Betweenness {how}, normalised by (n-1)(n-2).</p>"
                    + table_tag(self.positions))
        fig, caption = _picture(network, self, seed)
        body.append("<h2>The network by opinion</h2>" + figure_tag(fig, caption))
        body.append("<h2>Communities</h2>" + (table_tag(self.communities) if self.communities
                                               else '<p class="muted">The network has no community labels.</p>'))
        return page(title, "\n".join(body))


def network_report(net: SocialNetwork, *, positions: tuple[str, ...] = POSITIONS, betweenness_samples: int = 64,
                   exact_limit: int = 20_000, seed: int = 0, progress: bool = False) -> NetworkReport:
    """Everything :class:`NetworkReport` holds. Betweenness is exact up to ``exact_limit`` users,
    else estimated from ``betweenness_samples`` sampled sources (as :func:`place_agent` does)."""
    if not isinstance(net, SocialNetwork):
        raise NetworkError(f"network_report needs a SocialNetwork, got {type(net).__name__}")
    unknown = [p for p in positions if p not in POSITIONS]
    if unknown:
        raise NetworkError(f"unknown agent position(s) {unknown}; choose from {', '.join(POSITIONS)}")
    stats = network_stats(net)
    x = net.opinions
    exact = net.n_users <= exact_limit
    bc = betweenness(net, None if exact else min(betweenness_samples, net.n_users), seed=seed, progress=progress)
    communities: list[dict[str, Any]] = []
    spread = None
    if net.communities is not None:
        labels = net.communities
        src_label = np.repeat(labels, net.out_degree)
        inside = src_label == labels[net.indices]
        sizes = np.bincount(labels)
        means = np.bincount(labels, weights=x) / np.maximum(sizes, 1)
        out_edges = np.bincount(src_label, minlength=len(sizes))
        in_edges = np.bincount(src_label[inside], minlength=len(sizes))
        for c in np.flatnonzero(sizes):
            members = x[labels == c]
            communities.append({"community": int(c), "users": int(sizes[c]), "opinion_mean": float(means[c]),
                                "opinion_std": float(members.std()),
                                "edges_inside": float(in_edges[c] / out_edges[c]) if out_edges[c] else None})
        present = sizes > 0
        spread = float(np.sqrt(np.average((means[present] - x.mean()) ** 2, weights=sizes[present])))
    rows = []
    for position in positions:
        try:
            if position == "central":  # the betweenness already computed, ties to the lowest id as place_agent
                top = bc.max()
                user = int(np.flatnonzero(bc >= top - 1e-9 * abs(top))[0])
            else:
                user = place_agent(net, position)
        except NetworkError as exc:
            rows.append({"position": position, "user": None, "note": str(exc)})
            continue
        rows.append({"position": position, "user": user, "out_degree": int(net.out_degree[user]),
                     "in_degree": int(net.in_degree[user]), "betweenness": float(bc[user]), "opinion": float(x[user]),
                     "community": None if net.communities is None else int(net.communities[user]), "note": ""})
    return NetworkReport(stats, communities, stats.opinion_assortativity, polarization_index(x), spread, rows, exact, bc)


def _picture(net: SocialNetwork, report: NetworkReport, seed: int) -> tuple[Any, str]:
    """Spring layout coloured by opinion, agent positions marked; a sample of users on big networks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx

    marked = {r["user"]: r["position"] for r in report.positions if r.get("user") is not None}
    nodes = np.arange(net.n_users)
    caption = "Users coloured by opinion (blue 0, red 1); labelled users are the agent positions"
    if net.n_users > PICTURE_LIMIT:
        rng = np.random.default_rng(seed)
        keep = set(marked)
        for u in list(marked):
            keep.update(net.out_neighbors(u)[:50].tolist())
        rest = rng.permutation(net.n_users)
        keep.update(rest[: max(0, PICTURE_LIMIT - len(keep))].tolist())
        nodes = np.array(sorted(keep))[:PICTURE_LIMIT + len(marked)]
        caption += f"; a sample of {len(nodes):,} of {net.n_users:,} users (the positions, some of their followers, random others)"
    chosen = np.zeros(net.n_users, bool)
    chosen[nodes] = True
    edges = net.edges()
    edges = edges[chosen[edges[:, 0]] & chosen[edges[:, 1]]]
    g = nx.Graph()
    g.add_nodes_from(nodes.tolist())
    g.add_edges_from(edges.tolist())
    pos = nx.spring_layout(g, seed=seed, k=1.5 / math.sqrt(max(len(nodes), 1)))
    fig, ax = plt.subplots(figsize=(8, 6.5))
    nx.draw_networkx_edges(g, pos, ax=ax, alpha=0.12, width=0.4)
    sc = nx.draw_networkx_nodes(g, pos, nodelist=nodes.tolist(), node_color=net.opinions[nodes], cmap="coolwarm",
                                vmin=0, vmax=1, node_size=max(6, 60 - len(nodes) // 30), ax=ax, linewidths=0)
    labels: dict[int, list[str]] = {}
    for r in report.positions:
        if r.get("user") is not None:
            labels.setdefault(r["user"], []).append(r["position"])
    if labels:
        nx.draw_networkx_nodes(g, pos, nodelist=list(labels), node_color="none", edgecolors="k", node_size=160,
                               linewidths=1.5, ax=ax)
        nx.draw_networkx_labels(g, {u: (pos[u][0], pos[u][1] + 0.04) for u in labels},
                                {u: ", ".join(p) for u, p in labels.items()}, font_size=7, ax=ax)
    fig.colorbar(sc, ax=ax, label="opinion", shrink=0.7)
    ax.set_axis_off()
    return fig, caption
